"""Orchestration settings, read once from the environment, validated and frozen.

Every timing of the control plane lives here so that the relations between them can be
checked in one place (a lease must outlive several renewals, a node key must expire
before a lease does, ...). An invalid value raises ``ConfigurationError`` naming the
variable. See docs/orchestration.md for what each one does.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields

from collectors.core.errors import ConfigurationError

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_PREFIX = "marketdata:"
_PREFIX = re.compile(r"^[A-Za-z0-9_.-]*:?$")


@dataclass(frozen=True, slots=True)
class OrchestrationSettings:
    # Where things live.
    redis_url: str = DEFAULT_REDIS_URL  # REDIS_URL: registry, broker, results and RedBeat
    broker_url: str = ""  # CELERY_BROKER_URL (default: redis_url)
    result_backend: str = ""  # CELERY_RESULT_BACKEND (default: redis_url)
    key_prefix: str = DEFAULT_PREFIX  # MARKETDATA_REDIS_PREFIX: every key of this deployment starts with it
    # Health check (beat entry on the control queue).
    health_check_interval: float = 10.0  # HEALTH_CHECK_INTERVAL
    silence_timeout: float = 60.0  # SILENCE_TIMEOUT: no market data this long -> stop and restart
    max_restarts: int = 5  # MAX_RESTARTS: consecutive restarts before a collector is marked failed
    restart_backoff_initial: float = 2.0  # RESTART_BACKOFF_INITIAL
    restart_backoff_max: float = 300.0  # RESTART_BACKOFF_MAX
    stable_after: float = 60.0  # STABLE_AFTER: a run delivering data this long resets the restart count
    dispatch_timeout: float = 30.0  # DISPATCH_TIMEOUT: a dispatched run not started by then is sent again
    # Collector runs.
    lease_ttl: float = 6.0  # LEASE_TTL
    collector_tick: float = 1.0  # COLLECTOR_TICK: lease renewal, heartbeat and stop-flag poll period
    max_lifetime: float = 6 * 3600.0  # COLLECTOR_MAX_LIFETIME (0 = unbounded); jittered by 10 %
    max_rss_mb: float = 1024.0  # COLLECTOR_MAX_RSS_MB (0 = no watchdog)
    # Worker nodes.
    node_ttl: float = 5.0  # NODE_TTL: liveness key of a collector worker
    # Beat.
    beat_lock_timeout: float = 10.0  # BEAT_LOCK_TIMEOUT: a standby beat takes over within this
    beat_max_loop_interval: float = 2.0  # BEAT_MAX_LOOP_INTERVAL
    retention_interval: float = 3600.0  # RETENTION_INTERVAL (0 = no retention entry)

    def __post_init__(self) -> None:
        if not _PREFIX.match(self.key_prefix):
            raise ConfigurationError(
                f"MARKETDATA_REDIS_PREFIX must be letters, digits, '_', '.', '-' and an optional final ':', "
                f"got {self.key_prefix!r}"
            )
        if self.collector_tick * 3 > self.lease_ttl:
            raise ConfigurationError(
                f"LEASE_TTL ({self.lease_ttl:g}) must be at least 3 x COLLECTOR_TICK "
                f"({self.collector_tick:g}) "
                "so that one late renewal does not lose the lease"
            )
        if self.node_ttl > self.lease_ttl:
            raise ConfigurationError(
                f"NODE_TTL ({self.node_ttl:g}) must not exceed LEASE_TTL ({self.lease_ttl:g}): "
                "a dead node must "
                "drop out of placement before its collectors' leases expire"
            )
        if self.beat_max_loop_interval * 2 > self.beat_lock_timeout:
            raise ConfigurationError(
                f"BEAT_LOCK_TIMEOUT ({self.beat_lock_timeout:g}) must be at least 2 x BEAT_MAX_LOOP_INTERVAL "
                f"({self.beat_max_loop_interval:g}): the active beat extends its lock once per loop"
            )
        if self.restart_backoff_max < self.restart_backoff_initial:
            raise ConfigurationError("RESTART_BACKOFF_MAX must not be below RESTART_BACKOFF_INITIAL")

    @property
    def effective_broker_url(self) -> str:
        return self.broker_url or self.redis_url

    @property
    def effective_result_backend(self) -> str:
        return self.result_backend or self.redis_url

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> OrchestrationSettings:
        env = os.environ if environ is None else environ
        defaults = {f.name: f.default for f in fields(cls)}

        def number(var: str, name: str, *, minimum: float = 0.0, positive: bool = True) -> float:
            raw = env.get(var)
            if raw is None or raw.strip() == "":
                return float(defaults[name])
            try:
                value = float(raw)
            except ValueError:
                raise ConfigurationError(f"{var} must be a number (seconds), got {raw!r}") from None
            if value != value or value < minimum or (positive and value <= 0):
                relation = "> 0" if positive else f">= {minimum:g}"
                raise ConfigurationError(f"{var} must be a number {relation}, got {raw!r}")
            return value

        def whole(var: str, name: str) -> int:
            raw = env.get(var)
            if raw is None or raw.strip() == "":
                return int(defaults[name])
            if not raw.strip().isdigit():
                raise ConfigurationError(f"{var} must be a whole number >= 0, got {raw!r}")
            return int(raw)

        return cls(
            redis_url=env.get("REDIS_URL") or DEFAULT_REDIS_URL,
            broker_url=env.get("CELERY_BROKER_URL", ""),
            result_backend=env.get("CELERY_RESULT_BACKEND", ""),
            key_prefix=env.get("MARKETDATA_REDIS_PREFIX", DEFAULT_PREFIX),
            health_check_interval=number("HEALTH_CHECK_INTERVAL", "health_check_interval"),
            silence_timeout=number("SILENCE_TIMEOUT", "silence_timeout"),
            max_restarts=whole("MAX_RESTARTS", "max_restarts"),
            restart_backoff_initial=number(
                "RESTART_BACKOFF_INITIAL", "restart_backoff_initial", positive=False
            ),
            restart_backoff_max=number("RESTART_BACKOFF_MAX", "restart_backoff_max", positive=False),
            stable_after=number("STABLE_AFTER", "stable_after"),
            dispatch_timeout=number("DISPATCH_TIMEOUT", "dispatch_timeout"),
            lease_ttl=number("LEASE_TTL", "lease_ttl"),
            collector_tick=number("COLLECTOR_TICK", "collector_tick"),
            max_lifetime=number("COLLECTOR_MAX_LIFETIME", "max_lifetime", positive=False),
            max_rss_mb=number("COLLECTOR_MAX_RSS_MB", "max_rss_mb", positive=False),
            node_ttl=number("NODE_TTL", "node_ttl"),
            beat_lock_timeout=number("BEAT_LOCK_TIMEOUT", "beat_lock_timeout"),
            beat_max_loop_interval=number("BEAT_MAX_LOOP_INTERVAL", "beat_max_loop_interval"),
            retention_interval=number("RETENTION_INTERVAL", "retention_interval", positive=False),
        )

    def backoff_delay(self, consecutive_restarts: int) -> float:
        """Seconds before the restart after ``consecutive_restarts`` (1-based) restarts: capped doubling."""
        if consecutive_restarts <= 0 or self.restart_backoff_initial <= 0:
            return 0.0
        return min(
            self.restart_backoff_max, self.restart_backoff_initial * 2 ** min(consecutive_restarts - 1, 32)
        )
