"""TimescaleWriter: batched, idempotent, outage-proof writes of records into the hypertables.

Data path::

    put(record) -> row (storage.rows) -> open batch per table
        sealed at batch_rows rows or max_batch_delay after its first row
        -> queue per table (in memory; spilled to disk while the database is away)
        -> one flusher task: oldest batch first, consecutive batches of a table merged
           up to max_write_rows; one transaction per write: binary COPY into a TEMP
           staging table + one INSERT ... SELECT (storage.ingest)

Guarantees:

* **Bounded memory, backpressure.** At most ``max_buffered_rows`` rows are held in
  memory. When that is reached and the database is taking writes, ``put`` waits (the
  collector's message loop slows down) until the flusher frees room.
* **Outages.** While the database is unreachable (or a write is stuck for
  ``stall_timeout``), ``put`` never waits for it: full memory is moved to the spill
  directory (:mod:`storage.spill`), newest batches first, and every batch keeps its
  place in its table's queue. The flusher reconnects with capped, jittered backoff and
  writes everything back in arrival order. A write whose outcome is unknown (the
  connection died around the commit) is simply written again: duplicates are ignored.
* **Idempotent.** Duplicates are ignored, never an error: a write is a plain INSERT
  first (fastest); if it hits a duplicate key it is redone with ``ON CONFLICT DO
  NOTHING``, which the writer then keeps using for ``conflict_mode_seconds``. Candles
  are upserted (a closed bar is final).
* **Nothing dropped silently.** A spill that fails (``max_spill_bytes`` or a full disk)
  is logged at ERROR, counted, and turns into backpressure. A row the database refuses
  for good (a CHECK or encoding error) is found by bisecting its batch, written to
  ``dead-letter.jsonl`` in the spill directory, logged and counted; the rest of the
  batch is stored. Anything still unwritten at ``stop`` (database away) stays in the
  spill directory and is replayed by the next writer that opens it.

``describe()`` reports the figures (rows written, batches, flush latency, buffer depth,
spilled rows, errors...) shown in the collector's status under ``outputs``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import msgspec

from collectors.core.backoff import Backoff
from collectors.core.errors import ConfigurationError
from collectors.core.logging import get_logger
from collectors.core.records import MarketRecord
from collectors.core.types import MarketDataPoint
from storage import ingest
from storage.db import default_dsn, mask_dsn
from storage.edition import Edition, detect_edition
from storage.errors import SchemaMissing, SpillCorrupt, SpillError, StorageError
from storage.ingest import ErrorKind, classify_error
from storage.migrate import migrate
from storage.rows import TABLE_FOR_RECORD, Row, converters, row_as_dict
from storage.schema import TABLES
from storage.spill import DeadLetterFile, SpillRef, SpillStore

CommitHook = Callable[[str, Sequence[Row], int], None]
"""``on_commit(table, rows, commit_time_ns)``: called after each committed write (benchmarks, tests)."""

_LATENCY_WINDOW = 1000  # writes kept for the latency percentiles in describe()
_SPILL_LOG_INTERVAL = 10.0  # seconds between WARNING lines about spilling during one outage


class WriterConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Settings of a :class:`TimescaleWriter` (all optional; see docs/storage.md)."""

    dsn: str | None = None  # None: DATABASE_URL or the local marketdata database
    name: str = "timescaledb"  # sink name in the collector's status; default spill directory name
    book_depth: int = 20  # order-book levels stored per side
    tables: list[str] | None = None  # store only these tables (default: all)
    batch_rows: int = 5000  # a batch is written once it has this many rows...
    max_batch_delay: float = 0.1  # ...or this many seconds after its first row
    max_write_rows: int = 50_000  # queued batches of a table are merged up to this many rows
    max_buffered_rows: int = 200_000  # rows held in memory before backpressure or spilling
    spill_dir: str | None = None  # default: $SPILL_DIR/<name>, SPILL_DIR defaulting to .local/spill
    max_spill_bytes: int = 2 * 1024**3
    spill_fsync: bool = True  # fsync every spilled batch (survives a machine crash)
    stall_timeout: float = 5.0  # a write running this long counts as an outage for put()
    write_timeout: float = 30.0  # one write; then the connection is dropped and the write retried
    connect_timeout: float = 5.0
    retry_initial_delay: float = 0.1  # reconnect backoff (capped, jittered)
    retry_max_delay: float = 5.0
    stop_timeout: float = 10.0  # at stop, wait this long for the database before spilling the rest
    migrate: bool = True  # run the migrations on the first connection
    optimistic_insert: bool = (
        True  # plain INSERT first, ON CONFLICT DO NOTHING after a duplicate; False: always
    )
    conflict_mode_seconds: float = 5.0  # after a duplicate, use the duplicate-skipping path this long

    def __post_init__(self) -> None:
        positive_ints = ("book_depth", "batch_rows", "max_write_rows", "max_buffered_rows", "max_spill_bytes")
        for name in positive_ints:
            value = getattr(self, name)
            if isinstance(value, bool) or value < 1:
                raise ConfigurationError(f"{name} must be a whole number >= 1, got {value!r}")
        positive_floats = (
            "max_batch_delay",
            "stall_timeout",
            "write_timeout",
            "connect_timeout",
            "retry_initial_delay",
            "retry_max_delay",
            "stop_timeout",
        )
        for name in positive_floats:
            value = getattr(self, name)
            if not value > 0:
                raise ConfigurationError(f"{name} must be a number > 0 (seconds), got {value!r}")
        if self.conflict_mode_seconds < 0:
            raise ConfigurationError(
                f"conflict_mode_seconds must be >= 0, got {self.conflict_mode_seconds!r}"
            )
        if self.max_write_rows < self.batch_rows:
            raise ConfigurationError(
                f"max_write_rows ({self.max_write_rows}) must be >= batch_rows ({self.batch_rows})"
            )
        if self.max_buffered_rows < 2 * self.batch_rows:
            raise ConfigurationError(
                f"max_buffered_rows ({self.max_buffered_rows}) must be >= 2 * batch_rows ({self.batch_rows})"
            )
        if not self.name or not self.name.replace("_", "").replace("-", "").isalnum():
            raise ConfigurationError(f"name must be letters, digits, '-' or '_', got {self.name!r}")
        if self.tables is not None:
            unknown = [name for name in self.tables if name not in TABLES]
            if unknown or not self.tables:
                raise ConfigurationError(
                    f"tables: unknown table(s) {unknown or self.tables!r}; "
                    f"allowed values: {', '.join(TABLES)}"
                )

    def resolved_spill_dir(self) -> Path:
        if self.spill_dir is not None:
            return Path(self.spill_dir)
        return Path(os.environ.get("SPILL_DIR", ".local/spill")) / self.name


