"""OKX v5 exchange simulator: WebSocket (public + business), REST mirrors and fault injection.

One port serves ``/ws/v5/public`` (tickers, trades, books, books5, bbo-tbt),
``/ws/v5/business`` (candle<bar>, trades-all), ``GET /api/v5/market/...`` and the control
endpoints ``GET /simulator/state`` and ``POST /simulator/faults/<name>``. Market data
comes from the seeded :class:`~collectors.simulation.market.SyntheticMarket`, so tests
can compare what a client stored with :meth:`OKXSimulator.trades_emitted`.

    async with OKXSimulator(port=0, seed=1, symbols=("BTC-USDT",)) as sim:
        ...  # connect to sim.public_url, sim.business_url, sim.rest_url

Standalone: ``python -m collectors.exchanges.okx.simulator --port 8443 --seed 1``.
"""

from collectors.exchanges.okx.simulator.cli import main
from collectors.exchanges.okx.simulator.faults import FAULT_NAMES
from collectors.exchanges.okx.simulator.server import DEFAULT_SYMBOLS, OKXSimulator

__all__ = ["DEFAULT_SYMBOLS", "FAULT_NAMES", "OKXSimulator", "main"]
