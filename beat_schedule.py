"""The beat schedule of the collector cluster (RedBeat; one active scheduler, hot standby).

* ``collectors-health-check``: every ``HEALTH_CHECK_INTERVAL`` seconds (10 by default)
  on the control queue. ``expires`` equals the interval, so copies queued while no control
  worker ran are dropped instead of running back to back; the task itself also holds a
  short lease, so two runs never overlap.
* ``timescaledb-retention``: every ``RETENTION_INTERVAL`` seconds (1 h; 0 disables it),
  ``drop_chunks`` for the Apache edition of TimescaleDB, where retention policies
  (``add_retention_policy``) are not available.

Read by ``tasks/celeryconfig.py``; run with ``celery -A tasks.app beat``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tasks.settings import OrchestrationSettings

HEALTH_CHECK_ENTRY = "collectors-health-check"
RETENTION_ENTRY = "timescaledb-retention"


def build_beat_schedule(settings: OrchestrationSettings) -> dict[str, dict[str, Any]]:
    interval = settings.health_check_interval
    schedule: dict[str, dict[str, Any]] = {
        HEALTH_CHECK_ENTRY: {
            "task": "control.health_check",
            "schedule": interval,
            "options": {"queue": "control", "expires": interval},
        },
    }
    if settings.retention_interval > 0:
        schedule[RETENTION_ENTRY] = {
            "task": "control.retention",
            "schedule": settings.retention_interval,
            "options": {"queue": "control", "expires": settings.retention_interval},
        }
    return schedule


def _default_schedule() -> dict[str, dict[str, Any]]:
    from tasks.settings import OrchestrationSettings

    return build_beat_schedule(OrchestrationSettings.from_env())


def __getattr__(name: str) -> Any:
    # ``beat_schedule.beat_schedule``: the schedule for the current environment, built on use.
    if name == "beat_schedule":
        return _default_schedule()
    raise AttributeError(name)
