"""Watch a running cluster: collectors from the registry and the data arriving in TimescaleDB.

    python -m tasks.watch [--every SECONDS] [--count N] [--dsn DSN]

Every ``--every`` seconds prints the registry's collector table (as
``python -m tasks.registry status``) and, per exchange and symbol, the trades stored in the
last minute, the total stored, and the newest trade. Used by ``scripts/run``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import os
import signal
import sys

import asyncpg

from collectors.core.cli import positive_seconds
from tasks.registry.__main__ import main as registry_main

_QUERY = """
SELECT exchange, symbol,
       count(*) FILTER (WHERE time > now() - INTERVAL '1 minute') AS last_minute,
       count(*) AS total,
       last(price, time) AS price, max(time) AS newest
FROM trades
WHERE time > now() - INTERVAL '1 day'
GROUP BY exchange, symbol
ORDER BY exchange, symbol
"""


async def _print_trades(dsn: str) -> None:
    try:
        connection = await asyncpg.connect(dsn, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        print(f"timescaledb: cannot connect ({exc})")
        return
    try:
        rows = await connection.fetch(_QUERY)
    except asyncpg.PostgresError as exc:
        print(f"timescaledb: query failed ({exc})")
        return
    finally:
        await connection.close()
    if not rows:
        print("timescaledb: no trades stored in the last day yet")
        return
    now = dt.datetime.now(dt.UTC)
    print(f"{'EXCHANGE':<9} {'SYMBOL':<10} {'TRADES/1MIN':>11} {'STORED':>9}  NEWEST")
    for row in rows:
        age = (now - row["newest"]).total_seconds()
        print(
            f"{row['exchange']:<9} {row['symbol']:<10} {row['last_minute']:>11,} {row['total']:>9,}  "
            f"{row['price']} ({age:.1f}s ago)"
        )


async def watch(every: float, count: int | None, dsn: str) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    shown = 0
    while not stop.is_set() and (count is None or shown < count):
        print(f"\n=== {dt.datetime.now(dt.UTC):%H:%M:%S} UTC ===")
        registry_main(["status"])
        await _print_trades(dsn)
        sys.stdout.flush()
        shown += 1
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tasks.watch", description=__doc__.splitlines()[0])
    parser.add_argument("--every", type=positive_seconds, default=5.0, help="seconds between reports (default 5)")
    parser.add_argument("--count", type=int, default=None, help="stop after this many reports")
    parser.add_argument(
        "--dsn",
        default=os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/marketdata"),
        help="TimescaleDB to report on (default: DATABASE_URL)",
    )
    args = parser.parse_args(argv)
    asyncio.run(watch(args.every, args.count, args.dsn))
    return 0


if __name__ == "__main__":
    sys.exit(main())
