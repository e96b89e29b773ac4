"""A real cluster: OKX simulator, collector workers, a control worker, beat and Flower.

The tests run in file order on one deployment and build on each other's state (which
collectors run where), like an operator's session would:

start from the registry -> Flower shows them -> duplicate dispatch -> silence -> crash loop
-> scale out -> SIGTERM hand-over -> SIGKILL failover -> no duplicate trades stored.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import time
import uuid
from collections.abc import Iterator

import pytest

from tasks.collector_task import HANDOFF, SILENT
from tasks.lease import LeaseValue
from tasks.registry.status import system_status
from tests.orchestration.harness import Cluster, free_port, http_get_json, http_status, wait_until

pytestmark = pytest.mark.timeout(120)

FLOWER_USER, FLOWER_PASSWORD = "admin", uuid.uuid4().hex[:12]
# Symbols of our own, so that trades stored by this session are told apart from anyone else's.
_TAG = uuid.uuid4().hex[:6].upper()
SYM_A, SYM_B, SYM_C, SYM_E = (f"A{_TAG}-USDT", f"B{_TAG}-USDT", f"C{_TAG}-USDT", f"E{_TAG}-USDT")


def storage_available() -> bool:
    try:
        from collectors.outputs.config import build_sinks  # noqa: F401
    except ImportError:
        return False
    return True


SINKS = [{"type": "timescaledb"}] if storage_available() else []


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    cluster = Cluster(tmp_path_factory.mktemp("cluster"))
    try:
        cluster.start_simulator([SYM_A, SYM_B, SYM_C, SYM_E], trade_rate=10.0)
        cluster.start_flower(FLOWER_USER, FLOWER_PASSWORD)  # before any task: Flower only knows what it saw
        cluster.start_control_worker()
        cluster.start_beat()
        cluster.start_collector_worker("w1")
        cluster.start_collector_worker("w2")
        yield cluster
    except BaseException:
        print(cluster.procs.tails())
        raise
    finally:
        cluster.close()
        if SINKS:
            _delete_test_rows()


def _database_url() -> str:
    return os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/marketdata")


def _delete_test_rows() -> None:
    """Remove what this session stored (its symbols are its own)."""
    import asyncio

    import asyncpg

    async def delete() -> None:
        conn = await asyncpg.connect(_database_url())
        try:
            for table in ("trades", "tickers"):
                await conn.execute(
                    f"DELETE FROM {table} WHERE exchange = 'okx' AND symbol = ANY($1::text[])",  # noqa: S608 (fixed names)
                    [SYM_A, SYM_B, SYM_C, SYM_E],
                )
        finally:
            await conn.close()

    asyncio.run(delete())


@pytest.fixture(autouse=True)
def _logs_on_failure(live: Cluster, request: pytest.FixtureRequest) -> Iterator[None]:
    """On failure, print the tails of every process log (pytest shows them with the failure)."""
    yield
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        print(live.procs.tails(40))


def flower_auth() -> dict[str, str]:
    token = base64.b64encode(f"{FLOWER_USER}:{FLOWER_PASSWORD}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def test_collectors_start_from_the_registry_and_spread_over_workers(live: Cluster) -> None:
    result = live.registry.load(
        [live.spec("okx-a", [SYM_A], sinks=SINKS), live.spec("okx-b", [SYM_B], sinks=SINKS)]
    )
    assert result.added == ["okx-a", "okx-b"]
    where = live.wait_running(["okx-a", "okx-b"], timeout=20)
    assert sorted(where.values()) == sorted([live.node_name("w1"), live.node_name("w2")]), where
    facts = live.facts("okx-a")
    assert facts.fence == 1 and facts.lease is not None and facts.lease.token == 1
    snapshot = facts.heartbeat.snapshot  # type: ignore[union-attr]
    assert snapshot["status"] == "running" and snapshot["symbols"] == [SYM_A]
    assert snapshot["statistics"]["last_message_time"] is not None
    assert snapshot["worker"]["task_id"].startswith("collector.okx-a.")
    ttl = live.registry.client.pttl(live.registry.keys.lease("okx-a"))
    assert 0 < ttl <= 3000, "the lease expires unless renewed"


def test_flower_lists_running_collector_tasks_and_requires_credentials(live: Cluster) -> None:
    base = _flower_base(live)
    assert http_status(f"{base}/api/tasks") == 401, "the API refuses requests without credentials"
    assert (
        http_status(
            f"{base}/api/tasks", {"Authorization": "Basic " + base64.b64encode(b"admin:wrong").decode()}
        )
        == 401
    )

    def running_collectors() -> dict[str, dict]:
        tasks = http_get_json(f"{base}/api/tasks?taskname=collector.run&state=STARTED", flower_auth())
        return {task_id: t for task_id, t in tasks.items() if t.get("state") == "STARTED"}

    tasks = wait_until(
        lambda: len(running_collectors()) >= 2 and running_collectors(), 20, "Flower to list both runs"
    )
    by_collector = {t["args"].strip("[]()',\""): t for t in tasks.values()}  # args shown as "['okx-a']"
    assert {"okx-a", "okx-b"} <= set(by_collector), by_collector.keys()
    task = by_collector["okx-a"]
    assert task["name"] == "collector.run"
    assert SYM_A in task["kwargs"] and "'exchange': 'okx'" in task["kwargs"]
    assert task["uuid"].startswith("collector.okx-a.")
    assert task["worker"] == live.facts("okx-a").lease.hostname  # type: ignore[union-attr]


def _flower_base(live: Cluster) -> str:
    argv = live.procs.procs["flower"].popen.args
    port = next(a.split("=", 1)[1] for a in argv if str(a).startswith("--port="))  # type: ignore[union-attr]
    return f"http://127.0.0.1:{port}"


def test_a_duplicate_dispatch_does_not_start_a_second_instance(live: Cluster) -> None:
    before = live.facts("okx-a")
    assert before.lease is not None
    results = [
        live.app.send_task(
            "collector.run", args=["okx-a"], kwargs={"reason": "duplicate test"}, queue="collectors"
        )
        for _ in range(2)
    ]
    outcomes = [r.get(timeout=20) for r in results]
    assert [o["outcome"] for o in outcomes] == ["duplicate", "duplicate"], outcomes
    assert all(LeaseValue.parse(o["held_by"]) == before.lease for o in outcomes), (
        "refused by the lease holder"
    )
    after = live.facts("okx-a")
    assert after.fence == before.fence and after.lease == before.lease, (
        "the running instance was not replaced"
    )
    assert live.running_on("okx-a") == before.lease.hostname


def test_a_silent_collector_is_restarted(live: Cluster) -> None:
    live.registry.put(live.spec("okx-c", [SYM_C], silence_timeout=1.5, sinks=SINKS))
    live.wait_running(["okx-c"], timeout=20)
    first = live.facts("okx-c").lease
    assert first is not None
    live.simulator_fault("stall", seconds=4.0)  # sockets stay open, nothing is sent

    def restarted() -> bool:
        facts = live.facts("okx-c")
        exit_record = facts.last_exit or {}
        return facts.fence > first.token and exit_record.get("outcome") == SILENT and \
            int(exit_record.get("token", 0)) == first.token  # fmt: skip

    wait_until(restarted, 15, "the silent collector to be stopped and started again")
    exit_record = live.facts("okx-c").last_exit
    assert "silent: no market data" in exit_record["reason"]  # type: ignore[index]
    live.wait_running(["okx-c"], timeout=20)
    facts = live.facts("okx-c")
    assert facts.total_restarts >= 1 and facts.failed is None
    assert live.running_on("okx-a") and live.running_on("okx-b"), (
        "the others kept running (silence limit 30 s)"
    )


def test_a_crashing_collector_ends_up_failed_after_its_restart_limit(live: Cluster) -> None:
    closed = f"ws://127.0.0.1:{free_port()}"  # nothing listens there: every start fails
    live.registry.put(live.spec("okx-crash", [SYM_A], endpoint=closed))
    wait_until(lambda: live.facts("okx-crash").failed, 30, "the crashing collector to be marked failed")
    facts = live.facts("okx-crash")
    assert facts.total_restarts == live.settings.max_restarts == 3
    assert facts.fence == 1 + live.settings.max_restarts, "one start and three restarts, no more"
    assert "crashed: could not start" in facts.failed["reason"]  # type: ignore[index]
    assert "okx-crash" in system_status(live.registry)["failed_collectors"]
    checks = int(live.registry.stats()["health_checks"])
    wait_until(
        lambda: int(live.registry.stats()["health_checks"]) >= checks + 3, 10, "three more health checks"
    )
    assert live.facts("okx-crash").fence == facts.fence, "a failed collector is not started again"
    live.registry.remove("okx-crash")


def test_new_collectors_spread_over_an_added_worker(live: Cluster) -> None:
    live.start_collector_worker("w3")
    live.registry.put(live.spec("okx-e", [SYM_E], sinks=SINKS))
    where = live.wait_running(["okx-e"], timeout=20)
    assert where["okx-e"] == live.node_name("w3"), (
        "the new collector went to the node with the most free slots"
    )
    per_node: dict[str, int] = {}
    for name in ("okx-a", "okx-b", "okx-c", "okx-e"):
        node = live.running_on(name)
        assert node is not None
        per_node[node] = per_node.get(node, 0) + 1
    assert len(per_node) == 3 and max(per_node.values()) <= 2, per_node


def test_sigterm_stops_collectors_cooperatively_and_another_worker_takes_them(live: Cluster) -> None:
    victim = live.node_name("w1")
    on_victim = [n for n in ("okx-a", "okx-b", "okx-c", "okx-e") if live.running_on(n) == victim]
    assert on_victim, "w1 runs collectors"
    tokens = {n: live.facts(n).lease.token for n in on_victim}  # type: ignore[union-attr]
    restarts = {n: live.facts(n).total_restarts for n in on_victim}
    started = time.monotonic()
    live.procs.procs["w1"].popen.send_signal(signal.SIGTERM)  # the worker's MainProcess, as docker stop does
    where = live.wait_running(on_victim, timeout=15, not_on=victim)
    moved_after = time.monotonic() - started
    assert all(node != victim for node in where.values()), where
    for name in on_victim:
        exit_record = live.facts(name).last_exit or {}
        assert int(exit_record["token"]) == tokens[name] and exit_record["outcome"] == HANDOFF, exit_record
        assert exit_record["reason"] == "node shutting down"
        for output in json.loads(exit_record["outputs"]).values():  # each sink was stopped = flushed
            assert output["buffer"]["rows_in_memory"] == 0 and output["buffer"]["batches_queued"] == 0, output
            assert output["rows_not_stored"] == 0 and output["spill"]["rows_pending"] == 0, output
            stored = output["rows_written"] + output["duplicates_ignored"]
            assert stored == output["rows_received"] > 0, output
        assert live.facts(name).total_restarts == restarts[name], "a hand-over is not a restart"
    live.procs.procs["w1"].popen.wait(timeout=20)
    assert live.procs.procs["w1"].popen.returncode == 0, "warm shutdown completed"
    assert moved_after < 10, f"collectors moved in {moved_after:.1f}s"


def test_sigkill_of_a_worker_restarts_its_collectors_on_the_survivors_within_20s(live: Cluster) -> None:
    live.start_collector_worker("w4")  # room for everything on the survivors
    names = ["okx-a", "okx-b", "okx-c", "okx-e"]
    where = live.wait_running(names, timeout=10)
    victim_worker = "w2" if live.node_name("w2") in where.values() else "w3"
    victim = live.node_name(victim_worker)
    on_victim = [n for n, node in where.items() if node == victim]
    assert on_victim
    killed_at = time.monotonic()
    live.procs.kill(victim_worker, signal.SIGKILL)  # the whole process group: MainProcess and pool children
    after = live.wait_running(names, timeout=20, not_on=victim)
    elapsed = time.monotonic() - killed_at
    assert victim not in after.values(), after
    assert elapsed < 20, f"failover took {elapsed:.1f}s"
    print(f"SIGKILL failover of {on_victim}: running again after {elapsed:.1f}s")
    for name in on_victim:
        assert live.facts(name).lease.token > 1  # type: ignore[union-attr]


@pytest.mark.skipif(
    not SINKS, reason="storage layer (collectors.outputs.config.build_sinks) not installed yet"
)
def test_trades_in_timescaledb_have_no_duplicates(live: Cluster) -> None:
    import asyncio

    import asyncpg

    dsn = _database_url()

    async def query() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(dsn)
        try:
            return await conn.fetch(
                "SELECT symbol, count(*) AS n, count(DISTINCT trade_id) AS distinct_ids FROM trades "
                "WHERE exchange = 'okx' AND symbol = ANY($1::text[]) GROUP BY symbol",
                [SYM_A, SYM_B, SYM_C, SYM_E],
            )
        finally:
            await conn.close()

    rows = wait_until(
        lambda: len(asyncio.run(query())) == 4 and asyncio.run(query()), 20, "trades of all four symbols"
    )
    for row in rows:
        assert row["n"] == row["distinct_ids"] and row["n"] > 0, dict(row)
