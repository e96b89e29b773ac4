"""The Redis-backed collector registry: desired state, ownership, liveness, restarts, failures.

* **Desired state** (``collectors:desired``): which collectors should run, changed by
  the CLI (``python -m tasks.registry ...``) or a configuration file.
* **Ownership**: one lease with a fencing token per collector (:mod:`tasks.lease`).
* **Liveness**: the heartbeat hash written with each lease renewal; it expires with
  its owner. The state of a collector (running, silent, backoff, failed...) is derived
  from these facts by :func:`derive_state`, never stored as text.
* **Restarts**: consecutive/total counts, a backoff key whose presence means "wait",
  and the failed hash once the restart limit is reached.

The constructor does no I/O; every method is one or a few Redis round trips.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import redis

from collectors.core.errors import ConfigurationError
from tasks.config_file import CollectorSpec
from tasks.keys import EXIT_RECORD_TTL, HEARTBEAT_TTL_FACTOR, STOP_FLAG_TTL, Keys, check_name
from tasks.lease import Lease, LeaseValue
from tasks.settings import OrchestrationSettings


@dataclass(frozen=True)
class Heartbeat:
    lease: str
    written_at_ms: int
    last_message_at_ms: int
    started_at_ms: int
    has_data: bool
    snapshot: dict[str, Any]

    @classmethod
    def parse(cls, raw: dict[str, str]) -> Heartbeat | None:
        if not raw or "lease" not in raw:
            return None
        try:
            snapshot = json.loads(raw.get("snapshot") or "{}")
        except json.JSONDecodeError:
            snapshot = {}
        return cls(
            lease=raw["lease"],
            written_at_ms=int(raw.get("written_at_ms", 0)),
            last_message_at_ms=int(raw.get("last_message_at_ms", 0)),
            started_at_ms=int(raw.get("started_at_ms", 0)),
            has_data=raw.get("has_data") == "1",
            snapshot=snapshot,
        )


@dataclass(frozen=True)
class CollectorFacts:
    """Everything the registry knows about one collector, read in one round trip."""

    name: str
    spec: CollectorSpec | None
    lease: LeaseValue | None
    heartbeat: Heartbeat | None
    stop_flag: str | None
    dispatch: dict[str, Any] | None
    backoff_ms: int | None
    restarts: dict[str, Any]
    last_exit: dict[str, Any] | None
    failed: dict[str, Any] | None
    fence: int
    spec_error: str | None = None  # the stored spec no longer validates (e.g. after an upgrade)

    @property
    def consecutive_restarts(self) -> int:
        return int(self.restarts.get("consecutive", 0))

    @property
    def total_restarts(self) -> int:
        return int(self.restarts.get("total", 0))

    def silent_for(self, now_ms: int) -> float | None:
        """Seconds since the last market message (or since the run started, before the first one)."""
        if self.heartbeat is None:
            return None
        return max(0.0, (now_ms - self.heartbeat.last_message_at_ms) / 1000.0)

    def last_run_recorded(self) -> bool:
        """Whether the latest run (the latest fencing token) left an exit record."""
        return self.last_exit is not None and int(self.last_exit.get("token", -1)) == self.fence


def derive_state(facts: CollectorFacts, now_ms: int, silence_timeout: float) -> str:
    """The one-word state of a collector, derived from facts (never stored)."""
    alive = facts.lease is not None
    if facts.spec_error is not None:
        return "stopping" if alive else "invalid"
    if facts.spec is None:
        return "stopping" if alive else "removed"
    if facts.failed is not None:
        return "stopping" if alive else "failed"
    if not facts.spec.enabled:
        return "stopping" if alive else "disabled"
    if alive:
        if facts.stop_flag:
            return "stopping"
        if facts.heartbeat is None:
            return "starting"
        silent = facts.silent_for(now_ms)
        if silent is not None and silent > (facts.spec.silence_timeout or silence_timeout):
            return "silent"
        status = facts.heartbeat.snapshot.get("status")
        return status if isinstance(status, str) and status != "running" else "running"
    if facts.dispatch is not None:
        return "dispatched"
    if facts.backoff_ms:
        return "backoff"
    return "stopped"


@dataclass
class LoadResult:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


class Registry:
    """Read and change the registry. ``client`` must decode responses (``decode_responses=True``)."""

    def __init__(self, client: redis.Redis, settings: OrchestrationSettings) -> None:
        self.client = client
        self.settings = settings
        self.keys = Keys(settings.key_prefix)

    @classmethod
    def from_settings(cls, settings: OrchestrationSettings | None = None) -> Registry:
        settings = settings or OrchestrationSettings.from_env()
        return cls(redis_client(settings.redis_url), settings)

    # ---------------------------------------------------------------- desired state
    def get_spec(self, name: str) -> CollectorSpec | None:
        raw = self.client.hget(self.keys.desired, name)
        return CollectorSpec.from_json(raw) if raw else None

    def specs(self) -> dict[str, CollectorSpec]:
        raw = self.client.hgetall(self.keys.desired)
        return {name: CollectorSpec.from_json(text) for name, text in sorted(raw.items())}

    def put(self, spec: CollectorSpec, *, replace: bool = False) -> bool:
        """Add ``spec`` (or replace an existing one with ``replace``). Returns whether it was new."""
        if replace:
            created = bool(self.client.hset(self.keys.desired, spec.name, spec.to_json()))
        else:
            created = bool(self.client.hsetnx(self.keys.desired, spec.name, spec.to_json()))
            if not created:
                raise KeyError(f"collector {spec.name!r} already exists (use --replace to change it)")
        self.reset(spec.name)
        if not created:
            self.request_stop(spec.name, reason="configuration changed")  # the next run uses the new spec
        return created

    def remove(self, name: str) -> bool:
        removed = bool(self.client.hdel(self.keys.desired, check_name(name)))
        if removed:
            self.client.hdel(self.keys.failed, name)
            self.request_stop(name, reason="removed")
        return removed

    def set_enabled(self, name: str, enabled: bool) -> bool:
        spec = self.get_spec(check_name(name))
        if spec is None:
            return False
        self.client.hset(self.keys.desired, name, spec.with_enabled(enabled).to_json())
        if enabled:
            self.reset(name)
        else:
            self.request_stop(name, reason="disabled")
        return True

    def reset(self, name: str) -> None:
        """Forget failures, restart counts and backoff: the collector gets a fresh start."""
        pipe = self.client.pipeline()
        pipe.hdel(self.keys.failed, name)
        pipe.delete(self.keys.restarts(name), self.keys.backoff(name))
        pipe.execute()

    def load(self, specs: Iterable[CollectorSpec], *, merge: bool = False) -> LoadResult:
        """Make the desired state equal to ``specs`` (with ``merge``, keep collectors not listed)."""
        specs = list(specs)
        current = self.specs()
        result = LoadResult()
        for spec in specs:
            old = current.get(spec.name)
            if old is None:
                self.put(spec)
                result.added.append(spec.name)
            elif old != spec:
                self.put(spec, replace=True)
                result.updated.append(spec.name)
            else:
                result.unchanged.append(spec.name)
        if not merge:
            wanted = {spec.name for spec in specs}
            for name in current:
                if name not in wanted:
                    self.remove(name)
                    result.removed.append(name)
        return result

    # ---------------------------------------------------------------- control
    def request_stop(self, name: str, token: int | None = None, *, reason: str) -> int | None:
        """Ask the run holding ``token`` (default: the current holder) to stop within a tick.

        The flag names the run's fencing token, so it can never stop the run that replaces it.
        Returns the token asked to stop, or None when no run holds the lease.
        """
        if token is None:
            holder = LeaseValue.parse(self.client.get(self.keys.lease(name)))
            if holder is None:
                return None
            token = holder.token
        self.client.set(self.keys.stop(name), f"{token}|{reason}", px=int(STOP_FLAG_TTL * 1000))
        return token

    def lease(self, name: str) -> Lease:
        return Lease(self.client, self.keys.lease(name), self.keys.fence(name))

    def server_time_ms(self) -> int:
        seconds, micros = self.client.time()
        return int(seconds) * 1000 + int(micros) // 1000

    # ---------------------------------------------------------------- runs (written by collector tasks)
    def on_lease_acquired(self, name: str) -> None:
        pipe = self.client.pipeline()
        pipe.delete(self.keys.dispatch(name))
        pipe.sadd(self.keys.index, name)
        pipe.execute()

    def record_exit(
        self,
        name: str,
        *,
        token: int,
        outcome: str,
        reason: str,
        hostname: str,
        task_id: str,
        outputs: dict[str, Any] | None = None,
    ) -> None:
        key = self.keys.exit(name)
        pipe = self.client.pipeline()
        pipe.delete(key)
        pipe.hset(
            key,
            mapping={
                "token": token,
                "outcome": outcome,
                "reason": reason,
                "hostname": hostname,
                "task_id": task_id,
                "at_ms": self.server_time_ms(),
                "outputs": json.dumps(outputs or {}, default=str),
            },
        )
        pipe.pexpire(key, int(EXIT_RECORD_TTL * 1000))
        pipe.execute()

    def mark_stable(self, name: str) -> None:
        """A run delivered data for ``stable_after`` seconds: its restart streak is over."""
        self.client.hset(self.keys.restarts(name), "consecutive", 0)

    # ---------------------------------------------------------------- health check bookkeeping
    def count_restart(self, name: str, *, reason: str) -> int:
        """Count one restart of ``name``; returns the consecutive count including it."""
        key = self.keys.restarts(name)
        pipe = self.client.pipeline()
        pipe.hincrby(key, "consecutive", 1)
        pipe.hincrby(key, "total", 1)
        pipe.hset(key, mapping={"last_reason": reason, "last_at_ms": self.server_time_ms()})
        pipe.hincrby(self.keys.stats, "restarts_performed", 1)
        consecutive, *_ = pipe.execute()
        return int(consecutive)

    def mark_failed(self, name: str, *, reason: str, restarts: int) -> None:
        record = {"reason": reason, "restarts": restarts, "at_ms": self.server_time_ms()}
        self.client.hset(self.keys.failed, name, json.dumps(record))

    def record_health_check(self, now_ms: int, *, origin: str | None) -> None:
        pipe = self.client.pipeline()
        pipe.hsetnx(self.keys.stats, "started_at_ms", now_ms)
        pipe.hset(self.keys.stats, mapping={"last_global_check_ms": now_ms, "last_scheduler": origin or ""})
        pipe.hincrby(self.keys.stats, "health_checks", 1)
        pipe.execute()

    def stats(self) -> dict[str, str]:
        return self.client.hgetall(self.keys.stats)

    @property
    def heartbeat_ttl(self) -> float:
        return self.settings.lease_ttl * HEARTBEAT_TTL_FACTOR

    # ---------------------------------------------------------------- nodes
    def live_nodes(self) -> dict[str, dict[str, Any]]:
        """Collector worker nodes whose liveness key exists: hostname -> info (concurrency...)."""
        names = sorted(self.client.smembers(self.keys.nodes))
        if not names:
            return {}
        values = self.client.mget([self.keys.node(n) for n in names])
        nodes: dict[str, dict[str, Any]] = {}
        for name, value in zip(names, values, strict=True):
            if value:
                try:
                    nodes[name] = json.loads(value)
                except json.JSONDecodeError:
                    nodes[name] = {"hostname": name, "concurrency": 1}
        return nodes

    def prune_nodes(self, live: Iterable[str]) -> list[str]:
        names = set(self.client.smembers(self.keys.nodes))
        dead = sorted(names - set(live))
        if dead:
            self.client.srem(self.keys.nodes, *dead)
        return dead

    # ---------------------------------------------------------------- facts
    def known_names(self) -> list[str]:
        desired = set(self.client.hkeys(self.keys.desired))
        return sorted(desired | set(self.client.smembers(self.keys.index)))

    def facts(self, names: Iterable[str] | None = None) -> dict[str, CollectorFacts]:
        names = list(self.known_names() if names is None else names)
        if not names:
            return {}
        k = self.keys
        pipe = self.client.pipeline(transaction=True)  # one consistent snapshot (MULTI/EXEC)
        pipe.hmget(k.desired, names)
        pipe.hmget(k.failed, names)
        for name in names:
            pipe.get(k.lease(name))
            pipe.hgetall(k.heartbeat(name))
            pipe.get(k.stop(name))
            pipe.get(k.dispatch(name))
            pipe.pttl(k.backoff(name))
            pipe.hgetall(k.restarts(name))
            pipe.hgetall(k.exit(name))
            pipe.get(k.fence(name))
        replies = pipe.execute()
        desired, failed = replies[0], replies[1]
        facts: dict[str, CollectorFacts] = {}
        per = 8
        for i, name in enumerate(names):
            lease, heartbeat, stop, dispatch, backoff, restarts, last_exit, fence = replies[
                2 + i * per : 2 + (i + 1) * per
            ]
            spec, spec_error = None, None
            if desired[i]:
                try:
                    spec = CollectorSpec.from_json(desired[i])
                except (ConfigurationError, ValueError) as exc:
                    spec_error = str(exc)
            facts[name] = CollectorFacts(
                name=name,
                spec=spec,
                spec_error=spec_error,
                lease=LeaseValue.parse(lease),
                heartbeat=Heartbeat.parse(heartbeat),
                stop_flag=stop,
                dispatch=_json_or_none(dispatch),
                backoff_ms=backoff if backoff and backoff > 0 else None,
                restarts=restarts or {},
                last_exit=last_exit or None,
                failed=_json_or_none(failed[i]),
                fence=int(fence or 0),
            )
        return facts

    def collector_facts(self, name: str) -> CollectorFacts:
        return self.facts([name])[name]


def _json_or_none(value: str | None) -> dict[str, Any] | None:
    if not value:
        return None
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        return {"value": value}
    return parsed if isinstance(parsed, dict) else {"value": parsed}


def redis_client(url: str) -> redis.Redis:
    """A client for the registry: decoded strings, bounded waits, keepalive (no I/O until used)."""
    return redis.Redis.from_url(
        url,
        decode_responses=True,
        socket_timeout=10,
        socket_connect_timeout=5,
        socket_keepalive=True,
        health_check_interval=25,
        client_name=f"marketdata-registry@{socket.gethostname()}",
    )


__all__ = [
    "CollectorFacts",
    "Heartbeat",
    "LoadResult",
    "Registry",
    "derive_state",
    "redis_client",
]
