"""``collector.run``: one run of one collector, as a long-lived Celery task.

A run:

1. reads the collector's desired spec from the registry (the message only names it;
   an old message never runs an outdated configuration) and returns at once if the
   collector is no longer wanted;
2. takes the collector's lease. If another run holds it (a duplicate dispatch, a
   redelivered message) it returns ``duplicate`` without starting anything;
3. builds the collector with ``ExchangeFactory`` and its sinks with
   ``collectors.outputs.config.build_sinks`` and starts it;
4. every ``COLLECTOR_TICK``: renews the lease, writes the heartbeat (last market message,
   ``get_status()`` snapshot) and reads the stop flags, in one Redis round trip;
5. stops when: the lease is lost (at once, without waiting for anything), its stop flag
   names its token (disable, remove, reconfiguration, silence), the node shuts down,
   the worker's MainProcess died, the collector gave up (status ``error``), or the run
   reached ``COLLECTOR_MAX_LIFETIME`` or ``COLLECTOR_MAX_RSS_MB``;
6. stops the collector (its sinks flush), releases the lease and records how it ended.
   On node shutdown, lifetime or memory it hands itself over: it dispatches a new run to
   another live node straight away.

The task is acked early and has no time limit (tasks/celeryconfig.py explains why).
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import time
from dataclasses import dataclass
from typing import Any

import psutil
import redis

from collectors.core.types import CollectorStatus
from tasks.app import app
from tasks.config_file import CollectorSpec
from tasks.lease import Holding, TickResult
from tasks.registry import Registry
from tasks.settings import OrchestrationSettings

logger = logging.getLogger(__name__)

# How a run ended (``collector:<name>:exit`` field ``outcome``, and the task result).
HANDOFF = "handoff"  # node shutdown, lifetime or memory: a new run was dispatched elsewhere
STOPPED = "stopped"  # asked to stop (disabled, removed, reconfigured): not a failure
SILENT = "silent"  # stopped by the health check for data silence: counts as a restart
CRASHED = "crashed"  # could not start, gave up reconnecting, or raised: counts as a restart
LOST_LEASE = "lost-lease"  # the lease expired or was taken: stopped at once
ORPHANED = "orphaned"  # the worker's MainProcess is gone
NOT_DESIRED = "not-desired"  # removed, disabled or failed before the run began
DUPLICATE = "duplicate"  # another run holds the lease

RESTART_OUTCOMES = frozenset({SILENT, CRASHED, LOST_LEASE, ORPHANED})


class CollectorCrashed(Exception):
    """A run ended because its collector crashed; the task fails so that Flower shows it."""


@dataclass(frozen=True)
class RunEnd:
    outcome: str
    reason: str
    handoff: bool = False
    outputs: dict[str, Any] | None = None  # each sink's describe() after the stop (flushed figures)


def build_collector(spec: CollectorSpec) -> Any:
    """The collector object with its sinks attached (no I/O: collectors and sinks connect on start)."""
    from collectors import ExchangeFactory

    collector = ExchangeFactory.create_collector(spec.exchange_config())
    if spec.sinks:
        from collectors.outputs.config import build_sinks  # the outputs layer; imported only when used

        for sink in build_sinks(sink_configs(spec)):
            collector.add_sink(sink)
    return collector


def sink_configs(spec: CollectorSpec) -> list[dict[str, Any]]:
    """The spec's sink entries, each TimescaleDB sink given a spill directory of its own.

    The writer's default spill directory ($SPILL_DIR/<sink name>) is locked by one writer
    at a time, and several collectors run on one host; per collector name, a restarted
    run on the same host finds what its predecessor spilled.
    """
    base = os.environ.get("SPILL_DIR") or os.path.join(".local", "spill")
    configs = []
    for entry in spec.sinks:
        config = dict(entry)
        if config.get("type") == "timescaledb" and not config.get("spill_dir"):
            config["spill_dir"] = os.path.join(base, spec.name, str(config.get("name") or "timescaledb"))
        configs.append(config)
    return configs


class CollectorRun:
    """One run of collector ``name`` inside a worker child process."""

    def __init__(
        self, registry: Registry, name: str, *, task_id: str, hostname: str, parent_pid: int | None = None
    ) -> None:
        self.registry = registry
        self.settings: OrchestrationSettings = registry.settings
        self.name = name
        self.task_id = task_id
        self.hostname = hostname
        self.pid = os.getpid()
        self.parent_pid = parent_pid if parent_pid is not None else os.getppid()
        lifetime = self.settings.max_lifetime
        self.lifetime = lifetime * random.uniform(0.9, 1.1) if lifetime > 0 else 0.0  # jitter: no herd
        self.lease = registry.lease(name)
        self.holding: Holding | None = None
        self.spec: CollectorSpec | None = None

    # ---------------------------------------------------------------- entry point
    def execute(self) -> dict[str, Any]:
        result: dict[str, Any] = {"collector": self.name, "hostname": self.hostname}
        spec = self.registry.get_spec(self.name)
        failed = self.registry.client.hexists(self.registry.keys.failed, self.name)
        if spec is None or not spec.enabled or failed:
            why = "removed" if spec is None else ("failed" if failed else "disabled")
            return {**result, "outcome": NOT_DESIRED, "reason": why}
        self.spec = spec
        owner = f"{self.hostname}|{self.pid}|{self.task_id}"
        self.holding = self.lease.acquire(owner, self.settings.lease_ttl)
        if self.holding is None:
            holder = self.lease.holder()
            logger.info("collector %s already runs (%s); this dispatch does nothing", self.name, holder)
            return {**result, "outcome": DUPLICATE, "held_by": holder}
        self.registry.on_lease_acquired(self.name)
        token = self.holding.token
        logger.info("collector %s: lease taken, fencing token %d", self.name, token)
        try:
            end = asyncio.run(self._run(spec))
        except BaseException as exc:  # record the crash, then let Celery see it
            end = RunEnd(CRASHED, f"{type(exc).__name__}: {exc}")
            self._finish(end)
            raise
        self._finish(end)
        if end.outcome == CRASHED:
            raise CollectorCrashed(f"collector {self.name} (token {token}) crashed: {end.reason}")
        return {**result, "outcome": end.outcome, "reason": end.reason, "token": token}

    def _finish(self, end: RunEnd) -> None:
        assert self.holding is not None
        keys = self.registry.keys
        try:
            released = self.lease.release(self.holding, keys.heartbeat(self.name))
            self.registry.record_exit(
                self.name,
                token=self.holding.token,
                outcome=end.outcome,
                reason=end.reason,
                hostname=self.hostname,
                task_id=self.task_id,
                outputs=end.outputs,
            )
        except redis.RedisError as exc:  # the lease expires on its own; the health check sees no exit record
            logger.warning("collector %s: could not release the lease or record the exit: %s", self.name, exc)
            released = False
        log = logger.warning if end.outcome in RESTART_OUTCOMES else logger.info
        log("collector %s ended: %s (%s); lease released: %s", self.name, end.outcome, end.reason, released)
        if end.handoff and self.spec is not None:
            self._hand_off(end)

    def _hand_off(self, end: RunEnd) -> None:
        """Start the next run on another live node with a free slot now, instead of on the next health check.

        With no such node (the whole cluster is stopping, or it is full) nothing is sent: the
        health check places the collector as soon as there is room.
        """
        from tasks.dispatch import dispatch, node_load

        try:
            marker = dispatch(
                self.registry,
                self.spec,  # type: ignore[arg-type]
                reason=f"handoff: {end.reason}",
                nodes=self.registry.live_nodes(),
                load=node_load(self.registry.facts().values()),
                exclude=[self.hostname],
                require_node=True,
            )
        except Exception:  # the health check starts it on its next pass anyway
            logger.exception("collector %s: hand-over failed; the health check will restart it", self.name)
            return
        if marker is None:
            logger.info("collector %s: no other live node has room; the health check places it", self.name)
        else:
            logger.info("collector %s handed over to %s", self.name, marker["node"])

    # ---------------------------------------------------------------- the run
    async def _run(self, spec: CollectorSpec) -> RunEnd:
        try:
            collector = build_collector(spec)
        except Exception as exc:
            return RunEnd(CRASHED, f"could not build the collector: {type(exc).__name__}: {exc}")
        started_mono = time.monotonic()
        try:
            ok = await collector.start()
        except Exception as exc:
            ok = False
            collector._last_error = f"{type(exc).__name__}: {exc}"
        if not ok:  # start() already closed what it opened, sinks included
            error = collector.get_status()["statistics"].get("last_error")
            return RunEnd(CRASHED, f"could not start: {error}")
        process = psutil.Process(self.pid)
        stable_marked = False
        end: RunEnd | None = None
        last_renewal = time.monotonic()
        try:
            while end is None:
                status = collector.get_status()
                try:
                    tick = await asyncio.to_thread(self._tick, collector, status, started_mono, process)
                except redis.RedisError as exc:
                    # Redis unreachable: the lease may still be ours until it would have expired;
                    # after that another run may hold it, so stop at once.
                    deadline = self.settings.lease_ttl - self.settings.collector_tick
                    if time.monotonic() - last_renewal >= deadline:
                        await collector.stop(force=True)
                        why = f"could not renew the lease in time: {type(exc).__name__}: {exc}"
                        return RunEnd(LOST_LEASE, why)
                    logger.warning("collector %s: lease renewal failed, retrying: %s", self.name, exc)
                    await asyncio.sleep(self.settings.collector_tick)
                    continue
                if not tick.renewed:
                    await collector.stop(force=True)  # another run may own it now: stop at once
                    return RunEnd(LOST_LEASE, "the lease expired or was taken by a newer run")
                last_renewal = time.monotonic()
                end = self._should_end(tick, status, started_mono, process)
                if end is None and not stable_marked and self._stable(collector, started_mono):
                    stable_marked = True
                    await asyncio.to_thread(self.registry.mark_stable, self.name)
                if end is None:
                    await asyncio.sleep(self.settings.collector_tick)
        except BaseException:
            await collector.stop(force=True)
            raise
        await collector.stop()  # flushes the sinks before the lease is released
        outputs = {sink.name: sink.describe() for sink in collector.sinks}
        return RunEnd(end.outcome, end.reason, end.handoff, outputs)

    def _tick(self, collector: Any, status: dict[str, Any], started_mono: float, process: Any) -> TickResult:
        assert self.holding is not None
        keys = self.registry.keys
        message_age = status.get("health", {}).get("time_since_data")
        snapshot = {
            **status,
            "worker": {
                "hostname": self.hostname,
                "pid": self.pid,
                "task_id": self.task_id,
                "token": self.holding.token,
                "memory_rss_bytes": _rss(process),
                "cpu_percent": _cpu(process),
            },
        }
        return self.lease.renew_and_heartbeat(
            self.holding,
            ttl=self.settings.lease_ttl,
            heartbeat_key=keys.heartbeat(self.name),
            heartbeat_ttl=self.registry.heartbeat_ttl,
            stop_key=keys.stop(self.name),
            node_stop_key=keys.node_stop(self.hostname),
            message_age=message_age,
            run_age=time.monotonic() - started_mono,
            snapshot=snapshot,
        )

    def _should_end(
        self, tick: TickResult, status: dict[str, Any], started_mono: float, process: Any
    ) -> RunEnd | None:
        assert self.holding is not None
        if tick.stop_flag:
            token, _, reason = tick.stop_flag.partition("|")
            if token == str(self.holding.token):
                outcome = SILENT if reason.startswith("silent") else STOPPED
                return RunEnd(outcome, f"stop requested: {reason}")
        if tick.node_stop_flag and tick.node_stop_flag == str(self.parent_pid):
            return RunEnd(HANDOFF, "node shutting down", handoff=True)
        if os.getppid() != self.parent_pid:
            return RunEnd(ORPHANED, "the worker's main process is gone")
        if status.get("status") == CollectorStatus.ERROR.value:
            return RunEnd(CRASHED, f"collector gave up: {status.get('statistics', {}).get('last_error')}")
        if self.lifetime and time.monotonic() - started_mono > self.lifetime:
            return RunEnd(HANDOFF, f"lifetime of {self.lifetime:.0f}s reached", handoff=True)
        if self.settings.max_rss_mb > 0:
            rss = _rss(process)
            if rss is not None and rss > self.settings.max_rss_mb * 1024 * 1024:
                return RunEnd(
                    HANDOFF, f"memory {rss / 1048576:.0f} MiB over COLLECTOR_MAX_RSS_MB", handoff=True
                )
        return None

    def _stable(self, collector: Any, started_mono: float) -> bool:
        health = collector.get_status().get("health", {})
        since_data = health.get("time_since_data")
        return (
            since_data is not None
            and since_data < self.settings.collector_tick * 5
            and time.monotonic() - started_mono >= self.settings.stable_after
        )


def _rss(process: Any) -> int | None:
    try:
        return int(process.memory_info().rss)
    except (psutil.Error, OSError):
        return None


def _cpu(process: Any) -> float | None:
    try:
        return float(process.cpu_percent(None))
    except (psutil.Error, OSError):
        return None


_registry: Registry | None = None


def _process_registry() -> Registry:
    """One registry client per worker child (created after the fork, on first use)."""
    global _registry
    if _registry is None or _registry.settings != OrchestrationSettings.from_env():
        _registry = Registry.from_settings()
    return _registry


@app.task(name="collector.run", bind=True, acks_late=False, reject_on_worker_lost=False, track_started=True)
def run_collector(self: Any, name: str, **summary: Any) -> dict[str, Any]:
    """Run collector ``name`` until it is told to stop. ``summary`` (exchange, symbols, data types,
    reason) only labels the task in Flower; the configuration is read from the registry."""
    hostname = self.request.hostname or socket.gethostname()
    run = CollectorRun(_process_registry(), name, task_id=self.request.id, hostname=hostname)
    return run.execute()
