"""Retention with drop_chunks (works on the Apache edition, called by the beat schedule)."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import asyncpg
import pytest

from storage.retention import apply_retention, apply_retention_blocking, default_retention, retention_plan
from storage.writer import TimescaleWriter, WriterConfig
from tests.storage.factories import MS, make_ticker, make_trades

DAY_NS = 86_400_000 * MS


def _ns(when: dt.datetime) -> int:
    return int(when.timestamp()) * 1_000_000_000


async def _store(dsn: str, spill_dir: Path, records: list) -> None:
    writer = TimescaleWriter(WriterConfig(dsn=dsn, spill_dir=str(spill_dir), migrate=False))
    await writer.start()
    for record in records:
        await writer.put(record)
    await writer.stop()


async def test_chunks_older_than_the_period_are_dropped(
    db: asyncpg.Connection, storage_dsn: str, spill_dir: Path
) -> None:
    now = dt.datetime.now(dt.UTC)
    old = make_trades(10, start_ns=_ns(now - dt.timedelta(days=45)), first_id=1)
    recent = make_trades(10, start_ns=_ns(now - dt.timedelta(hours=2)), first_id=100)
    old_ticker = make_ticker(_ns(now - dt.timedelta(days=45)), "1", "2")
    await _store(storage_dsn, spill_dir, old + recent + [old_ticker])

    dropped = await apply_retention(db, dt.timedelta(days=30), tables=["trades"])

    assert list(dropped) == ["trades"] and len(dropped["trades"]) == 1
    ids = [row[0] for row in await db.fetch("SELECT trade_id FROM trades ORDER BY trade_id::bigint")]
    assert ids == [t.trade_id for t in recent]
    assert await db.fetchval("SELECT count(*) FROM tickers") == 1  # not asked: kept
    assert await apply_retention(db, dt.timedelta(days=30), tables=["trades"]) == {"trades": []}


async def test_default_periods_and_the_blocking_form(
    db: asyncpg.Connection, storage_dsn: str, spill_dir: Path
) -> None:
    now = dt.datetime.now(dt.UTC)
    await _store(storage_dsn, spill_dir, [make_ticker(_ns(now - dt.timedelta(days=45)), "1", "2")])

    # A sync caller (the Celery task), run from a thread because this test owns an event loop.
    dropped = await asyncio.to_thread(apply_retention_blocking, storage_dsn)

    assert set(dropped) == set(default_retention()) == {"trades", "tickers", "book_snapshots"}
    assert len(dropped["tickers"]) == 1
    assert await db.fetchval("SELECT count(*) FROM tickers") == 0


def test_the_plan_validates_its_input() -> None:
    assert retention_plan() == default_retention()
    assert retention_plan(dt.timedelta(days=7), ["candles"]) == {"candles": dt.timedelta(days=7)}
    assert retention_plan({"balances": dt.timedelta(days=400)}) == {"balances": dt.timedelta(days=400)}
    with pytest.raises(ValueError, match="unknown table 'trade'; allowed values: trades, tickers"):
        retention_plan(dt.timedelta(days=1), ["trade"])
    with pytest.raises(ValueError, match="no default retention for candles"):
        retention_plan(None, ["candles"])
    with pytest.raises(ValueError, match="positive timedelta"):
        retention_plan(dt.timedelta(0))
