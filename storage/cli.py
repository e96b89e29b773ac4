"""``python -m storage``: migrate, retention and candles from the command line.

    python -m storage migrate [--dsn DSN]
    python -m storage retention [--older-than 30d] [--table trades ...] [--dsn DSN]
    python -m storage candles --exchange okx --symbol BTC-USDT --interval 1m \\
        --start 2026-12-01T00:00:00Z --end 2026-12-01T01:00:00Z [--format table|csv] [--dsn DSN]

``--dsn`` defaults to ``DATABASE_URL``, else the local ``marketdata`` database. Bad input
exits with status 2 and an argparse message naming the flag.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import datetime as dt
import re
import sys
from collections.abc import Sequence
from typing import TextIO

from storage.analytics import OHLCV, candles
from storage.db import default_dsn, mask_dsn
from storage.migrate import migrate
from storage.retention import apply_retention
from storage.schema import TABLES

_DURATION = re.compile(r"^(\d+)(s|m|h|d|w)$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str) -> dt.timedelta:
    """``90s``, ``1m``, ``15m``, ``4h``, ``30d``, ``1w`` -> timedelta (argparse type)."""
    match = _DURATION.match(text.strip())
    if match is None or int(match.group(1)) == 0:
        raise argparse.ArgumentTypeError(
            f"expected a positive duration like 30s, 1m, 4h, 30d or 1w, got {text!r}"
        )
    return dt.timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def parse_time(text: str) -> dt.datetime:
    """ISO 8601 with a timezone (``2026-12-01T00:00:00Z``) -> aware UTC datetime (argparse type)."""
    try:
        value = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an ISO 8601 time like 2026-12-01T00:00:00Z, got {text!r}"
        ) from None
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"time {text!r} needs a timezone, e.g. 2026-12-01T00:00:00Z")
    return value.astimezone(dt.UTC)


def _table(text: str) -> str:
    if text not in TABLES:
        raise argparse.ArgumentTypeError(f"unknown table {text!r}; allowed values: {', '.join(TABLES)}")
    return text


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m storage", description="TimescaleDB storage of market data."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="{migrate,retention,candles}")

    def add_dsn(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--dsn", default=None, help="PostgreSQL URL (default: DATABASE_URL or local marketdata)"
        )

    migrate_cmd = commands.add_parser("migrate", help="apply pending migrations and the edition's features")
    add_dsn(migrate_cmd)

    retention_cmd = commands.add_parser("retention", help="drop chunks older than a period (drop_chunks)")
    retention_cmd.add_argument(
        "--older-than",
        type=parse_duration,
        default=None,
        help="e.g. 30d; default: each table's own retention (docs/storage.md)",
    )
    retention_cmd.add_argument(
        "--table",
        type=_table,
        action="append",
        dest="tables",
        default=None,
        help=f"repeatable; one of {', '.join(TABLES)} (default: tables with a retention)",
    )
    add_dsn(retention_cmd)

    candles_cmd = commands.add_parser("candles", help="print OHLCV candles built from stored trades")
    candles_cmd.add_argument("--exchange", required=True, help="e.g. okx")
    candles_cmd.add_argument("--symbol", required=True, help="e.g. BTC-USDT")
    candles_cmd.add_argument(
        "--interval", type=parse_duration, required=True, help="bar length: 1s, 1m, 15m, 1h, 1d"
    )
    candles_cmd.add_argument(
        "--start", type=parse_time, required=True, help="inclusive, e.g. 2026-12-01T00:00:00Z"
    )
    candles_cmd.add_argument("--end", type=parse_time, required=True, help="exclusive")
    candles_cmd.add_argument("--format", choices=("table", "csv"), default="table")
    add_dsn(candles_cmd)
    return parser


_CANDLE_COLUMNS = ("bucket", "open", "high", "low", "close", "volume", "trades", "vwap")


def _cells(bar: OHLCV) -> list[str]:
    vwap = "" if bar.vwap is None else f"{bar.vwap:.8f}".rstrip("0").rstrip(".")
    return [
        bar.bucket.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        str(bar.open),
        str(bar.high),
        str(bar.low),
        str(bar.close),
        str(bar.volume),
        str(bar.trades),
        vwap,
    ]


def write_candles(bars: Sequence[OHLCV], out: TextIO, fmt: str) -> None:
    """Candles as an aligned text table or as CSV with a header row."""
    rows = [_cells(bar) for bar in bars]
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(_CANDLE_COLUMNS)
        writer.writerows(rows)
        return
    widths = [max(len(header), *(len(row[i]) for row in rows)) for i, header in enumerate(_CANDLE_COLUMNS)]
    out.write("  ".join(h.ljust(w) for h, w in zip(_CANDLE_COLUMNS, widths, strict=True)).rstrip() + "\n")
    for row in rows:
        first, *rest = row
        cells = [first.ljust(widths[0])] + [cell.rjust(w) for cell, w in zip(rest, widths[1:], strict=True)]
        out.write("  ".join(cells) + "\n")
    out.write(f"({len(rows)} candles)\n")


async def _run(args: argparse.Namespace, out: TextIO) -> int:
    dsn = args.dsn or default_dsn()
    if args.command == "migrate":
        report = await migrate(dsn)
        out.write(f"database: {mask_dsn(dsn)}\n")
        out.write(f"applied now: {report.applied or 'nothing'}; already applied: {report.already_applied}\n")
        out.write(f"schema version: {report.schema_version}\n")
        if report.edition is not None:
            out.write(f"timescaledb {report.edition.version}, license {report.edition.license}\n")
        for line in report.edition_features:
            out.write(f"  {line}\n")
        return 0
    if args.command == "retention":
        dropped = await apply_retention(dsn, args.older_than, tables=args.tables)
        for table, chunks in dropped.items():
            out.write(
                f"{table}: dropped {len(chunks)} chunk(s){': ' + ', '.join(chunks) if chunks else ''}\n"
            )
        return 0
    bars = await candles(dsn, args.exchange, args.symbol, args.interval, args.start, args.end)
    write_candles(bars, out, args.format)
    return 0


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "candles" and args.end <= args.start:
        parser.error("argument --end: must be after --start")
    return asyncio.run(_run(args, out or sys.stdout))
