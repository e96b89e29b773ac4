"""Parse benchmark: ``python -m collectors.bench okx [--trades N] [--book-updates N]``.

Measures on one core how many WebSocket frames per second the pure layers handle:

* trades: ``parse_frame`` (JSON decode + normalization into ``Trade`` records);
* book updates: ``parse_frame`` + ``LocalBooks.apply`` on a 400-level book, with a valid
  ``seqId``/``prevSeqId`` chain and a few levels changed per update.

The frames are synthesized in the shape of current OKX pushes (protocol doc §1.7, §1.9);
generation is not timed. Peak RSS includes the pre-built frames.
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import time
from collections.abc import Callable, Sequence

import msgspec

from collectors.core.orderbook import BookEvent, LocalBooks

_TICK_DIVISOR = 10  # prices on a 0.1 grid
_START_NS = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z


def _price_text(ticks: int) -> str:
    whole, tenth = divmod(ticks, _TICK_DIVISOR)
    return str(whole) if tenth == 0 else f"{whole}.{tenth}"


def _size_text(rng: random.Random) -> str:
    return f"{rng.randint(1, 300_000_000) / 1e8:.8f}".rstrip("0").rstrip(".")


def okx_trade_frames(count: int, rng: random.Random, inst_id: str = "BTC-USDT") -> list[bytes]:
    """``trades`` pushes with ``count``/``source``/``seqId`` as OKX sends them today."""
    frames = []
    trade_id, seq_id, ts, ticks = 730_000_000, 40_000_000, 1_767_225_600_000, 420_000
    for _ in range(count):
        fills = rng.choice((1, 1, 1, 2, 3))
        trade_id += fills
        seq_id += rng.randint(1, 5)
        ts += rng.randint(0, 40)
        ticks += rng.randint(-3, 3)
        item = {
            "instId": inst_id,
            "tradeId": str(trade_id),
            "px": _price_text(ticks),
            "sz": _size_text(rng),
            "side": rng.choice(("buy", "sell")),
            "ts": str(ts),
            "count": str(fills),
            "source": "0",
            "seqId": seq_id,
        }
        frames.append(msgspec.json.encode({"arg": {"channel": "trades", "instId": inst_id}, "data": [item]}))
    return frames


def okx_book_frames(
    count: int, rng: random.Random, levels: int = 400, max_changes: int = 6, inst_id: str = "BTC-USDT"
) -> tuple[bytes, list[bytes]]:
    """A ``books`` snapshot of about ``levels`` per side and ``count`` chained updates.

    Each update changes 1 to ``max_changes`` levels, mostly near the top of the book. A
    change hits a random price: an empty price becomes a new level, an occupied one is
    deleted (60 %) or resized (40 %). The book then settles at about 5/8 occupancy, giving
    roughly 3/8 inserts, 3/8 deletes and 1/4 resizes — the mix measured on the 2022 OKX
    capture (2286 inserts, 2283 deletes, 1566 resizes).
    """
    mid = 420_000
    span = levels * 8 // 5  # price range per side; 5/8 occupied at equilibrium
    bids = {mid - 1 - i: _size_text(rng) for i in rng.sample(range(span), levels)}
    asks = {mid + i: _size_text(rng) for i in rng.sample(range(span), levels)}
    seq_id, ts = 3_235_851_742, 1_767_225_600_000

    def level(ticks: int, size: str) -> list[str]:
        return [_price_text(ticks), size, "0", str(rng.randint(1, 20))]

    def frame(action: str, bid_levels: list, ask_levels: list, previous: int) -> bytes:
        data = {"asks": ask_levels, "bids": bid_levels, "ts": str(ts), "checksum": 0, "seqId": seq_id}
        data["prevSeqId"] = previous
        arg = {"channel": "books", "instId": inst_id}
        return msgspec.json.encode({"arg": arg, "action": action, "data": [data]})

    snapshot = frame(
        "snapshot",
        [level(t, s) for t, s in sorted(bids.items(), reverse=True)],
        [level(t, s) for t, s in sorted(asks.items())],
        -1,
    )
    updates = []
    for _ in range(count):
        changes: dict[str, dict[int, list[str]]] = {"bid": {}, "ask": {}}
        for _change in range(rng.randint(1, max_changes)):
            side_name = rng.choice(("bid", "ask"))
            side = bids if side_name == "bid" else asks
            distance = min(int(rng.expovariate(1 / 120)), span - 1)  # most activity near the top
            ticks = mid - 1 - distance if side_name == "bid" else mid + distance
            if ticks in side and rng.random() < 0.6:
                del side[ticks]
                changes[side_name][ticks] = level(ticks, "0")
            else:
                side[ticks] = _size_text(rng)
                changes[side_name][ticks] = level(ticks, side[ticks])
        previous = seq_id
        seq_id += rng.randint(1, 12)
        ts += rng.randint(1, 100)
        bid_levels = [changes["bid"][t] for t in sorted(changes["bid"], reverse=True)]
        ask_levels = [changes["ask"][t] for t in sorted(changes["ask"])]
        updates.append(frame("update", bid_levels, ask_levels, previous))
    return snapshot, updates


def _rate(count: int, seconds: float) -> str:
    return f"{count / seconds:,.0f} msg/s"


def bench_okx(
    trades: int, book_updates: int, levels: int, max_changes: int, seed: int, out: Callable[[str], None]
) -> bool:
    """Run the OKX benchmark; print one line per measurement; True when every update applied."""
    from collectors.exchanges.okx.parse import DataBatch, okx_checksum, parse_frame

    rng = random.Random(seed)
    # The websockets library hands text frames over as str: measure that input type.
    trade_frames = [frame.decode() for frame in okx_trade_frames(trades, rng)]
    snapshot, update_frames = okx_book_frames(book_updates, rng, levels, max_changes)
    snapshot, update_frames = snapshot.decode(), [frame.decode() for frame in update_frames]

    for frame in trade_frames[:1000]:  # warm-up
        parse_frame(frame, _START_NS)
    started = time.perf_counter()
    receive_ns = _START_NS
    for frame in trade_frames:
        receive_ns += 1000
        parse_frame(frame, receive_ns)
    elapsed = time.perf_counter() - started
    out(f"okx trades: {_rate(trades, elapsed)} (parse+normalize), {trades:,} frames in {elapsed:.2f} s")

    books = LocalBooks(checksum=okx_checksum)
    first = parse_frame(snapshot, _START_NS)
    assert isinstance(first, DataBatch)
    books.apply(first.records[0])
    applied = 0
    started = time.perf_counter()
    for frame in update_frames:
        receive_ns += 1000
        batch = parse_frame(frame, receive_ns)
        for record in batch.records:  # type: ignore[union-attr]
            if books.apply(record) is BookEvent.APPLIED:
                applied += 1
    elapsed = time.perf_counter() - started
    out(
        f"okx book updates: {_rate(book_updates, elapsed)} (parse+normalize+book update), "
        f"{book_updates:,} frames in {elapsed:.2f} s, {applied:,} applied, {levels} levels per side, "
        f"1-{max_changes} levels changed per update"
    )
    return applied == book_updates


_BENCHMARKS = {"okx": bench_okx}


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the process exit status."""
    parser = argparse.ArgumentParser(prog="python -m collectors.bench", description=__doc__.splitlines()[0])
    parser.add_argument("exchange", choices=sorted(_BENCHMARKS), help="exchange whose parsers to measure")
    parser.add_argument("--trades", type=int, default=300_000, help="trade frames to parse (default 300000)")
    parser.add_argument(
        "--book-updates", type=int, default=100_000, help="book update frames to apply (default 100000)"
    )
    parser.add_argument("--levels", type=int, default=400, help="book levels per side (default 400)")
    parser.add_argument(
        "--max-changes", type=int, default=6, help="most levels changed by one book update (default 6)"
    )
    parser.add_argument("--seed", type=int, default=1, help="random seed for the synthetic frames")
    args = parser.parse_args(argv)
    if min(args.trades, args.book_updates, args.levels, args.max_changes) < 1:
        parser.error("--trades, --book-updates, --levels and --max-changes must be positive")
    ok = _BENCHMARKS[args.exchange](
        args.trades, args.book_updates, args.levels, args.max_changes, args.seed, print
    )
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(f"peak RSS: {peak_kib / 1024:,.0f} MiB")
    if not ok:
        print("error: not every book update chained; the benchmark data is inconsistent", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
