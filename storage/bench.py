"""Storage benchmark: ``python -m storage.bench [--end-to-end]``.

Runs in a scratch database (``marketdata_bench_<random>`` on the server of ``--dsn``,
dropped afterwards) and prints:

* **ingest**: the raw binary ``COPY`` rate into a scratch hypertable (same columns, unique
  key and chunk interval as ``trades``), the rate of :class:`~storage.writer.TimescaleWriter`
  (records in, idempotent writes, everything committed), and their ratio; plus the
  duplicate-skipping strategies on their own (staging ``INSERT ... ON CONFLICT``,
  ``unnest ... ON CONFLICT``) and a replay of rows that are all stored already. Rounds
  alternate raw and writer runs; medians are reported.
* **end to end** (``--end-to-end``): the OKX simulator in a subprocess, one
  ``OKXCollector`` with a ``TimescaleSink`` in this process. A throughput phase
  (``--rate`` trades/s for ``--duration`` s) and a latency phase (``--latency-rate`` for
  ``--latency-duration`` s): trades/s emitted, received and stored, stored vs emitted
  (trade ids are consecutive per symbol, so every gap is a lost trade), duplicates,
  receive->commit latency percentiles, and where the CPU went.

Figures and their interpretation: docs/benchmarks.md ("Storage").
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import datetime as dt
import json
import os
import pstats
import secrets
import socket
import statistics
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import psutil

from collectors.core.records import Trade
from storage import ingest
from storage.db import default_dsn, mask_dsn
from storage.edition import detect_edition
from storage.migrate import migrate
from storage.rows import Row, trade_row
from storage.schema import TRADES
from storage.writer import TimescaleSink, TimescaleWriter, WriterConfig

RAW_TABLE = "bench_raw_trades"

# ---------------------------------------------------------------------------------- scratch database


def _with_database(dsn: str, database: str) -> str:
    return urlunsplit(urlsplit(dsn)._replace(path=f"/{database}"))


async def create_scratch_database(dsn: str) -> str:
    name = f"marketdata_bench_{secrets.token_hex(4)}"
    conn = await asyncpg.connect(_with_database(dsn, "postgres"))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    scratch = _with_database(dsn, name)
    await migrate(scratch)
    conn = await asyncpg.connect(scratch)
    try:
        await conn.execute(f"CREATE TABLE {RAW_TABLE} (LIKE {TRADES.name} INCLUDING ALL)")
        await conn.execute(
            f"SELECT create_hypertable('{RAW_TABLE}', by_range('time', INTERVAL '1 day'), "
            "create_default_indexes => false)"
        )
    finally:
        await conn.close()
    return scratch


async def drop_scratch_database(scratch: str) -> None:
    name = urlsplit(scratch).path.lstrip("/")
    assert name.startswith("marketdata_bench_")
    conn = await asyncpg.connect(_with_database(scratch, "postgres"))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


# ---------------------------------------------------------------------------------- ingest


def bench_trades(count: int, symbols: int = 5, rate: float = 50_000.0) -> list[Trade]:
    """``count`` trades over ``symbols`` instruments, ``rate`` per second, ending now."""
    start_ns = time.time_ns() - int(count / rate * 1e9)
    trades = []
    for index in range(count):
        event_ns = start_ns + int(index / rate * 1e9) // 1_000_000 * 1_000_000  # exchange ms resolution
        price = Decimal(42_000) + Decimal(index % 2001 - 1000) / 10
        trades.append(
            Trade(
                "benchex",
                f"SYM{index % symbols}-USDT",
                str(500_000_000 + index),
                price,
                Decimal(index % 997 + 1) / Decimal(10_000),
                "buy" if index % 2 else "sell",
                event_ns,
                event_ns + 1_500_000,
            )
        )
    return trades


async def _truncate(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f"TRUNCATE {RAW_TABLE}, {TRADES.name}")
    finally:
        await conn.close()


def raw_trade_row(trade: Trade) -> tuple[Any, ...]:
    """A trade as a plain binary COPY into ``trades`` takes it: Decimals for the numeric columns."""
    return (
        trade.event_time_ns // 1000,
        trade.exchange,
        trade.symbol,
        trade.trade_id,
        trade.price,
        trade.size,
        trade.side,
        trade.fill_count,
        trade.receive_time_ns // 1000,
    )


_BINARY_STAGE = "bench_stage_binary"
_UNNEST_SQL = (
    f"INSERT INTO {TRADES.name} ({', '.join(TRADES.columns)}) "
    "SELECT * FROM unnest($1::timestamptz[], $2::text[], "
    "$3::text[], $4::text[], $5::numeric[], $6::numeric[], $7::text[], $8::integer[], $9::timestamptz[]) "
    "ON CONFLICT DO NOTHING"
)


async def _timed_batches(
    dsn: str, raw_batches: list[list[Any]], row_batches: list[list[Row]], kind: str
) -> float:
    """Seconds to write all batches one after another on one connection with one strategy."""
    conn = await asyncpg.connect(dsn)
    await ingest.configure_connection(conn)  # integer timestamps for every strategy, raw COPY included
    try:
        await ingest.create_staging_table(conn, TRADES)
        await conn.execute(
            f"CREATE TEMP TABLE {_BINARY_STAGE} (LIKE {TRADES.name} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
        )
        columns = ", ".join(TRADES.columns)
        started = time.perf_counter()
        for raw, rows in zip(raw_batches, row_batches, strict=True):
            if kind == "raw":
                await conn.copy_records_to_table(RAW_TABLE, records=raw, columns=TRADES.columns)
            elif kind == "staging_text":
                await ingest.insert_rows(conn, TRADES, rows, "ignore", statement_timeout=60)
            elif kind == "staging_binary":
                async with conn.transaction():
                    await conn.copy_records_to_table(_BINARY_STAGE, records=raw, columns=TRADES.columns)
                    await conn.execute(
                        f"INSERT INTO {TRADES.name} ({columns}) SELECT {columns} FROM {_BINARY_STAGE} "
                        "ON CONFLICT DO NOTHING"
                    )
            else:
                await conn.execute(_UNNEST_SQL, *zip(*raw, strict=True))
        return time.perf_counter() - started
    finally:
        await conn.close()


async def _timed_writer(
    dsn: str, trades: list[Trade], batch_rows: int, **options: Any
) -> tuple[float, dict[str, Any]]:
    """Seconds from the first put to the last commit, through the whole writer."""
    with tempfile.TemporaryDirectory(prefix="storage-bench-spill-") as spill:
        writer = TimescaleWriter(
            WriterConfig(
                dsn=dsn,
                spill_dir=spill,
                migrate=False,
                batch_rows=batch_rows,
                max_write_rows=batch_rows,
                max_buffered_rows=max(4 * batch_rows, 100_000),
                **options,
            )
        )
        await writer.start()
        started = time.perf_counter()
        for trade in trades:
            await writer.put(trade)
        await writer.stop()
        seconds = time.perf_counter() - started
        status = writer.describe()
    if status["rows_written"] + status["duplicates_ignored"] != len(trades) or status["errors"]:
        raise RuntimeError(f"writer benchmark run was not clean: {status}")
    return seconds, status


_STRATEGIES = {
    "writer_ignore": "writer with optimistic_insert=False (always ON CONFLICT DO NOTHING)",
    "staging_text": "COPY -> TEMP staging (numbers as text), INSERT ON CONFLICT DO NOTHING",
    "staging_binary": "COPY -> TEMP staging (binary numeric), INSERT ON CONFLICT DO NOTHING",
    "unnest": "INSERT ... SELECT FROM unnest(...) ON CONFLICT DO NOTHING",
    "replay": "writer replaying rows that are all stored already",
}


@dataclass
class IngestResult:
    rows: int
    batch_rows: int
    rounds: int
    raw: float
    writer: float
    strategies: dict[str, float]

    @property
    def ratio(self) -> float:
        return self.writer / self.raw


async def run_ingest(dsn: str, rows: int, batch_rows: int, rounds: int) -> IngestResult:
    trades = bench_trades(rows)
    raw_batches = [[raw_trade_row(t) for t in trades[i : i + batch_rows]] for i in range(0, rows, batch_rows)]
    row_batches = [[trade_row(t) for t in trades[i : i + batch_rows]] for i in range(0, rows, batch_rows)]
    rates: dict[str, list[float]] = {key: [] for key in ("raw", "writer", *_STRATEGIES)}
    for _ in range(rounds):
        # Raw and writer back to back in every round, so that background load hits both alike.
        await _truncate(dsn)
        rates["raw"].append(rows / await _timed_batches(dsn, raw_batches, row_batches, "raw"))
        seconds, _ = await _timed_writer(dsn, trades, batch_rows)
        rates["writer"].append(rows / seconds)
        seconds, status = await _timed_writer(dsn, trades, batch_rows)  # every row is stored already
        assert status["duplicates_ignored"] == rows
        rates["replay"].append(rows / seconds)
        await _truncate(dsn)
        seconds, _ = await _timed_writer(dsn, trades, batch_rows, optimistic_insert=False)
        rates["writer_ignore"].append(rows / seconds)
        for kind in ("staging_text", "staging_binary", "unnest"):
            await _truncate(dsn)
            rates[kind].append(rows / await _timed_batches(dsn, raw_batches, row_batches, kind))
    medians = {key: statistics.median(values) for key, values in rates.items()}
    raw, writer = medians.pop("raw"), medians.pop("writer")
    return IngestResult(rows, batch_rows, rounds, raw, writer, medians)


# ---------------------------------------------------------------------------------- end to end


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _latest_trade_ids(port: int, symbols: Sequence[str]) -> dict[str, int]:
    latest = {}
    for symbol in symbols:
        url = f"http://127.0.0.1:{port}/api/v5/market/trades?instId={symbol}&limit=1"
        with urllib.request.urlopen(url, timeout=10) as response:
            latest[symbol] = int(json.loads(response.read())["data"][0]["tradeId"])
    return latest


def _simulator_state(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/simulator/state", timeout=10) as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


class _CountingSink:
    """Counts trades (and their id range per symbol) instead of storing them."""

    name = "counting"

    def __init__(self) -> None:
        self.received = 0
        self._ids: dict[str, list[int]] = {}  # symbol -> [count, first, last]

    async def start(self) -> None:
        return None

    async def handle(self, point: Any) -> None:
        self.received += 1
        trade_id = int(point.record.trade_id)
        seen = self._ids.get(point.symbol)
        if seen is None:
            self._ids[point.symbol] = [1, trade_id, trade_id]
        else:
            seen[0] += 1
            seen[2] = trade_id

    async def stop(self) -> None:
        return None

    def last_ids(self) -> dict[str, int]:
        return {symbol: seen[2] for symbol, seen in self._ids.items()}

    def per_symbol(self) -> list[dict[str, int]]:
        return [{"n": n, "d": n, "first": first, "last": last} for n, first, last in self._ids.values()]

    def describe(self) -> dict[str, Any]:
        return {
            "rows_received": self.received,
            "rows_written": self.received,
            "duplicates_ignored": 0,
            "batches_written": 0,
            "flush_latency_ms": {"p50": None, "p99": None},
            "buffer": {"backpressure_seconds": 0.0},
            "spill": {"rows_spilled": 0},
            "errors": 0,
        }


class _Cpu:
    """CPU seconds used by this process, the simulator, PostgreSQL and the whole machine."""

    def __init__(self, simulator_pid: int) -> None:
        self.me = psutil.Process()
        self.simulator = psutil.Process(simulator_pid)

    def _postgres(self) -> dict[int, float]:
        used = {}
        for process in psutil.process_iter(["name"]):
            if process.info["name"] in ("postgres", "postmaster"):
                try:
                    times = process.cpu_times()
                except psutil.Error:
                    continue
                used[process.pid] = times.user + times.system
        return used

    def sample(self) -> dict[str, Any]:
        me, sim, machine = self.me.cpu_times(), self.simulator.cpu_times(), psutil.cpu_times()
        busy = sum(machine) - machine.idle - getattr(machine, "iowait", 0.0)
        return {
            "collector": me.user + me.system,
            "simulator": sim.user + sim.system,
            "postgres": self._postgres(),
            "machine": busy,
            "wall": time.monotonic(),
        }

    @staticmethod
    def usage(before: dict[str, Any], after: dict[str, Any]) -> dict[str, float]:
        wall = after["wall"] - before["wall"]
        postgres = sum(
            after["postgres"][pid] - before["postgres"][pid]
            for pid in after["postgres"]
            if pid in before["postgres"]
        )
        return {
            "collector": (after["collector"] - before["collector"]) / wall,
            "simulator": (after["simulator"] - before["simulator"]) / wall,
            "postgres": postgres / wall,
            "machine": (after["machine"] - before["machine"]) / wall,
        }


@dataclass
class EndToEndResult:
    target_rate: float
    seconds: float
    emitted_rate: float
    received_rate: float
    stored_rate: float
    stored: int
    emitted_in_window: int
    missing: int
    duplicates: int
    backlog_at_end: int
    lag_at_end: int  # trades emitted but not yet committed when the window ended
    drain_seconds: float
    latency_ms: dict[str, float]
    within_250ms: float
    cpu: dict[str, float]
    writer: dict[str, Any]
    collector: dict[str, Any]


async def run_end_to_end(
    dsn: str,
    rate: float,
    seconds: float,
    symbols: Sequence[str],
    *,
    warmup: float = 3.0,
    measure_latency: bool = False,
    profile: cProfile.Profile | None = None,
    storage: bool = True,
) -> EndToEndResult:
    """One phase: simulator subprocess -> OKXCollector -> TimescaleSink (or, with ``storage``
    False, a sink that only counts, to show what storage costs the collector process)."""
    from collectors.core.types import DataType
    from collectors.exchanges.okx.client import OKXCollector

    await _truncate(dsn)
    port = _free_port()
    simulator = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "collectors.exchanges.okx.simulator", "--port", str(port), "--seed", "1",
        "--trade-rate", str(rate / len(symbols)), "--symbols", ",".join(symbols), "--idle-timeout", "600",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    latencies: list[float] = []
    last_committed: dict[str, int] = {}  # symbol -> highest trade id committed

    def on_commit(table: str, rows: Sequence[Row], commit_ns: int) -> None:
        for row in rows:
            last_committed[row[2]] = int(row[3])
        if measure_latency:
            commit_us = commit_ns // 1000
            # row[8] is the receive time in microseconds
            latencies.extend([(commit_us - row[8]) / 1000.0 for row in rows])

    try:
        assert simulator.stdout is not None
        ready = (await asyncio.wait_for(simulator.stdout.readline(), 30)).decode()
        if "ready" not in ready:
            raise RuntimeError(f"simulator did not start: {ready!r}")
        with tempfile.TemporaryDirectory(prefix="storage-bench-spill-") as spill:
            sink: Any = (
                TimescaleSink(dsn, spill_dir=spill, migrate=False, on_commit=on_commit)
                if storage
                else _CountingSink()
            )
            collector = OKXCollector(list(symbols), [DataType.TRADE], endpoint=f"ws://127.0.0.1:{port}")
            collector.add_sink(sink)
            cpu = _Cpu(simulator.pid)
            if not await collector.start():
                raise RuntimeError(
                    f"collector did not start: {collector.get_status()['statistics']['last_error']}"
                )
            try:
                await asyncio.sleep(warmup)
                latencies.clear()
                state_before = await asyncio.to_thread(_simulator_state, port)
                before, status_before = cpu.sample(), sink.describe()
                if profile is not None:
                    profile.enable()
                await asyncio.sleep(seconds)
                if profile is not None:
                    profile.disable()
                after, status_after = cpu.sample(), sink.describe()
                state_after = await asyncio.to_thread(_simulator_state, port)
                committed_at_end = dict(last_committed) if storage else sink.last_ids()
                latest_at_end = await asyncio.to_thread(_latest_trade_ids, port, symbols)
            finally:
                stop_started = time.monotonic()
                await collector.stop()
                drain = time.monotonic() - stop_started
            final = sink.describe()
            collector_status = collector.get_status()
    finally:
        simulator.terminate()
        try:
            await asyncio.wait_for(simulator.wait(), 10)
        except TimeoutError:  # busy flushing its send queues: no need to be gentle
            simulator.kill()
            await simulator.wait()
    if storage:
        conn = await asyncpg.connect(dsn)
        try:
            rows = await conn.fetch(
                "SELECT symbol, count(*) AS n, count(DISTINCT trade_id) AS d, "
                "min(trade_id::bigint) AS first, max(trade_id::bigint) AS last "
                f"FROM {TRADES.name} GROUP BY symbol"
            )
        finally:
            await conn.close()
    else:
        rows = sink.per_symbol()
    stored = sum(row["n"] for row in rows)
    in_window = sum(row["last"] - row["first"] + 1 for row in rows)  # ids are consecutive per symbol
    emitted = sum(state_after["trades_emitted"].values()) - sum(state_before["trades_emitted"].values())
    ordered = sorted(latencies)

    def pick(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1) if ordered else float("nan")

    return EndToEndResult(
        target_rate=rate,
        seconds=seconds,
        emitted_rate=emitted / seconds,
        received_rate=(status_after["rows_received"] - status_before["rows_received"]) / seconds,
        stored_rate=(status_after["rows_written"] - status_before["rows_written"]) / seconds,
        stored=stored,
        emitted_in_window=in_window,
        missing=in_window - sum(row["d"] for row in rows),
        duplicates=stored - sum(row["d"] for row in rows) + final["duplicates_ignored"],
        backlog_at_end=status_after["rows_received"] - status_after["rows_written"],
        lag_at_end=sum(latest_at_end[symbol] - committed_at_end.get(symbol, 0) for symbol in symbols),
        drain_seconds=drain,
        latency_ms={
            "p50": pick(0.5),
            "p99": pick(0.99),
            "max": round(ordered[-1], 1) if ordered else float("nan"),
        },
        within_250ms=(sum(1 for value in ordered if value <= 250.0) / len(ordered))
        if ordered
        else float("nan"),
        cpu=_Cpu.usage(before, after),
        writer=final,
        collector={
            "restarts": collector_status["statistics"]["restarts"],
            "errors": collector_status["statistics"]["errors"],
            "last_error": collector_status["statistics"]["last_error"],
            "backfilled_trades": collector_status["exchange_statistics"]["backfilled_trades"],
        },
    )


# ---------------------------------------------------------------------------------- report


def _print_ingest(result: IngestResult) -> None:
    print(
        f"ingest: {result.rows:,} trades in batches of {result.batch_rows:,}, "
        f"median of {result.rounds} rounds"
    )
    print(f"  raw binary COPY into a scratch hypertable   {result.raw:>10,.0f} rows/s")
    print(
        f"  writer (TimescaleWriter, idempotent)        {result.writer:>10,.0f} rows/s   "
        f"ratio writer/raw = {result.ratio:.2f}"
    )
    print("  other strategies, same batches (all skip duplicates):")
    for key, label in _STRATEGIES.items():
        value = result.strategies[key]
        print(f"    {label:<72}{value:>10,.0f} rows/s   ({value / result.raw:.2f} of raw)")


def _print_end_to_end(title: str, result: EndToEndResult) -> None:
    print(f"{title}: target {result.target_rate:,.0f} trades/s, measured over {result.seconds:.0f} s")
    print(
        f"  trades/s  emitted {result.emitted_rate:>9,.0f}   received {result.received_rate:>9,.0f}   "
        f"stored {result.stored_rate:>9,.0f}"
    )
    print(
        f"  stored {result.stored:,} of {result.emitted_in_window:,} emitted in the collected id range; "
        f"missing {result.missing}, duplicates {result.duplicates}"
    )
    print(
        f"  at the end of the window: {result.lag_at_end:,} emitted trades not yet committed "
        f"(~{result.lag_at_end / result.target_rate:.2f} s), "
        f"{result.backlog_at_end:,} of them in the writer; "
        f"collector stopped in {result.drain_seconds:.2f} s"
    )
    print(
        f"  receive->commit latency ms: p50 {result.latency_ms['p50']}, p99 {result.latency_ms['p99']}, "
        f"max {result.latency_ms['max']}; within 250 ms: {result.within_250ms:.2%}"
    )
    cpu = result.cpu
    if result.received_rate > 0:
        per_trade = cpu["collector"] / result.received_rate * 1e6
        print(f"  collector process CPU per trade received: {per_trade:.1f} us")
    print(
        f"  CPU (cores): collector {cpu['collector']:.2f}, simulator {cpu['simulator']:.2f}, "
        f"postgres {cpu['postgres']:.2f}, whole machine {cpu['machine']:.2f} of {psutil.cpu_count()}"
    )
    collector = result.collector
    print(
        f"  collector: {collector['restarts']} reconnects, {collector['errors']} errors, "
        f"{collector['backfilled_trades']} trades backfilled over REST; last error: {collector['last_error']}"
    )
    writer = result.writer
    print(
        f"  writer: {writer['batches_written']:,} writes, flush ms p50 {writer['flush_latency_ms']['p50']} "
        f"p99 {writer['flush_latency_ms']['p99']}, "
        f"backpressure {writer['buffer']['backpressure_seconds']} s, "
        f"spilled {writer['spill']['rows_spilled']}, errors {writer['errors']}"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m storage.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dsn", default=None, help="server to use (a scratch database is created there)")
    parser.add_argument("--rows", type=int, default=200_000, help="ingest: trades per run (200000)")
    parser.add_argument("--batch-rows", type=int, default=5000, help="ingest: rows per COPY (5000)")
    parser.add_argument("--rounds", type=int, default=3, help="ingest: rounds, medians reported (3)")
    parser.add_argument(
        "--end-to-end", action="store_true", help="also run simulator -> collector -> database"
    )
    parser.add_argument(
        "--rate", type=float, default=50_000, help="end to end: trades/s, all symbols (50000)"
    )
    parser.add_argument("--duration", type=float, default=60, help="end to end: seconds measured (60)")
    parser.add_argument("--latency-rate", type=float, default=10_000, help="latency phase: trades/s (10000)")
    parser.add_argument("--latency-duration", type=float, default=20, help="latency phase: seconds (20)")
    parser.add_argument("--symbols", type=int, default=5, help="end to end: instruments (5)")
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="N",
        help="print the N functions of this process using the most CPU in the throughput phase",
    )
    parser.add_argument("--skip-ingest", action="store_true", help="end to end only")
    parser.add_argument(
        "--without-storage",
        action="store_true",
        help="also run the throughput phase with a sink that only counts (storage's CPU share)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    return parser


async def _main(args: argparse.Namespace) -> None:
    server = args.dsn or default_dsn()
    scratch = await create_scratch_database(server)
    try:
        conn = await asyncpg.connect(scratch)
        try:
            edition = await detect_edition(conn)
            version = await conn.fetchval("SHOW server_version")
        finally:
            await conn.close()
        print(
            f"storage benchmark {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M}Z: {psutil.cpu_count()} CPUs, "
            f"PostgreSQL {version}, TimescaleDB {edition.version} ({edition.license}), "
            f"scratch {mask_dsn(scratch)}"
        )
        if not args.skip_ingest:
            _print_ingest(await run_ingest(scratch, args.rows, args.batch_rows, args.rounds))
        if args.end_to_end:
            symbols = [f"S{index}-USDT" for index in range(args.symbols)]
            profile = cProfile.Profile() if args.profile else None
            result = await run_end_to_end(scratch, args.rate, args.duration, symbols, profile=profile)
            _print_end_to_end("end to end, throughput", result)
            if profile is not None:
                print(f"  collector process profile (top {args.profile} by own time):")
                pstats.Stats(profile, stream=sys.stdout).sort_stats("tottime").print_stats(args.profile)
            if args.without_storage:
                counted = await run_end_to_end(scratch, args.rate, args.duration, symbols, storage=False)
                _print_end_to_end("end to end, throughput WITHOUT storage (a sink that only counts)", counted)
                with_storage = result.cpu["collector"] / max(result.received_rate, 1.0) * 1e6
                without = counted.cpu["collector"] / max(counted.received_rate, 1.0) * 1e6
                print(f"  storage's share of the collector process: {with_storage - without:.1f} us of "
                      f"{with_storage:.1f} us per trade")  # fmt: skip
            result = await run_end_to_end(
                scratch, args.latency_rate, args.latency_duration, symbols, measure_latency=True
            )
            _print_end_to_end("end to end, latency", result)
    finally:
        if args.keep:
            print(f"kept scratch database {mask_dsn(scratch)}")
        else:
            await drop_scratch_database(scratch)


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    for name in ("rows", "batch_rows", "rounds", "symbols"):
        if getattr(args, name) < 1:
            build_parser().error(f"argument --{name.replace('_', '-')}: must be >= 1")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    asyncio.run(_main(args))


if __name__ == "__main__":
    main()
