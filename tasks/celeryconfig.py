"""Celery settings for never-ending collector tasks, each with the reason it is set.

:func:`config_for` turns :class:`tasks.settings.OrchestrationSettings` (read from the
environment) into Celery's configuration; ``tasks.app`` applies it. docs/orchestration.md
has the same list for operators. References in brackets are to sections of
shared/docs/celery-redis-timescale-notes.md.
"""

from __future__ import annotations

from typing import Any

from kombu import Exchange, Queue

from beat_schedule import build_beat_schedule
from tasks.keys import Keys
from tasks.settings import OrchestrationSettings

COLLECTOR_QUEUE = "collectors"
CONTROL_QUEUE = "control"


def config_for(settings: OrchestrationSettings) -> dict[str, Any]:
    keys = Keys(settings.key_prefix)
    return {
        # ------------------------------------------------------------ broker and results
        "broker_url": settings.effective_broker_url,
        "result_backend": settings.effective_result_backend,
        # Retry instead of crashing when Redis is not up yet at boot (compose starts all at once).
        "broker_connection_retry_on_startup": True,
        "broker_transport_options": {
            # Every broker key and pub/sub channel carries the deployment prefix, so deployments
            # and test sessions can share one Redis without seeing each other's queues or events.
            "global_keyprefix": keys.broker_prefix,
            # Only acks_late tasks are redelivered by the visibility timeout; collectors are acked
            # early, so this value never re-runs a collector [A1]. Kept at the default hour.
            "visibility_timeout": 3600,
            # Don't hang forever on a half-open TCP connection to Redis [A12].
            "socket_timeout": 30,
            "socket_connect_timeout": 10,
            "socket_keepalive": True,
            "retry_on_timeout": True,
            # kombu 5.7 also health-checks the BRPOP connection: a consumer that silently lost
            # Redis recovers within about a minute instead of never [A12].
            "health_check_interval": 25,
        },
        "result_backend_transport_options": {
            "global_keyprefix": keys.results_prefix,
            "visibility_timeout": 3600,  # equal to the broker's: the shortest one wins otherwise [A1]
        },
        "result_expires": 24 * 3600,  # results carry a TTL: no key without an expiry
        "result_extended": True,  # results keep the task name and arguments (which collector it was)
        # ------------------------------------------------------------ never-ending collector tasks
        # Early ack: the broker forgets a collector message once a worker took it. Redis, not the
        # message, decides whether a collector runs (lease + health check); with acks_late the
        # visibility timeout would start a second copy of a still-running collector [A1].
        "task_acks_late": False,
        # A collector child that dies (OOM, SIGKILL) is not redelivered in a crash loop; the
        # health check restarts it with backoff [A3].
        "task_reject_on_worker_lost": False,
        # No global time limits: a collector never ends, and a per-task None cannot override a
        # global limit [A7]. The control tasks set their own limits (tasks/control.py).
        "task_time_limit": None,
        "task_soft_time_limit": None,
        # One message per free pool slot: a never-ending collector must not sit reserved behind
        # a full pool on one node while another node is idle [A2].
        "worker_prefetch_multiplier": 1,
        "worker_disable_prefetch": True,
        # Future default; protects any acks_late task when the broker connection drops [A4].
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        # Backstop for a cold shutdown (SIGQUIT, or REMAP_SIGTERM=SIGQUIT): collectors get this
        # long to stop cooperatively before they are terminated [A5]. A warm shutdown (SIGTERM)
        # ends within seconds because the worker_shutting_down hook raises the node stop flag.
        "worker_soft_shutdown_timeout": 20.0,
        "worker_enable_soft_shutdown_on_idle": False,
        # Per-child limits act only after a task returns, i.e. never during a collector run
        # [A10]; they still recycle a child between runs. A run itself is bounded by
        # COLLECTOR_MAX_LIFETIME and COLLECTOR_MAX_RSS_MB (tasks/collector_task.py).
        "worker_max_memory_per_child": int(max(settings.max_rss_mb, 256) * 1024),  # KiB
        "worker_max_tasks_per_child": 100,
        # Each worker also consumes its own direct queue (<hostname>.dq2): the health check puts
        # a collector on the live node with the most free slots (tasks/dispatch.py).
        "worker_direct": True,
        # ------------------------------------------------------------ monitoring (Flower)
        "worker_send_task_events": True,  # Flower builds its view from events only [D1]
        "task_send_sent_event": True,  # a dispatched collector shows up before a worker takes it
        "task_track_started": True,  # a running collector is STARTED, not PENDING
        "worker_hijack_root_logger": False,  # keep the collectors' own log handlers
        # ------------------------------------------------------------ queues and routing
        # Collectors hold their pool slot forever, so they get their own queue and workers; the
        # health check and maintenance run on "control", which collectors can never starve [A9].
        "task_queues": (
            Queue(COLLECTOR_QUEUE, Exchange(COLLECTOR_QUEUE, type="direct"), routing_key=COLLECTOR_QUEUE),
            Queue(CONTROL_QUEUE, Exchange(CONTROL_QUEUE, type="direct"), routing_key=CONTROL_QUEUE),
        ),
        "task_default_queue": CONTROL_QUEUE,
        "task_routes": {
            "collector.run": {"queue": COLLECTOR_QUEUE, "routing_key": COLLECTOR_QUEUE},
            "control.*": {"queue": CONTROL_QUEUE, "routing_key": CONTROL_QUEUE},
        },
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "timezone": "UTC",
        "enable_utc": True,
        # ------------------------------------------------------------ beat (RedBeat)
        # One active scheduler: RedBeat holds a Redis lock that the active beat extends on every
        # loop; a second beat blocks on it and takes over within BEAT_LOCK_TIMEOUT after the
        # active one dies [B2]. Options are set explicitly (the broker fallback goes away in 2.5).
        "beat_scheduler": "redbeat.RedBeatScheduler",
        "redbeat_redis_url": settings.redis_url,
        "redbeat_redis_options": {"socket_timeout": 10, "socket_connect_timeout": 5, "retry_period": 30},
        "redbeat_key_prefix": keys.redbeat_prefix,
        "redbeat_lock_timeout": int(max(2, round(settings.beat_lock_timeout))),
        "beat_max_loop_interval": settings.beat_max_loop_interval,
        "beat_schedule": build_beat_schedule(settings),
    }
