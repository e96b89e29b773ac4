"""Public data types of the collector API: DataType, MarketDataPoint, OHLCVData, statuses."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from typing import Any

from collectors.core.records import MarketRecord, ns_to_datetime


class DataType(Enum):
    """Kinds of data a collector can subscribe to."""

    TICKER = "ticker"  # price and volume updates
    TRADE = "trade"  # individual trade executions
    ORDERBOOK = "orderbook"  # order-book snapshots and updates (local book kept per symbol)
    TOP_OF_BOOK = "top_of_book"  # best bid/offer channel
    CANDLE = "candle"  # OHLCV candle data
    BALANCE = "balance"  # account balance updates

    @classmethod
    def parse(cls, value: DataType | str, *, field: str = "data_types") -> DataType:
        """Accept an enum member or its value; raise ValueError naming the allowed values."""
        if isinstance(value, cls):
            return value
        try:
            return cls(str(value).lower())
        except ValueError:
            allowed = ", ".join(member.value for member in cls)
            raise ValueError(f"{field}: unknown data type {value!r}; allowed values: {allowed}") from None


class CollectorStatus(Enum):
    """Lifecycle states reported in ``get_status()['status']``."""

    STOPPED = "stopped"
    STARTING = "starting"
    RUNNING = "running"
    RECONNECTING = "reconnecting"
    UNHEALTHY = "unhealthy"
    STOPPING = "stopping"
    ERROR = "error"


class MarketDataPoint:
    """Standardized market data handed to callbacks.

    ``data`` is the payload dict. Collectors that produce typed records pass
    ``record`` instead and ``data`` is derived from it on first access, so the hot
    path does not build a dict nobody reads.
    """

    __slots__ = ("exchange", "symbol", "timestamp", "data_type", "_data", "record")

    def __init__(
        self,
        exchange: str,
        symbol: str,
        timestamp: dt.datetime | None = None,
        data_type: DataType = DataType.TICKER,
        data: dict[str, Any] | None = None,
        record: MarketRecord | None = None,
    ) -> None:
        self.exchange = exchange
        self.symbol = symbol
        self.data_type = data_type
        self.record = record
        self._data = data
        if timestamp is None:
            if record is None:
                raise ValueError("MarketDataPoint needs a timestamp or a record")
            timestamp = ns_to_datetime(record.event_time_ns)
        self.timestamp = timestamp

    @property
    def data(self) -> dict[str, Any]:
        if self._data is None:
            self._data = self.record.as_dict() if self.record is not None else {}
        return self._data

    def __repr__(self) -> str:
        return (
            f"MarketDataPoint(exchange={self.exchange!r}, symbol={self.symbol!r}, "
            f"timestamp={self.timestamp.isoformat()}, data_type={self.data_type.value}, data={self.data!r})"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MarketDataPoint):
            return NotImplemented
        return (self.exchange, self.symbol, self.timestamp, self.data_type, self.data) == (
            other.exchange,
            other.symbol,
            other.timestamp,
            other.data_type,
            other.data,
        )

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True, slots=True)
class OHLCVData:
    """OHLCV (candlestick) bar, validated by ``BaseDataCollector.validate_ohlcv_data``."""

    symbol: str
    timeframe: str
    timestamp: dt.datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    trades_count: int | None = None
