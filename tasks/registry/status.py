"""The cluster-wide status aggregate, shaped like ``CollectorManager.get_status()``.

Same top-level keys (``manager_name``, ``running``, ``uptime_seconds``, ``statistics``,
``system``, ``running_collectors``, ``failed_collectors``, ``collectors``) and the same
keys inside ``statistics`` and ``system``, so dashboards written for the in-process
manager read the Celery cluster too. Everything is derived from registry facts at the
moment of the call; nothing here is stored.

* ``running``: a health check ran within three intervals.
* ``collectors[name]``: the collector's last ``get_status()`` snapshot (from its
  heartbeat) plus ``name``, ``enabled`` and ``orchestration`` (derived state, lease
  holder, fencing token, restarts, last exit, failure).
* ``system``: sums over the running collectors' worker processes (their heartbeats carry
  RSS and CPU); ``process_memory_percent`` is relative to this host's memory.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import psutil

from tasks.registry import CollectorFacts, Registry, derive_state

RUNNING_STATES = frozenset({"running"})


def _iso(ms: int | float | None) -> str | None:
    if not ms:
        return None
    return dt.datetime.fromtimestamp(float(ms) / 1000.0, tz=dt.UTC).isoformat()


def collector_entry(facts: CollectorFacts, now_ms: int, silence_timeout: float) -> dict[str, Any]:
    snapshot: dict[str, Any] = dict(facts.heartbeat.snapshot) if facts.heartbeat else {}
    spec = facts.spec
    entry: dict[str, Any] = {
        "exchange": spec.exchange if spec else snapshot.get("exchange"),
        "symbols": list(spec.symbols) if spec else snapshot.get("symbols", []),
        "data_types": list(spec.data_types) if spec else snapshot.get("data_types", []),
        **snapshot,
        "name": facts.name,
        "enabled": bool(spec and spec.enabled),
    }
    state = derive_state(facts, now_ms, silence_timeout)
    entry.setdefault("status", "stopped" if facts.lease is None else "starting")
    entry["orchestration"] = {
        "state": state,
        "lease": None
        if facts.lease is None
        else {
            "token": facts.lease.token,
            "hostname": facts.lease.hostname,
            "pid": facts.lease.pid,
            "task_id": facts.lease.task_id,
        },
        "fencing_token": facts.fence,
        "last_message_time": _iso(facts.heartbeat.last_message_at_ms)
        if facts.heartbeat and facts.heartbeat.has_data
        else None,
        "seconds_since_data": facts.silent_for(now_ms),
        "heartbeat_time": _iso(facts.heartbeat.written_at_ms) if facts.heartbeat else None,
        "restarts": {"consecutive": facts.consecutive_restarts, "total": facts.total_restarts},
        "backoff_remaining_seconds": facts.backoff_ms / 1000.0 if facts.backoff_ms else None,
        "dispatched": facts.dispatch,
        "last_exit": facts.last_exit,
        "failure": facts.failed,
    }
    return entry


def system_status(registry: Registry) -> dict[str, Any]:
    settings = registry.settings
    now_ms = registry.server_time_ms()
    facts = registry.facts()
    stats = registry.client.hgetall(registry.keys.stats)
    collectors = {name: collector_entry(f, now_ms, settings.silence_timeout) for name, f in facts.items()}
    running = sorted(n for n, c in collectors.items() if c["orchestration"]["state"] in RUNNING_STATES)
    failed = sorted(n for n, f in facts.items() if f.failed is not None and f.spec is not None)
    last_check_ms = int(stats.get("last_global_check_ms", 0) or 0)
    started_ms = int(stats.get("started_at_ms", 0) or 0)
    is_running = bool(last_check_ms) and now_ms - last_check_ms <= 3000 * settings.health_check_interval
    uptime = round((now_ms - started_ms) / 1000.0, 3) if is_running and started_ms else None
    rss = 0
    cpu = 0.0
    for name in running:
        worker = collectors[name].get("worker") or {}
        rss += int(worker.get("memory_rss_bytes") or 0)
        cpu += float(worker.get("cpu_percent") or 0.0)
    total_memory = psutil.virtual_memory().total
    return {
        "manager_name": f"celery-cluster:{settings.key_prefix.rstrip(':')}",
        "running": is_running,
        "uptime_seconds": uptime,
        "statistics": {
            "total_collectors": sum(1 for f in facts.values() if f.spec is not None),
            "enabled_collectors": sum(1 for f in facts.values() if f.spec is not None and f.spec.enabled),
            "running_collectors": len(running),
            "failed_collectors": len(failed),
            "restarts_performed": int(stats.get("restarts_performed", 0) or 0),
            "uptime_seconds": uptime,
            "last_global_check": _iso(last_check_ms),
        },
        "system": {
            "uptime_seconds": uptime,
            "host_uptime_seconds": round(time.time() - psutil.boot_time(), 1),
            "process_cpu_percent": round(cpu, 1),
            "process_memory_rss_bytes": rss,
            "process_memory_percent": round(100.0 * rss / total_memory, 3) if total_memory else None,
        },
        "running_collectors": running,
        "failed_collectors": failed,
        "collectors": collectors,
    }
