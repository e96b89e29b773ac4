"""TimescaleWriter against the real database: idempotency, batching, all tables, bad rows,
backpressure, spilling while the database is away and replay after a restart."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from decimal import Decimal
from pathlib import Path

import asyncpg
import pytest

from collectors.core.records import BookTop, Trade
from collectors.core.types import DataType, MarketDataPoint
from storage.errors import StorageError
from storage.rows import us_to_datetime
from storage.writer import TimescaleSink, TimescaleWriter, WriterConfig
from tests.fixtures_services import TcpProxy
from tests.helpers import wait_for
from tests.storage.factories import (
    MS,
    T0_NS,
    make_balance,
    make_candle,
    make_snapshot,
    make_ticker,
    make_trades,
)


def _writer(dsn: str, spill_dir: Path, **options: object) -> TimescaleWriter:
    options.setdefault("migrate", False)
    return TimescaleWriter(WriterConfig(dsn=dsn, spill_dir=str(spill_dir), **options))  # type: ignore[arg-type]


async def _trade_ids(db: asyncpg.Connection) -> list[str]:
    return [
        row["trade_id"] for row in await db.fetch("SELECT trade_id FROM trades ORDER BY trade_id::bigint")
    ]


async def test_the_same_batch_twice_stores_each_trade_once(
    db: asyncpg.Connection, storage_dsn: str, spill_dir: Path
) -> None:
    trades = make_trades(500, per_ms=3)
    writer = _writer(storage_dsn, spill_dir)
    await writer.start()
    for _ in range(2):
        for trade in trades:
            await writer.put(trade)
        await asyncio.wait_for(writer.flush(), 10)
    await writer.stop()

    assert await _trade_ids(db) == [t.trade_id for t in trades]
    stored = await db.fetch(
        "SELECT price::text AS price, size::text AS size, side, time, receive_time "
        "FROM trades ORDER BY trade_id::bigint"
    )
    assert [(r["price"], r["size"], r["side"], r["time"], r["receive_time"]) for r in stored] == [
        (
            str(t.price),
            str(t.size),
            t.side,
            us_to_datetime(t.event_time_ns // 1000),
            us_to_datetime(t.receive_time_ns // 1000),
        )
        for t in trades
    ]  # (every digit and the scale of each decimal, both clocks)
    status = writer.describe()
    assert status["rows_written"] == 500
    assert status["duplicates_ignored"] == 500
    assert status["conflict_fallbacks"] == 1  # the fast COPY hit the duplicates once, then the safe path
    assert status["errors"] == 0


async def test_duplicates_inside_one_batch_are_ignored(
    db: asyncpg.Connection, storage_dsn: str, spill_dir: Path
) -> None:
    trades = make_trades(10)
    writer = _writer(storage_dsn, spill_dir)
    await writer.start()
    for trade in trades + trades[:4]:
        await writer.put(trade)
    await writer.stop()

    assert await _trade_ids(db) == [t.trade_id for t in trades]
    assert writer.describe()["duplicates_ignored"] == 4


async def test_a_batch_is_written_about_max_batch_delay_after_its_first_row(
    db: asyncpg.Connection, storage_dsn: str, spill_dir: Path
) -> None:
    commits: list[int] = []
    writer = TimescaleWriter(
        WriterConfig(dsn=storage_dsn, spill_dir=str(spill_dir), migrate=False, max_batch_delay=0.1),
        on_commit=lambda table, rows, commit_ns: commits.append(commit_ns),
    )
    await writer.start()
    await wait_for(lambda: writer.state == "connected", timeout=10, what="writer connected")
    (trade,) = make_trades(1)
    put_ns = time.time_ns()
    await writer.put(trade)
    await wait_for(lambda: commits, timeout=5, what="the commit of a single row")
    await writer.stop()

    delay = (commits[0] - put_ns) / 1e9
    assert 0.1 <= delay < 0.6, delay  # sealed by the timer, not earlier; written right after
    assert writer.describe()["batches_written"] == 1


async def test_a_full_batch_is_written_without_waiting(
    db: asyncpg.Connection, storage_dsn: str, spill_dir: Path
) -> None:
    writer = _writer(storage_dsn, spill_dir, batch_rows=100, max_batch_delay=30.0)
    await writer.start()
    for trade in make_trades(250):
        await writer.put(trade)
    await wait_for(
        lambda: writer.describe()["rows_written"] == 200, timeout=10, what="two full batches written"
    )
    await writer.stop()  # the last 50 rows are written at stop

    assert len(await _trade_ids(db)) == 250


async def test_every_table_receives_its_records(
    db: asyncpg.Connection, storage_dsn: str, spill_dir: Path
) -> None:
    minute = 60_000 * MS
    writer = _writer(storage_dsn, spill_dir, book_depth=2)
    await writer.start()
    await writer.put(make_ticker(T0_NS, "29999.5", "30000.5"))
    await writer.put(make_ticker(T0_NS, "1", "2"))  # same exchange time: the first one stays
    await writer.put(make_snapshot(T0_NS, [("99", "1"), ("98", "2"), ("97", "3")], [("101", "4")]))
    await writer.put(make_snapshot(T0_NS, [("99", "1")], [("101", "4")], sequence=None))
    await writer.put(make_balance(T0_NS))
    await writer.put(BookTop("testex", "BTC-USDT", None, None, None, None, None, T0_NS, T0_NS))
    # Candles: a forming bar updated, then closed (final), then a stale forming copy ignored.
    await writer.put(make_candle(T0_NS, "101", closed=False, receive_ns=T0_NS + 1 * MS))
    await asyncio.wait_for(writer.flush(), 10)
    await writer.put(make_candle(T0_NS, "102", closed=False, receive_ns=T0_NS + 2 * MS))
    await asyncio.wait_for(writer.flush(), 10)
    await writer.put(make_candle(T0_NS, "103", closed=True, receive_ns=T0_NS + 3 * MS))
    await writer.put(make_candle(T0_NS + minute, "104", closed=False, receive_ns=T0_NS + 4 * MS))
    await asyncio.wait_for(writer.flush(), 10)
    await writer.put(make_candle(T0_NS, "99", closed=False, receive_ns=T0_NS + 5 * MS))
    await writer.stop()

    ticker = await db.fetchrow("SELECT * FROM tickers")
    assert (ticker["best_bid"], ticker["best_ask"], await db.fetchval("SELECT count(*) FROM tickers")) == (
        Decimal("29999.5"),
        Decimal("30000.5"),
        1,
    )
    books = await db.fetch(
        "SELECT sequence, bid_prices, ask_sizes FROM book_snapshots ORDER BY sequence NULLS LAST"
    )
    assert [tuple(row) for row in books] == [
        (1, [Decimal("99"), Decimal("98")], [Decimal("4")]),
        (None, [Decimal("99")], [Decimal("4")]),
    ]
    assert await db.fetchval("SELECT total FROM balances WHERE symbol = 'USDT'") == Decimal("101")
    candles = await db.fetch("SELECT close, closed FROM candles ORDER BY time")
    assert [tuple(row) for row in candles] == [(Decimal("103"), True), (Decimal("104"), False)]
    status = writer.describe()
    assert status["rows_not_stored"] == 1  # the BookTop
    assert status["tables"]["tickers"] == {"rows_written": 1, "duplicates_ignored": 1}
    assert status["errors"] == 0


async def test_a_broken_row_is_dead_lettered_and_the_rest_of_its_batch_lands(
    db: asyncpg.Connection, storage_dsn: str, spill_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    trades = make_trades(40)
    good = trades[:17] + trades[18:]
    broken_side = Trade(
        "testex",
        "BTC-USDT",
        trades[17].trade_id,
        trades[17].price,
        trades[17].size,
        "hold",  # type: ignore[arg-type]
        trades[17].event_time_ns,
        trades[17].receive_time_ns,
    )
    broken_text = Trade("testex", "BTC-USDT", "bad\x00id", Decimal(1), Decimal(1), "buy", T0_NS, T0_NS)
    writer = _writer(storage_dsn, spill_dir)
    await writer.start()
    for trade in good[:17] + [broken_side] + good[17:] + [broken_text]:
        await writer.put(trade)
    await writer.stop()

    assert await _trade_ids(db) == [t.trade_id for t in good]
    status = writer.describe()
    assert status["dead_letter"]["rows"] == 2
    assert status["errors"] >= 2
    lines = [json.loads(line) for line in (spill_dir / "dead-letter.jsonl").read_text().splitlines()]
    assert [(entry["table"], entry["side"], entry["error"].split(":")[0]) for entry in lines] == [
        ("trades", "hold", "CheckViolationError"),
        ("trades", "buy", "CharacterNotInRepertoireError"),
    ]
    assert lines[0]["trade_id"] == trades[17].trade_id and lines[0]["price"] == str(trades[17].price)
    assert "dead-lettered" in caplog.text


async def test_memory_is_bounded_and_put_waits_for_the_database(
    db: asyncpg.Connection, storage_dsn: str, spill_dir: Path
) -> None:
    writer = _writer(storage_dsn, spill_dir, batch_rows=50, max_buffered_rows=100)
    await writer.start()
    peak = 0
    for trade in make_trades(3000):
        await writer.put(trade)
        peak = max(peak, writer.describe()["buffer"]["rows_in_memory"])
    await writer.stop()

    assert peak <= 100
    status = writer.describe()
    assert status["buffer"]["backpressure_waits"] > 0
    assert status["spill"]["rows_spilled"] == 0  # the database was there: wait, do not spill
    assert len(await _trade_ids(db)) == 3000


async def test_rows_taken_while_the_database_is_away_survive_a_restart(
    db: asyncpg.Connection, storage_dsn: str, spill_dir: Path, db_proxy: TcpProxy
) -> None:
    await db_proxy.pause()
    first = _writer(
        db_proxy.dsn(storage_dsn), spill_dir, batch_rows=100, max_buffered_rows=1000, stop_timeout=0.5
    )
    await first.start()
    trades = make_trades(5000)
    started = time.monotonic()
    for trade in trades:
        await first.put(trade)
    assert time.monotonic() - started < 5  # collection went on: spilled, not blocked
    status = first.describe()
    assert status["state"] == "disconnected" and status["outages"] == 1
    assert status["spill"]["rows_spilled"] > 0
    assert status["buffer"]["rows_in_memory"] <= 1000
    await first.stop()  # the database is still away: the rest goes to disk too
    assert first.describe()["spill"]["rows_pending"] == 5000

    await db_proxy.resume()
    second = _writer(db_proxy.dsn(storage_dsn), spill_dir)
    await second.start()
    await wait_for(
        lambda: second.describe()["rows_written"] == 5000, timeout=20, what="spilled rows replayed"
    )
    await second.stop()

    assert await _trade_ids(db) == [t.trade_id for t in trades]
    assert second.describe()["spill"]["rows_replayed"] == 5000
    assert not await asyncio.to_thread(lambda: list(spill_dir.glob("*.spill")))


async def test_a_database_without_the_tables_is_reported_and_the_data_kept(
    fresh_dsn: str, spill_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    writer = _writer(fresh_dsn, spill_dir, stop_timeout=0.3)
    await writer.start()
    await writer.put(make_trades(1)[0])
    await wait_for(lambda: writer.state == "failing", timeout=10, what="the missing schema reported")
    await writer.stop()

    assert "python -m storage migrate" in writer.describe()["last_error"]
    assert writer.describe()["spill"]["rows_pending"] == 1
    assert "cannot use the database" in caplog.text


async def test_the_sink_stores_points_and_reports_in_the_collector_status(
    db: asyncpg.Connection, storage_dsn: str, spill_dir: Path
) -> None:
    sink = TimescaleSink(storage_dsn, spill_dir=str(spill_dir), name="store")
    await sink.start()
    for trade in make_trades(3):
        await sink.handle(MarketDataPoint(trade.exchange, trade.symbol, None, DataType.TRADE, None, trade))
    # A seed-API point without a typed record has no table: counted, not stored.
    await sink.handle(
        MarketDataPoint("testex", "BTC-USDT", dt.datetime.now(dt.UTC), DataType.TICKER, {"last": "1"})
    )
    await sink.stop()

    assert len(await _trade_ids(db)) == 3
    status = sink.describe()
    assert sink.name == "store"
    assert status["rows_written"] == 3 and status["rows_not_stored"] == 1
    for key in ("batches_written", "flush_latency_ms", "buffer", "spill", "errors", "receive_to_commit_ms"):
        assert key in status


async def test_stop_waits_for_the_last_batch(
    db: asyncpg.Connection, storage_dsn: str, spill_dir: Path
) -> None:
    writer = _writer(storage_dsn, spill_dir, max_batch_delay=60.0)
    await writer.start()
    for trade in make_trades(7):
        await writer.put(trade)
    await asyncio.wait_for(writer.stop(), 10)

    assert len(await _trade_ids(db)) == 7
    assert writer.state == "stopped"


async def test_a_writer_restarts_like_its_collector(
    db: asyncpg.Connection, storage_dsn: str, spill_dir: Path, db_proxy: TcpProxy
) -> None:
    writer = _writer(db_proxy.dsn(storage_dsn), spill_dir, stop_timeout=0.3)
    trades = make_trades(30)
    await writer.start()
    for trade in trades[:10]:
        await writer.put(trade)
    await writer.stop()
    await db_proxy.pause()
    await writer.start()  # a collector restart stops and starts its outputs
    for trade in trades[10:20]:
        await writer.put(trade)
    await writer.stop()  # the database is away: kept on disk
    await db_proxy.resume()
    await writer.start()
    for trade in trades[20:]:
        await writer.put(trade)
    await writer.stop()

    assert await _trade_ids(db) == [t.trade_id for t in trades]
    assert writer.describe()["rows_written"] == 30
    with pytest.raises(StorageError, match="the writer is stopped"):
        await writer.put(trades[0])


async def test_a_full_spill_is_reported_and_turns_into_backpressure(
    db: asyncpg.Connection,
    storage_dsn: str,
    spill_dir: Path,
    db_proxy: TcpProxy,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await db_proxy.pause()
    writer = _writer(
        db_proxy.dsn(storage_dsn), spill_dir, batch_rows=50, max_buffered_rows=100, max_spill_bytes=20_000,
        retry_max_delay=0.2,
    )  # fmt: skip
    await writer.start()
    trades = make_trades(1000)
    producer = asyncio.ensure_future(_put_all(writer, trades))
    await wait_for(
        lambda: writer.describe()["spill"]["failures"] > 0, timeout=10, what="the spill limit reached"
    )
    taken = writer.describe()["rows_received"]
    await asyncio.sleep(0.3)  # the scenario: the database stays away a little longer
    assert not producer.done()  # put() waits: nothing is dropped
    assert writer.describe()["rows_received"] == taken
    assert writer.describe()["buffer"]["rows_in_memory"] <= 100
    assert "max_spill_bytes=20000; holding 100 rows in memory and slowing the collector down" in caplog.text

    await db_proxy.resume()
    await asyncio.wait_for(producer, 30)
    await writer.stop()
    assert await _trade_ids(db) == [t.trade_id for t in trades]


async def _put_all(writer: TimescaleWriter, trades: list[Trade]) -> None:
    for trade in trades:
        await writer.put(trade)
