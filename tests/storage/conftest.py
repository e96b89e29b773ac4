"""Storage test fixtures: one migrated throw-away database per session, emptied per test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from storage.migrate import migrate
from storage.schema import TABLES
from tests.fixtures_services import TcpProxy, create_test_database, drop_test_database, run_in_thread


@pytest.fixture(scope="session")
def storage_dsn() -> Iterator[str]:
    """DSN of a migrated ``marketdata_test_<random>`` database, dropped at the end of the session."""
    dsn = create_test_database()
    try:
        run_in_thread(lambda: migrate(dsn))
        yield dsn
    finally:
        drop_test_database(dsn)


@pytest.fixture
def fresh_dsn() -> Iterator[str]:
    """An empty database (no extension, no tables) for migration tests."""
    dsn = create_test_database()
    try:
        yield dsn
    finally:
        drop_test_database(dsn)


@pytest.fixture
async def db(storage_dsn: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection to the session database, with every storage table emptied first."""
    conn = await asyncpg.connect(storage_dsn)
    try:
        await conn.execute(f"TRUNCATE {', '.join(TABLES)}")
        yield conn
    finally:
        await conn.close()


@pytest.fixture
async def db_proxy(storage_dsn: str) -> AsyncIterator[TcpProxy]:
    """A pausable TCP proxy in front of the test database server."""
    async with TcpProxy.for_dsn(storage_dsn) as proxy:
        yield proxy


@pytest.fixture
def spill_dir(tmp_path: Path) -> Path:
    return tmp_path / "spill"
