"""One side of the synthetic market's L2 book, in integer ticks and lots, with change tracking."""

from __future__ import annotations

import bisect


class BookSide:
    """One side of the book: tick -> (lots, orders), a sorted tick list, and changes since last taken."""

    __slots__ = ("is_bid", "levels", "ticks", "original")

    def __init__(self, is_bid: bool) -> None:
        self.is_bid = is_bid
        self.levels: dict[int, tuple[int, int]] = {}
        self.ticks: list[int] = []  # ascending for both sides
        self.original: dict[int, tuple[int, int] | None] = {}  # level as last taken, per touched tick

    def best(self) -> int:
        return self.ticks[-1] if self.is_bid else self.ticks[0]

    def worst(self) -> int:
        return self.ticks[0] if self.is_bid else self.ticks[-1]

    def at_depth(self, index: int) -> int:
        return self.ticks[-1 - index] if self.is_bid else self.ticks[index]

    def top(self, count: int) -> list[int]:
        return self.ticks[: -count - 1 : -1] if self.is_bid else self.ticks[:count]

    def set(self, tick: int, level: tuple[int, int]) -> None:
        levels = self.levels
        if tick not in self.original:
            self.original[tick] = levels.get(tick)
        if tick not in levels:
            bisect.insort(self.ticks, tick)
        levels[tick] = level

    def remove(self, tick: int) -> None:
        if tick not in self.original:
            self.original[tick] = self.levels[tick]
        del self.levels[tick]
        ticks = self.ticks
        if ticks[-1] == tick:
            ticks.pop()
        elif ticks[0] == tick:
            ticks.pop(0)
        else:
            del ticks[bisect.bisect_left(ticks, tick)]

    def take_changes(self) -> list[tuple[int, tuple[int, int] | None]]:
        levels = self.levels
        changes = [(tick, levels.get(tick)) for tick, was in self.original.items() if levels.get(tick) != was]
        self.original.clear()
        changes.sort(key=lambda change: change[0], reverse=self.is_bid)
        return changes
