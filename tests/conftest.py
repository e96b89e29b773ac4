"""Suite-wide settings: logs go to a temporary folder, never ./logs of the checkout."""

from __future__ import annotations

import os
import tempfile

import pytest

_LOG_DIR = tempfile.mkdtemp(prefix="marketdata-test-logs-")


def pytest_configure(config: pytest.Config) -> None:
    os.environ["LOG_DIR"] = _LOG_DIR
    # Defaults that keep reconnect tests fast; individual tests override what they check.
    os.environ.setdefault("RECONNECT_DELAY", "0.05")
    os.environ.setdefault("RECONNECT_MAX_DELAY", "0.5")
