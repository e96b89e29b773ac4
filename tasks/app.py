"""The Celery app of the collector cluster.

    celery -A tasks.app worker -Q collectors -c 4 -n collectors1@%h --without-mingle --without-gossip
    celery -A tasks.app worker -Q control -c 2 -n control@%h
    celery -A tasks.app beat
    celery -A tasks.app flower --basic-auth=admin:secret --persistent=True --db=flower.db

Settings: tasks/celeryconfig.py (from the environment, see tasks/settings.py). Worker hooks
(node liveness, cooperative shutdown): tasks/node.py.
"""

from __future__ import annotations

from celery import Celery

from tasks.celeryconfig import config_for
from tasks.settings import OrchestrationSettings

TASK_MODULES = ["tasks.collector_task", "tasks.control"]


def create_app(settings: OrchestrationSettings | None = None, *, main: bool = True) -> Celery:
    """A Celery app for ``settings`` (default: the environment).

    ``main=False`` gives a client-only app (send tasks, read results) that does not become
    the current app; tests and tools use it to talk to a cluster with other settings.
    """
    settings = settings or OrchestrationSettings.from_env()
    celery_app = Celery("marketdata", include=TASK_MODULES if main else [], set_as_current=main)
    celery_app.conf.update(config_for(settings))
    return celery_app


app = create_app()

import tasks.node  # noqa: E402,F401  (connects the worker signal handlers)
