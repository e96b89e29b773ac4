"""Built-in exchanges. Each one registers itself with the ExchangeFactory here.

Registration names the collector class as ``"module:Class"`` so that importing the
package does not import every exchange's client.
"""

from collectors.core.factory import ExchangeFactory
from collectors.core.types import DataType
from collectors.exchanges.okx.subscriptions import TIMEFRAMES as OKX_TIMEFRAMES

ExchangeFactory.register_exchange(
    "okx",
    "collectors.exchanges.okx.client:OKXCollector",
    data_types=[DataType.TRADE, DataType.TICKER, DataType.ORDERBOOK, DataType.TOP_OF_BOOK, DataType.CANDLE],
    # Spot BTC-USDT, swaps BTC-USDT-SWAP, futures BTC-USD-250328, options BTC-USD-250328-100000-C.
    symbol_pattern=r"^[A-Z0-9]+-[A-Z0-9]+(-[A-Z0-9]+){0,3}$",
    symbol_example="BTC-USDT",
    timeframes=OKX_TIMEFRAMES,
)
