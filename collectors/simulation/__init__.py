"""Exchange-neutral simulation: a seeded synthetic market and fault plans for the simulators."""

from collectors.simulation.candles import CandleSeries, FixedTimeframe, MonthTimeframe, Timeframe
from collectors.simulation.faults import FaultResult, FaultState
from collectors.simulation.market import (
    BookLevel,
    BookLevels,
    CandleBar,
    Clock,
    InstrumentSpec,
    SimTrade,
    SyntheticMarket,
    TickerState,
    TradeEvent,
    format_units,
    system_clock_ms,
)

__all__ = [
    "BookLevel",
    "BookLevels",
    "CandleBar",
    "CandleSeries",
    "Clock",
    "FaultResult",
    "FaultState",
    "FixedTimeframe",
    "InstrumentSpec",
    "MonthTimeframe",
    "SimTrade",
    "SyntheticMarket",
    "TickerState",
    "Timeframe",
    "TradeEvent",
    "format_units",
    "system_clock_ms",
]
