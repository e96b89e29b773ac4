"""Offline demo: the OKX collector against the bundled OKX simulator, in one process.

    python -m collectors.demo [--duration SECONDS] [--symbols BTC-USDT,ETH-USDT] [--drop-every SECONDS]

Prints normalized records as they arrive (a sample per type, so the terminal stays
readable) and a status line every few seconds. With ``--endpoint live`` it talks to
OKX itself instead of starting the simulator.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import time
from collections import Counter
from typing import Any

from collectors import CollectorManager, DataType, ExchangeCollectorConfig, ExchangeFactory, MarketDataPoint
from collectors.core.cli import positive_seconds
from collectors.core.records import BookSnapshot, BookUpdate, Candle, Ticker, Trade


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m collectors.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", default="BTC-USDT,ETH-USDT", help="comma-separated OKX instrument ids")
    parser.add_argument("--duration", type=positive_seconds, default=None, help="stop after this many seconds")
    parser.add_argument("--status-every", type=positive_seconds, default=5.0, help="seconds between status lines")
    parser.add_argument("--endpoint", default="simulator", help="'simulator' (default), 'live', or ws://host:port")
    parser.add_argument("--drop-every", type=positive_seconds, default=None, help="simulator drops connections this often")
    parser.add_argument("--trade-rate", type=positive_seconds, default=5.0, help="simulated trades per second per symbol")
    return parser.parse_args(argv)


def describe(point: MarketDataPoint) -> str:
    record: Any = point.record
    t = point.timestamp.strftime("%H:%M:%S.%f")[:-3]
    if isinstance(record, Trade):
        return f"{t} trade   {record.symbol:<10} {record.side:<4} {record.size} @ {record.price} id={record.trade_id}"
    if isinstance(record, Ticker):
        return f"{t} ticker  {record.symbol:<10} last={record.last_price} bid={record.best_bid} ask={record.best_ask}"
    if isinstance(record, BookSnapshot):
        bid = f"{record.bids[0][1]} @ {record.bids[0][0]}" if record.bids else "-"
        ask = f"{record.asks[0][1]} @ {record.asks[0][0]}" if record.asks else "-"
        return (
            f"{t} book    {record.symbol:<10} bid {bid} | ask {ask} "
            f"({len(record.bids)}x{len(record.asks)} levels, seq={record.sequence})"
        )
    if isinstance(record, Candle):
        state = "closed" if record.closed else "forming"
        return (
            f"{t} candle  {record.symbol:<10} {record.timeframe} o={record.open} h={record.high} "
            f"l={record.low} c={record.close} v={record.volume} ({state})"
        )
    return f"{t} {point.data_type.value} {point.symbol} {point.data}"


async def run(args: argparse.Namespace) -> int:
    symbols = [s.strip() for s in args.symbols.split(",") if s.strip()]
    simulator = None
    endpoint = args.endpoint
    if endpoint == "simulator":
        from collectors.exchanges.okx.simulator import OKXSimulator

        simulator = OKXSimulator(port=0, seed=1, symbols=tuple(symbols), trade_rate=args.trade_rate)
        await simulator.start()
        endpoint = f"ws://127.0.0.1:{simulator.port}"
        print(f"OKX simulator listening on {simulator.public_url} (REST {simulator.rest_url})", flush=True)
        if args.drop_every:
            simulator.drop_every(args.drop_every)

    config = ExchangeCollectorConfig(
        exchange="okx",
        symbols=symbols,
        data_types=[DataType.TRADE, DataType.TICKER, DataType.ORDERBOOK, DataType.CANDLE],
        candle_timeframes=["1m"],
        endpoint=endpoint,
        reconnect_delay=0.5,
    )
    collector = ExchangeFactory.create_collector(config)
    manager = CollectorManager("demo_manager", global_health_check_interval=5.0, restart_delay=1.0)
    manager.add_collector(collector)

    counts: Counter[str] = Counter()
    last_printed: dict[tuple[str, str], float] = {}

    def show(point: MarketDataPoint) -> None:
        if isinstance(point.record, BookUpdate):
            counts["book updates"] += 1
            return
        counts[point.data_type.value] += 1
        key = (point.data_type.value, point.symbol)
        now = time.monotonic()
        if now - last_printed.get(key, 0.0) >= 1.0:  # one line per type and symbol per second
            last_printed[key] = now
            print(describe(point), flush=True)

    for data_type in DataType:
        collector.add_data_callback(data_type, show)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)

    started = await manager.start()
    if not started:
        print(f"collector failed to start: {collector.get_status()['statistics']['last_error']}", file=sys.stderr)
    deadline = None if args.duration is None else time.monotonic() + args.duration
    try:
        while not stop.is_set():
            timeout = args.status_every if deadline is None else min(args.status_every, deadline - time.monotonic())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=max(timeout, 0.0))
            status = collector.get_status()
            stats = status["statistics"]
            print(
                f"-- status: {status['status']} messages={stats['messages_received']} errors={stats['errors']} "
                f"restarts={stats['restarts']} received={dict(counts)} failed_symbols={status['failed_symbols']}",
                flush=True,
            )
            if deadline is not None and time.monotonic() >= deadline:
                break
    finally:
        await manager.stop()
        if simulator is not None:
            await simulator.stop()
    return 0 if started else 1


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(run(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
