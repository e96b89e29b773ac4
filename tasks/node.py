"""Worker-node hooks: liveness of collector workers and cooperative shutdown.

Both run in the worker's MainProcess, never in the pool children that run collectors.

* ``worker_ready``: a collector worker (one consuming the ``collectors`` queue) starts a
  small thread that keeps ``node:<hostname>`` alive (``NODE_TTL``) with its concurrency.
  The health check places collectors only on live nodes, on the one with the most free
  slots. The key expires on its own when the node dies, even by SIGKILL.
* ``worker_shutting_down`` (SIGTERM/SIGINT/SIGQUIT): the node's liveness key is deleted
  and ``node:<hostname>:stop`` is set to the worker's pid. Each collector on the node
  sees it within one tick, stops cooperatively (sinks flushed), releases its lease and
  hands itself over to another live node. Without this a warm shutdown never ends,
  because a collector task never returns on its own [A5].
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from typing import Any

from celery import signals

from tasks.celeryconfig import COLLECTOR_QUEUE
from tasks.keys import STOP_FLAG_TTL, Keys
from tasks.registry import redis_client
from tasks.settings import OrchestrationSettings

logger = logging.getLogger(__name__)


class NodeHeartbeat:
    """Refreshes ``node:<hostname>`` every ``NODE_TTL / 3`` s from a daemon thread."""

    def __init__(self, settings: OrchestrationSettings, hostname: str, concurrency: int) -> None:
        self.settings = settings
        self.keys = Keys(settings.key_prefix)
        self.hostname = hostname
        self.info = {
            "hostname": hostname,
            "concurrency": concurrency,
            "pid": os.getpid(),
            "started_at": time.time(),
        }
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._client = redis_client(settings.redis_url)

    def start(self) -> None:
        # A stop flag left by a previous process with this hostname must not stop this one's collectors.
        self._client.delete(self.keys.node_stop(self.hostname))
        self._beat()
        self._thread = threading.Thread(target=self._run, name="marketdata-node-heartbeat", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        pipe = self._client.pipeline()
        pipe.set(self.keys.node(self.hostname), json.dumps(self.info), px=int(self.settings.node_ttl * 1000))
        pipe.sadd(self.keys.nodes, self.hostname)
        pipe.execute()

    def _run(self) -> None:
        while not self._stop.wait(self.settings.node_ttl / 3):
            try:
                self._beat()
            except Exception:  # Redis away: the key expires, the node drops out of placement; keep trying
                logger.warning("node heartbeat of %s failed", self.hostname, exc_info=True)

    def shutting_down(self) -> None:
        """Leave placement and ask this node's collectors to stop (runs from the signal handler)."""
        self._stop.set()
        client = redis_client(self.settings.redis_url)
        try:
            pipe = client.pipeline()
            pipe.delete(self.keys.node(self.hostname))
            pipe.set(self.keys.node_stop(self.hostname), str(os.getpid()), px=int(STOP_FLAG_TTL * 1000))
            pipe.execute()
        finally:
            client.close()


_heartbeat: NodeHeartbeat | None = None


def _consumes_collectors(consumer: Any) -> bool:
    try:
        return COLLECTOR_QUEUE in consumer.app.amqp.queues.consume_from
    except AttributeError:
        return False


@signals.worker_ready.connect
def _on_worker_ready(sender: Any = None, **_: Any) -> None:
    global _heartbeat
    if sender is None or not _consumes_collectors(sender):
        return
    concurrency = int(
        getattr(sender.controller, "concurrency", 0) or getattr(sender.pool, "num_processes", 1) or 1
    )
    _heartbeat = NodeHeartbeat(OrchestrationSettings.from_env(), sender.hostname, concurrency)
    _heartbeat.start()
    logger.info("collector node %s is live (concurrency %d)", sender.hostname, concurrency)


@signals.worker_shutting_down.connect
def _on_worker_shutting_down(sender: Any = None, sig: Any = None, how: Any = None, **_: Any) -> None:
    heartbeat = _heartbeat
    if heartbeat is None:
        return
    # We are inside a signal handler of the MainProcess: do the Redis writes on a fresh
    # connection in a thread, so a connection the interrupted code was using is never reused.
    worker = threading.Thread(target=heartbeat.shutting_down, name="marketdata-node-stop")
    worker.start()
    worker.join(timeout=5.0)


@signals.worker_shutdown.connect
def _on_worker_shutdown(**_: Any) -> None:
    global _heartbeat
    heartbeat, _heartbeat = _heartbeat, None
    if heartbeat is not None:
        heartbeat._stop.set()
        try:
            heartbeat._client.delete(heartbeat.keys.node(heartbeat.hostname))
        except Exception:
            logger.warning("could not delete the liveness key of %s", heartbeat.hostname, exc_info=True)
