"""SIGKILL failover with the production timings (no test speed-ups): back within 20 s.

HEALTH_CHECK_INTERVAL 10 s, LEASE_TTL 6 s, NODE_TTL 5 s, COLLECTOR_TICK 1 s: a killed
worker's leases expire within 6 s and the next health check (at most 10 s later) starts
the collectors on the surviving worker, so the bound is about 6 + 10 + start-up.
"""

from __future__ import annotations

import signal
import time
import uuid

import pytest

from tests.orchestration.harness import Cluster

pytestmark = pytest.mark.timeout(120)

DEFAULT_TIMINGS = {
    "HEALTH_CHECK_INTERVAL": "10",
    "LEASE_TTL": "6",
    "COLLECTOR_TICK": "1",
    "NODE_TTL": "5",
    "DISPATCH_TIMEOUT": "30",
    "BEAT_LOCK_TIMEOUT": "10",
    "BEAT_MAX_LOOP_INTERVAL": "2",
}


def test_sigkill_failover_within_20s_with_default_timings(tmp_path) -> None:  # type: ignore[no-untyped-def]
    cluster = Cluster(tmp_path, overrides=DEFAULT_TIMINGS)
    tag = uuid.uuid4().hex[:6].upper()
    symbols = [f"F{tag}-USDT", f"G{tag}-USDT", f"H{tag}-USDT"]
    try:
        cluster.start_simulator(symbols)
        cluster.start_control_worker()
        cluster.start_collector_worker("d1")
        cluster.start_collector_worker("d2", concurrency=3)
        cluster.start_beat()
        names = ["okx-f", "okx-g", "okx-h"]
        cluster.registry.load([cluster.spec(n, [s]) for n, s in zip(names, symbols, strict=True)])
        where = cluster.wait_running(names, timeout=30)
        victim = cluster.node_name("d1")
        on_victim = [n for n, node in where.items() if node == victim]
        assert on_victim, where
        killed_at = time.monotonic()
        cluster.procs.kill("d1", signal.SIGKILL)
        after = cluster.wait_running(names, timeout=20, not_on=victim)
        elapsed = time.monotonic() - killed_at
        assert set(after.values()) == {cluster.node_name("d2")}
        print(f"default timings: {on_victim} running again {elapsed:.1f}s after SIGKILL")
    except BaseException:
        print(cluster.procs.tails(30))
        raise
    finally:
        cluster.close()
