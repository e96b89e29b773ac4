"""Leases with fencing tokens on a single Redis (Lua scripts: each step is atomic).

A lease is ``SET <lease> "<token>|<owner>" PX <ttl>`` taken only if absent, where
``token`` comes from ``INCR <fence>`` in the same script. Tokens only grow, so a
holder that was paused past its expiry (GC, VM stall) carries a smaller token than the
next holder and every fenced write of it is refused: renewal, heartbeat and release
compare the full value and do nothing when it differs. Downstream writes are made
idempotent separately (unique keys, ``ON CONFLICT DO NOTHING``), because a paused
holder can still write to the database between two renewals (Kleppmann, "How to do
distributed locking").

The collector's renewal also writes its heartbeat and reads its stop flags in the same
round trip, with the time taken from Redis (``TIME``) so that hosts with skewed clocks
still agree on how old the last market message is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import redis

_ACQUIRE = """
local current = redis.call('GET', KEYS[1])
if current then return {0, current} end
local token = redis.call('INCR', KEYS[2])
local value = string.format('%d', token) .. '|' .. ARGV[1]
redis.call('SET', KEYS[1], value, 'PX', ARGV[2])
return {token, value}
"""

_RENEW = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
for i = 2, #KEYS do
  if redis.call('HGET', KEYS[i], 'lease') == ARGV[1] then redis.call('DEL', KEYS[i]) end
end
return 1
"""

# KEYS: lease, heartbeat, stop flag, node stop flag
# ARGV: lease value, lease ttl ms, heartbeat ttl ms, message age ms (-1: none yet), age since start ms,
#       snapshot json
# -> {renewed 0/1, stop flag value or '', node stop value or '', server time ms}
_RENEW_AND_HEARTBEAT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local stop = redis.call('GET', KEYS[3]) or ''
local node_stop = redis.call('GET', KEYS[4]) or ''
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {0, stop, node_stop, string.format('%d', now)} end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
local age = tonumber(ARGV[4])
local has_data = '1'
if age < 0 then
  age = tonumber(ARGV[5])
  has_data = '0'
end
redis.call('HSET', KEYS[2],
  'lease', ARGV[1],
  'written_at_ms', string.format('%d', now),
  'last_message_at_ms', string.format('%d', now - age),
  'started_at_ms', string.format('%d', now - tonumber(ARGV[5])),
  'has_data', has_data,
  'snapshot', ARGV[6])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return {1, stop, node_stop, string.format('%d', now)}
"""


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


@dataclass(frozen=True, slots=True)
class Holding:
    """A held lease: its fencing token and the exact value stored under the lease key."""

    token: int
    value: str

    @property
    def owner(self) -> str:
        return self.value.partition("|")[2]


@dataclass(frozen=True, slots=True)
class LeaseValue:
    """A lease key's value, parsed: ``<token>|<hostname>|<pid>|<task id>``."""

    token: int
    hostname: str
    pid: int | None
    task_id: str

    @classmethod
    def parse(cls, value: str | None) -> LeaseValue | None:
        if not value:
            return None
        token, _, owner = value.partition("|")
        hostname, _, rest = owner.partition("|")
        pid, _, task_id = rest.partition("|")
        try:
            return cls(int(token), hostname, int(pid) if pid.isdigit() else None, task_id)
        except ValueError:
            return None


@dataclass(frozen=True, slots=True)
class TickResult:
    """What one renewal round trip learned."""

    renewed: bool
    stop_flag: str
    node_stop_flag: str
    server_time_ms: int


class Lease:
    """One lease key and its fence counter. The constructor does no I/O."""

    def __init__(self, client: redis.Redis, lease_key: str, fence_key: str) -> None:
        self.client = client
        self.lease_key = lease_key
        self.fence_key = fence_key
        self._acquire = client.register_script(_ACQUIRE)
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)
        self._renew_and_heartbeat = client.register_script(_RENEW_AND_HEARTBEAT)

    def acquire(self, owner: str, ttl: float) -> Holding | None:
        """Take the lease if nobody holds it; None if held (see :meth:`holder`)."""
        token, value = self._acquire(keys=[self.lease_key, self.fence_key], args=[owner, _ms(ttl)])
        if int(token) == 0:
            return None
        return Holding(int(token), _text(value))

    def renew(self, holding: Holding, ttl: float) -> bool:
        """Extend the lease; False if it is no longer ours (expired or taken by a newer token)."""
        return bool(self._renew(keys=[self.lease_key], args=[holding.value, _ms(ttl)]))

    def release(self, holding: Holding, *also_delete_if_ours: str) -> bool:
        """Delete the lease (and hashes whose ``lease`` field is ours) only if we still hold it."""
        return bool(self._release(keys=[self.lease_key, *also_delete_if_ours], args=[holding.value]))

    def holder(self) -> str | None:
        return _text(self.client.get(self.lease_key))

    def renew_and_heartbeat(
        self,
        holding: Holding,
        *,
        ttl: float,
        heartbeat_key: str,
        heartbeat_ttl: float,
        stop_key: str,
        node_stop_key: str,
        message_age: float | None,
        run_age: float,
        snapshot: dict[str, Any],
    ) -> TickResult:
        renewed, stop, node_stop, now = self._renew_and_heartbeat(
            keys=[self.lease_key, heartbeat_key, stop_key, node_stop_key],
            args=[
                holding.value,
                _ms(ttl),
                _ms(heartbeat_ttl),
                -1 if message_age is None else int(message_age * 1000),
                int(run_age * 1000),
                json.dumps(snapshot, default=str, separators=(",", ":")),
            ],
        )
        return TickResult(bool(int(renewed)), _text(stop) or "", _text(node_stop) or "", int(now))


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)
