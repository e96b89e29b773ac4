"""The disk spill: exact round trip, recovery after a restart, torn tails, limits, locking."""

from __future__ import annotations

from pathlib import Path

import pytest

from storage.errors import SpillFull, SpillLocked
from storage.rows import to_row
from storage.spill import MAGIC, DeadLetterFile, SpillStore
from tests.storage.factories import T0_NS, make_balance, make_candle, make_snapshot, make_ticker, make_trades


def _trade_rows(count: int, first_id: int = 1) -> list[tuple]:
    return [to_row(trade)[1] for trade in make_trades(count, first_id=first_id)]


def test_spilled_rows_come_back_exactly(spill_dir: Path) -> None:
    store = SpillStore(spill_dir, max_bytes=10_000_000)
    assert store.open() == []
    trades = _trade_rows(50)
    books = [to_row(make_snapshot(T0_NS, [("99.50", "1.000")], [("100.5", "2")], sequence=None))[1]]

    others = [
        to_row(make_ticker(T0_NS, "1.50", "1.60")),
        to_row(make_candle(T0_NS, "101.25", closed=False, receive_ns=T0_NS)),
        to_row(make_balance(T0_NS)),
    ]

    trade_ref = store.append("trades", trades)
    book_ref = store.append("book_snapshots", books)
    other_refs = [(store.append(table, [row]), row) for table, row in others]

    assert store.read(trade_ref) == trades
    assert store.read(book_ref) == books
    assert [store.read(ref) for ref, _ in other_refs] == [[row] for _, row in other_refs]
    assert (store.pending_rows, store.segment_count) == (54, 1)
    store.close()


def test_a_new_store_finds_what_an_earlier_one_left_in_order(spill_dir: Path) -> None:
    first = SpillStore(spill_dir, max_bytes=10_000_000, segment_bytes=4096)
    first.open()
    batches = [_trade_rows(20, first_id=1000 * n) for n in range(5)]
    refs = [first.append("trades", rows) for rows in batches]
    first.release(refs[0])
    first.close()
    assert first.segment_count > 1  # small segments: several files

    second = SpillStore(spill_dir, max_bytes=10_000_000)
    recovered = second.open()

    assert [second.read(ref) for ref in recovered] == batches[1:]
    for ref in recovered:
        second.release(ref)
    assert list(spill_dir.glob("*.spill")) == []
    second.close()


def test_a_torn_frame_at_the_end_is_cut_off_and_counted(spill_dir: Path) -> None:
    store = SpillStore(spill_dir, max_bytes=10_000_000)
    store.open()
    kept = _trade_rows(10)
    store.append("trades", kept)
    store.close()
    (segment,) = spill_dir.glob("*.spill")
    with open(segment, "ab") as file:
        file.write(b"\x40\x00\x00\x00garbage")  # a crash in the middle of an append

    reopened = SpillStore(spill_dir, max_bytes=10_000_000)
    (ref,) = reopened.open()

    assert reopened.read(ref) == kept
    assert reopened.corrupt_bytes == 11
    assert segment.read_bytes().startswith(MAGIC)
    reopened.close()


def test_the_byte_limit_raises_spill_full(spill_dir: Path) -> None:
    store = SpillStore(spill_dir, max_bytes=3000)
    store.open()
    store.append("trades", _trade_rows(10))
    with pytest.raises(SpillFull, match="max_spill_bytes=3000"):
        store.append("trades", _trade_rows(50))
    store.close()


def test_one_directory_serves_one_writer(spill_dir: Path) -> None:
    first = SpillStore(spill_dir, max_bytes=1000)
    first.open()
    with pytest.raises(SpillLocked):
        SpillStore(spill_dir, max_bytes=1000).open()
    first.close()
    second = SpillStore(spill_dir, max_bytes=1000)
    second.open()
    second.close()


def test_dead_letters_are_json_lines_with_decimal_strings(tmp_path: Path) -> None:
    dead = DeadLetterFile(tmp_path / "dead-letter.jsonl")
    (trade,) = make_trades(1)
    dead.append({"table": "trades", "error": "CheckViolationError: side", "record": trade})

    (line,) = (tmp_path / "dead-letter.jsonl").read_text().splitlines()
    assert '"price":"30000"' in line and '"error":"CheckViolationError: side"' in line
