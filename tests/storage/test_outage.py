"""A 60-second database outage in the middle of a simulator run: nothing lost, nothing doubled.

The database is taken away from the writer only (the shared PostgreSQL keeps running): the
writer's DSN points at a TCP proxy that refuses connections and cuts the open ones while
paused.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import asyncpg
import pytest

from collectors.core.types import DataType
from collectors.exchanges.okx.client import OKXCollector
from collectors.exchanges.okx.simulator import OKXSimulator
from storage.rows import Row
from storage.writer import TimescaleSink
from tests.fixtures_services import TcpProxy
from tests.helpers import wait_for

OUTAGE_SECONDS = 60.0
SYMBOLS = ("BTC-USDT", "ETH-USDT")
RATE = 100.0  # trades per second per symbol


@pytest.mark.slow
@pytest.mark.timeout(180)
async def test_a_database_outage_mid_run_loses_and_duplicates_nothing(
    db: asyncpg.Connection, storage_dsn: str, spill_dir: Path, db_proxy: TcpProxy
) -> None:
    committed: dict[str, list[int]] = defaultdict(list)  # symbol -> trade ids in commit order

    def on_commit(table: str, rows: Sequence[Row], commit_ns: int) -> None:
        for row in rows:
            committed[row[2]].append(int(row[3]))

    # The market stands still until the collector is subscribed, so that it sees every trade.
    async with OKXSimulator(port=0, seed=7, symbols=SYMBOLS, trade_rate=0.0, idle_timeout=120.0) as sim:
        sink = TimescaleSink(
            db_proxy.dsn(storage_dsn),
            spill_dir=str(spill_dir),
            migrate=False,
            on_commit=on_commit,
            batch_rows=200,
            max_buffered_rows=2000,
            retry_max_delay=1.0,
        )
        collector = OKXCollector(list(SYMBOLS), [DataType.TRADE], endpoint=f"ws://127.0.0.1:{sim.port}")
        collector.add_sink(sink)
        assert await collector.start()
        try:
            await wait_for(
                lambda: collector.get_status()["subscriptions"]["active"] == len(SYMBOLS),
                timeout=10,
                what="subscriptions acknowledged",
            )
            sim.market.set_trade_rate(RATE)
            await wait_for(
                lambda: sink.describe()["rows_written"] >= 400,
                timeout=20,
                what="trades stored before the outage",
            )

            await db_proxy.pause()
            outage_started = time.monotonic()
            await wait_for(
                lambda: sink.describe()["state"] == "disconnected", timeout=10, what="outage noticed"
            )
            await wait_for(
                lambda: sink.describe()["spill"]["rows_spilled"] > 0,
                timeout=OUTAGE_SECONDS,
                what="rows spilled to disk",
            )
            # The scenario is a 60 s outage: hold it for the rest of the minute, then check that
            # the collector kept going.
            received_before = sink.describe()["rows_received"]
            await asyncio.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - outage_started)))
            during = collector.get_status()
            assert during["status"] == "running"
            assert during["outputs"]["timescaledb"]["rows_received"] > received_before
            assert during["outputs"]["timescaledb"]["buffer"]["rows_in_memory"] <= 2000

            await db_proxy.resume()
            sim.market.set_trade_rate(0.0)
            emitted = {symbol: [trade.trade_id for trade in sim.trades_emitted(symbol)] for symbol in SYMBOLS}
            total = sum(len(ids) for ids in emitted.values())
            await wait_for(
                lambda: sink.describe()["rows_written"] == total,
                timeout=60,
                what=f"all {total} emitted trades stored",
            )
        finally:
            await collector.stop()

    for symbol in SYMBOLS:
        stored = [
            int(row["trade_id"])
            for row in await db.fetch(
                "SELECT trade_id FROM trades WHERE symbol = $1 ORDER BY trade_id::bigint", symbol
            )
        ]
        assert stored == emitted[symbol], symbol  # every emitted trade, exactly once
        assert committed[symbol] == emitted[symbol], symbol  # committed in arrival order
    assert await db.fetchval("SELECT count(*) - count(DISTINCT (symbol, trade_id)) FROM trades") == 0
    status = sink.describe()
    assert status["outages"] == 1
    assert status["spill"]["rows_spilled"] > 0
    assert status["spill"]["rows_replayed"] == status["spill"]["rows_spilled"]
    assert status["spill"]["rows_pending"] == 0
    assert status["dead_letter"]["rows"] == 0
    assert total > 2 * RATE * OUTAGE_SECONDS  # the outage really was in the middle of the run