class _Batch:
    """Rows of one table, in memory (``rows``) or spilled (``ref``)."""

    __slots__ = ("seq", "table", "rows", "ref", "count", "first_receive_ns")

    def __init__(
        self, seq: int, table: str, rows: list[Row] | None, ref: SpillRef | None, first_receive_ns: int
    ) -> None:
        self.seq = seq
        self.table = table
        self.rows = rows
        self.ref = ref
        self.count = len(rows) if rows is not None else (ref.rows if ref is not None else 0)
        self.first_receive_ns = first_receive_ns  # 0: unknown (replayed from an earlier run)


@dataclass(slots=True)
class _Write:
    """Consecutive batches of one table written together."""

    table: str
    batches: list[_Batch]
    rows: list[Row] | None = None  # materialized once, kept across retries
    dead: set[int] = field(default_factory=set)  # id() of rows sent to the dead-letter file


@dataclass(slots=True)
class _Figures:
    rows_received: int = 0
    rows_not_stored: int = 0  # record types without a table (BookUpdate, BookTop, dict points)
    rows_written: int = 0
    duplicates_ignored: int = 0
    batches_written: int = 0
    rows_spilled: int = 0
    rows_replayed: int = 0  # written from the spill directory
    dead_letter_rows: int = 0
    spill_failures: int = 0
    errors: int = 0
    outages: int = 0
    conflict_fallbacks: int = 0
    backpressure_waits: int = 0
    backpressure_seconds: float = 0.0
    last_error: str | None = None
    by_table: dict[str, list[int]] = field(default_factory=lambda: {name: [0, 0] for name in TABLES})
    flush_ms: deque[float] = field(default_factory=lambda: deque(maxlen=_LATENCY_WINDOW))
    lag_ms: deque[float] = field(default_factory=lambda: deque(maxlen=_LATENCY_WINDOW))


