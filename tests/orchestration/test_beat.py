"""Two beat processes: exactly one schedules; when it is killed the standby takes over."""

from __future__ import annotations

import signal
import time

import pytest

from beat_schedule import HEALTH_CHECK_ENTRY
from tests.orchestration.harness import Cluster, wait_until

pytestmark = pytest.mark.timeout(90)

SENT = f"Sending due task {HEALTH_CHECK_ENTRY}"


def scheduler_pid(cluster: Cluster) -> int | None:
    """Pid of the beat that sent the last health check that ran (the message's origin, gen<pid>@host)."""
    origin = cluster.registry.stats().get("last_scheduler", "")
    if not origin.startswith("gen"):
        return None
    return int(origin[3:].split("@", 1)[0])


def test_one_active_beat_and_a_standby_that_takes_over(cluster: Cluster) -> None:
    cluster.start_control_worker()
    first = cluster.start_beat("beat1")
    second = cluster.start_beat("beat2", wait_for_lock=False)
    try:
        wait_until(lambda: "beat: Starting..." in second.text(), 20, "the second beat to start")
        wait_until(lambda: scheduler_pid(cluster) == first.pid, 15, "health checks scheduled by beat1")
        checks = int(cluster.registry.stats()["health_checks"])
        wait_until(
            lambda: int(cluster.registry.stats()["health_checks"]) >= checks + 3, 10, "more health checks"
        )
        assert first.text().count(SENT) >= 3
        assert SENT not in second.text() and "Acquired lock" not in second.text(), (
            "the standby schedules nothing"
        )
        assert scheduler_pid(cluster) == first.pid

        killed_at = time.monotonic()
        cluster.procs.kill("beat1", signal.SIGKILL)
        wait_until(lambda: "beat: Acquired lock" in second.text(), 15, "the standby to take the lock")
        took_over = time.monotonic() - killed_at
        wait_until(lambda: scheduler_pid(cluster) == second.pid, 10, "health checks scheduled by beat2")
        assert took_over <= cluster.settings.beat_lock_timeout + 3, f"took over after {took_over:.1f}s"
        print(f"standby beat took over {took_over:.1f}s after SIGKILL of the active one")
    except BaseException:
        print(cluster.procs.tails(30))
        raise
