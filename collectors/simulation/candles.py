"""Candle time frames and an incremental OHLCV aggregator for the synthetic market.

Prices and sizes are integer units (ticks, lots) so aggregation is exact; the market
formats them as decimal strings. Bars are dense: every bar from the market's start to
the latest trade is stored, and a bar without trades carries the previous close with
zero volume, the way exchanges publish quiet bars.
"""

from __future__ import annotations

import bisect
import calendar
import datetime as dt
from dataclasses import dataclass
from typing import Protocol

_DAY_MS = 86_400_000
# 1970-01-01 was a Thursday; weekly bars open on Monday, four days later.
_MONDAY_OFFSET_MS = 4 * _DAY_MS


class Timeframe(Protocol):
    """Bucketing rule for bars: which bar a timestamp belongs to, and its neighbours."""

    def floor(self, ts_ms: int) -> int:
        """Open time (ms) of the bar containing ``ts_ms``."""
        ...

    def next_open(self, open_ms: int) -> int:
        """Open time of the bar after the one opening at ``open_ms``."""
        ...

    def previous_open(self, open_ms: int) -> int:
        """Open time of the bar before the one opening at ``open_ms``."""
        ...


@dataclass(frozen=True, slots=True)
class FixedTimeframe:
    """Bars of a fixed duration whose open times are ``offset_ms`` modulo ``duration_ms``."""

    duration_ms: int
    offset_ms: int = 0

    @classmethod
    def aligned(cls, duration_ms: int, utc_offset_ms: int = 0) -> FixedTimeframe:
        """Bars aligned to midnight of a time zone ``utc_offset_ms`` east of UTC (weeks: Monday)."""
        base = _MONDAY_OFFSET_MS if duration_ms % (7 * _DAY_MS) == 0 else 0
        return cls(duration_ms, (base - utc_offset_ms) % duration_ms)

    def floor(self, ts_ms: int) -> int:
        return ts_ms - (ts_ms - self.offset_ms) % self.duration_ms

    def next_open(self, open_ms: int) -> int:
        return open_ms + self.duration_ms

    def previous_open(self, open_ms: int) -> int:
        return open_ms - self.duration_ms


@dataclass(frozen=True, slots=True)
class MonthTimeframe:
    """Calendar-month bars (``months`` = 1 or 3) in a time zone ``utc_offset_ms`` east of UTC."""

    months: int
    utc_offset_ms: int = 0

    def _to_ms(self, year: int, month: int) -> int:
        year += (month - 1) // 12
        month = (month - 1) % 12 + 1
        return calendar.timegm((year, month, 1, 0, 0, 0)) * 1000 - self.utc_offset_ms

    def _year_month(self, open_ms: int) -> tuple[int, int]:
        local = dt.datetime.fromtimestamp((open_ms + self.utc_offset_ms) / 1000, tz=dt.UTC)
        return local.year, local.month

    def floor(self, ts_ms: int) -> int:
        year, month = self._year_month(ts_ms)
        month -= (month - 1) % self.months
        return self._to_ms(year, month)

    def next_open(self, open_ms: int) -> int:
        year, month = self._year_month(open_ms)
        return self._to_ms(year, month + self.months)

    def previous_open(self, open_ms: int) -> int:
        year, month = self._year_month(open_ms)
        return self._to_ms(year, month - self.months)


@dataclass(frozen=True, slots=True)
class RawBar:
    """One bar in integer units: price in ticks, volume in lots, quote volume in ticks*lots."""

    open_ms: int
    open: int
    high: int
    low: int
    close: int
    volume: int
    quote_volume: int
    trade_count: int


class CandleSeries:
    """Incremental OHLCV bars of one instrument and one time frame."""

    def __init__(self, timeframe: Timeframe, start_ms: int, start_price: int) -> None:
        self.timeframe = timeframe
        self.first_open = timeframe.floor(start_ms)
        self._opens: list[int] = []
        # [open, high, low, close, volume, quote_volume, trade_count] per bar, parallel to _opens
        self._bars: list[list[int]] = []
        self._carry = start_price  # close of the latest bar: what an empty bar repeats
        self._current_open = -1
        self._current_next = -1

    def add(self, ts_ms: int, price: int, size: int) -> None:
        """Fold one trade in; trades must arrive in non-decreasing time order."""
        if self._current_open <= ts_ms < self._current_next:
            bar = self._bars[-1]
            if price > bar[1]:
                bar[1] = price
            elif price < bar[2]:
                bar[2] = price
            bar[3] = price
            bar[4] += size
            bar[5] += price * size
            bar[6] += 1
            return
        open_ms = self.timeframe.floor(ts_ms)
        self._fill_until(open_ms)
        self._opens.append(open_ms)
        self._bars.append([price, price, price, price, size, price * size, 1])
        self._carry = price
        self._current_open = open_ms
        self._current_next = self.timeframe.next_open(open_ms)

    def _fill_until(self, open_ms: int) -> None:
        """Append carried-close empty bars for every bar before ``open_ms`` not stored yet."""
        tf = self.timeframe
        cursor = tf.next_open(self._opens[-1]) if self._opens else self.first_open
        if self._bars:
            self._carry = self._bars[-1][3]
        while cursor < open_ms:
            carry = self._carry
            self._opens.append(cursor)
            self._bars.append([carry, carry, carry, carry, 0, 0, 0])
            cursor = tf.next_open(cursor)

    def bar(self, open_ms: int) -> RawBar:
        """The bar opening at ``open_ms`` (a carried empty bar when nothing traded in it)."""
        index = bisect.bisect_left(self._opens, open_ms)
        if index < len(self._opens) and self._opens[index] == open_ms:
            o, h, low, c, vol, quote, count = self._bars[index]
            return RawBar(open_ms, o, h, low, c, vol, quote, count)
        # Before the first stored bar nothing traded yet; after the last one nothing traded since.
        carry = self._bars[index - 1][3] if index > 0 else self._carry
        return RawBar(open_ms, carry, carry, carry, carry, 0, 0, 0)

    def newest_first(
        self,
        current_open: int,
        *,
        older_than: int | None = None,
        newer_than: int | None = None,
        limit: int,
    ) -> list[RawBar]:
        """Bars newest first, from ``current_open`` back to the first bar, filtered by open time."""
        tf = self.timeframe
        cursor = current_open
        if older_than is not None and cursor >= older_than:
            cursor = tf.floor(older_than - 1)
        out: list[RawBar] = []
        while len(out) < limit and cursor >= self.first_open:
            if newer_than is not None and cursor <= newer_than:
                break
            out.append(self.bar(cursor))
            cursor = tf.previous_open(cursor)
        return out
