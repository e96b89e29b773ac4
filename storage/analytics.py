"""What users query first, as SQL (documented in docs/analytics.md) and small helpers.

* :func:`candles` — OHLCV bars from trades at any interval (``time_bucket``, ``first``/``last``)
* :func:`vwap` — volume-weighted average price over a range
* :func:`spreads` — spread and mid-price from tickers, raw or per interval
* :func:`book_depth_near_mid` — size and notional within N basis points of the mid

All ranges are half-open, ``start <= time < end``, on the exchange's event time. Every
helper takes a connection, a pool or a DSN.

Ties: trades in the same millisecond are ordered by trade id (numerically for numeric
ids, by comparing ``(time, length(trade_id), trade_id)``), so ``open`` and ``close`` are
deterministic even when ``time`` ties.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from storage.db import ConnectionOrDsn, connection

CANDLES_SQL = """
SELECT time_bucket($1::interval, time)                  AS bucket,
       first(price, (time, length(trade_id), trade_id)) AS open,
       max(price)                                       AS high,
       min(price)                                       AS low,
       last(price, (time, length(trade_id), trade_id))  AS close,
       sum(size)                                        AS volume,
       count(*)                                         AS trades,
       sum(price * size) / nullif(sum(size), 0)         AS vwap
FROM trades
WHERE exchange = $2 AND symbol = $3 AND time >= $4 AND time < $5
GROUP BY bucket
ORDER BY bucket
"""

VWAP_SQL = """
SELECT sum(price * size) / nullif(sum(size), 0) AS vwap,
       coalesce(sum(size), 0)                   AS volume,
       count(*)                                 AS trades
FROM trades
WHERE exchange = $1 AND symbol = $2 AND time >= $3 AND time < $4
"""

SPREADS_SQL = """
SELECT time,
       best_bid,
       best_ask,
       best_ask - best_bid                                        AS spread,
       (best_bid + best_ask) / 2                                  AS mid,
       (best_ask - best_bid) / ((best_bid + best_ask) / 2) * 10000 AS spread_bps
FROM tickers
WHERE exchange = $1 AND symbol = $2 AND time >= $3 AND time < $4
  AND best_bid IS NOT NULL AND best_ask IS NOT NULL
ORDER BY time
"""

SPREADS_BUCKETED_SQL = """
SELECT time_bucket($1::interval, time)                                 AS bucket,
       avg(best_ask - best_bid)                                        AS avg_spread,
       min(best_ask - best_bid)                                        AS min_spread,
       max(best_ask - best_bid)                                        AS max_spread,
       avg((best_ask - best_bid) / ((best_bid + best_ask) / 2)) * 10000 AS avg_spread_bps,
       last((best_bid + best_ask) / 2, time)                           AS last_mid,
       count(*)                                                        AS tickers
FROM tickers
WHERE exchange = $2 AND symbol = $3 AND time >= $4 AND time < $5
  AND best_bid IS NOT NULL AND best_ask IS NOT NULL
GROUP BY bucket
ORDER BY bucket
"""

BOOK_DEPTH_SQL = """
WITH snapshot AS (
    SELECT time, bid_prices, bid_sizes, ask_prices, ask_sizes,
           (bid_prices[1] + ask_prices[1]) / 2 AS mid
    FROM book_snapshots
    WHERE exchange = $1 AND symbol = $2 AND time <= $3
      AND cardinality(bid_prices) > 0 AND cardinality(ask_prices) > 0
    ORDER BY time DESC
    LIMIT 1
)
SELECT s.time, s.mid,
       bid.size AS bid_size, bid.notional AS bid_notional, bid.levels AS bid_levels,
       ask.size AS ask_size, ask.notional AS ask_notional, ask.levels AS ask_levels
