"""Sending collector runs to workers: placement on the least-loaded live node.

Each collector worker consumes the shared ``collectors`` queue and its own direct queue
(``<hostname>.dq2``, Celery's ``worker_direct``). A run goes to the direct queue of the
live node with the most free pool slots (concurrency minus collectors holding a lease
there minus runs already dispatched to it), so adding a worker spreads new collectors
over the workers. With no live node that has room it goes to the shared queue, where the
first slot to free up takes it.

Every dispatch sets ``collector:<name>:dispatch`` (TTL ``DISPATCH_TIMEOUT``) before the
message is sent, and the message ``expires`` at the same time: a run that did not start
by then is discarded by whichever worker finally sees it, and the health check sends a
new one.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from tasks.celeryconfig import COLLECTOR_QUEUE as SHARED_QUEUE
from tasks.config_file import CollectorSpec
from tasks.registry import CollectorFacts, Registry


def node_load(facts: Iterable[CollectorFacts]) -> Counter[str]:
    """Collectors per node: runs holding a lease there plus runs dispatched to it and not started."""
    load: Counter[str] = Counter()
    for fact in facts:
        if fact.lease is not None:
            load[fact.lease.hostname] += 1
        elif fact.dispatch is not None and fact.dispatch.get("node"):
            load[str(fact.dispatch["node"])] += 1
    return load


def choose_node(
    nodes: Mapping[str, Mapping[str, Any]], load: Mapping[str, int], *, exclude: Iterable[str] = ()
) -> str | None:
    """The live node with the most free slots (ties: fewer collectors, then name); None if all are full."""
    excluded = set(exclude)
    best: tuple[int, int, str] | None = None
    for hostname, info in nodes.items():
        if hostname in excluded:
            continue
        capacity = int(info.get("concurrency") or 1)
        used = int(load.get(hostname, 0))
        free = capacity - used
        if free <= 0:
            continue
        key = (-free, used, hostname)
        if best is None or key < best:
            best = key
    return None if best is None else best[2]


def task_id_for(name: str) -> str:
    """Readable, unique task ids: Flower's task list shows which collector a run is."""
    return f"collector.{name}.{uuid.uuid4().hex[:12]}"


def dispatch(
    registry: Registry,
    spec: CollectorSpec,
    *,
    reason: str,
    nodes: Mapping[str, Mapping[str, Any]],
    load: Counter[str],
    exclude: Iterable[str] = (),
    require_node: bool = False,
) -> dict[str, Any] | None:
    """Mark and send one run of ``spec``; updates ``load`` for the next placement in the same pass.

    With ``require_node`` nothing is sent (None) when no live node has a free slot.
    """
    from celery.utils.nodenames import worker_direct

    from tasks.collector_task import run_collector

    node = choose_node(nodes, load, exclude=exclude)
    if node is None and require_node:
        return None
    task_id = task_id_for(spec.name)
    timeout = registry.settings.dispatch_timeout
    marker = {"task_id": task_id, "node": node, "reason": reason}
    registry.client.set(registry.keys.dispatch(spec.name), json.dumps(marker), px=int(timeout * 1000))
    if node is not None:
        load[node] += 1
    run_collector.apply_async(
        args=[spec.name],
        kwargs={**spec.summary(), "reason": reason},
        task_id=task_id,
        queue=worker_direct(node) if node is not None else SHARED_QUEUE,
        expires=timeout,
    )
    return marker
