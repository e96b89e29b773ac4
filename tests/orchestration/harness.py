"""Real processes for orchestration tests: simulator, Celery workers, beat, Flower.

Every process runs in its own session (process group), logs to a file under the test's
temporary folder, and is killed with its whole group by :meth:`Processes.close`. Every
cluster gets its own Redis key prefix (broker, results, RedBeat and registry keys all
carry it), in the test Redis database, and its keys are deleted at the end.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from tasks.app import create_app
from tasks.config_file import CollectorSpec
from tasks.registry import Registry, redis_client
from tasks.settings import OrchestrationSettings

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
CELERY = str(Path(PYTHON).with_name("celery"))

# Short timings so that a test sees restarts, failover and takeover in seconds.
FAST_TIMINGS = {
    "HEALTH_CHECK_INTERVAL": "1",
    "LEASE_TTL": "3",
    "COLLECTOR_TICK": "0.5",
    "NODE_TTL": "2",
    "DISPATCH_TIMEOUT": "8",
    "RESTART_BACKOFF_INITIAL": "0.5",
    "RESTART_BACKOFF_MAX": "2",
    "MAX_RESTARTS": "3",
    "SILENCE_TIMEOUT": "30",
    "STABLE_AFTER": "120",
    "BEAT_LOCK_TIMEOUT": "4",
    "BEAT_MAX_LOOP_INTERVAL": "1",
    "RETENTION_INTERVAL": "0",
}


def orchestration_redis_url() -> str:
    """The test Redis database: ORCH_TEST_REDIS_URL, else REDIS_URL's server with database 13."""
    explicit = os.environ.get("ORCH_TEST_REDIS_URL")
    if explicit:
        return explicit
    base = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    scheme, _, rest = base.partition("://")
    hostpart = rest.split("/", 1)[0].split("?", 1)[0]
    return f"{scheme}://{hostpart}/{os.environ.get('ORCH_TEST_REDIS_DB', '13')}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.1) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # a not-yet-ready service; keep polling until the deadline
            last_error = exc
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout}s waiting for {what}"
                + (f" ({last_error!r})" if last_error else "")
            )
        time.sleep(interval)


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def alive(self) -> bool:
        return self.popen.poll() is None

    def signal_group(self, sig: int) -> None:
        try:
            os.killpg(self.popen.pid, sig)
        except ProcessLookupError:
            pass


@dataclass
class Processes:
    """Processes started by one test or fixture; :meth:`close` kills every group it started."""

    logdir: Path
    env: dict[str, str]
    procs: dict[str, Proc] = field(default_factory=dict)

    def start(self, name: str, argv: list[str], extra_env: dict[str, str] | None = None) -> Proc:
        log = self.logdir / f"{name}.log"
        handle = log.open("ab")
        popen = subprocess.Popen(
            argv,
            cwd=REPO,
            env={**self.env, **(extra_env or {})},
            stdin=subprocess.DEVNULL,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group: killpg reaches the pool children too
        )
        handle.close()
        proc = Proc(name, popen, log)
        self.procs[name] = proc
        return proc

    def kill(self, name: str, sig: int = signal.SIGKILL) -> Proc:
        proc = self.procs[name]
        proc.signal_group(sig)
        return proc

    def close(self) -> None:
        for proc in self.procs.values():
            if proc.alive():
                proc.signal_group(signal.SIGTERM)
        deadline = time.monotonic() + 8.0
        for proc in self.procs.values():
            remaining = max(0.0, deadline - time.monotonic())
            try:
                proc.popen.wait(timeout=remaining)
            except subprocess.TimeoutExpired:
                pass
            proc.signal_group(signal.SIGKILL)  # also whatever is left of the group (pool children)
            try:
                proc.popen.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass

    def tails(self, lines: int = 25) -> str:
        out = []
        for proc in self.procs.values():
            text = proc.text().splitlines()[-lines:]
            out.append(f"----- {proc.name} (pid {proc.pid}, alive={proc.alive()}) -----\n" + "\n".join(text))
        return "\n".join(out)


