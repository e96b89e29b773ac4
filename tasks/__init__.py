"""Orchestration: collectors as long-lived Celery tasks, a Redis registry, a beat health check.

* :mod:`tasks.app` — the Celery app (``celery -A tasks.app worker|beat|flower``).
* :mod:`tasks.celeryconfig` — settings for never-ending tasks, each with its reason.
* :mod:`tasks.keys` — every Redis key name.
* :mod:`tasks.registry` — desired state, leases, heartbeats, restarts (CLI: ``python -m tasks.registry``).
* :mod:`tasks.collector_task` — one collector run (``collector.run``).
* :mod:`tasks.control` — the health check, retention and status tasks (``control.*``).

Importing this package imports neither Celery nor Redis.
"""
