"""The storage tables in one place: names, columns, keys, chunk intervals, retention.

The DDL itself lives in ``storage/migrations/``; this module describes the result for
the writer (column order of its rows), for the edition features (compression, policies),
for retention and for the tests, which check that the database matches it.

Every table is a hypertable partitioned on ``time``, the exchange's event time (for
candles the bar's open time), and carries ``exchange``, ``symbol`` and ``receive_time``
(when our process received the data). Unique keys always include ``time`` (a TimescaleDB
requirement) and lead with ``exchange, symbol`` so that the usual query, one instrument
over a time range, is an index range scan.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

SCHEMA_MIGRATIONS_TABLE = "storage_schema_migrations"
MIGRATION_LOCK_ID = 7_461_001  # pg_advisory_lock key: one migration run at a time per database


@dataclass(frozen=True, slots=True)
class TableSpec:
    """One storage hypertable."""

    name: str
    columns: tuple[str, ...]  # the writer's row order
    types: tuple[str, ...]  # PostgreSQL type of each column (the migrations create exactly these)
    key: tuple[str, ...]  # the unique index (conflict target), in index column order
    chunk_interval: dt.timedelta
    retention: dt.timedelta | None  # default for apply_retention / retention policies; None = keep
    compress_after: dt.timedelta  # full edition only
    compress_orderby: str  # full edition only; segmentby is always "exchange, symbol"
    upsert: bool = False  # True: newer rows update older ones (candles); False: duplicates are ignored

    def __post_init__(self) -> None:
        if len(self.types) != len(self.columns):
            raise ValueError(f"{self.name}: {len(self.columns)} columns but {len(self.types)} types")

    @property
    def staging_table(self) -> str:
        return f"stage_{self.name}"


TRADES = TableSpec(
    name="trades",
    columns=("time", "exchange", "symbol", "trade_id", "price", "size", "side", "fill_count", "receive_time"),
    types=("timestamptz", "text", "text", "text", "numeric", "numeric", "text", "integer", "timestamptz"),
    key=("exchange", "symbol", "time", "trade_id"),
    chunk_interval=dt.timedelta(days=1),
    retention=dt.timedelta(days=90),
    compress_after=dt.timedelta(days=7),
    compress_orderby="time DESC, trade_id",
)

TICKERS = TableSpec(
    name="tickers",
    columns=(
        "time",
        "exchange",
        "symbol",
        "last_price",
        "last_size",
        "best_bid",
        "best_bid_size",
        "best_ask",
        "best_ask_size",
        "open_24h",
        "high_24h",
        "low_24h",
        "volume_24h",
        "quote_volume_24h",
        "receive_time",
    ),
    types=("timestamptz", "text", "text", *(["numeric"] * 11), "timestamptz"),
    key=("exchange", "symbol", "time"),
    chunk_interval=dt.timedelta(days=1),
    retention=dt.timedelta(days=30),
    compress_after=dt.timedelta(days=7),
    compress_orderby="time DESC",
)

BOOK_SNAPSHOTS = TableSpec(
    name="book_snapshots",
    columns=(
        "time",
        "exchange",
        "symbol",
        "sequence",
        "bid_prices",
        "bid_sizes",
        "ask_prices",
        "ask_sizes",
        "receive_time",
    ),
    types=(
        "timestamptz",
        "text",
        "text",
        "bigint",
        "numeric[]",
        "numeric[]",
        "numeric[]",
        "numeric[]",
        "timestamptz",
    ),
    key=("exchange", "symbol", "time", "sequence"),  # NULLS NOT DISTINCT: exchanges without sequence numbers
    chunk_interval=dt.timedelta(hours=6),
    retention=dt.timedelta(days=14),
    compress_after=dt.timedelta(days=2),
    compress_orderby="time DESC",
)

CANDLES = TableSpec(
    name="candles",
    columns=(
        "time",
        "exchange",
        "symbol",
        "timeframe",
        "open",
        "high",
        "low",
        "close",
        "volume",
        "quote_volume",
        "closed",
        "receive_time",
    ),
    types=("timestamptz", "text", "text", "text", *(["numeric"] * 6), "boolean", "timestamptz"),
    key=("exchange", "symbol", "timeframe", "time"),
    chunk_interval=dt.timedelta(days=7),
    retention=None,
    compress_after=dt.timedelta(days=30),
    compress_orderby="timeframe, time DESC",
    upsert=True,
)

BALANCES = TableSpec(
    name="balances",
    columns=(
        "time",
        "exchange",
        "symbol",
        "available",
        "frozen",
        "total",
        "receive_time",
    ),  # symbol: currency code
    types=("timestamptz", "text", "text", "numeric", "numeric", "numeric", "timestamptz"),
    key=("exchange", "symbol", "time"),
    chunk_interval=dt.timedelta(days=30),
    retention=None,
    compress_after=dt.timedelta(days=60),
    compress_orderby="time DESC",
)

TABLES: dict[str, TableSpec] = {
    spec.name: spec for spec in (TRADES, TICKERS, BOOK_SNAPSHOTS, CANDLES, BALANCES)
}
"""Every storage hypertable by name."""

COMPRESS_SEGMENTBY = "exchange, symbol"


def table(name: str) -> TableSpec:
    """The spec of ``name``; ValueError naming the allowed tables otherwise."""
    try:
        return TABLES[name]
    except KeyError:
        raise ValueError(f"unknown table {name!r}; allowed values: {', '.join(TABLES)}") from None
