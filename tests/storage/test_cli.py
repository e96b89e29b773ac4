"""``python -m storage``: migrate, retention and candles, and clear errors for bad input."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from storage import analytics
from storage.cli import main
from storage.writer import TimescaleWriter, WriterConfig
from tests.storage.factories import MS, T0_NS, make_trades

T0 = dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
CANDLE_ARGS = [
    "candles",
    "--exchange",
    "testex",
    "--symbol",
    "BTC-USDT",
    "--interval",
    "1m",
    "--start",
    "2027-01-01T00:00:00Z",
    "--end",
    "2027-01-01T00:05:00Z",
]


async def _run_cli(argv: list[str]) -> str:
    out = io.StringIO()
    assert await asyncio.to_thread(main, argv, out) == 0  # main() runs its own event loop
    return out.getvalue()


@pytest.fixture
async def five_minutes_of_trades(db: asyncpg.Connection, storage_dsn: str, spill_dir: Path) -> None:
    writer = TimescaleWriter(WriterConfig(dsn=storage_dsn, spill_dir=str(spill_dir), migrate=False))
    await writer.start()
    for trade in make_trades(600, step_ns=500 * MS, start_ns=T0_NS):
        await writer.put(trade)
    await writer.stop()


async def test_candles_as_a_table_and_as_csv(five_minutes_of_trades: None, storage_dsn: str) -> None:
    bars = await analytics.candles(
        storage_dsn, "testex", "BTC-USDT", dt.timedelta(minutes=1), T0, T0 + dt.timedelta(minutes=5)
    )

    table = await _run_cli([*CANDLE_ARGS, "--dsn", storage_dsn])
    csv_text = await _run_cli([*CANDLE_ARGS, "--format", "csv", "--dsn", storage_dsn])

    lines = table.splitlines()
    assert lines[0].split() == ["bucket", "open", "high", "low", "close", "volume", "trades", "vwap"]
    assert lines[-1] == "(5 candles)"
    assert lines[1].split()[:7] == [
        "2027-01-01T00:00:00Z",
        str(bars[0].open),
        str(bars[0].high),
        str(bars[0].low),
        str(bars[0].close),
        str(bars[0].volume),
        "120",
    ]
    rows = csv_text.splitlines()
    assert rows[0] == "bucket,open,high,low,close,volume,trades,vwap"
    assert len(rows) == 6
    assert rows[5].split(",")[:7] == [
        "2027-01-01T00:04:00Z",
        str(bars[4].open),
        str(bars[4].high),
        str(bars[4].low),
        str(bars[4].close),
        str(bars[4].volume),
        "120",
    ]


async def test_migrate_and_retention_commands(db: asyncpg.Connection, storage_dsn: str) -> None:
    migrated = await _run_cli(["migrate", "--dsn", storage_dsn])
    retention = await _run_cli(
        ["retention", "--older-than", "30d", "--table", "trades", "--dsn", storage_dsn]
    )

    assert "applied now: nothing; already applied: [1]" in migrated
    assert "schema version: 1" in migrated
    assert "license apache" in migrated or "license timescale" in migrated
    assert retention == "trades: dropped 0 chunk(s)\n"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            [
                "candles",
                "--exchange",
                "okx",
                "--symbol",
                "BTC-USDT",
                "--interval",
                "1x",
                "--start",
                "2027-01-01T00:00:00Z",
                "--end",
                "2027-01-02T00:00:00Z",
            ],
            "argument --interval: expected a positive duration",
        ),
        (
            [
                "candles",
                "--exchange",
                "okx",
                "--symbol",
                "BTC-USDT",
                "--interval",
                "1m",
                "--start",
                "2027-01-01T00:00:00",
                "--end",
                "2027-01-02T00:00:00Z",
            ],
            "argument --start: time '2027-01-01T00:00:00' needs a timezone",
        ),
        (
            [
                "candles",
                "--exchange",
                "okx",
                "--symbol",
                "BTC-USDT",
                "--interval",
                "1m",
                "--start",
                "2027-01-02T00:00:00Z",
                "--end",
                "2027-01-01T00:00:00Z",
            ],
            "argument --end: must be after --start",
        ),
        (
            [
                "candles",
                "--exchange",
                "okx",
                "--interval",
                "1m",
                "--start",
                "2027-01-01T00:00:00Z",
                "--end",
                "2027-01-02T00:00:00Z",
            ],
            "the following arguments are required: --symbol",
        ),
        (["candles", *CANDLE_ARGS[1:], "--format", "xml"], "argument --format: invalid choice: 'xml'"),
        (["retention", "--older-than", "soon"], "argument --older-than: expected a positive duration"),
        (
            ["retention", "--table", "trade"],
            "argument --table: unknown table 'trade'; allowed values: trades",
        ),
        (["vacuum"], "invalid choice: 'vacuum'"),
    ],
)
def test_bad_input_is_an_argparse_error(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)

    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_the_module_runs_as_a_command() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "storage", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
    )

    assert result.returncode == 0
    assert "{migrate,retention,candles}" in result.stdout
