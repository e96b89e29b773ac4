"""Every Redis key name of the orchestration layer, in one place.

All keys start with the deployment prefix (``MARKETDATA_REDIS_PREFIX``, default
``marketdata:``), so several deployments, or test sessions, can share one Redis.
Celery's own keys get the same prefix through kombu's ``global_keyprefix`` (broker) and
the result backend's ``global_keyprefix``, RedBeat's through ``redbeat_key_prefix``.

Owner = the only component that writes the key (others may read it). TTL = how the key
dies when its owner does; "none" means it is durable state. The table is repeated in
docs/orchestration.md.

=========================================  ========  ====================  ==============================
key                                        type      owner                 TTL
=========================================  ========  ====================  ==============================
collectors:desired                         hash      registry (CLI, load)  none: desired state
collectors:failed                          hash      health check (set),   none: until enable/load/reset
                                                     registry (clear)
collectors:index                           set       collector run (add),  none: pruned by health check
                                                     health check (prune)
collector:<name>:lease                     string    collector run         LEASE_TTL, renewed each tick
collector:<name>:fence                     string    collector run (INCR)  none: fencing tokens only grow
collector:<name>:heartbeat                 hash      collector run         3 x LEASE_TTL, written each tick
collector:<name>:stop                      string    health check, CLI     STOP_FLAG_TTL
collector:<name>:dispatch                  string    health check, run     DISPATCH_TIMEOUT
collector:<name>:backoff                   string    health check          the backoff delay
collector:<name>:restarts                  hash      health check (count), none: reset by a stable run,
                                                     collector run (reset) enable, load
collector:<name>:exit                      hash      collector run         EXIT_RECORD_TTL
nodes                                      set       worker (add),         none: pruned by health check
                                                     health check (prune)
node:<hostname>                            string    collector worker      NODE_TTL, refreshed
node:<hostname>:stop                       string    collector worker      STOP_FLAG_TTL
control:health-check:lease / :fence        string    health check          2 x HEALTH_CHECK_INTERVAL
control:stats                              hash      health check          none: counters
redbeat:*                                  various   beat (RedBeat)        RedBeat's (lock: BEAT_LOCK_TIMEOUT)
broker:* , results:*                       various   Celery (kombu)        results: result_expires
=========================================  ========  ====================  ==============================
"""

from __future__ import annotations

import re
from dataclasses import dataclass

STOP_FLAG_TTL = 120.0  # seconds: long enough for any collector to see it, short enough to vanish
EXIT_RECORD_TTL = 7 * 24 * 3600.0  # seconds
HEARTBEAT_TTL_FACTOR = 3  # heartbeat outlives the lease: the last snapshot is readable a little longer

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


@dataclass(frozen=True, slots=True)
class Keys:
    """Key names under one prefix. Pure: builds strings, touches nothing."""

    prefix: str = "marketdata:"

    # ---------------------------------------------------------------- registry-wide
    @property
    def desired(self) -> str:
        return f"{self.prefix}collectors:desired"

    @property
    def failed(self) -> str:
        return f"{self.prefix}collectors:failed"

    @property
    def index(self) -> str:
        return f"{self.prefix}collectors:index"

    # ---------------------------------------------------------------- per collector
    def lease(self, name: str) -> str:
        return f"{self.prefix}collector:{name}:lease"

    def fence(self, name: str) -> str:
        return f"{self.prefix}collector:{name}:fence"

    def heartbeat(self, name: str) -> str:
        return f"{self.prefix}collector:{name}:heartbeat"

    def stop(self, name: str) -> str:
        return f"{self.prefix}collector:{name}:stop"

    def dispatch(self, name: str) -> str:
        return f"{self.prefix}collector:{name}:dispatch"

    def backoff(self, name: str) -> str:
        return f"{self.prefix}collector:{name}:backoff"

    def restarts(self, name: str) -> str:
        return f"{self.prefix}collector:{name}:restarts"

    def exit(self, name: str) -> str:
        return f"{self.prefix}collector:{name}:exit"

    def per_collector(self, name: str) -> list[str]:
        """Every per-collector key except the fence (tokens must keep growing)."""
        return [
            self.lease(name),
            self.heartbeat(name),
            self.stop(name),
            self.dispatch(name),
            self.backoff(name),
            self.restarts(name),
            self.exit(name),
        ]

    # ---------------------------------------------------------------- worker nodes
    @property
    def nodes(self) -> str:
        return f"{self.prefix}nodes"

    def node(self, hostname: str) -> str:
        return f"{self.prefix}node:{hostname}"

    def node_stop(self, hostname: str) -> str:
        return f"{self.prefix}node:{hostname}:stop"

    # ---------------------------------------------------------------- control plane
    @property
    def health_check_lease(self) -> str:
        return f"{self.prefix}control:health-check:lease"

    @property
    def health_check_fence(self) -> str:
        return f"{self.prefix}control:health-check:fence"

    @property
    def stats(self) -> str:
        return f"{self.prefix}control:stats"

    # ---------------------------------------------------------------- Celery / RedBeat prefixes
    @property
    def redbeat_prefix(self) -> str:
        return f"{self.prefix}redbeat:"

    @property
    def broker_prefix(self) -> str:
        return f"{self.prefix}broker:"

    @property
    def results_prefix(self) -> str:
        return f"{self.prefix}results:"

    @property
    def everything(self) -> str:
        """SCAN pattern matching every key of this deployment (used by tests to clean up)."""
        return f"{self.prefix}*"


def check_name(name: str) -> str:
    """A collector name usable inside key names: lowercase letters, digits, '.', '_', '-'."""
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise ValueError(
            f"name: {name!r} is not a valid collector name (1-64 characters: lowercase letters, digits, "
            "'.', '_' or '-', starting with a letter or digit)"
        )
    return name
