"""Command line of the standalone OKX simulator (also the ``okx-simulator`` script)."""

from __future__ import annotations

import argparse
import asyncio
import re
import signal
from collections.abc import Callable, Sequence

_SYMBOL = re.compile(r"[A-Z0-9]+(-[A-Z0-9]+)+")


def _number(kind: type[float] | type[int], minimum: float, inclusive: bool = True) -> Callable[[str], float]:
    """argparse type: a number >= minimum (or > minimum); argparse names the flag in the error."""

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if value < minimum or (not inclusive and value == minimum):
            relation = ">=" if inclusive else ">"
            raise argparse.ArgumentTypeError(f"must be {relation} {minimum}, got {text}")
        return value

    return parse


def _port(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"must be a TCP port 0-65535, got {text!r}")
    return int(text)


def _symbols(text: str) -> tuple[str, ...]:
    symbols = tuple(part.strip() for part in text.split(",") if part.strip())
    bad = [symbol for symbol in symbols if not _SYMBOL.fullmatch(symbol)]
    if not symbols or bad:
        raise argparse.ArgumentTypeError(f"expected comma-separated OKX instIds like BTC-USDT, got {text!r}")
    if len(set(symbols)) != len(symbols):
        raise argparse.ArgumentTypeError(f"duplicate symbols in {text!r}")
    return symbols


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m collectors.exchanges.okx.simulator",
        description="OKX v5 market-data simulator (WebSocket public/business + REST) on one port.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=_port, default=8443, help="TCP port, 0 picks a free one (8443)")
    parser.add_argument("--seed", type=int, default=1, help="market seed (default 1)")
    parser.add_argument("--symbols", type=_symbols, default=("BTC-USDT", "ETH-USDT", "SOL-USDT"),
                        help="comma-separated instIds (default BTC-USDT,ETH-USDT,SOL-USDT)")  # fmt: skip
    parser.add_argument("--trade-rate", type=_number(float, 0), default=20.0,
                        help="mean trades per second per symbol (default 20)")  # fmt: skip
    parser.add_argument("--book-interval", type=_number(float, 0, False), default=0.1, help="seconds (0.1)")
    parser.add_argument("--ticker-interval", type=_number(float, 0, False), default=0.1, help="seconds (0.1)")
    parser.add_argument("--idle-timeout", type=_number(float, 0, False), default=30.0, help="seconds (30)")
    parser.add_argument("--no-initial-snapshot", action="store_true",
                        help="books: send no snapshot on subscribe; clients seed from REST")  # fmt: skip
    parser.add_argument("--legacy-checksum", action="store_true", help="books: send the retired CRC32")
    parser.add_argument("--drop-every", type=_number(float, 0, False), default=None,
                        help="abort all connections every N seconds")  # fmt: skip
    return parser


async def _serve(args: argparse.Namespace) -> None:
    from collectors.exchanges.okx.simulator.server import OKXSimulator

    simulator = OKXSimulator(
        args.host,
        args.port,
        seed=args.seed,
        symbols=args.symbols,
        trade_rate=args.trade_rate,
        book_interval=args.book_interval,
        ticker_interval=args.ticker_interval,
        idle_timeout=args.idle_timeout,
        initial_snapshot=not args.no_initial_snapshot,
        legacy_checksum=args.legacy_checksum,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with simulator:
        if args.drop_every is not None:
            simulator.drop_every(args.drop_every)
        print(
            f"OKX simulator ready: public={simulator.public_url} business={simulator.business_url} "
            f"rest={simulator.rest_url}",
            flush=True,
        )
        await stop.wait()


def main(argv: Sequence[str] | None = None) -> None:
    """Parse arguments, serve until SIGINT/SIGTERM, exit cleanly."""
    args = build_parser().parse_args(argv)
    asyncio.run(_serve(args))
