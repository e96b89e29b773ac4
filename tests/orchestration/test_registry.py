"""The registry without workers: configuration files, CLI, leases and fencing, key names, status shape."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from collectors import CollectorManager
from tasks.config_file import ConfigError, load_file
from tasks.keys import Keys
from tasks.lease import LeaseValue
from tasks.registry import derive_state
from tasks.registry.status import system_status
from tasks.settings import OrchestrationSettings
from tests.orchestration.harness import PYTHON, REPO, Cluster, wait_until

GOOD_YAML = """
collectors:
  - name: okx-btc
    exchange: okx
    symbols: [BTC-USDT]
    data_types: [trade]
    sinks: []
    endpoint: ws://127.0.0.1:18443
  - name: okx-eth
    exchange: okx
    symbols: [ETH-USDT]
    enabled: false
    silence_timeout: 15
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_config_file_yaml_and_json(tmp_path: Path) -> None:
    specs = load_file(write(tmp_path, "c.yaml", GOOD_YAML))
    assert [s.name for s in specs] == ["okx-btc", "okx-eth"]
    assert specs[0].symbols == ("BTC-USDT",) and specs[0].endpoint == "ws://127.0.0.1:18443"
    assert (
        specs[1].enabled is False and specs[1].silence_timeout == 15.0 and specs[1].data_types == ("trade",)
    )
    doc = {"collectors": [s.to_dict() for s in specs]}
    again = load_file(write(tmp_path, "c.json", json.dumps(doc)))
    assert again == specs


BTC = ["BTC-USDT"]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"name": "a", "exchange": "okx", "symbols": BTC, "symbolz": []},
         "collectors[0]: unknown field(s) symbolz"),
        ({"name": "a", "exchange": "okx", "symbols": ["btc usdt"]},
         "collectors[0] (a): symbols: malformed symbol"),
        ({"name": "a", "exchange": "okx", "symbols": BTC, "data_types": ["trades"]},
         "collectors[0] (a): data_types: unknown data type 'trades'"),
        ({"name": "a", "exchange": "kraken", "symbols": BTC},
         "collectors[0] (a): exchange: 'kraken' is not supported"),
        ({"name": "Bad Name", "exchange": "okx", "symbols": BTC},
         "collectors[0]: name: 'Bad Name' is not a valid"),
        ({"name": "a", "exchange": "okx", "symbols": BTC, "enabled": "yes"},
         "collectors[0] (a): enabled: must be true or false"),
        ({"name": "a", "exchange": "okx", "symbols": BTC, "sinks": [{"table": "x"}]},
         "collectors[0] (a): sinks[0]: missing or empty field 'type'"),
        ({"name": "a", "exchange": "okx", "symbols": BTC, "options": {"reconect_delay": 1}},
         "collectors[0] (a): options: unknown field(s) reconect_delay"),
        ({"name": "a", "exchange": "okx", "symbols": BTC, "silence_timeout": 0},
         "collectors[0] (a): silence_timeout: must be a number > 0"),
        ({"exchange": "okx", "symbols": BTC}, "collectors[0]: missing required field 'name'"),
    ],
)  # fmt: skip
def test_config_errors_name_the_field(tmp_path: Path, entry: dict, message: str) -> None:
    path = write(tmp_path, "bad.json", json.dumps({"collectors": [entry]}))
    with pytest.raises(ConfigError) as excinfo:
        load_file(path)
    assert message in str(excinfo.value)


def test_config_file_level_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown top-level field"):
        load_file(write(tmp_path, "a.yaml", "collectors: []\nworkers: 3\n"))
    with pytest.raises(ConfigError, match=r"collectors\[1\]: name: duplicate name 'x'"):
        load_file(write(tmp_path, "b.yaml", "collectors:\n - {name: x, exchange: okx, symbols: [A-B]}\n"
                                            " - {name: x, exchange: okx, symbols: [C-D]}\n"))  # fmt: skip
    with pytest.raises(ConfigError, match="invalid YAML at line 3"):
        load_file(write(tmp_path, "c.yaml", "collectors:\n  - [unclosed\n"))
    with pytest.raises(ConfigError, match="unknown file type"):
        load_file(write(tmp_path, "d.toml", ""))


def test_settings_validation() -> None:
    with pytest.raises(Exception, match="LEASE_TTL"):
        OrchestrationSettings.from_env({"LEASE_TTL": "1", "COLLECTOR_TICK": "1"})
    with pytest.raises(Exception, match="HEALTH_CHECK_INTERVAL must be a number"):
        OrchestrationSettings.from_env({"HEALTH_CHECK_INTERVAL": "soon"})
    assert OrchestrationSettings.from_env({}).health_check_interval == 10.0


