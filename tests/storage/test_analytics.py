"""Analytics helpers against stored data, checked with independent Python computations."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import asyncpg
import pytest

from storage import analytics
from storage.writer import TimescaleWriter, WriterConfig
from tests.storage.factories import MS, T0_NS, make_snapshot, make_ticker, make_trades

T0 = dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
ORIGIN = dt.datetime(2000, 1, 3, tzinfo=dt.UTC)  # time_bucket's default origin (a Monday)


async def _store(dsn: str, spill_dir: Path, records: list) -> None:
    writer = TimescaleWriter(WriterConfig(dsn=dsn, spill_dir=str(spill_dir), migrate=False))
    await writer.start()
    for record in records:
        await writer.put(record)
    await writer.stop()
    assert writer.describe()["errors"] == 0


def _python_candles(
    trades: list[asyncpg.Record], interval: dt.timedelta, start: dt.datetime, end: dt.datetime
):
    buckets: dict[dt.datetime, list[asyncpg.Record]] = defaultdict(list)
    for trade in trades:
        if start <= trade["time"] < end:
            bucket = ORIGIN + ((trade["time"] - ORIGIN) // interval) * interval
            buckets[bucket].append(trade)
    bars = []
    for bucket in sorted(buckets):
        group = sorted(buckets[bucket], key=lambda t: (t["time"], len(t["trade_id"]), t["trade_id"]))
        volume = sum((t["size"] for t in group), Decimal(0))
        bars.append(
            {
                "bucket": bucket,
                "open": group[0]["price"],
                "high": max(t["price"] for t in group),
                "low": min(t["price"] for t in group),
                "close": group[-1]["price"],
                "volume": volume,
                "trades": len(group),
                "vwap": sum((t["price"] * t["size"] for t in group), Decimal(0)) / volume,
            }
        )
    return bars


@pytest.fixture
async def stored_trades(db: asyncpg.Connection, storage_dsn: str, spill_dir: Path) -> list[asyncpg.Record]:
    # 20 minutes of trades, three per millisecond-step (ties), ids crossing a power of ten
    # (999 -> 1000) so that text order and numeric order differ; plus noise to filter out.
    trades = make_trades(2400, first_id=999 - 1200, step_ns=1500 * MS, per_ms=3)
    noise = make_trades(300, symbol="ETH-USDT", step_ns=4000 * MS) + make_trades(
        300, exchange="other", step_ns=4000 * MS
    )
    await _store(storage_dsn, spill_dir, trades + noise)
    return list(
        await db.fetch(
            "SELECT time, trade_id, price, size FROM trades WHERE exchange = 'testex' AND symbol = 'BTC-USDT'"
        )
    )


@pytest.mark.parametrize(
    "interval", [dt.timedelta(minutes=1), dt.timedelta(minutes=7), dt.timedelta(seconds=15)]
)
async def test_candles_equal_candles_computed_from_the_stored_trades(
    stored_trades: list[asyncpg.Record], storage_dsn: str, interval: dt.timedelta
) -> None:
    start, end = T0 + dt.timedelta(seconds=50), T0 + dt.timedelta(minutes=18, seconds=5)

    bars = await analytics.candles(storage_dsn, "testex", "BTC-USDT", interval, start, end)

    expected = _python_candles(stored_trades, interval, start, end)
    assert len(bars) == len(expected) > 2
    for bar, want in zip(bars, expected, strict=True):
        assert abs(bar.vwap - want.pop("vwap")) < Decimal("1e-12")
        assert {key: getattr(bar, key) for key in want} == want


async def test_vwap_over_a_range(stored_trades: list[asyncpg.Record], storage_dsn: str) -> None:
    start, end = T0 + dt.timedelta(minutes=3), T0 + dt.timedelta(minutes=9)
    inside = [t for t in stored_trades if start <= t["time"] < end]

    result = await analytics.vwap(storage_dsn, "testex", "BTC-USDT", start, end)

    volume = sum((t["size"] for t in inside), Decimal(0))
    assert (result.trades, result.volume) == (len(inside), volume)
    assert abs(result.vwap - sum((t["price"] * t["size"] for t in inside), Decimal(0)) / volume) < Decimal(
        "1e-12"
    )
    empty = await analytics.vwap(storage_dsn, "testex", "BTC-USDT", T0 - dt.timedelta(days=1), T0)
    assert (empty.vwap, empty.volume, empty.trades) == (None, 0, 0)


async def test_spread_and_mid_from_tickers(db: asyncpg.Connection, storage_dsn: str, spill_dir: Path) -> None:
    quotes = [("29999.5", "30000.5"), ("29999.0", "30001.0"), ("30000.0", "30000.2"), ("30002.0", "30002.6")]
    tickers = [make_ticker(T0_NS + index * 20_000 * MS, bid, ask) for index, (bid, ask) in enumerate(quotes)]
    await _store(storage_dsn, spill_dir, tickers)
    start, end = T0, T0 + dt.timedelta(minutes=5)

    rows = await analytics.spreads(storage_dsn, "testex", "BTC-USDT", start, end)
    buckets = await analytics.spreads(
        storage_dsn, "testex", "BTC-USDT", start, end, interval=dt.timedelta(minutes=1)
    )

    spreads = [Decimal(ask) - Decimal(bid) for bid, ask in quotes]
    mids = [(Decimal(ask) + Decimal(bid)) / 2 for bid, ask in quotes]
    assert [(row.spread, row.mid) for row in rows] == list(zip(spreads, mids, strict=True))
    assert rows[0].spread_bps == pytest.approx(Decimal(1) / Decimal(30000) * 10000)
    assert [(b.bucket, b.tickers, b.min_spread, b.max_spread, b.last_mid) for b in buckets] == [
        (T0, 3, min(spreads[:3]), max(spreads[:3]), mids[2]),
        (T0 + dt.timedelta(minutes=1), 1, spreads[3], spreads[3], mids[3]),
    ]
    assert buckets[0].avg_spread == pytest.approx(sum(spreads[:3]) / 3)


async def test_book_depth_near_the_mid(db: asyncpg.Connection, storage_dsn: str, spill_dir: Path) -> None:
    bids = [("100.00", "1.5"), ("99.99", "2"), ("99.90", "7")]
    asks = [("100.02", "0.5"), ("100.10", "3"), ("100.20", "9")]
    older = make_snapshot(T0_NS, [("90", "1")], [("110", "1")], sequence=1)
    latest = make_snapshot(T0_NS + 1000 * MS, bids, asks, sequence=2)
    await _store(storage_dsn, spill_dir, [older, latest])

    depth = await analytics.book_depth_near_mid(
        storage_dsn, "testex", "BTC-USDT", at=T0 + dt.timedelta(hours=1), within_bps=10
    )

    mid = (Decimal("100.00") + Decimal("100.02")) / 2
    near_bids = [(Decimal(p), Decimal(s)) for p, s in bids if Decimal(p) >= mid * (1 - Decimal(10) / 10000)]
    near_asks = [(Decimal(p), Decimal(s)) for p, s in asks if Decimal(p) <= mid * (1 + Decimal(10) / 10000)]
    assert depth is not None
    assert depth.time == T0 + dt.timedelta(seconds=1)
    assert depth.mid == mid
    assert (depth.bid_levels, depth.bid_size, depth.bid_notional) == (
        len(near_bids),
        sum(s for _, s in near_bids),
        sum(p * s for p, s in near_bids),
    )
    assert (depth.ask_levels, depth.ask_size, depth.ask_notional) == (
        len(near_asks),
        sum(s for _, s in near_asks),
        sum(p * s for p, s in near_asks),
    )
    assert (depth.bid_levels, depth.ask_levels) == (2, 2)
    at_first = await analytics.book_depth_near_mid(storage_dsn, "testex", "BTC-USDT", at=T0, within_bps=100)
    assert at_first is not None and at_first.mid == Decimal(100)
    assert (
        await analytics.book_depth_near_mid(
            storage_dsn, "testex", "BTC-USDT", at=T0 - dt.timedelta(seconds=1)
        )
        is None
    )


async def test_bad_ranges_are_refused(storage_dsn: str) -> None:
    with pytest.raises(ValueError, match="must be after start"):
        await analytics.candles(storage_dsn, "testex", "BTC-USDT", dt.timedelta(minutes=1), T0, T0)
    with pytest.raises(ValueError, match="positive timedelta"):
        await analytics.candles(
            storage_dsn, "testex", "BTC-USDT", dt.timedelta(0), T0, T0 + dt.timedelta(hours=1)
        )
    with pytest.raises(ValueError, match="timezone-aware"):
        await analytics.vwap(storage_dsn, "testex", "BTC-USDT", dt.datetime(2027, 1, 1), T0)  # noqa: DTZ001
