"""Fixtures for orchestration tests: isolated deployments (own key prefix) against the real Redis."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.orchestration.harness import Cluster


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    """An empty deployment: a fresh key prefix; processes started through it die with the test."""
    deployment = Cluster(tmp_path)
    try:
        yield deployment
    finally:
        deployment.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[pytest.TestReport]:
    """Keep each phase's report on the item (``item.rep_call``) for fixtures that print logs on failure."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
