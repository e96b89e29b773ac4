"""Real-time crypto market-data collectors.

The public API (see README "Library API")::

    from collectors import (BaseDataCollector, CollectorManager, CollectorConfig,
                            ExchangeFactory, ExchangeCollectorConfig, DataType,
                            MarketDataPoint, OHLCVData)
"""

from collectors.core.base import BaseDataCollector
from collectors.core.errors import (
    CollectorError,
    ConfigurationError,
    ConnectionFailure,
    DataValidationError,
)
from collectors.core.factory import ExchangeCollectorConfig, ExchangeFactory
from collectors.core.manager import CollectorConfig, CollectorManager
from collectors.core.records import BookSnapshot, BookTop, BookUpdate, Candle, Ticker, Trade
from collectors.core.settings import Settings
from collectors.core.types import CollectorStatus, DataType, MarketDataPoint, OHLCVData

__all__ = [
    "BaseDataCollector",
    "BookSnapshot",
    "BookTop",
    "BookUpdate",
    "Candle",
    "CollectorConfig",
    "CollectorError",
    "CollectorManager",
    "CollectorStatus",
    "ConfigurationError",
    "ConnectionFailure",
    "DataType",
    "DataValidationError",
    "ExchangeCollectorConfig",
    "ExchangeFactory",
    "MarketDataPoint",
    "OHLCVData",
    "Settings",
    "Ticker",
    "Trade",
]
