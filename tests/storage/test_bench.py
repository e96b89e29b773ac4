"""``python -m storage.bench`` prints the raw COPY rate, the writer rate and the end-to-end figures."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures_services import server_url


@pytest.mark.timeout(180)
def test_the_benchmark_prints_every_figure() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "storage.bench",
            "--end-to-end",
            "--rows",
            "4000",
            "--batch-rows",
            "1000",
            "--rounds",
            "1",
            "--rate",
            "1000",
            "--duration",
            "2",
            "--latency-rate",
            "500",
            "--latency-duration",
            "2",
            "--symbols",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=170,
        cwd=Path(__file__).resolve().parents[2],
        env={**os.environ, "DATABASE_URL": server_url()},
    )

    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert re.search(r"raw binary COPY into a scratch hypertable\s+[\d,]+ rows/s", out), out
    assert re.search(
        r"writer \(TimescaleWriter, idempotent\)\s+[\d,]+ rows/s\s+ratio writer/raw = \d+\.\d\d", out
    ), out
    assert "INSERT ... SELECT FROM unnest(...) ON CONFLICT DO NOTHING" in out
    throughput, latency = out.split("end to end, throughput")[1].split("end to end, latency")
    for section in (throughput, latency):
        assert re.search(r"trades/s\s+emitted\s+[\d,]+\s+received\s+[\d,]+\s+stored\s+[\d,]+", section), (
            section
        )
        assert re.search(r"missing 0, duplicates 0", section), section
    assert re.search(r"latency ms: p50 [\d.]+, p99 [\d.]+, max [\d.]+; within 250 ms: [\d.]+%", latency), (
        latency
    )
    assert "CPU (cores): collector" in throughput