class Cluster:
    """One isolated deployment (its own key prefix) and the processes of one test module."""

    def __init__(self, tmp: Path, *, overrides: dict[str, str] | None = None) -> None:
        self.tmp = tmp
        self.prefix = f"orchtest-{uuid.uuid4().hex[:8]}:"
        self.redis_url = orchestration_redis_url()
        self.env = {
            **os.environ,
            **FAST_TIMINGS,
            **(overrides or {}),
            "REDIS_URL": self.redis_url,
            "MARKETDATA_REDIS_PREFIX": self.prefix,
            "LOG_DIR": str(tmp / "collector-logs"),
            "SPILL_DIR": str(tmp / "spill"),
            "PYTHONPATH": str(REPO),
            "PYTHONUNBUFFERED": "1",
        }
        self.env.pop("CELERY_BROKER_URL", None)
        self.env.pop("CELERY_RESULT_BACKEND", None)
        self.settings = OrchestrationSettings.from_env(self.env)
        self.registry = Registry(redis_client(self.redis_url), self.settings)
        self.app = create_app(self.settings, main=False)
        self.procs = Processes(tmp, self.env)
        self.simulator_url: str | None = None
        self.simulator_port: int | None = None

    # ---------------------------------------------------------------- processes
    def start_simulator(self, symbols: list[str], *, trade_rate: float = 20.0) -> Proc:
        port = free_port()
        proc = self.procs.start(
            "simulator",
            [PYTHON, "-m", "collectors.exchanges.okx.simulator", "--host", "127.0.0.1", "--port", str(port),
             "--seed", "1", "--symbols", ",".join(symbols), "--trade-rate", str(trade_rate),
             "--idle-timeout", "60"],
        )  # fmt: skip
        wait_until(lambda: "OKX simulator ready" in proc.text(), 20, "the simulator to listen")
        self.simulator_port = port
        self.simulator_url = f"ws://127.0.0.1:{port}"
        return proc

    def simulator_fault(self, name: str, **params: Any) -> dict[str, Any]:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.simulator_port}/simulator/faults/{name}",
            data=json.dumps(params).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.loads(response.read())

    def start_collector_worker(self, name: str, concurrency: int = 2, *, wait: bool = True) -> Proc:
        proc = self.procs.start(
            name,
            [CELERY, "-A", "tasks.app", "worker", "-Q", "collectors", "-c", str(concurrency),
             "-n", f"{name}@%h",
             "--without-mingle", "--without-gossip", "-l", "info"],
        )  # fmt: skip
        if wait:
            self.wait_node(name)
        return proc

    def node_name(self, worker: str) -> str:
        return f"{worker}@{socket.gethostname()}"

    def wait_node(self, worker: str, timeout: float = 30) -> None:
        node = self.node_name(worker)
        wait_until(lambda: node in self.registry.live_nodes(), timeout, f"worker {node} to be live")

    def start_control_worker(self, name: str = "control") -> Proc:
        proc = self.procs.start(
            name,
            [CELERY, "-A", "tasks.app", "worker", "-Q", "control", "-c", "1", "-n", f"{name}@%h",
             "--without-mingle", "--without-gossip", "-l", "info"],
        )  # fmt: skip
        wait_until(lambda: " ready." in proc.text(), 30, f"control worker {name} to be ready")
        return proc

    def start_beat(self, name: str = "beat", *, wait_for_lock: bool = True) -> Proc:
        proc = self.procs.start(name, [CELERY, "-A", "tasks.app", "beat", "-l", "info"])
        if wait_for_lock:
            wait_until(lambda: "beat: Acquired lock" in proc.text(), 30, f"{name} to take the beat lock")
        return proc

    def start_flower(self, user: str, password: str) -> tuple[Proc, int]:
        port = free_port()
        proc = self.procs.start(
            "flower",
            [CELERY, "-A", "tasks.app", "flower", "--address=127.0.0.1", f"--port={port}",
             f"--basic-auth={user}:{password}", "--persistent=True", f"--db={self.tmp / 'flower.db'}",
             "--state_save_interval=5000", "--purge_offline_workers=300"],
        )  # fmt: skip
        wait_until(
            lambda: _http_status(f"http://127.0.0.1:{port}/healthcheck") == 200, 30, "Flower to answer"
        )
        return proc, port

    # ---------------------------------------------------------------- registry helpers
    def spec(self, name: str, symbols: list[str], **extra: Any) -> CollectorSpec:
        raw = {"name": name, "exchange": "okx", "symbols": symbols, "data_types": ["trade"],
               "endpoint": self.simulator_url, **extra}  # fmt: skip
        return CollectorSpec.from_dict(raw)

    def facts(self, name: str) -> Any:
        return self.registry.collector_facts(name)

    def running_on(self, name: str) -> str | None:
        """The node whose run of ``name`` holds the lease and has delivered data, else None."""
        fact = self.facts(name)
        if fact.lease is None or fact.heartbeat is None or not fact.heartbeat.has_data:
            return None
        if fact.heartbeat.snapshot.get("status") != "running":
            return None
        return fact.lease.hostname

    def wait_running(self, names: list[str], timeout: float, *, not_on: str | None = None) -> dict[str, str]:
        """Wait until every collector in ``names`` runs (on a node other than ``not_on``); name -> node."""

        def check() -> dict[str, str] | None:
            where = {name: self.running_on(name) for name in names}
            ok = all(node is not None and node != not_on for node in where.values())
            return where if ok else None  # type: ignore[return-value]

        where_text = f" elsewhere than {not_on}" if not_on else ""
        return wait_until(check, timeout, f"{names} to run{where_text}", interval=0.2)

    def close(self) -> None:
        try:
            self.procs.close()
        finally:
            client: redis.Redis = self.registry.client
            keys = list(client.scan_iter(match=f"{self.prefix}*", count=1000))
            for start in range(0, len(keys), 500):
                client.delete(*keys[start : start + 500])
            client.close()
            self.app.close()


def _http_status(url: str, headers: dict[str, str] | None = None) -> int:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def http_get_json(url: str, headers: dict[str, str] | None = None) -> Any:
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


http_status = _http_status
