"""Exchange-neutral L2 order books: one book, one sequence chain, and a per-symbol keeper.

Three layers, each usable alone:

* :class:`OrderBook` holds the price levels of one instrument.
* :class:`SequenceChain` decides whether an update continues the exchange's sequence chain.
* :class:`LocalBooks` keeps one book + chain per symbol, applies normalized
  :class:`~collectors.core.records.BookUpdate` records and reports what happened as a
  :class:`BookEvent`. A broken chain or a checksum mismatch resets only that symbol.

Exchanges supply only what differs: the parser that builds ``BookUpdate`` records and,
where the exchange sends one, a checksum function ``(OrderBook) -> int``.

Prices and sizes are ``Decimal`` values built from the exchange's strings. ``Decimal``
keeps the exponent of its input, so ``decimal_text(Decimal("0.5000")) == "0.5000"``:
checksum code can rebuild the exchange's exact strings from the book without storing them.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Literal

from collectors.core.records import BookUpdate, PriceLevel

BookSide = Literal["bid", "ask"]


def decimal_text(value: Decimal) -> str:
    """The plain decimal string a ``Decimal`` was built from (``"0.5000"``, ``"30236"``).

    ``str()`` switches to scientific notation below 1e-6 (``"1E-8"`` for ``"0.00000001"``);
    the ``f`` format never does and keeps trailing zeros, so it round-trips every plain
    decimal string an exchange sends.
    """
    return format(value, "f")


class OrderBook:
    """Price levels of one instrument: bids best (highest) first, asks best (lowest) first.

    A size of zero in an update deletes the level. ``sequence`` is the exchange sequence
    of the last snapshot or update applied (``None`` when the exchange sends none).

    Each side is a ``dict`` price -> size; applying a level is one dict store or pop.
    Sorted views are built only when asked for (``top``, ``levels``, best bid/ask, a
    checksum) and cached until the side changes. Updates arrive far more often than
    anyone reads the order (a top-N snapshot per second, say), and ``Decimal``
    comparisons are slow enough that keeping a sorted list on every update (``bisect``)
    cost more than parsing the frame: ~16 us vs ~2 us per 25-level update.
    """

    __slots__ = ("_bid_sizes", "_ask_sizes", "_bid_order", "_ask_order", "_sequence")

    def __init__(self) -> None:
        self._bid_sizes: dict[Decimal, Decimal] = {}
        self._ask_sizes: dict[Decimal, Decimal] = {}
        self._bid_order: list[Decimal] | None = None  # cached, best (highest) first
        self._ask_order: list[Decimal] | None = None  # cached, best (lowest) first
        self._sequence: int | None = None

    @property
    def sequence(self) -> int | None:
        """Sequence of the last applied snapshot or update."""
        return self._sequence

    def clear(self) -> None:
        """Remove every level and forget the sequence."""
        self._bid_sizes, self._ask_sizes = {}, {}
        self._bid_order = self._ask_order = None
        self._sequence = None

    def apply_snapshot(
        self, bids: Iterable[PriceLevel], asks: Iterable[PriceLevel], sequence: int | None
    ) -> None:
        """Replace the whole book. Zero-size levels in a snapshot are ignored."""
        self._bid_sizes = {price: size for price, size in bids if size}
        self._ask_sizes = {price: size for price, size in asks if size}
        self._bid_order = self._ask_order = None
        self._sequence = sequence

    def apply_update(
        self, bids: Iterable[PriceLevel], asks: Iterable[PriceLevel], sequence: int | None
    ) -> None:
        """Merge changed levels: a new size replaces the old one, size 0 deletes the level."""
        if bids:
            _merge(self._bid_sizes, bids)
            self._bid_order = None
        if asks:
            _merge(self._ask_sizes, asks)
            self._ask_order = None
        if sequence is not None:
            self._sequence = sequence

    def _bid_prices(self) -> list[Decimal]:
        if self._bid_order is None:
            self._bid_order = sorted(self._bid_sizes, reverse=True)
        return self._bid_order

    def _ask_prices(self) -> list[Decimal]:
        if self._ask_order is None:
            self._ask_order = sorted(self._ask_sizes)
        return self._ask_order

    def best_bid(self) -> PriceLevel | None:
        """Highest bid as ``(price, size)``, or ``None`` when there are no bids."""
        if not self._bid_sizes:
            return None
        price = self._bid_order[0] if self._bid_order is not None else max(self._bid_sizes)
        return price, self._bid_sizes[price]

    def best_ask(self) -> PriceLevel | None:
        """Lowest ask as ``(price, size)``, or ``None`` when there are no asks."""
        if not self._ask_sizes:
            return None
        price = self._ask_order[0] if self._ask_order is not None else min(self._ask_sizes)
        return price, self._ask_sizes[price]

    def top(self, depth: int) -> tuple[list[PriceLevel], list[PriceLevel]]:
        """The best ``depth`` levels of each side, best first: ``(bids, asks)``."""
        if depth <= 0:
            return [], []
        bid_sizes, ask_sizes = self._bid_sizes, self._ask_sizes
        bids = [(price, bid_sizes[price]) for price in self._bid_prices()[:depth]]
        asks = [(price, ask_sizes[price]) for price in self._ask_prices()[:depth]]
        return bids, asks

    def levels(self, side: BookSide) -> list[PriceLevel]:
        """Every level of one side (``"bid"`` or ``"ask"``), best first."""
        if side == "bid":
            return [(price, self._bid_sizes[price]) for price in self._bid_prices()]
        if side == "ask":
            return [(price, self._ask_sizes[price]) for price in self._ask_prices()]
        raise ValueError(f"side must be 'bid' or 'ask', got {side!r}")

    def size_at(self, side: BookSide, price: Decimal) -> Decimal | None:
        """Size resting at ``price`` on ``side``, or ``None`` when there is no such level."""
        return self._sizes(side).get(price)

    def depth(self, side: BookSide) -> int:
        """Number of levels on one side."""
        return len(self._sizes(side))

    def _sizes(self, side: BookSide) -> dict[Decimal, Decimal]:
        if side == "bid":
            return self._bid_sizes
        if side == "ask":
            return self._ask_sizes
        raise ValueError(f"side must be 'bid' or 'ask', got {side!r}")

    def __repr__(self) -> str:
        return (
            f"OrderBook(bids={len(self._bid_sizes)}, asks={len(self._ask_sizes)}, "
            f"best_bid={self.best_bid()}, best_ask={self.best_ask()}, sequence={self._sequence})"
        )


def _merge(sizes: dict[Decimal, Decimal], levels: Iterable[PriceLevel]) -> None:
    """Apply changed levels to one side."""
    pop = sizes.pop
    for price, size in levels:
        if size:
            sizes[price] = size
        else:
            pop(price, None)


class ChainVerdict(enum.Enum):
    """What :meth:`SequenceChain.accept` decided about one update."""

    CHAINS = "chains"  # continues the chain: apply it
    HEARTBEAT = "heartbeat"  # sequence == previous == last: nothing changed, nothing to apply
    STALE = "stale"  # already covered by what we hold (repeat of the last update, or older than a join point)
    GAP = "gap"  # at least one update is missing: the book is broken


class SequenceChain:
    """Generic gap tracker for exchanges that send ``(sequence, previous_sequence)`` pairs.

    The rule is "an update's previous sequence equals the last sequence applied" — never
    ``sequence == last + 1``, because exchanges such as OKX advance in irregular steps.
    The same rule accepts a documented sequence reset (``sequence < previous`` while
    ``previous == last``).

    After :meth:`reset` with ``join=True`` (a snapshot fetched independently of the stream,
    e.g. over REST) the chain is *joining*: updates with ``sequence <= last`` are stale and
    the first applied update only has to straddle the snapshot,
    ``previous <= last < sequence``.
    """

    __slots__ = ("last", "joining")

    def __init__(self, last: int | None = None) -> None:
        self.last = last
        self.joining = False

    def reset(self, sequence: int | None, *, join: bool = False) -> None:
        """Restart the chain at ``sequence`` (the sequence of a snapshot)."""
        self.last = sequence
        self.joining = join and sequence is not None

    def accept(self, sequence: int | None, previous: int | None) -> ChainVerdict:
        """Classify an update and advance the chain when it chains. Never raises."""
        last = self.last
        if sequence is None or last is None:
            # Nothing to compare with (exchange sends no sequence, or the base has none).
            if sequence is not None:
                self.last = sequence
            return ChainVerdict.CHAINS
        if self.joining:
            if sequence <= last:
                return ChainVerdict.STALE
            if previous is None or previous <= last:
                self.joining = False
                self.last = sequence
                return ChainVerdict.CHAINS
            return ChainVerdict.GAP
        if previous is None:
            # Sequence-only stream: it can only be checked for monotonicity.
            if sequence > last:
                self.last = sequence
                return ChainVerdict.CHAINS
            return ChainVerdict.HEARTBEAT if sequence == last else ChainVerdict.STALE
        if previous == last:
            if sequence == last:
                return ChainVerdict.HEARTBEAT
            self.last = sequence  # includes a reset, where sequence < previous
            return ChainVerdict.CHAINS
        if sequence == last:
            return ChainVerdict.STALE  # the update we applied last, received again
        return ChainVerdict.GAP


class BookEvent(enum.Enum):
    """What :meth:`LocalBooks.apply` / :meth:`LocalBooks.seed` did; ``value`` is a readable reason."""

    APPLIED = "applied"  # book changed: snapshot installed or update merged (see record.is_snapshot)
    HEARTBEAT = "heartbeat"  # "no change" update (sequence == previous == last); book unchanged
    STALE = "stale"  # duplicate, or older than a REST snapshot being joined; dropped
    NEEDS_SNAPSHOT = "needs_snapshot"  # update for a symbol without a book: fetch a snapshot (reported once)
    AWAITING_SNAPSHOT = "awaiting_snapshot"  # held while a snapshot is awaited; not applied
    GAP = "gap"  # chain broken: this symbol's book is cleared and awaits a snapshot
    CHECKSUM_MISMATCH = "checksum_mismatch"  # book disagrees with the exchange: cleared, awaits a snapshot
    SNAPSHOT_TOO_OLD = "snapshot_too_old"  # seed(): snapshot predates the held updates; fetch again


ChecksumFunction = Callable[[OrderBook], int]


class _SymbolState:
    """Book, chain, held updates and problem counters of one symbol."""

    __slots__ = ("book", "chain", "live", "announced", "pending", "gaps", "checksum_mismatches", "last_issue")

    def __init__(self, max_pending: int) -> None:
        self.book = OrderBook()
        self.chain = SequenceChain()
        self.live = False  # False until a snapshot arrives, and again after a gap or mismatch
        self.announced = False  # a snapshot request was signalled for the current non-live period
        self.pending: deque[BookUpdate] = deque(maxlen=max_pending)
        self.gaps = 0
        self.checksum_mismatches = 0
        self.last_issue: str | None = None


class LocalBooks:
    """One :class:`OrderBook` and :class:`SequenceChain` per symbol, fed with ``BookUpdate`` records.

    ``apply`` returns a :class:`BookEvent` (no allocation on the hot path):

    * a snapshot replaces the symbol's book and restarts its chain -> ``APPLIED``;
    * an update that chains is merged -> ``APPLIED``; heartbeats and stale updates are ignored;
    * a gap or a checksum mismatch clears only that symbol's book -> ``GAP`` /
      ``CHECKSUM_MISMATCH``; the caller resubscribes or fetches a snapshot for that symbol;
    * an update for a symbol without a book is held (the newest ``max_pending`` are kept so
      that :meth:`seed` can join a REST snapshot) -> ``NEEDS_SNAPSHOT`` the first time in
      each such period, ``AWAITING_SNAPSHOT`` afterwards.

    ``checksum`` (supplied by the exchange) is called only when an update carries a non-zero
    checksum: 0 means "not sent" (OKX retired its checksum by sending 0).
    """

    __slots__ = ("_states", "_checksum", "_max_pending")

    def __init__(self, checksum: ChecksumFunction | None = None, *, max_pending: int = 1000) -> None:
        self._states: dict[str, _SymbolState] = {}
        self._checksum = checksum
        self._max_pending = max_pending

    def apply(self, update: BookUpdate) -> BookEvent:
        """Apply one snapshot or update to its symbol's book and report what happened."""
        state = self._states.get(update.symbol)
        if state is None:
            state = self._states[update.symbol] = _SymbolState(self._max_pending)
        if update.is_snapshot:
            state.book.apply_snapshot(update.bids, update.asks, update.sequence)
            state.chain.reset(update.sequence)
            state.live = True
            state.pending.clear()  # held updates predate this snapshot on the same stream
            return self._verify(state, update, BookEvent.APPLIED)
        if not state.live:
            if update.sequence is not None:  # without sequences a REST join is impossible
                state.pending.append(update)
            if state.announced:
                return BookEvent.AWAITING_SNAPSHOT
            state.announced = True
            return BookEvent.NEEDS_SNAPSHOT
        last = state.chain.last
        verdict = state.chain.accept(update.sequence, update.previous_sequence)
        if verdict is ChainVerdict.CHAINS:
            state.book.apply_update(update.bids, update.asks, update.sequence)
            return self._verify(state, update, BookEvent.APPLIED)
        if verdict is ChainVerdict.HEARTBEAT:
            return self._verify(state, update, BookEvent.HEARTBEAT)
        if verdict is ChainVerdict.STALE:
            return BookEvent.STALE
        state.gaps += 1
        self._break(
            state,
            f"gap at sequence {update.sequence}: "
            f"previous sequence {update.previous_sequence}, expected {last}",
        )
        state.pending.append(update)  # the first update of the chain we now follow
        return BookEvent.GAP

    def seed(self, snapshot: BookUpdate) -> BookEvent:
        """Join a snapshot fetched out of band (REST) to the live stream of its symbol.

        Held updates with ``sequence <= snapshot.sequence`` are dropped; the first one applied
        must satisfy ``previous <= snapshot.sequence < sequence``. When the first newer held
        update does not reach back to the snapshot, nothing changes and ``SNAPSHOT_TOO_OLD``
        is returned (the next held update reports ``NEEDS_SNAPSHOT`` again). Otherwise the
        held updates are replayed and the result is ``APPLIED``, or the first problem met
        while replaying (``GAP``/``CHECKSUM_MISMATCH``).
        """
        if snapshot.sequence is None:
            raise ValueError(f"{snapshot.symbol}: a snapshot without a sequence cannot be joined to a stream")
        base = snapshot.sequence
        state = self._states.get(snapshot.symbol)
        if state is None:
            state = self._states[snapshot.symbol] = _SymbolState(self._max_pending)
        pending = state.pending
        for held in pending:
            if held.sequence is not None and held.sequence > base:
                if held.previous_sequence is not None and held.previous_sequence > base:
                    state.announced = False  # let the next held update ask for a newer snapshot
                    state.last_issue = (
                        f"snapshot {base} too old: "
                        f"first held update has previous sequence {held.previous_sequence}"
                    )
                    return BookEvent.SNAPSHOT_TOO_OLD
                break
        state.pending = deque(maxlen=self._max_pending)
        state.book.apply_snapshot(snapshot.bids, snapshot.asks, base)
        state.chain.reset(base, join=True)
        state.live = True
        event = self._verify(state, snapshot, BookEvent.APPLIED)
        if event is not BookEvent.APPLIED:
            state.pending = pending
            return event
        problem: BookEvent | None = None
        for held in pending:
            replayed = self.apply(held)  # after a problem these are held again for the next snapshot
            if problem is None and replayed in _PROBLEMS:
                problem = replayed
        return problem or BookEvent.APPLIED

    def _verify(self, state: _SymbolState, update: BookUpdate, event: BookEvent) -> BookEvent:
        expected = update.checksum
        if expected and self._checksum is not None:  # None or 0: the exchange sent no checksum
            computed = self._checksum(state.book)
            if computed != expected:
                state.checksum_mismatches += 1
                issue = f"checksum mismatch at sequence {update.sequence}: "
                self._break(state, issue + f"computed {computed}, sent {expected}")
                return BookEvent.CHECKSUM_MISMATCH
        return event

    def _break(self, state: _SymbolState, issue: str | None) -> None:
        # A broken book must not be served: clear it until a snapshot rebuilds it.
        state.book.clear()
        state.chain.reset(None)
        state.live = False
        state.announced = issue is not None  # a reported problem already asks for a snapshot
        state.pending.clear()
        if issue is not None:
            state.last_issue = issue

    def book(self, symbol: str) -> OrderBook | None:
        """The symbol's book while it is valid; ``None`` when unknown or awaiting a snapshot."""
        state = self._states.get(symbol)
        return state.book if state is not None and state.live else None

    def top(self, symbol: str, depth: int) -> tuple[list[PriceLevel], list[PriceLevel]]:
        """Best ``depth`` levels per side of a valid book, best first; empty lists otherwise."""
        book = self.book(symbol)
        return book.top(depth) if book is not None else ([], [])

    def is_live(self, symbol: str) -> bool:
        """True when the symbol has a valid book (a snapshot applied and no break since)."""
        state = self._states.get(symbol)
        return state is not None and state.live

    def awaiting_snapshot(self) -> list[str]:
        """Symbols seen but without a valid book (never snapshotted, or broken and resyncing)."""
        return [symbol for symbol, state in self._states.items() if not state.live]

    def pending_count(self, symbol: str) -> int:
        """Number of updates held for a REST join of ``symbol``."""
        state = self._states.get(symbol)
        return len(state.pending) if state is not None else 0

    def last_issue(self, symbol: str) -> str | None:
        """Description of the symbol's most recent gap, checksum mismatch or stale snapshot."""
        state = self._states.get(symbol)
        return state.last_issue if state is not None else None

    def invalidate(self, symbol: str) -> None:
        """Mark a symbol as needing a new snapshot (e.g. after resubscribing it)."""
        state = self._states.get(symbol)
        if state is not None:
            self._break(state, None)

    def reset_all(self) -> None:
        """Mark every symbol as needing a new snapshot (after a reconnect)."""
        for state in self._states.values():
            self._break(state, None)

    def forget(self, symbol: str) -> None:
        """Drop a symbol entirely (after unsubscribing)."""
        self._states.pop(symbol, None)

    def describe(self) -> dict[str, dict[str, object]]:
        """Per-symbol status for operators: validity, sequence, depth, held updates, problem counts."""
        return {
            symbol: {
                "live": state.live,
                "sequence": state.book.sequence if state.live else None,
                "bid_levels": state.book.depth("bid"),
                "ask_levels": state.book.depth("ask"),
                "held_updates": len(state.pending),
                "gaps": state.gaps,
                "checksum_mismatches": state.checksum_mismatches,
                "last_issue": state.last_issue,
            }
            for symbol, state in self._states.items()
        }

    @property
    def symbols(self) -> list[str]:
        """Every symbol seen so far."""
        return list(self._states)


_PROBLEMS = frozenset({BookEvent.GAP, BookEvent.CHECKSUM_MISMATCH})
