"""How rows reach the database, and which database errors are worth retrying.

Every write is one transaction on the writer's connection:

1. binary ``COPY`` of the batch into the connection's TEMP staging table
   (``ON COMMIT DELETE ROWS``), whose numeric columns are ``text``;
2. one ``INSERT INTO <hypertable> SELECT ... FROM <staging table>`` that casts the
   numbers, with one of three conflict modes:

   * ``error``: plain INSERT; one duplicate key fails the whole statement (nothing stored);
   * ``ignore``: ``ON CONFLICT DO NOTHING``; duplicates are skipped and counted;
   * ``upsert`` (candles): ``ON CONFLICT DO UPDATE`` — a forming bar is replaced by newer
     versions, a closed bar is final.

Why this shape (measured, docs/benchmarks.md "Storage"): encoding ``Decimal`` into binary
``numeric`` is the most expensive thing the client does (about 1.3 us per value, most of
a COPY's client time), while ``str(Decimal)`` is cheap and PostgreSQL parses numeric
text cheaply; and ``INSERT ... SELECT`` from a TEMP table into a hypertable is at least as
fast as COPY straight into it. ``ON CONFLICT`` (speculative insertion) costs the server
about a third more, so the writer writes with ``error`` first and falls back to
``ignore`` for a batch that hit a duplicate (see :class:`storage.writer.TimescaleWriter`).
The result is the same as always using ``ignore``.

Rows come from :mod:`storage.rows`: times are integer microseconds since the UNIX epoch
(sent as binary ``timestamptz`` by :func:`configure_connection`), numbers are strings.

:func:`classify_error` is the one place that decides between retrying (the database is
away), isolating a bad row (the data is wrong) and reporting a fault an operator must fix.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Sequence
from typing import Literal

import asyncpg
import asyncpg.exceptions as pg

from storage.rows import Row, latest_candles
from storage.schema import TableSpec

ConflictMode = Literal["error", "ignore", "upsert"]


class ErrorKind(enum.Enum):
    """What to do about an exception raised while talking to the database."""

    TRANSIENT = "transient"  # connection-level: reconnect with backoff, keep the data
    ROW = "row"  # the data is refused: isolate the bad row(s) into the dead-letter file
    FATAL = "fatal"  # needs an operator (schema, permissions, a bug): report loudly, keep data, retry slowly


_TRANSIENT = (
    OSError,  # refused, reset, unreachable
    TimeoutError,
    pg.PostgresConnectionError,  # class 08
    pg.OperatorInterventionError,  # class 57: admin shutdown, cannot connect now, query canceled
    pg.InsufficientResourcesError,  # class 53: too many connections, disk full, out of memory
    pg.TransactionRollbackError,  # class 40: serialization failure, deadlock
)
_ROW = (
    pg.DataError,  # class 22: invalid numeric text, out of range, NUL in text...
    pg.IntegrityConstraintViolationError,  # class 23: CHECK, NOT NULL, unique (where not skipped)
    # Client side: a value the driver cannot encode for its column (asyncpg raises these
    # from the COPY encoder; its own DataError is a ValueError too).
    TypeError,
    ValueError,
    ArithmeticError,
)


def classify_error(exc: BaseException) -> ErrorKind:
    """Transient, row or fatal (see :class:`ErrorKind`)."""
    if isinstance(exc, _TRANSIENT):
        return ErrorKind.TRANSIENT
    if isinstance(exc, asyncpg.InterfaceError) and "closed" in str(exc):
        return (
            ErrorKind.TRANSIENT
        )  # "connection is closed" / "connection was closed in the middle of operation"
    if isinstance(exc, _ROW):
        return ErrorKind.ROW
    return ErrorKind.FATAL


PG_EPOCH_OFFSET_US = 946_684_800_000_000  # 2000-01-01 (PostgreSQL's epoch) in UNIX microseconds


def _encode_timestamptz(microseconds: int) -> tuple[int]:
    return (microseconds - PG_EPOCH_OFFSET_US,)


def _decode_timestamptz(value: tuple[int]) -> int:
    return value[0] + PG_EPOCH_OFFSET_US


async def configure_connection(conn: asyncpg.Connection) -> None:
    """Make ``timestamptz`` travel as integer microseconds since the UNIX epoch on ``conn``.

    asyncpg then sends the 8-byte binary value without building and converting a
    ``datetime`` per field. Only the writer's own connections are configured; queries
    elsewhere get datetimes as usual.
    """
    await conn.set_type_codec(
        "timestamptz",
        schema="pg_catalog",
        encoder=_encode_timestamptz,
        decoder=_decode_timestamptz,
        format="tuple",
    )


def _staging_type(pg_type: str) -> str:
    return {"numeric": "text", "numeric[]": "text[]"}.get(pg_type, pg_type)


@functools.cache
def staging_table_sql(spec: TableSpec) -> str:
    """DDL of the connection's TEMP staging table for ``spec`` (numbers as text)."""
    columns = ", ".join(f"{c} {_staging_type(t)}" for c, t in zip(spec.columns, spec.types, strict=True))
    return f"CREATE TEMP TABLE IF NOT EXISTS {spec.staging_table} ({columns}) ON COMMIT DELETE ROWS"


@functools.cache
def insert_sql(spec: TableSpec, mode: ConflictMode) -> str:
    """``INSERT INTO <table> SELECT <casts> FROM <staging table>`` with the conflict clause of ``mode``."""
    selected = ", ".join(
        f"{column}::{pg_type}" if pg_type.startswith("numeric") else column
        for column, pg_type in zip(spec.columns, spec.types, strict=True)
    )
    sql = f"INSERT INTO {spec.name} ({', '.join(spec.columns)}) SELECT {selected} FROM {spec.staging_table}"
    if mode == "ignore":
        return sql + " ON CONFLICT DO NOTHING"
    if mode == "upsert":
        updates = ", ".join(
            f"{column} = EXCLUDED.{column}" for column in spec.columns if column not in spec.key
        )
        return (
            f"{sql} ON CONFLICT ({', '.join(spec.key)}) DO UPDATE SET {updates} "
            # A closed bar is final; a forming one takes the closed version or any newer forming one.
            f"WHERE NOT {spec.name}.closed "
            f"AND (EXCLUDED.closed OR EXCLUDED.receive_time >= {spec.name}.receive_time)"
        )
    return sql


async def create_staging_table(conn: asyncpg.Connection, spec: TableSpec) -> None:
    await conn.execute(staging_table_sql(spec))


async def insert_rows(
    conn: asyncpg.Connection,
    spec: TableSpec,
    rows: Sequence[Row],
    mode: ConflictMode,
    *,
    statement_timeout: float,
) -> int:
    """Write ``rows`` in one transaction (COPY to staging, INSERT ... SELECT); return rows inserted.

    ``mode`` ``error`` raises UniqueViolationError on a duplicate (nothing stored). The
    staging table must exist (:func:`create_staging_table`); for ``upsert`` the rows are
    first reduced to one version per key, as one statement may touch a row only once.
    """
    if mode == "upsert":
        rows = latest_candles(rows)
    async with conn.transaction():
        await conn.copy_records_to_table(
            spec.staging_table, records=rows, columns=spec.columns, timeout=statement_timeout
        )
        status = await conn.execute(insert_sql(spec, mode), timeout=statement_timeout)
    return int(status.rsplit(" ", 1)[1])  # "INSERT 0 <n>"
