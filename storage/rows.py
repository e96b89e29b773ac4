"""Normalized records -> database rows. Pure: no I/O, no clock, no driver.

A row is a tuple in the column order of its :class:`storage.schema.TableSpec`, built
for the cheapest trip to the database (see :mod:`storage.ingest`):

* times are integer **microseconds since the UNIX epoch** (``timestamptz`` resolution),
  sent as binary ``timestamptz`` by :func:`storage.ingest.configure_connection`;
* prices, sizes and volumes are the **decimal strings** (``str(Decimal)``: every digit
  and the scale kept, ``"0.5000"`` stays ``"0.5000"``), cast to ``numeric`` by the server.

:data:`ROW_TYPES` gives each table's row type for msgspec, which the spill files use to
decode rows back exactly; :func:`row_as_dict` shows times as datetimes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import Any

from collectors.core.records import Balance, BookSnapshot, Candle, MarketRecord, Ticker, Trade
from storage.schema import BALANCES, BOOK_SNAPSHOTS, CANDLES, TABLES, TICKERS, TRADES

Row = tuple[Any, ...]

TABLE_FOR_RECORD: dict[type, str] = {
    Trade: TRADES.name,
    Ticker: TICKERS.name,
    BookSnapshot: BOOK_SNAPSHOTS.name,
    Candle: CANDLES.name,
    Balance: BALANCES.name,
}
"""Record types the storage keeps. ``BookUpdate`` (deltas) and ``BookTop`` are not stored:
books are kept as periodic top-N snapshots."""

_OptNumber = str | None
ROW_TYPES: dict[str, Any] = {
    TRADES.name: tuple[int, str, str, str, str, str, str, int, int],
    TICKERS.name: tuple[(int, str, str, *[_OptNumber] * 11, int)],  # 11 optional numbers
    BOOK_SNAPSHOTS.name: tuple[int, str, str, int | None, list[str], list[str], list[str], list[str], int],
    CANDLES.name: tuple[int, str, str, str, str, str, str, str, str, _OptNumber, bool, int],
    BALANCES.name: tuple[int, str, str, str, str, str, int],
}


def _text(number: Decimal | None) -> str | None:
    return None if number is None else str(number)


def trade_row(trade: Trade) -> Row:
    return (
        trade.event_time_ns // 1000,
        trade.exchange,
        trade.symbol,
        trade.trade_id,
        str(trade.price),
        str(trade.size),
        trade.side,
        trade.fill_count,
        trade.receive_time_ns // 1000,
    )


def ticker_row(ticker: Ticker) -> Row:
    return (
        ticker.event_time_ns // 1000,
        ticker.exchange,
        ticker.symbol,
        _text(ticker.last_price),
        _text(ticker.last_size),
        _text(ticker.best_bid),
        _text(ticker.best_bid_size),
        _text(ticker.best_ask),
        _text(ticker.best_ask_size),
        _text(ticker.open_24h),
        _text(ticker.high_24h),
        _text(ticker.low_24h),
        _text(ticker.volume_24h),
        _text(ticker.quote_volume_24h),
        ticker.receive_time_ns // 1000,
    )


def book_snapshot_row(snapshot: BookSnapshot, depth: int) -> Row:
    """The top ``depth`` levels per side as parallel price/size arrays, best first."""
    bids = snapshot.bids[:depth]
    asks = snapshot.asks[:depth]
    return (
        snapshot.event_time_ns // 1000,
        snapshot.exchange,
        snapshot.symbol,
        snapshot.sequence,
        [str(price) for price, _ in bids],
        [str(size) for _, size in bids],
        [str(price) for price, _ in asks],
        [str(size) for _, size in asks],
        snapshot.receive_time_ns // 1000,
    )


def candle_row(candle: Candle) -> Row:
    return (
        candle.open_time_ns // 1000,
        candle.exchange,
        candle.symbol,
        candle.timeframe,
        str(candle.open),
        str(candle.high),
        str(candle.low),
        str(candle.close),
        str(candle.volume),
        _text(candle.quote_volume),
        candle.closed,
        candle.receive_time_ns // 1000,
    )


def balance_row(balance: Balance) -> Row:
    return (
        balance.event_time_ns // 1000,
        balance.exchange,
        balance.symbol,
        str(balance.available),
        str(balance.frozen),
        str(balance.total),
        balance.receive_time_ns // 1000,
    )


def converters(book_depth: int) -> dict[type, Callable[[Any], Row]]:
    """Record type -> row function, with the order-book depth bound in."""
    if book_depth < 1:
        raise ValueError(f"book_depth must be >= 1, got {book_depth}")
    return {
        Trade: trade_row,
        Ticker: ticker_row,
        BookSnapshot: lambda snapshot: book_snapshot_row(snapshot, book_depth),
        Candle: candle_row,
        Balance: balance_row,
    }


def to_row(record: MarketRecord, book_depth: int = 20) -> tuple[str, Row]:
    """(table, row) for one record; ValueError for a record type the storage does not keep."""
    table = TABLE_FOR_RECORD.get(type(record))
    if table is None:
        raise ValueError(f"{type(record).__name__} records are not stored")
    return table, converters(book_depth)[type(record)](record)


_CANDLE_KEY = slice(1, 4)  # exchange, symbol, timeframe (+ time at 0)
_CANDLE_CLOSED = CANDLES.columns.index("closed")


def latest_candles(rows: Iterable[Row]) -> list[Row]:
    """One row per candle key, as an upsert must have it: the closed version if there is one,
    else the latest forming version; first-seen order of the keys is kept."""
    latest: dict[tuple[Any, ...], Row] = {}
    for row in rows:
        key = (row[0], *row[_CANDLE_KEY])
        previous = latest.get(key)
        if previous is None or not previous[_CANDLE_CLOSED]:
            latest[key] = row
    return list(latest.values())


TIME_COLUMNS = frozenset({"time", "receive_time"})
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def us_to_datetime(microseconds: int) -> dt.datetime:
    """UTC datetime for microseconds since the epoch (a row's time)."""
    return _EPOCH + dt.timedelta(microseconds=microseconds)


def row_as_dict(table: str, row: Sequence[Any]) -> dict[str, Any]:
    """Column name -> value, times as UTC datetimes (for the dead-letter file and messages)."""
    return {
        column: us_to_datetime(value) if column in TIME_COLUMNS and isinstance(value, int) else value
        for column, value in zip(TABLES[table].columns, row, strict=True)
    }
