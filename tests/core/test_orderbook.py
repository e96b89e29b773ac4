"""OrderBook, SequenceChain and LocalBooks: the exchange-neutral book machinery.

Sequence numbers follow the documented OKX example (protocol doc §1.9.1): snapshot
(prev -1, seq 10) -> update (10, 15) -> no-change (15, 15) -> reset (15, 3) -> (3, 5).
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from collectors.core.orderbook import (
    BookEvent,
    ChainVerdict,
    LocalBooks,
    OrderBook,
    SequenceChain,
    decimal_text,
)
from collectors.core.records import BookUpdate

D = Decimal


def levels(*pairs: tuple[str, str]) -> list[tuple[Decimal, Decimal]]:
    return [(D(price), D(size)) for price, size in pairs]


def snapshot(
    symbol: str,
    seq: int | None,
    bids: tuple[tuple[str, str], ...] = (("100", "1"), ("99", "2")),
    asks: tuple[tuple[str, str], ...] = (("101", "1"), ("102", "3")),
    checksum: int | None = None,
) -> BookUpdate:
    return BookUpdate("test", symbol, True, levels(*bids), levels(*asks), seq, None, checksum, 1_000, 2_000)


def update(
    symbol: str,
    seq: int | None,
    prev: int | None,
    bids: tuple[tuple[str, str], ...] = (),
    asks: tuple[tuple[str, str], ...] = (),
    checksum: int | None = None,
) -> BookUpdate:
    return BookUpdate("test", symbol, False, levels(*bids), levels(*asks), seq, prev, checksum, 1_000, 2_000)


# ---------------------------------------------------------------------------- OrderBook


def test_snapshot_sorts_both_sides_best_first_and_skips_zero_sizes() -> None:
    book = OrderBook()
    bids = levels(("99", "2"), ("100.5", "1"), ("98", "0"))
    book.apply_snapshot(bids, levels(("102", "3"), ("101", "1")), 7)
    assert book.best_bid() == (D("100.5"), D("1"))
    assert book.best_ask() == (D("101"), D("1"))
    assert book.levels("bid") == levels(("100.5", "1"), ("99", "2"))
    assert book.levels("ask") == levels(("101", "1"), ("102", "3"))
    assert book.sequence == 7
    assert book.depth("bid") == 2 and book.depth("ask") == 2


def test_update_replaces_inserts_and_deletes_levels() -> None:
    book = OrderBook()
    book.apply_snapshot(levels(("100", "1"), ("99", "2")), levels(("101", "1"), ("102", "3")), 10)
    book.apply_update(
        # delete, resize, insert, delete a level that does not exist
        levels(("100", "0"), ("99", "5"), ("99.5", "4"), ("90", "0")),
        levels(("100.8", "7")),
        15,
    )
    assert book.levels("bid") == levels(("99.5", "4"), ("99", "5"))
    assert book.levels("ask") == levels(("100.8", "7"), ("101", "1"), ("102", "3"))
    assert book.size_at("bid", D("100")) is None
    assert book.size_at("ask", D("101")) == D("1")
    assert book.sequence == 15


def test_update_without_sequence_keeps_the_last_one() -> None:
    book = OrderBook()
    book.apply_snapshot(levels(("100", "1")), levels(("101", "1")), 10)
    book.apply_update(levels(("100", "2")), [], None)
    assert book.sequence == 10


def test_top_returns_best_levels_first_and_handles_short_or_empty_sides() -> None:
    book = OrderBook()
    book.apply_snapshot(levels(("100", "1"), ("99", "2"), ("98", "3")), levels(("101", "1")), 1)
    assert book.top(2) == (levels(("100", "1"), ("99", "2")), levels(("101", "1")))
    assert book.top(0) == ([], [])
    book.apply_update([], levels(("101", "0")), 2)
    assert book.best_ask() is None
    assert book.top(5)[1] == []
    book.clear()
    assert book.best_bid() is None and book.sequence is None and book.top(3) == ([], [])


def test_unknown_side_name_is_rejected() -> None:
    with pytest.raises(ValueError, match="'bid' or 'ask'"):
        OrderBook().levels("bids")  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["0.5000", "30236", "30243.4", "0.0012029", "0.00000001", "1200.00", "0"])
def test_decimal_text_rebuilds_the_exchange_string(text: str) -> None:
    # str() would give "1E-8" for the tiny size; the checksum needs the original spelling.
    assert decimal_text(D(text)) == text


# ---------------------------------------------------------------------------- SequenceChain


def test_chain_follows_the_documented_example_including_heartbeat_and_reset() -> None:
    chain = SequenceChain()
    chain.reset(10)
    assert chain.accept(15, 10) is ChainVerdict.CHAINS
    assert chain.accept(15, 15) is ChainVerdict.HEARTBEAT  # no change for ~60 s
    assert chain.last == 15
    assert chain.accept(3, 15) is ChainVerdict.CHAINS  # reset after maintenance: seq < prev
    assert chain.accept(5, 3) is ChainVerdict.CHAINS
    assert chain.last == 5


def test_chain_reports_a_gap_without_advancing() -> None:
    chain = SequenceChain(15)
    assert chain.accept(30, 22) is ChainVerdict.GAP
    assert chain.last == 15


def test_chain_treats_a_repeat_of_the_last_update_as_stale() -> None:
    chain = SequenceChain(10)
    assert chain.accept(15, 10) is ChainVerdict.CHAINS
    assert chain.accept(15, 10) is ChainVerdict.STALE
    assert chain.last == 15


def test_chain_accepts_anything_when_sequences_are_missing() -> None:
    chain = SequenceChain()
    assert chain.accept(None, None) is ChainVerdict.CHAINS
    assert chain.accept(7, 3) is ChainVerdict.CHAINS  # no base yet: adopt
    assert chain.last == 7


def test_chain_without_previous_sequence_checks_monotonicity() -> None:
    chain = SequenceChain(100)
    assert chain.accept(120, None) is ChainVerdict.CHAINS
    assert chain.accept(120, None) is ChainVerdict.HEARTBEAT
    assert chain.accept(110, None) is ChainVerdict.STALE


def test_joining_chain_drops_covered_updates_then_needs_a_straddling_one() -> None:
    chain = SequenceChain()
    chain.reset(100, join=True)
    assert chain.accept(95, 90) is ChainVerdict.STALE  # seq <= snapshot seq
    assert chain.accept(100, 95) is ChainVerdict.STALE
    assert chain.accept(104, 100) is ChainVerdict.CHAINS  # prev <= 100 < seq
    assert chain.joining is False
    assert chain.accept(110, 104) is ChainVerdict.CHAINS
    assert chain.accept(120, 115) is ChainVerdict.GAP


def test_joining_chain_reports_a_gap_when_the_stream_is_ahead_of_the_snapshot() -> None:
    chain = SequenceChain()
    chain.reset(100, join=True)
    assert chain.accept(130, 120) is ChainVerdict.GAP


# ---------------------------------------------------------------------------- LocalBooks


def test_snapshot_then_chained_updates_are_applied() -> None:
    books = LocalBooks()
    assert books.apply(snapshot("A", 10)) is BookEvent.APPLIED
    assert books.apply(update("A", 15, 10, bids=(("100", "0"),))) is BookEvent.APPLIED
    assert books.apply(update("A", 15, 15)) is BookEvent.HEARTBEAT
    assert books.apply(update("A", 3, 15, asks=(("101", "9"),))) is BookEvent.APPLIED
    book = books.book("A")
    assert book is not None
    assert book.best_bid() == (D("99"), D("2"))
    assert book.best_ask() == (D("101"), D("9"))
    assert book.sequence == 3
    assert books.top("A", 1) == (levels(("99", "2")), levels(("101", "9")))


def test_gap_resyncs_only_the_affected_symbol() -> None:
    books = LocalBooks()
    books.apply(snapshot("A", 10))
    books.apply(snapshot("B", 50))
    assert books.apply(update("A", 30, 22)) is BookEvent.GAP
    assert books.book("A") is None and not books.is_live("A")
    assert books.top("A", 5) == ([], [])
    assert books.last_issue("A") == "gap at sequence 30: previous sequence 22, expected 10"
    # A drops its updates until a snapshot; B carries on untouched.
    assert books.apply(update("A", 35, 30, bids=(("100", "7"),))) is BookEvent.AWAITING_SNAPSHOT
    assert books.apply(update("B", 55, 50, bids=(("100", "7"),))) is BookEvent.APPLIED
    assert books.awaiting_snapshot() == ["A"]
    assert books.apply(snapshot("A", 40)) is BookEvent.APPLIED
    assert books.apply(update("A", 41, 40)) is BookEvent.APPLIED
    assert books.describe()["A"]["gaps"] == 1
    assert books.describe()["B"] == {
        "live": True,
        "sequence": 55,
        "bid_levels": 2,
        "ask_levels": 2,
        "held_updates": 0,
        "gaps": 0,
        "checksum_mismatches": 0,
        "last_issue": None,
    }


def test_update_before_any_snapshot_asks_for_one_once() -> None:
    books = LocalBooks()
    assert books.apply(update("A", 15, 10)) is BookEvent.NEEDS_SNAPSHOT
    assert books.apply(update("A", 20, 15)) is BookEvent.AWAITING_SNAPSHOT
    assert books.pending_count("A") == 2
    assert books.apply(snapshot("A", 25)) is BookEvent.APPLIED
    assert books.pending_count("A") == 0  # older than the snapshot on the same stream


def test_checksum_is_checked_only_when_sent_and_non_zero() -> None:
    calls: list[OrderBook] = []

    def checksum(book: OrderBook) -> int:
        calls.append(book)
        return 1234

    books = LocalBooks(checksum=checksum)
    assert books.apply(snapshot("A", 10, checksum=None)) is BookEvent.APPLIED
    assert books.apply(update("A", 11, 10, checksum=0)) is BookEvent.APPLIED  # OKX since 2026-06-23
    assert calls == []
    assert books.apply(update("A", 12, 11, checksum=1234)) is BookEvent.APPLIED
    assert len(calls) == 1


def test_checksum_mismatch_resyncs_only_that_symbol() -> None:
    books = LocalBooks(checksum=lambda book: 1234)
    books.apply(snapshot("A", 10))
    books.apply(snapshot("B", 10))
    assert books.apply(update("A", 11, 10, checksum=999)) is BookEvent.CHECKSUM_MISMATCH
    assert books.book("A") is None
    assert books.last_issue("A") == "checksum mismatch at sequence 11: computed 1234, sent 999"
    assert books.apply(update("A", 12, 11)) is BookEvent.AWAITING_SNAPSHOT
    assert books.apply(update("B", 11, 10, checksum=1234)) is BookEvent.APPLIED
    assert books.describe()["A"]["checksum_mismatches"] == 1


def test_stale_repeat_is_dropped_without_breaking_the_book() -> None:
    books = LocalBooks()
    books.apply(snapshot("A", 10))
    books.apply(update("A", 15, 10, bids=(("100", "5"),)))
    assert books.apply(update("A", 15, 10, bids=(("100", "5"),))) is BookEvent.STALE
    assert books.is_live("A")


# ---------------------------------------------------------------------------- REST join (protocol doc §1.9.3)


def test_seed_drops_covered_updates_and_applies_the_straddling_one() -> None:
    books = LocalBooks()
    books.apply(update("A", 95, 90, bids=(("100", "1"),)))  # covered by the snapshot
    books.apply(update("A", 101, 95, bids=(("100", "6"),)))  # 95 <= 100 < 101: first applied
    books.apply(update("A", 108, 101, asks=(("101", "0"),)))
    assert books.seed(snapshot("A", 100)) is BookEvent.APPLIED
    book = books.book("A")
    assert book is not None
    assert book.best_bid() == (D("100"), D("6"))
    assert book.best_ask() == (D("102"), D("3"))
    assert book.sequence == 108
    assert books.apply(update("A", 110, 108)) is BookEvent.APPLIED


def test_seed_with_a_snapshot_older_than_the_held_updates_changes_nothing() -> None:
    books = LocalBooks()
    assert books.apply(update("A", 95, 90)) is BookEvent.NEEDS_SNAPSHOT
    assert books.seed(snapshot("A", 80)) is BookEvent.SNAPSHOT_TOO_OLD
    assert not books.is_live("A")
    assert books.pending_count("A") == 1
    assert books.last_issue("A") == "snapshot 80 too old: first held update has previous sequence 90"
    # The next held update asks again, so a client that reacts to NEEDS_SNAPSHOT refetches.
    assert books.apply(update("A", 99, 95)) is BookEvent.NEEDS_SNAPSHOT
    assert books.seed(snapshot("A", 96)) is BookEvent.APPLIED
    assert books.book("A").sequence == 99  # type: ignore[union-attr]


def test_seed_newer_than_the_stream_drops_live_updates_until_one_straddles_it() -> None:
    books = LocalBooks()
    assert books.seed(snapshot("A", 200)) is BookEvent.APPLIED
    assert books.apply(update("A", 190, 185)) is BookEvent.STALE
    assert books.apply(update("A", 200, 190)) is BookEvent.STALE
    assert books.apply(update("A", 205, 200, bids=(("100", "9"),))) is BookEvent.APPLIED
    assert books.book("A").best_bid() == (D("100"), D("9"))  # type: ignore[union-attr]


def test_seed_reports_a_gap_inside_the_held_updates_and_keeps_the_rest() -> None:
    books = LocalBooks()
    books.apply(update("A", 101, 95))
    books.apply(update("A", 120, 110))  # 101 -> 110 missing
    books.apply(update("A", 125, 120))
    assert books.seed(snapshot("A", 100)) is BookEvent.GAP
    assert not books.is_live("A")
    assert books.pending_count("A") == 2  # the new chain (120, 125), ready for the next snapshot
    assert books.seed(snapshot("A", 122)) is BookEvent.APPLIED
    assert books.book("A").sequence == 125  # type: ignore[union-attr]


def test_seed_requires_a_sequence() -> None:
    with pytest.raises(ValueError, match="without a sequence"):
        LocalBooks().seed(snapshot("A", None))


def test_held_updates_are_bounded() -> None:
    books = LocalBooks(max_pending=3)
    for seq in range(10, 20):
        books.apply(update("A", seq + 1, seq))
    assert books.pending_count("A") == 3


def test_invalidate_reset_all_and_forget() -> None:
    books = LocalBooks()
    books.apply(snapshot("A", 10))
    books.apply(snapshot("B", 10))
    books.invalidate("A")
    assert not books.is_live("A") and books.is_live("B")
    assert books.apply(update("A", 11, 10)) is BookEvent.NEEDS_SNAPSHOT
    books.reset_all()
    assert books.awaiting_snapshot() == ["A", "B"]
    books.forget("A")
    assert books.symbols == ["B"]