FROM snapshot AS s
CROSS JOIN LATERAL (
    SELECT coalesce(sum(l.size), 0) AS size,
           coalesce(sum(l.price * l.size), 0) AS notional,
           count(*) AS levels
    FROM unnest(s.bid_prices, s.bid_sizes) AS l(price, size)
    WHERE l.price >= s.mid * (1 - $4::numeric / 10000)
) AS bid
CROSS JOIN LATERAL (
    SELECT coalesce(sum(l.size), 0) AS size,
           coalesce(sum(l.price * l.size), 0) AS notional,
           count(*) AS levels
    FROM unnest(s.ask_prices, s.ask_sizes) AS l(price, size)
    WHERE l.price <= s.mid * (1 + $4::numeric / 10000)
) AS ask
"""


@dataclass(frozen=True, slots=True)
class OHLCV:
    """One bar built from trades."""

    bucket: dt.datetime  # start of the interval (UTC)
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    trades: int
    vwap: Decimal | None


@dataclass(frozen=True, slots=True)
class VWAP:
    vwap: Decimal | None  # None without volume
    volume: Decimal
    trades: int


@dataclass(frozen=True, slots=True)
class Spread:
    time: dt.datetime
    best_bid: Decimal
    best_ask: Decimal
    spread: Decimal
    mid: Decimal
    spread_bps: Decimal


@dataclass(frozen=True, slots=True)
class SpreadBucket:
    bucket: dt.datetime
    avg_spread: Decimal
    min_spread: Decimal
    max_spread: Decimal
    avg_spread_bps: Decimal
    last_mid: Decimal
    tickers: int


@dataclass(frozen=True, slots=True)
class BookDepth:
    """Resting size within ``within_bps`` of the mid in the latest snapshot at or before a time."""

    time: dt.datetime
    mid: Decimal
    bid_size: Decimal
    bid_notional: Decimal
    bid_levels: int
    ask_size: Decimal
    ask_notional: Decimal
    ask_levels: int


def _check_range(start: dt.datetime, end: dt.datetime) -> None:
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be timezone-aware (UTC)")
    if end <= start:
        raise ValueError(f"end ({end.isoformat()}) must be after start ({start.isoformat()})")


def _check_interval(interval: dt.timedelta) -> None:
    if not isinstance(interval, dt.timedelta) or interval <= dt.timedelta(0):
        raise ValueError(f"interval must be a positive timedelta, got {interval!r}")


async def candles(
    conn_or_dsn: ConnectionOrDsn,
    exchange: str,
    symbol: str,
    interval: dt.timedelta,
    start: dt.datetime,
    end: dt.datetime,
) -> list[OHLCV]:
    """OHLCV bars of ``interval`` from the stored trades; buckets without trades are absent."""
    _check_interval(interval)
    _check_range(start, end)
    async with connection(conn_or_dsn) as conn:
        rows = await conn.fetch(CANDLES_SQL, interval, exchange, symbol, start, end)
    return [OHLCV(**dict(row)) for row in rows]


async def vwap(
    conn_or_dsn: ConnectionOrDsn, exchange: str, symbol: str, start: dt.datetime, end: dt.datetime
) -> VWAP:
    """Volume-weighted average price of the trades in ``[start, end)``."""
    _check_range(start, end)
    async with connection(conn_or_dsn) as conn:
        row = await conn.fetchrow(VWAP_SQL, exchange, symbol, start, end)
    return VWAP(**dict(row))


async def spreads(
    conn_or_dsn: ConnectionOrDsn,
    exchange: str,
    symbol: str,
    start: dt.datetime,
    end: dt.datetime,
    interval: dt.timedelta | None = None,
) -> list[Spread] | list[SpreadBucket]:
    """Spread and mid from tickers: one row per ticker, or per ``interval`` (avg/min/max, last mid)."""
    _check_range(start, end)
    async with connection(conn_or_dsn) as conn:
        if interval is None:
            rows = await conn.fetch(SPREADS_SQL, exchange, symbol, start, end)
            return [Spread(**dict(row)) for row in rows]
        _check_interval(interval)
        rows = await conn.fetch(SPREADS_BUCKETED_SQL, interval, exchange, symbol, start, end)
        return [SpreadBucket(**dict(row)) for row in rows]


async def book_depth_near_mid(
    conn_or_dsn: ConnectionOrDsn,
    exchange: str,
    symbol: str,
    *,
    at: dt.datetime | None = None,
    within_bps: Decimal | int | str = 10,
) -> BookDepth | None:
    """Bid and ask size (and notional) within ``within_bps`` basis points of the mid, from the
    latest book snapshot at or before ``at`` (default: now). None if there is no snapshot."""
    bps = Decimal(str(within_bps))
    if bps < 0:
        raise ValueError(f"within_bps must be >= 0, got {within_bps}")
    when = at or dt.datetime.now(dt.UTC)
    async with connection(conn_or_dsn) as conn:
        row = await conn.fetchrow(BOOK_DEPTH_SQL, exchange, symbol, when, bps)
    return None if row is None else BookDepth(**dict(row))
