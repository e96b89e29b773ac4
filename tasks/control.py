"""Control-queue tasks: the global health check, retention and the status aggregate.

``control.health_check`` (beat, every ``HEALTH_CHECK_INTERVAL``) reconciles the desired
state with what runs. It is idempotent, so a duplicate run is harmless, and it holds a
short lease so that two runs never overlap. In one pass, for every known collector:

* desired and enabled, not failed, no lease, no pending dispatch, no backoff key:
  dispatch a run. If the collector ran before and its last run did not end by hand-over
  or by request (it crashed, went silent, lost its lease, or died with its worker), this
  is a restart: count it, and set the backoff key (``RESTART_BACKOFF_INITIAL`` doubling
  up to ``RESTART_BACKOFF_MAX``) that delays the next one. After ``MAX_RESTARTS``
  consecutive restarts the collector is marked failed instead (``collectors:failed``)
  until ``enable``/``load``/``add --replace`` resets it;
* lease alive but no market data for ``silence_timeout``: raise its stop flag (the
  restart follows on a later pass, once the run has stopped and flushed);
* lease alive but not wanted any more (removed, disabled, failed): raise its stop flag.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from typing import Any

from tasks.app import app
from tasks.collector_task import HANDOFF, NOT_DESIRED, STOPPED
from tasks.dispatch import dispatch, node_load
from tasks.lease import Lease
from tasks.registry import CollectorFacts, Registry
from tasks.registry.status import system_status
from tasks.settings import OrchestrationSettings

logger = logging.getLogger(__name__)

# A previous run that ended like this is followed by a plain start, not a counted restart.
CLEAN_OUTCOMES = frozenset({HANDOFF, STOPPED, NOT_DESIRED})

_settings = OrchestrationSettings.from_env()
HEALTH_CHECK_SOFT_LIMIT = max(8.0, 0.8 * _settings.health_check_interval)
HEALTH_CHECK_HARD_LIMIT = HEALTH_CHECK_SOFT_LIMIT + 2.0


def _is_restart(facts: CollectorFacts) -> bool:
    if facts.fence == 0:
        return False  # never ran
    if facts.last_run_recorded():
        return facts.last_exit is not None and facts.last_exit.get("outcome") not in CLEAN_OUTCOMES
    return True  # the latest run left no exit record: it died with its worker


def _failure_reason(facts: CollectorFacts) -> str:
    if facts.last_run_recorded() and facts.last_exit:
        return f"{facts.last_exit.get('outcome')}: {facts.last_exit.get('reason')}"
    return "the last run ended without an exit record (its worker died)"


def reconcile(registry: Registry, *, origin: str | None = None) -> dict[str, Any]:
    """One health-check pass (see module docstring). Returns what it did, by collector name."""
    settings = registry.settings
    keys = registry.keys
    now_ms = registry.server_time_ms()
    facts = registry.facts()
    nodes = registry.live_nodes()
    load = node_load(facts.values())
    done: dict[str, list[str]] = {
        "started": [], "restarted": [], "stopped_silent": [], "stopped_unwanted": [],
        "marked_failed": [], "waiting": [], "invalid": [],
    }  # fmt: skip
    for name, fact in facts.items():
        spec = fact.spec
        wanted = spec is not None and spec.enabled and fact.failed is None
        if fact.lease is not None:
            token = fact.lease.token
            already_asked = bool(fact.stop_flag and fact.stop_flag.startswith(f"{token}|"))
            if not wanted:
                if not already_asked:
                    why = (
                        "invalid configuration"
                        if fact.spec_error
                        else ("removed" if spec is None else ("failed" if fact.failed else "disabled"))
                    )
                    registry.request_stop(name, token, reason=why)
                    done["stopped_unwanted"].append(name)
                continue
            assert spec is not None
            silent = fact.silent_for(now_ms)
            limit = spec.silence_timeout or settings.silence_timeout
            if silent is not None and silent > limit and not already_asked:
                registry.request_stop(
                    name,
                    token,
                    reason=f"silent: no market data for {silent:.1f}s (silence_timeout {limit:g}s)",
                )
                done["stopped_silent"].append(name)
            continue
        if not wanted:
            if fact.spec_error:
                done["invalid"].append(name)
            elif spec is None and fact.dispatch is None:
                registry.client.srem(keys.index, name)  # forget a removed collector once it has stopped
            continue
        assert spec is not None
        if fact.dispatch is not None or fact.backoff_ms:
            done["waiting"].append(name)
            continue
        reason = "start"
        if _is_restart(fact):
            if fact.consecutive_restarts >= settings.max_restarts:
                registry.mark_failed(name, reason=_failure_reason(fact), restarts=fact.total_restarts)
                done["marked_failed"].append(name)
                logger.error("collector %s failed after %d restarts: %s", name, fact.consecutive_restarts,
                             _failure_reason(fact))  # fmt: skip
                continue
            consecutive = registry.count_restart(name, reason=_failure_reason(fact))
            delay = settings.backoff_delay(consecutive)
            if delay > 0:
                registry.client.set(keys.backoff(name), f"after restart {consecutive}", px=int(delay * 1000))
            reason = f"restart {consecutive}: {_failure_reason(fact)}"
        marker = dispatch(registry, spec, reason=reason, nodes=nodes, load=load)
        assert marker is not None
        done["started" if reason == "start" else "restarted"].append(name)
        logger.info("collector %s dispatched to %s (%s)", name, marker["node"] or "the shared queue", reason)
    registry.prune_nodes(nodes)
    registry.record_health_check(now_ms, origin=origin)
    return {"at_ms": now_ms, "nodes": sorted(nodes), **{k: v for k, v in done.items() if v}}


@app.task(
    name="control.health_check",
    bind=True,
    soft_time_limit=HEALTH_CHECK_SOFT_LIMIT,
    time_limit=HEALTH_CHECK_HARD_LIMIT,
    ignore_result=True,  # its summary is in the worker log and in Flower (task events); no result keys
)
def health_check(self: Any) -> dict[str, Any]:
    """Reconcile desired and actual collectors (never overlapping itself)."""
    registry = Registry.from_settings()
    keys = registry.keys
    guard = Lease(registry.client, keys.health_check_lease, keys.health_check_fence)
    owner = f"{self.request.hostname or socket.gethostname()}|{os.getpid()}|{self.request.id}"
    holding = guard.acquire(owner, HEALTH_CHECK_HARD_LIMIT + 2.0)
    if holding is None:
        return {"skipped": "another health check is running", "held_by": guard.holder()}
    try:
        return reconcile(registry, origin=self.request.origin)
    finally:
        guard.release(holding)
        registry.client.close()


@app.task(name="control.status", ignore_result=False, soft_time_limit=20, time_limit=25)
def status() -> dict[str, Any]:
    """The system status aggregate (same keys as ``CollectorManager.get_status()``)."""
    registry = Registry.from_settings()
    try:
        return system_status(registry)
    finally:
        registry.client.close()


@app.task(name="control.retention", ignore_result=False, soft_time_limit=540, time_limit=600)
def retention() -> dict[str, Any]:
    """Drop old TimescaleDB chunks via the storage layer (the Apache edition has no retention policies)."""
    try:
        from storage.retention import apply_retention  # imported lazily: the storage layer is optional here
    except ImportError:
        return {"skipped": "storage.retention is not installed"}
    dropped = asyncio.run(apply_retention())  # DATABASE_URL; each table's default retention period
    return {"dropped_chunks": dropped}
