"""Connection helpers: the default DSN, DSN masking and "connection or DSN" arguments."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/marketdata"

ConnectionOrDsn = Any  # asyncpg.Connection | asyncpg.Pool | str (asyncpg ships no usable union type)


def default_dsn() -> str:
    """``DATABASE_URL`` if set, else the local ``marketdata`` database (see docs/provisioning.md)."""
    return os.environ.get("DATABASE_URL") or DEFAULT_DSN


def mask_dsn(dsn: str) -> str:
    """The DSN with its password replaced by ``***`` (for status and logs)."""
    try:
        parts = urlsplit(dsn)
    except ValueError:
        return "<unparsable dsn>"
    if parts.password is None:
        return dsn
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


@asynccontextmanager
async def connection(
    conn_or_dsn: ConnectionOrDsn, *, connect_timeout: float = 10.0
) -> AsyncIterator[asyncpg.Connection]:
    """Yield a connection: the one given, one acquired from a pool, or a new one for a DSN (closed after)."""
    if isinstance(conn_or_dsn, str):
        conn = await asyncpg.connect(conn_or_dsn, timeout=connect_timeout)
        try:
            yield conn
        finally:
            await conn.close()
    elif isinstance(conn_or_dsn, asyncpg.Pool):
        async with conn_or_dsn.acquire() as conn:
            yield conn
    else:
        yield conn_or_dsn