def _percentiles(values: deque[float]) -> dict[str, float | None]:
    if not values:
        return {"last": None, "p50": None, "p99": None, "max": None}
    ordered = sorted(values)
    pick = lambda q: round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)  # noqa: E731
    return {"last": round(values[-1], 3), "p50": pick(0.5), "p99": pick(0.99), "max": round(ordered[-1], 3)}


class TimescaleWriter:
    """Writes records into the storage hypertables (see module docstring).

    The constructor does no I/O. ``start()`` opens the spill directory (replaying what an
    earlier run left) and starts the flusher, which connects in the background: a
    database that is down at start delays nothing.
    """

    def __init__(
        self, config: WriterConfig | None = None, *, on_commit: CommitHook | None = None, **options: Any
    ) -> None:
        if config is None:
            config = WriterConfig(**options)
        elif options:
            config = msgspec.structs.replace(config, **options)
        self.config = config
        self.name = config.name
        self.dsn = config.dsn or default_dsn()
        self.spill_dir = config.resolved_spill_dir()
        self._on_commit = on_commit
        self._logger = get_logger(f"storage_{config.name}", to_file=False)
        self._enabled = set(config.tables or TABLES)
        self._convert = converters(config.book_depth)
        self._table_of = {kind: table for kind, table in TABLE_FOR_RECORD.items() if table in self._enabled}
        self._spill = SpillStore(self.spill_dir, max_bytes=config.max_spill_bytes, fsync=config.spill_fsync)
        self._dead_letters = DeadLetterFile(self.spill_dir / "dead-letter.jsonl")
        self._backoff = Backoff(initial=config.retry_initial_delay, maximum=config.retry_max_delay)
        self._figures = _Figures()
        # A write in flight cannot be spilled: keep it under half the memory budget, so that
        # spilling everything else always gets put() going again during an outage.
        self._max_write_rows = max(
            config.batch_rows, min(config.max_write_rows, config.max_buffered_rows // 2)
        )

        self._open: dict[str, _Batch] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._queues: dict[str, deque[_Batch]] = {name: deque() for name in TABLES}
        self._in_flight: _Write | None = None
        self._memory_rows = 0  # rows held in memory: open + queued + in flight
        self._seq = 0
        self._wake = asyncio.Event()  # flusher: a batch was queued or the writer is stopping
        self._room = asyncio.Event()  # producers: memory was freed or the database state changed
        self._idle = asyncio.Event()  # flush(): nothing queued, nothing in flight
        self._stop_requested = asyncio.Event()

        self._state = "stopped"
        self._task: asyncio.Task[None] | None = None
        self._conn: asyncpg.Connection | None = None
        self._staged: set[str] = set()  # staging tables created on the current connection
        self._migrated = False
        self._edition: Edition | None = None
        self._attempts = 0
        self._outage_since: float | None = None
        self._write_started: float | None = None
        self._conflict_until: dict[str, float] = {}
        self._spill_blocked_until = 0.0
        self._connecting_since: float | None = None
        self._last_spill_log = 0.0
        self._last_spill_error_log = -_SPILL_LOG_INTERVAL
        self._spilled_since_log = 0
        self._closed = False
        self._stopping = False
        self._stop_deadline = 0.0

    # ------------------------------------------------------------------ lifecycle
    @property
    def state(self) -> str:
        """stopped, connecting, connected, disconnected (outage), failing (operator needed), stopping."""
        return self._state

    async def start(self) -> None:
        """Open the spill directory, queue what an earlier run left there, start the flusher."""
        if self._task is not None:
            return
        refs = self._spill.open()
        for ref in refs:
            self._enqueue(_Batch(self._next_seq(), ref.table, None, ref, 0))
        if refs:
            rows = sum(ref.rows for ref in refs)
            self._logger.warning(
                "%s: replaying %d rows left in %s by an earlier run", self.name, rows, self.spill_dir
            )
        if self._spill.corrupt_bytes:
            self._error(
                f"spill directory {self.spill_dir}: cut off {self._spill.corrupt_bytes} unreadable bytes"
            )
        self._stopping = False
        self._closed = False
        self._stop_requested.clear()
        self._state = "connecting"
        self._connecting_since = time.monotonic()
        self._task = asyncio.create_task(self._run(), name=f"{self.name}-flusher")

    async def flush(self) -> None:
        """Seal the open batches and wait until everything taken so far is written.

        Waits as long as the database is away; bound it with ``asyncio.timeout``."""
        self._seal_all()
        while self._pending_batches() or self._in_flight is not None or self._open:
            self._idle.clear()
            await self._idle.wait()

    async def stop(self) -> None:
        """Write everything taken so far; what cannot be written within ``stop_timeout`` stays spilled."""
        if self._task is None:
            return
        self._state = "stopping"
        self._stopping = True
        self._stop_deadline = time.monotonic() + self.config.stop_timeout
        self._seal_all()
        self._stop_requested.set()
        self._wake.set()
        task, self._task = self._task, None
        try:
            await asyncio.wait_for(asyncio.shield(task), self.config.stop_timeout + 1.0)
        except TimeoutError:  # a write hung on a dead connection: cancel it, its rows are requeued below
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if self._in_flight is not None:
            self._requeue(self._in_flight)
        self._spill_leftovers()
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            try:
                await asyncio.wait_for(conn.close(), 2.0)
            except Exception:  # a dead peer: no goodbye
                conn.terminate()
        self._spill.close()
        # Everything left is on disk now (or was reported lost): a later start() replays it from there.
        for queue in self._queues.values():
            queue.clear()
        self._memory_rows = 0
        self._state = "stopped"
        self._closed = True

    # ------------------------------------------------------------------ taking records
    async def put(self, record: MarketRecord) -> None:
        """Take one record; waits only for backpressure (see module docstring)."""
        if self._closed:
            raise StorageError(f"{self.name}: the writer is stopped; the record was not taken")
        table = self._table_of.get(type(record))
        if table is None:
            self._figures.rows_not_stored += 1
            return
        if self._memory_rows >= self.config.max_buffered_rows:
            await self._make_room()
        self._figures.rows_received += 1
        try:
            row = self._convert[type(record)](record)
        except Exception as exc:  # a record that cannot even become a row
            self._dead_letter(table, {"record": record}, exc)
            return
        batch = self._open.get(table)
        if batch is None:
            batch = self._open[table] = _Batch(self._next_seq(), table, [], None, record.receive_time_ns)
            self._timers[table] = asyncio.get_running_loop().call_later(
                self.config.max_batch_delay, self._seal_due, table, batch
            )
        rows = batch.rows
        assert rows is not None
        rows.append(row)
        self._memory_rows += 1
        if len(rows) >= self.config.batch_rows:
            self._seal(table)

    def count_not_stored(self) -> None:
        """A data point the storage has no table for (counted in ``rows_not_stored``)."""
        self._figures.rows_not_stored += 1

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _seal_due(self, table: str, batch: _Batch) -> None:
        if self._open.get(table) is batch:
            self._seal(table)

    def _seal(self, table: str) -> None:
        batch = self._open.pop(table)
        timer = self._timers.pop(table, None)
        if timer is not None:
            timer.cancel()
        batch.count = len(batch.rows or ())
        self._enqueue(batch)

    def _seal_all(self) -> None:
        for table in list(self._open):
            self._seal(table)

    def _enqueue(self, batch: _Batch) -> None:
        self._queues[batch.table].append(batch)
        self._wake.set()

    def _pending_batches(self) -> int:
        return sum(len(queue) for queue in self._queues.values())

    # ------------------------------------------------------------------ backpressure and spilling
    def _may_spill(self) -> bool:
        """True while the database is away: put() must not wait for it."""
        now = time.monotonic()
        if now < self._spill_blocked_until:
            return False
        if self._state in ("disconnected", "failing", "stopping"):
            return True
        # The first connection or a write that takes too long counts as an outage after stall_timeout.
        started = self._connecting_since if self._state == "connecting" else self._write_started
        return started is not None and now - started > self.config.stall_timeout

    async def _make_room(self) -> None:
        limit = self.config.max_buffered_rows
        started = time.monotonic()
        self._figures.backpressure_waits += 1
        try:
            while self._memory_rows >= limit:
                if self._may_spill() and self._spill_newest(limit // 2):
                    continue
                self._room.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._room.wait(), 0.05)
        finally:
            self._figures.backpressure_seconds += time.monotonic() - started

    def _spill_newest(self, target: int) -> bool:
        """Move queued in-memory batches to disk, newest first, until ``target`` rows remain in memory."""
        self._seal_all()
        candidates = sorted(
            (batch for queue in self._queues.values() for batch in queue if batch.rows is not None),
            key=lambda batch: batch.seq,
            reverse=True,
        )
        spilled = 0
        for batch in candidates:
            if self._memory_rows <= target:
                break
            assert batch.rows is not None
            try:
                batch.ref = self._spill.append(batch.table, batch.rows)
            except SpillError as exc:
                self._figures.spill_failures += 1
                now = time.monotonic()
                self._spill_blocked_until = now + 1.0  # retried once a second, logged every 10 s
                message = (
                    f"cannot spill to {self.spill_dir}: {exc}; holding {self._memory_rows} rows in memory "
                    "and slowing the collector down (backpressure) until the database takes writes again"
                )
                if now - self._last_spill_error_log >= _SPILL_LOG_INTERVAL:
                    self._last_spill_error_log = now
                    self._error(message)
                else:
                    self._figures.errors += 1
                    self._figures.last_error = message
                return spilled > 0
            self._memory_rows -= batch.count
            self._figures.rows_spilled += batch.count
            batch.rows = None
            spilled += batch.count
        self._spilled_since_log += spilled
        now = time.monotonic()
        if self._spilled_since_log and now - self._last_spill_log >= _SPILL_LOG_INTERVAL:
            self._logger.warning(
                "%s: database unavailable (%s); spilled %d rows to %s (%d rows pending on disk)",
                self.name,
                self._state,
                self._spilled_since_log,
                self.spill_dir,
                self._spill.pending_rows,
            )
            self._spilled_since_log = 0
            self._last_spill_log = now
        return spilled > 0

    def _spill_leftovers(self) -> None:
        """At stop: everything still in memory goes to the spill directory (replayed at next start)."""
        self._seal_all()
        left = sorted(
            (batch for queue in self._queues.values() for batch in queue if batch.rows is not None),
            key=lambda batch: batch.seq,
        )
        kept = 0
        for batch in left:
            assert batch.rows is not None
            try:
                batch.ref = self._spill.append(batch.table, batch.rows)
            except SpillError as exc:
                self._figures.spill_failures += 1
                self._error(f"LOST {batch.count} {batch.table} rows at stop: cannot spill them ({exc})")
                self._logger.critical("%s: unsaved rows: %r", self.name, batch.rows)
                continue
            self._memory_rows -= batch.count
            self._figures.rows_spilled += batch.count
            batch.rows = None
            kept += batch.count
        pending = self._spill.pending_rows
        if pending:
            self._logger.warning(
                "%s: stopped with %d rows not yet in the database (%d moved now); they are kept in %s "
                "and written by the next writer that opens it",
                self.name,
                pending,
                kept,
                self.spill_dir,
            )

    # ------------------------------------------------------------------ flusher
    async def _run(self) -> None:
        # Connect (and migrate) right away: status shows the database state before the first write.
        if await self._connection() is None:
            return
        while True:
            write = self._take_write()
            if write is None:
                if self._stopping:
                    return
                self._idle.set()
                self._wake.clear()
                await self._wake.wait()
                continue
            if not await self._write(write):
                self._requeue(write)  # stopping and the database is still away
                return

    def _take_write(self) -> _Write | None:
        """The oldest queued batch and the batches of its table that follow it (up to max_write_rows)."""
        best: deque[_Batch] | None = None
        for queue in self._queues.values():
            if queue and (best is None or queue[0].seq < best[0].seq):
                best = queue
        if best is None:
            return None
        batches = [best.popleft()]
        total = batches[0].count
        while best and total + best[0].count <= self._max_write_rows:
            batch = best.popleft()
            batches.append(batch)
            total += batch.count
        self._in_flight = _Write(batches[0].table, batches)
        return self._in_flight

    def _requeue(self, write: _Write) -> None:
        queue = self._queues[write.table]
        for batch in reversed(write.batches):
            queue.appendleft(batch)
        self._in_flight = None

    def _materialize(self, write: _Write) -> list[Row]:
        rows: list[Row] = []
        for batch in write.batches:
            if batch.rows is not None:
                rows.extend(batch.rows)
                continue
            assert batch.ref is not None
            try:
                rows.extend(self._spill.read(batch.ref))
            except SpillCorrupt as exc:  # disk damage: the batch cannot be read back
                self._error(f"LOST {batch.count} spilled {batch.table} rows: {exc}")
        return rows

    async def _write(self, write: _Write) -> bool:
        """Write until committed; False only when stopping with the database still away."""
        if write.rows is None:
            write.rows = self._materialize(write)
        while True:
            conn = await self._connection()
            if conn is None:
                return False
            rows = write.rows if not write.dead else [row for row in write.rows if id(row) not in write.dead]
            started = time.monotonic()
            self._write_started = started
            try:
                inserted = await self._write_rows(conn, write, rows)
            except Exception as exc:
                await self._write_failed(exc)
                continue
            finally:
                self._write_started = None
            self._committed(write, len(rows), inserted, time.monotonic() - started)
            return True

    async def _write_rows(self, conn: asyncpg.Connection, write: _Write, rows: list[Row]) -> int:
        if not rows:
            return 0
        try:
            return await self._write_once(conn, write.table, rows)
        except Exception as exc:
            if classify_error(exc) is not ErrorKind.ROW:
                raise
            return await self._isolate(conn, write, rows, exc)

    async def _write_once(
        self, conn: asyncpg.Connection, table: str, rows: Sequence[Row], *, safe: bool = False
    ) -> int:
        """One transaction; ``safe`` skips the optimistic plain INSERT (duplicates cannot fail it)."""
        spec = TABLES[table]
        timeout = self.config.write_timeout
        if table not in self._staged:
            await ingest.create_staging_table(conn, spec)
            self._staged.add(table)
        if spec.upsert:
            return await ingest.insert_rows(conn, spec, rows, "upsert", statement_timeout=timeout)
        if (
            not safe
            and self.config.optimistic_insert
            and time.monotonic() >= self._conflict_until.get(table, 0.0)
        ):
            try:
                return await ingest.insert_rows(conn, spec, rows, "error", statement_timeout=timeout)
            except asyncpg.UniqueViolationError:
                # Duplicates come in runs (replays after a reconnect): skip them for a while.
                self._figures.conflict_fallbacks += 1
                self._conflict_until[table] = time.monotonic() + self.config.conflict_mode_seconds
        return await ingest.insert_rows(conn, spec, rows, "ignore", statement_timeout=timeout)

    async def _isolate(
        self, conn: asyncpg.Connection, write: _Write, rows: list[Row], error: BaseException
    ) -> int:
        """Bisect a refused batch: store the good rows, dead-letter each bad one."""
        if len(rows) == 1:
            self._dead_letter(write.table, row_as_dict(write.table, rows[0]), error)
            write.dead.add(id(rows[0]))
            return 0
        middle = len(rows) // 2
        inserted = 0
        for half in (rows[:middle], rows[middle:]):
            try:
                inserted += await self._write_once(conn, write.table, half, safe=True)
            except Exception as exc:
                if classify_error(exc) is not ErrorKind.ROW:
                    raise
                inserted += await self._isolate(conn, write, half, exc)
        return inserted

    async def _write_failed(self, exc: BaseException) -> None:
        kind = classify_error(exc)
        self._drop_connection()
        if kind is ErrorKind.TRANSIENT:
            self._outage(f"write failed: {type(exc).__name__}: {exc}")
        else:
            self._state = "failing"
            self._error(f"write failed ({kind.value}, data kept, retrying): {type(exc).__name__}: {exc}")
        await self._sleep_backoff()

    def _committed(self, write: _Write, attempted: int, inserted: int, seconds: float) -> None:
        commit_ns = time.time_ns()
        figures = self._figures
        figures.rows_written += inserted
        duplicates = attempted - inserted
        figures.duplicates_ignored += duplicates
        figures.batches_written += 1
        per_table = figures.by_table[write.table]
        per_table[0] += inserted
        per_table[1] += duplicates
        figures.flush_ms.append(seconds * 1000.0)
        first_receive = min((b.first_receive_ns for b in write.batches if b.first_receive_ns), default=0)
        if first_receive:
            figures.lag_ms.append((commit_ns - first_receive) / 1e6)
        for batch in write.batches:
            if batch.ref is not None:
                self._spill.release(batch.ref)
                figures.rows_replayed += batch.count
            else:
                self._memory_rows -= batch.count
        self._in_flight = None
        self._room.set()
        if self._on_commit is not None and write.rows:
            rows = write.rows if not write.dead else [row for row in write.rows if id(row) not in write.dead]
            try:
                self._on_commit(write.table, rows, commit_ns)
            except Exception:
                self._logger.exception("%s: on_commit hook failed", self.name)

    # ------------------------------------------------------------------ connection
    async def _connection(self) -> asyncpg.Connection | None:
        """The open connection, connecting with backoff; None when stopping past the deadline."""
        while self._conn is None or self._conn.is_closed():
            if self._stopping and time.monotonic() >= self._stop_deadline:
                return None
            try:
                conn = await asyncpg.connect(
                    self.dsn,
                    timeout=self.config.connect_timeout,
                    server_settings={"application_name": f"marketdata-writer:{self.name}"},
                )
            except Exception as exc:
                self._connect_failed(exc)
                await self._sleep_backoff()
                continue
            try:
                await self._prepare(conn)
            except Exception as exc:
                conn.terminate()
                self._connect_failed(exc)
                await self._sleep_backoff()
                continue
            self._conn = conn
            self._staged.clear()
            self._attempts = 0
            if self._outage_since is not None:
                self._logger.warning(
                    "%s: database back after %.1fs; writing %d queued rows (%d from disk)",
                    self.name,
                    time.monotonic() - self._outage_since,
                    self._memory_rows + self._spill.pending_rows,
                    self._spill.pending_rows,
                )
                self._outage_since = None
            self._state = "stopping" if self._stopping else "connected"
            self._connecting_since = None
            self._room.set()
        return self._conn

    async def _prepare(self, conn: asyncpg.Connection) -> None:
        if self.config.migrate and not self._migrated:
            report = await migrate(conn)
            self._migrated = True
            if report.applied:
                self._logger.info("%s: applied migrations %s", self.name, report.applied)
        else:
            missing = await conn.fetchval(
                "SELECT array_agg(name) FROM unnest($1::text[]) AS name WHERE to_regclass(name) IS NULL",
                sorted(self._enabled),
            )
            if missing:
                raise SchemaMissing(f"tables {missing} do not exist; run: python -m storage migrate")
        self._edition = await detect_edition(conn)
        await ingest.configure_connection(conn)  # after the queries above: they expect datetimes

    def _connect_failed(self, exc: BaseException) -> None:
        if classify_error(exc) is ErrorKind.TRANSIENT:
            self._outage(f"cannot connect: {type(exc).__name__}: {exc}")
        else:
            self._state = "failing"
            self._error(f"cannot use the database (data kept, retrying): {type(exc).__name__}: {exc}")

    def _outage(self, reason: str) -> None:
        self._figures.last_error = reason
        if self._outage_since is None:
            self._outage_since = time.monotonic()
            self._figures.outages += 1
            self._figures.errors += 1
            self._logger.warning(
                "%s: database unavailable: %s; buffering (memory, then %s)", self.name, reason, self.spill_dir
            )
        self._state = "stopping" if self._stopping else "disconnected"
        self._room.set()  # blocked producers: spill instead of waiting

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            conn.terminate()

    async def _sleep_backoff(self) -> None:
        delay = self._backoff.delay(self._attempts)
        self._attempts += 1
        if self._stopping:
            await asyncio.sleep(max(0.0, min(delay, self._stop_deadline - time.monotonic())))
            return
        # stop() cuts this wait short once, so that stopping tries the database right away.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop_requested.wait(), delay)

    # ------------------------------------------------------------------ errors
    def _error(self, message: str) -> None:
        self._figures.errors += 1
        self._figures.last_error = message
        self._logger.error("%s: %s", self.name, message)

    def _dead_letter(self, table: str, content: dict[str, Any], error: BaseException) -> None:
        self._figures.dead_letter_rows += 1
        entry = {"sink": self.name, "table": table, "error": f"{type(error).__name__}: {error}", **content}
        try:
            self._dead_letters.append(entry)
            where = str(self._dead_letters.path)
        except (OSError, TypeError, msgspec.EncodeError) as exc:
            where = f"nowhere ({exc}); the row is in this log line: {entry!r}"
        self._error(
            f"{table} row cannot be stored ({type(error).__name__}: {error}); dead-lettered to {where}"
        )

    # ------------------------------------------------------------------ status
    def describe(self) -> dict[str, Any]:
        """Figures for the collector's status (``outputs.<name>``)."""
        figures = self._figures
        return {
            "type": "timescaledb",
            "state": self._state,
            "database": mask_dsn(self.dsn),
            "edition": self._edition.describe() if self._edition is not None else None,
            "rows_received": figures.rows_received,
            "rows_written": figures.rows_written,
            "duplicates_ignored": figures.duplicates_ignored,
            "rows_not_stored": figures.rows_not_stored,
            "batches_written": figures.batches_written,
            "tables": {
                name: {"rows_written": counts[0], "duplicates_ignored": counts[1]}
                for name, counts in figures.by_table.items()
                if name in self._enabled
            },
            "flush_latency_ms": _percentiles(figures.flush_ms),
            "receive_to_commit_ms": _percentiles(figures.lag_ms),
            "buffer": {
                "rows_in_memory": self._memory_rows,
                "max_buffered_rows": self.config.max_buffered_rows,
                "batches_queued": self._pending_batches(),
                "backpressure_waits": figures.backpressure_waits,
                "backpressure_seconds": round(figures.backpressure_seconds, 3),
            },
            "spill": {
                "directory": str(self.spill_dir),
                "rows_pending": self._spill.pending_rows,
                "bytes_pending": self._spill.pending_bytes,
                "max_spill_bytes": self.config.max_spill_bytes,
                "rows_spilled": figures.rows_spilled,
                "rows_replayed": figures.rows_replayed,
                "failures": figures.spill_failures,
                "corrupt_bytes": self._spill.corrupt_bytes,
            },
            "dead_letter": {"rows": figures.dead_letter_rows, "file": str(self._dead_letters.path)},
            "errors": figures.errors,
            "last_error": figures.last_error,
            "outages": figures.outages,
            "conflict_fallbacks": figures.conflict_fallbacks,
        }


class TimescaleSink:
    """A collector output (:class:`collectors.core.sinks.Sink`) that stores records in TimescaleDB.

    ``TimescaleSink(dsn, book_depth=20, spill_dir=..., ...)`` takes the fields of
    :class:`WriterConfig` as keyword arguments; ``on_commit`` is passed to the writer.
    """

    def __init__(
        self, dsn: str | None = None, *, on_commit: CommitHook | None = None, **options: Any
    ) -> None:
        self.writer = TimescaleWriter(WriterConfig(dsn=dsn, **options), on_commit=on_commit)
        self.name = self.writer.name

    @classmethod
    def from_config(cls, config: WriterConfig) -> TimescaleSink:
        sink = cls.__new__(cls)
        sink.writer = TimescaleWriter(config)
        sink.name = sink.writer.name
        return sink

    async def start(self) -> None:
        await self.writer.start()

    async def handle(self, point: MarketDataPoint) -> None:
        record = point.record
        if record is None:
            self.writer.count_not_stored()
            return
        await self.writer.put(record)

    async def stop(self) -> None:
        await self.writer.stop()

    def describe(self) -> dict[str, Any]:
        return self.writer.describe()
