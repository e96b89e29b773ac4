"""Normalized market-data records shared by every exchange.

Each exchange parses its own wire structs (with the exchange's field names) and
produces these records. Every record carries two clocks:

* ``event_time_ns``: the exchange's own timestamp for the event, nanoseconds since
  the UNIX epoch (UTC). OKX sends milliseconds, so the last six digits are zero.
* ``receive_time_ns``: when our process received the frame, nanoseconds since the
  epoch, passed in by the I/O layer (parsers never read a clock).

Prices, sizes and volumes are :class:`decimal.Decimal` built from the exchange's
strings, so no precision is lost (``Decimal("0.5000")`` keeps its four places).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Literal

import msgspec

Side = Literal["buy", "sell"]

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def ns_to_datetime(ns: int) -> dt.datetime:
    """UTC datetime (microsecond resolution) for nanoseconds since the epoch."""
    return _EPOCH + dt.timedelta(microseconds=ns // 1000)


class Record(msgspec.Struct, frozen=True, gc=False):
    """Base of every normalized record."""

    exchange: str
    symbol: str

    def as_dict(self) -> dict[str, Any]:
        """Plain-dict view (Decimals kept), used for ``MarketDataPoint.data``."""
        return {name: getattr(self, name) for name in self.__struct_fields__}


class Trade(Record, frozen=True, gc=False):
    """One public trade (or one aggregated taker fill, see ``fill_count``)."""

    trade_id: str
    price: Decimal
    size: Decimal
    side: Side  # taker (aggressor) side
    event_time_ns: int
    receive_time_ns: int
    fill_count: int = 1  # OKX `trades` aggregates fills: tradeId is the last of `count`


class Ticker(Record, frozen=True, gc=False):
    """24-hour ticker with best bid/ask."""

    last_price: Decimal | None
    last_size: Decimal | None
    best_bid: Decimal | None
    best_bid_size: Decimal | None
    best_ask: Decimal | None
    best_ask_size: Decimal | None
    open_24h: Decimal | None
    high_24h: Decimal | None
    low_24h: Decimal | None
    volume_24h: Decimal | None  # base currency (spot) or contracts (derivatives)
    quote_volume_24h: Decimal | None  # quote currency (spot)
    event_time_ns: int
    receive_time_ns: int


PriceLevel = tuple[Decimal, Decimal]  # (price, size); size 0 deletes the level in an update


class BookUpdate(Record, frozen=True, gc=False):
    """An order-book snapshot or incremental update as sent by the exchange.

    ``sequence``/``previous_sequence`` are the exchange's chain ids (OKX ``seqId`` /
    ``prevSeqId``; ``previous_sequence`` is ``None`` on a snapshot or where the
    exchange sends none). ``checksum`` is the exchange's value or ``None``.
    """

    is_snapshot: bool
    bids: list[PriceLevel]
    asks: list[PriceLevel]
    sequence: int | None
    previous_sequence: int | None
    checksum: int | None
    event_time_ns: int
    receive_time_ns: int


class BookTop(Record, frozen=True, gc=False):
    """Best bid and offer (top of book)."""

    best_bid: Decimal | None
    best_bid_size: Decimal | None
    best_ask: Decimal | None
    best_ask_size: Decimal | None
    sequence: int | None
    event_time_ns: int
    receive_time_ns: int


class BookSnapshot(Record, frozen=True, gc=False):
    """Top-N levels of our locally maintained book, taken after applying an update."""

    bids: list[PriceLevel]  # best first (descending)
    asks: list[PriceLevel]  # best first (ascending)
    sequence: int | None
    event_time_ns: int
    receive_time_ns: int


class Candle(Record, frozen=True, gc=False):
    """OHLCV bar. ``closed`` is False while the bar is still forming."""

    timeframe: str  # normalized: 1s, 1m, 3m, 5m, 15m, 30m, 1h, 2h, 4h, 6h, 12h, 1d, 1w, 1M ...
    open_time_ns: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal  # base currency / contracts
    quote_volume: Decimal | None
    closed: bool
    receive_time_ns: int

    @property
    def event_time_ns(self) -> int:
        return self.open_time_ns


class Balance(Record, frozen=True, gc=False):
    """Account balance of one currency (symbol holds the currency code)."""

    available: Decimal
    frozen: Decimal
    total: Decimal
    event_time_ns: int
    receive_time_ns: int


MarketRecord = Trade | Ticker | BookUpdate | BookTop | BookSnapshot | Candle | Balance
