"""Fixtures for OKX tests: a real OKX simulator on a free loopback port."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from collectors.exchanges.okx.simulator import OKXSimulator

# Small, fast defaults; tests that need other settings build their own simulator.
SIMULATOR_DEFAULTS = {
    "host": "127.0.0.1",
    "port": 0,
    "seed": 1,
    "symbols": ("BTC-USDT", "ETH-USDT"),
    "trade_rate": 20.0,
    "book_interval": 0.05,
    "ticker_interval": 0.05,
    "idle_timeout": 5.0,
}


@pytest.fixture
async def okx_simulator() -> AsyncIterator[OKXSimulator]:
    """A started :class:`OKXSimulator` (port 0, seed 1, BTC-USDT and ETH-USDT, 20 trades/s)."""
    async with OKXSimulator(**SIMULATOR_DEFAULTS) as simulator:  # type: ignore[arg-type]
        yield simulator