def test_lease_fencing(cluster: Cluster) -> None:
    lease = cluster.registry.lease("okx-btc")
    first = lease.acquire("w1|1|task-a", ttl=0.3)
    assert first is not None and first.token == 1
    assert lease.acquire("w2|2|task-b", ttl=5) is None, "a held lease is not taken twice"
    assert lease.renew(first, ttl=0.3)
    wait_until(lambda: lease.holder() is None, 3, "the lease to expire")
    second = lease.acquire("w2|2|task-b", ttl=5)
    assert second is not None and second.token == 2, "tokens only grow"
    assert not lease.renew(first, ttl=5), "a stale holder cannot renew"
    assert not lease.release(first), "a stale holder cannot release the new holder's lease"
    assert LeaseValue.parse(lease.holder()) == LeaseValue(2, "w2", 2, "task-b")
    assert lease.release(second) and lease.holder() is None


def test_cli_add_list_disable_enable_remove_load(cluster: Cluster, tmp_path: Path) -> None:
    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([PYTHON, "-m", "tasks.registry", *args], cwd=REPO, env=cluster.env,
                              capture_output=True, text=True, timeout=60)  # fmt: skip

    added = cli("add", "okx-sol", "--exchange", "okx", "--symbols", "SOL-USDT", "--sink", "redis_pubsub")
    assert added.returncode == 0, added.stderr
    again = cli("add", "okx-sol", "--exchange", "okx", "--symbols", "SOL-USDT")
    assert again.returncode == 2 and "already exists" in again.stderr
    bad = cli("add", "okx-bad", "--exchange", "okx", "--symbols", "sol")
    assert bad.returncode == 2 and "symbols: 'sol' is not a valid okx symbol" in bad.stderr
    assert cli("disable", "okx-sol").returncode == 0
    assert cluster.registry.get_spec("okx-sol").enabled is False  # type: ignore[union-attr]
    listed = json.loads(cli("list", "--json").stdout)
    assert listed["okx-sol"]["state"] == "disabled"
    assert cli("enable", "okx-sol").returncode == 0
    assert cli("enable", "nope").returncode == 1
    loaded = cli("load", str(write(tmp_path, "c.yaml", GOOD_YAML)))
    assert loaded.returncode == 0, loaded.stderr
    assert "added: okx-btc, okx-eth" in loaded.stdout and "removed: okx-sol" in loaded.stdout
    assert sorted(cluster.registry.specs()) == ["okx-btc", "okx-eth"]
    bad_file = cli("load", str(write(tmp_path, "bad.yaml", "collectors:\n - {name: x, exchange: okx}\n")))
    assert bad_file.returncode == 2 and "collectors[0]: missing required field 'symbols'" in bad_file.stderr
    assert sorted(cluster.registry.specs()) == ["okx-btc", "okx-eth"], "a bad file changes nothing"
    status = json.loads(cli("status", "--json").stdout)
    assert status["statistics"]["total_collectors"] == 2 and status["statistics"]["enabled_collectors"] == 1
    assert cli("remove", "okx-btc").returncode == 0
    assert sorted(cluster.registry.specs()) == ["okx-eth"]


def test_status_aggregate_has_the_collector_manager_keys(cluster: Cluster) -> None:
    cluster.registry.put(cluster.spec("okx-btc", ["BTC-USDT"]))
    status = system_status(cluster.registry)
    reference = CollectorManager().get_status()
    assert set(status) == set(reference)
    assert set(status["statistics"]) == set(reference["statistics"])
    assert set(status["system"]) == set(reference["system"])
    assert status["collectors"]["okx-btc"]["orchestration"]["state"] == "stopped"
    assert status["running"] is False and status["running_collectors"] == []


def test_stop_request_names_the_running_token(cluster: Cluster) -> None:
    registry = cluster.registry
    registry.put(cluster.spec("okx-btc", ["BTC-USDT"]))
    assert registry.request_stop("okx-btc", reason="test") is None, "nothing to stop without a lease"
    holding = registry.lease("okx-btc").acquire("w|1|t", ttl=5)
    assert holding is not None
    assert registry.request_stop("okx-btc", reason="disabled") == holding.token
    facts = registry.collector_facts("okx-btc")
    assert facts.stop_flag == f"{holding.token}|disabled"
    assert derive_state(facts, registry.server_time_ms(), 30) == "stopping"


def test_every_key_is_named_by_the_keys_module() -> None:
    keys = Keys("p:")
    names = {keys.desired, keys.failed, keys.index, keys.nodes, keys.stats, keys.health_check_lease,
             keys.health_check_fence, keys.node("w@h"), keys.node_stop("w@h"), keys.fence("c"),
             *keys.per_collector("c")}  # fmt: skip
    assert all(name.startswith("p:") for name in names)
    assert len(names) == 17
