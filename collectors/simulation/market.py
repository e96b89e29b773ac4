"""A seeded, exchange-neutral synthetic market for the exchange simulators.

Per instrument the market keeps a fair price doing a random walk, an L2 book of
``book_depth`` levels per side that follows it (levels resize, appear and vanish;
taker trades consume the best level), a trade tape with consecutive integer ids, an
instrument-level sequence counter with irregular increments, 24-hour ticker figures
and candles aggregated from the tape.

Time moves in fixed steps of ``step_ms`` of the injected clock, and every random draw
comes from ``random.Random`` instances seeded from ``seed`` and the symbol. The tape and
the book after ``advance(t)`` therefore depend only on the seed and the clock values,
not on how often ``advance`` is called. The sequence counter has its own generator,
because a server bumps it at its own cadence when it publishes book updates.

Prices are integer ticks and sizes integer lots inside; everything leaving the market
is a fixed-decimal string (``"30236.6"``, ``"0.00120290"``), never a float repr.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import NamedTuple

from collectors.simulation.book import BookSide
from collectors.simulation.candles import CandleSeries, RawBar, Timeframe

Clock = Callable[[], int]
"""Returns the current time in milliseconds since the UNIX epoch."""

# Typical prices, so symbols look plausible; matched on the symbol's leading letters.
_TYPICAL_PRICES = {
    "BTC": "30000", "ETH": "2000", "SOL": "100", "BNB": "300", "LTC": "80", "AVAX": "30",
    "LINK": "15", "DOT": "6", "TON": "5", "ADA": "0.4", "XRP": "0.5", "TRX": "0.1", "DOGE": "0.1",
}  # fmt: skip
_TRADE_NOTIONAL = 200.0  # median taker order, in quote currency
_new_tuple = tuple.__new__  # builds NamedTuples without their Python-level __new__ (hot path)
_LEVEL_NOTIONAL = 5000.0  # median resting level, in quote currency


def system_clock_ms() -> int:
    """Wall-clock milliseconds since the epoch (the default clock)."""
    return time.time_ns() // 1_000_000


def format_units(units: int, decimals: int) -> str:
    """Fixed-decimal string of ``units`` counted in ``10**-decimals`` (``12029, 7 -> "0.0012029"``)."""
    if decimals == 0:
        return str(units)
    sign = "-" if units < 0 else ""
    digits = str(abs(units)).rjust(decimals + 1, "0")
    return f"{sign}{digits[:-decimals]}.{digits[-decimals:]}"


def parse_units(text: str) -> int:
    """Inverse of :func:`format_units` for strings with the instrument's fixed decimals."""
    return int(text.replace(".", ""))


def typical_price(symbol: str) -> str:
    """A plausible start price for ``symbol`` from its base asset; ``"10"`` when unknown."""
    upper = symbol.upper()
    for base in sorted(_TYPICAL_PRICES, key=len, reverse=True):
        if upper.startswith(base):
            return _TYPICAL_PRICES[base]
    return "10"


@dataclass(frozen=True, slots=True)
class InstrumentSpec:
    """Price and size grid of one instrument (tick = 10**-price_decimals, lot likewise)."""

    symbol: str
    start_price: str
    price_decimals: int
    size_decimals: int

    @classmethod
    def for_symbol(cls, symbol: str, start_price: str | None = None) -> InstrumentSpec:
        """A grid scaled to the price: about six significant price digits, a lot worth ~1e-4 quote."""
        price = start_price or typical_price(symbol)
        magnitude = math.floor(math.log10(float(price)))
        return cls(symbol, price, min(8, max(0, 5 - magnitude)), min(8, max(0, 4 + magnitude)))


class SimTrade(NamedTuple):
    """Ground truth of one generated trade; ``side`` is the taker side."""

    symbol: str
    trade_id: int
    price: str
    size: str
    side: str  # "buy" | "sell"
    ts_ms: int


class TradeEvent(NamedTuple):
    """A trade as it happens, with the instrument sequence number it moved the book to."""

    trade: SimTrade
    sequence: int


BookLevel = tuple[str, str, int]  # (price, size, order count); size "0" marks a deleted level


class BookLevels(NamedTuple):
    """Book levels, both sides best first (bids descending, asks ascending)."""

    bids: list[BookLevel]
    asks: list[BookLevel]


@dataclass(frozen=True, slots=True)
class TickerState:
    """Latest trade, best bid/ask and 24-hour figures, as strings."""

    last: str
    last_size: str
    bid: str
    bid_size: str
    ask: str
    ask_size: str
    open_24h: str
    high_24h: str
    low_24h: str
    start_of_day_utc0: str
    start_of_day_utc8: str
    volume_24h: str  # base currency
    quote_volume_24h: str  # quote currency
    ts_ms: int


@dataclass(frozen=True, slots=True)
class CandleBar:
    """One OHLCV bar as strings; ``closed`` once the market clock has passed its end."""

    open_ms: int
    open: str
    high: str
    low: str
    close: str
    volume: str  # base currency
    quote_volume: str  # quote currency
    trade_count: int
    closed: bool


class _Instrument:
    """State and dynamics of one instrument (see the module docstring)."""

    def __init__(
        self, spec: InstrumentSpec, seed: int, trade_rate: float, depth: int, step_ms: int,
        volatility: float, start_ms: int,
    ) -> None:  # fmt: skip
        self.spec = spec
        self.rng = random.Random(f"{seed}:{spec.symbol}")
        self.sequence_rng = random.Random(f"{seed}:{spec.symbol}:sequence")
        self.depth = depth
        self.step_ms = step_ms
        self.trades_per_step = trade_rate * step_ms / 1000.0
        self.sigma = volatility * math.sqrt(step_ms / 1000.0)
        self.tick_scale = 10**spec.price_decimals
        self.lot_scale = 10**spec.size_decimals
        start = int(Decimal(spec.start_price) * self.tick_scale)
        self.fair = float(start)
        self.min_fair = depth * 8  # room below the bids for a full book
        self.carry = 0.0
        self.bids = BookSide(is_bid=True)
        self.asks = BookSide(is_bid=False)
        self.log: list[SimTrade] = []
        # Like a real venue, ids keep growing across restarts: they start from the start time
        # (1,000 ids per ms of wall time), so a simulator restarted with the same seed never
        # reuses an id of an earlier run (stored trades are unique on the id).
        self.first_trade_id = start_ms * 1000 + self.rng.randint(0, 999)
        self.next_trade_id = self.first_trade_id
        self.sequence = self.sequence_rng.randint(1_000_000_000, 3_000_000_000)
        self.series: dict[Timeframe, CandleSeries] = {}
        self.version = 0  # bumped by trades and top-of-book changes: tickers compare it
        self.last_top: tuple[object, ...] = ()
        self._price_text: dict[int, str] = {}
        rng = self.rng
        # Lognormal multipliers of the median trade size (sigma 1), drawn once per instrument.
        self.size_table = [math.exp(rng.gauss(0.0, 1.0)) for _ in range(4096)]
        # 24-hour figures start from a plausible past day, then follow the trades.
        self.last_price, self.last_ts = start, start_ms
        self.last_size = int(math.exp(self._lots_for(_TRADE_NOTIONAL, start))) + 1
        self.open_24h = int(start * (1 + rng.gauss(0, 0.02)))
        self.high_24h = int(max(start, self.open_24h) * (1 + abs(rng.gauss(0, 0.01))))
        self.low_24h = int(min(start, self.open_24h) * (1 - abs(rng.gauss(0, 0.01))))
        self.sod_utc0 = int(start * (1 + rng.gauss(0, 0.01)))
        self.sod_utc8 = int(start * (1 + rng.gauss(0, 0.01)))
        notional = math.exp(rng.uniform(math.log(1e6), math.log(1e8)))
        self.volume_24h = int(notional / (start / self.tick_scale) * self.lot_scale)
        self.quote_volume_24h = self.volume_24h * start
        self._pad(int(self.fair))
        self.bids.original.clear()
        self.asks.original.clear()
        self._check_top()

    # -- formatting -------------------------------------------------------------------------

    def price_text(self, tick: int) -> str:
        cache = self._price_text
        text = cache.get(tick)
        if text is None:
            if len(cache) > 100_000:  # the walk can wander; keep the cache bounded
                cache.clear()
            text = cache[tick] = format_units(tick, self.spec.price_decimals)
        return text

    def size_text(self, lots: int) -> str:
        return format_units(lots, self.spec.size_decimals)

    def level_text(self, tick: int, level: tuple[int, int] | None) -> BookLevel:
        if level is None:
            return (self.price_text(tick), "0", 0)
        return (self.price_text(tick), self.size_text(level[0]), level[1])

    # -- dynamics ---------------------------------------------------------------------------

    def _lots_for(self, notional: float, fair: int) -> float:
        """log of the lot count worth ``notional`` quote at ``fair``."""
        return math.log(notional * self.tick_scale * self.lot_scale / fair)

    def _new_level(self, fair: int) -> tuple[int, int]:
        rng = self.rng
        lots = int(math.exp(rng.gauss(self._lots_for(_LEVEL_NOTIONAL, fair), 1.0))) + 1
        return (lots, 1 + int(rng.random() * 20))

    def step(self, t0: int, t1: int, events: list[TradeEvent], market_log: list[SimTrade]) -> None:
        """Move the instrument from market time ``t0`` to ``t1``."""
        if self.trades_per_step <= 0:
            return  # a halted market: nothing trades, quotes stand still (quiet-book scenarios)
        rng = self.rng
        self.fair *= math.exp(rng.gauss(0.0, self.sigma))
        if self.fair < self.min_fair:
            self.fair = float(self.min_fair)
        fair = int(self.fair + 0.5)
        bids, asks = self.bids, self.asks
        # Quotes never cross the fair price: bids stay below it, asks at or above it.
        while bids.ticks and bids.ticks[-1] >= fair:
            bids.remove(bids.ticks[-1])
        while asks.ticks and asks.ticks[0] < fair:
            asks.remove(asks.ticks[0])
        self.carry += self.trades_per_step * 2.0 * rng.random()
        count = int(self.carry)
        if count:
            self.carry -= count
            self._trade(count, t0, t1, fair, events, market_log)
        self._churn(fair, count)
        self._pad(fair)
        self._check_top()

    def _trade(
        self, count: int, t0: int, t1: int, fair: int, events: list[TradeEvent], market_log: list[SimTrade]
    ) -> None:
        # The hot loop of high-rate runs: locals instead of attribute lookups, tuple.__new__
        # instead of the NamedTuple constructors, sizes from a precomputed lognormal table.
        random_, seq_random = self.rng.random, self.sequence_rng.random
        table, table_size = self.size_table, len(self.size_table)
        median_lots = math.exp(self._lots_for(_TRADE_NOTIONAL, fair))
        symbol, decimals, log, series = self.spec.symbol, self.spec.size_decimals, self.log, self.series
        log_append, market_append, events_append = log.append, market_log.append, events.append
        prices, price_text = self._price_text, self.price_text
        bids, asks = self.bids, self.asks
        trade_id, sequence = self.next_trade_id, self.sequence
        high, low, volume, quote_volume = self.high_24h, self.low_24h, self.volume_24h, self.quote_volume_24h
        span = t1 - t0
        tick = size = ts = 0
        for index in range(count):
            ts = t0 + (index + 1) * span // count
            if random_() < 0.5:
                book, side = asks, "buy"  # a taker buy lifts the best ask
            else:
                book, side = bids, "sell"
            if not book.ticks:  # only at absurd rates: the whole side was eaten this step
                self._pad(fair)
            tick = book.ticks[-1] if side == "sell" else book.ticks[0]
            lots, orders = book.levels[tick]
            size = int(median_lots * table[int(random_() * table_size)]) + 1
            if size >= lots:
                size = lots  # one price per trade: the taker takes the whole level and stops
                book.remove(tick)
            else:
                book.set(tick, (lots - size, orders))
            price = prices.get(tick) or price_text(tick)
            if decimals:
                digits = str(size).rjust(decimals + 1, "0")
                size_text = f"{digits[:-decimals]}.{digits[-decimals:]}"
            else:
                size_text = str(size)
            trade = _new_tuple(SimTrade, (symbol, trade_id, price, size_text, side, ts))
            trade_id += 1
            sequence += 1 + int(seq_random() * 12)
            log_append(trade)
            market_append(trade)
            events_append(_new_tuple(TradeEvent, (trade, sequence)))
            if series:
                for candles in series.values():
                    candles.add(ts, tick, size)
            if tick > high:
                high = tick
            elif tick < low:
                low = tick
            volume += size
            quote_volume += tick * size
        self.next_trade_id, self.sequence = trade_id, sequence
        self.high_24h, self.low_24h, self.volume_24h, self.quote_volume_24h = high, low, volume, quote_volume
        self.last_price, self.last_size, self.last_ts = tick, size, ts
        self.version += 1

    def _churn(self, fair: int, trades: int) -> None:
        """Resize, delete and add levels, mostly near the top; refill the gap to the fair price."""
        rng = self.rng
        for _ in range(1 + int(rng.random() * 6)):
            book = self.bids if rng.random() < 0.5 else self.asks
            if not book.ticks:
                continue
            tick = book.at_depth(min(int(rng.expovariate(0.15)), len(book.ticks) - 1))
            roll = rng.random()
            if roll < 0.6:
                book.set(tick, self._new_level(fair))
            elif roll < 0.8 and len(book.ticks) > 1:
                book.remove(tick)
            else:
                deeper = tick - 1 if book.is_bid else tick + 1  # deeper never crosses the other side
                if deeper > 0 and deeper not in book.levels:
                    book.set(deeper, self._new_level(fair))
        # Market makers step in between the best quote and the fair price, harder when
        # takers are busy, so the spread stays tight at high trade rates too.
        bids, asks = self.bids, self.asks
        for _ in range(1 + trades // 8):
            if rng.random() < 0.5:
                top = bids.ticks[-1] if bids.ticks else fair - 3
                if top < fair - 1:
                    bids.set(rng.randint(top + 1, fair - 1), self._new_level(fair))
            if rng.random() < 0.5:
                top = asks.ticks[0] if asks.ticks else fair + 3
                if top > fair:
                    asks.set(rng.randint(fair, top - 1), self._new_level(fair))

    def _pad(self, fair: int) -> None:
        """Keep exactly ``depth`` levels per side, trimming or extending at the deep end."""
        rng = self.rng
        for book, direction in ((self.bids, -1), (self.asks, 1)):
            while len(book.ticks) > self.depth:
                book.remove(book.worst())
            while len(book.ticks) < self.depth:
                if book.ticks:
                    tick = book.worst() + direction * (1 + int(rng.random() * 3))
                else:
                    tick = fair - 1 if book.is_bid else fair
                if tick <= 0:
                    break
                book.set(tick, self._new_level(fair))

    def _check_top(self) -> None:
        bid, ask = self.bids.ticks[-1], self.asks.ticks[0]
        top = (bid, self.bids.levels[bid], ask, self.asks.levels[ask])
        if top != self.last_top:
            self.last_top = top
            self.version += 1

    # -- views ------------------------------------------------------------------------------

    def candle_series(self, timeframe: Timeframe, start_ms: int) -> CandleSeries:
        series = self.series.get(timeframe)
        if series is None:
            start_price = int(Decimal(self.spec.start_price) * self.tick_scale)
            series = self.series[timeframe] = CandleSeries(timeframe, start_ms, start_price)
            for trade in self.log:  # catch up on the tape so far, then follow it live
                series.add(trade.ts_ms, parse_units(trade.price), parse_units(trade.size))
        return series

    def candle_bar(self, raw: RawBar, closed: bool) -> CandleBar:
        if raw.trade_count == 0:
            price = self.price_text(raw.close)
            return CandleBar(raw.open_ms, price, price, price, price, "0", "0", 0, closed)
        quote_decimals = self.spec.price_decimals + self.spec.size_decimals
        return CandleBar(
            raw.open_ms, self.price_text(raw.open), self.price_text(raw.high), self.price_text(raw.low),
            self.price_text(raw.close), self.size_text(raw.volume),
            format_units(raw.quote_volume, quote_decimals),
            raw.trade_count, closed,
        )  # fmt: skip


class SyntheticMarket:
    """Seeded synthetic market for a set of symbols (see the module docstring).

    Args:
        symbols: instrument ids (opaque strings) or full :class:`InstrumentSpec` s.
        seed: seed of every random draw.
        trade_rate: mean trades per second per symbol.
        book_depth: levels per side.
        step_ms: market time step; all dynamics happen per step.
        volatility: relative standard deviation of the fair price per square-root second.
        clock: milliseconds since the epoch; defaults to the wall clock.
        max_catch_up_ms: after a longer clock jump the market skips ahead instead of
            simulating every missed step.
    """

    def __init__(
        self,
        symbols: Iterable[str | InstrumentSpec],
        *,
        seed: int = 1,
        trade_rate: float = 20.0,
        book_depth: int = 400,
        step_ms: int = 10,
        volatility: float = 0.0002,
        clock: Clock | None = None,
        max_catch_up_ms: int = 5_000,
    ) -> None:
        if trade_rate < 0:
            raise ValueError(f"trade_rate must be >= 0, got {trade_rate}")
        if book_depth < 1 or step_ms < 1:
            raise ValueError("book_depth and step_ms must be positive")
        self._clock = clock or system_clock_ms
        self._step_ms = step_ms
        self._max_catch_up_ms = max_catch_up_ms
        self._start_ms = self._time = self._clock()
        self._log: list[SimTrade] = []
        self._instruments: dict[str, _Instrument] = {}
        for item in symbols:
            spec = item if isinstance(item, InstrumentSpec) else InstrumentSpec.for_symbol(item)
            if spec.symbol in self._instruments:
                raise ValueError(f"duplicate symbol {spec.symbol!r}")
            self._instruments[spec.symbol] = _Instrument(
                spec, seed, trade_rate, book_depth, step_ms, volatility, self._start_ms
            )
        if not self._instruments:
            raise ValueError("at least one symbol is required")

    # -- time -------------------------------------------------------------------------------

    @property
    def symbols(self) -> tuple[str, ...]:
        return tuple(self._instruments)

    @property
    def time_ms(self) -> int:
        """Market time: every trade with a timestamp at or before it has been generated."""
        return self._time

    def clock_ms(self) -> int:
        """The injected clock's current value."""
        return self._clock()

    def set_trade_rate(self, trade_rate: float) -> None:
        """Change the mean trades per second per symbol from the next step on."""
        for instrument in self._instruments.values():
            instrument.trades_per_step = trade_rate * self._step_ms / 1000.0

    def advance(self, now_ms: int | None = None) -> list[TradeEvent]:
        """Simulate every whole step up to ``now_ms`` (default: the clock); return the new trades."""
        now = self._clock() if now_ms is None else now_ms
        steps = (now - self._time) // self._step_ms
        events: list[TradeEvent] = []
        if steps <= 0:
            return events
        max_steps = self._max_catch_up_ms // self._step_ms
        if steps > max_steps:
            self._time += (steps - max_steps) * self._step_ms
            steps = max_steps
        instruments = list(self._instruments.values())
        for _ in range(steps):
            t0 = self._time
            self._time = t1 = t0 + self._step_ms
            for instrument in instruments:
                instrument.step(t0, t1, events, self._log)
        return events

    # -- trades -----------------------------------------------------------------------------

    def _instrument(self, symbol: str) -> _Instrument:
        try:
            return self._instruments[symbol]
        except KeyError:
            raise KeyError(f"unknown symbol {symbol!r}") from None

    def has_symbol(self, symbol: str) -> bool:
        return symbol in self._instruments

    def spec(self, symbol: str) -> InstrumentSpec:
        return self._instrument(symbol).spec

    def trades(self, symbol: str | None = None) -> list[SimTrade]:
        """The ground-truth tape, oldest first: one symbol's, or all in generation order (live list)."""
        return self._log if symbol is None else self._instrument(symbol).log

    def trade_counts(self) -> dict[str, int]:
        return {symbol: len(instrument.log) for symbol, instrument in self._instruments.items()}

    def first_trade_id(self, symbol: str) -> int:
        """Id of the symbol's first trade; ids are consecutive, so id - first is the tape index."""
        return self._instrument(symbol).first_trade_id

    # -- book and sequence ------------------------------------------------------------------

    def book(self, symbol: str, depth: int | None = None) -> BookLevels:
        """Current levels, best first, at most ``depth`` per side."""
        instrument = self._instrument(symbol)
        count = depth if depth is not None else instrument.depth
        bids = [instrument.level_text(t, instrument.bids.levels[t]) for t in instrument.bids.top(count)]
        asks = [instrument.level_text(t, instrument.asks.levels[t]) for t in instrument.asks.top(count)]
        return BookLevels(bids, asks)

    def take_book_changes(self, symbol: str) -> BookLevels:
        """Levels changed since the previous call (size ``"0"`` = deleted), best first."""
        instrument = self._instrument(symbol)
        bids = [instrument.level_text(t, level) for t, level in instrument.bids.take_changes()]
        asks = [instrument.level_text(t, level) for t, level in instrument.asks.take_changes()]
        return BookLevels(bids, asks)

    def sequence(self, symbol: str) -> int:
        return self._instrument(symbol).sequence

    def next_sequence(self, symbol: str) -> int:
        """Advance the instrument's sequence number by an irregular step (1..12) and return it."""
        instrument = self._instrument(symbol)
        instrument.sequence += 1 + int(instrument.sequence_rng.random() * 12)
        return instrument.sequence

    def reset_sequence(self, symbol: str) -> int:
        """Restart the sequence at a small number below the current one (as after maintenance)."""
        instrument = self._instrument(symbol)
        instrument.sequence = instrument.sequence_rng.randint(0, max(0, min(instrument.sequence - 1, 20)))
        return instrument.sequence

    # -- ticker -----------------------------------------------------------------------------

    def ticker_version(self, symbol: str) -> int:
        """Changes whenever a trade happens or the best bid/ask moves."""
        return self._instrument(symbol).version

    def ticker(self, symbol: str) -> TickerState:
        i = self._instrument(symbol)
        bid, ask = i.bids.best(), i.asks.best()
        price, size = i.price_text, i.size_text
        quote_decimals = i.spec.price_decimals + i.spec.size_decimals
        return TickerState(
            last=price(i.last_price), last_size=size(i.last_size),
            bid=price(bid), bid_size=size(i.bids.levels[bid][0]),
            ask=price(ask), ask_size=size(i.asks.levels[ask][0]),
            open_24h=price(i.open_24h), high_24h=price(i.high_24h), low_24h=price(i.low_24h),
            start_of_day_utc0=price(i.sod_utc0), start_of_day_utc8=price(i.sod_utc8),
            volume_24h=size(i.volume_24h), quote_volume_24h=format_units(i.quote_volume_24h, quote_decimals),
            ts_ms=max(i.last_ts, self._time),
        )  # fmt: skip

    # -- candles ----------------------------------------------------------------------------

    def track_timeframe(self, symbol: str, timeframe: Timeframe) -> None:
        """Start aggregating ``timeframe`` bars for ``symbol`` (from the whole tape so far)."""
        self._instrument(symbol).candle_series(timeframe, self._start_ms)

    def candle(self, symbol: str, timeframe: Timeframe, open_ms: int) -> CandleBar:
        """The bar opening at ``open_ms``."""
        instrument = self._instrument(symbol)
        series = instrument.candle_series(timeframe, self._start_ms)
        return instrument.candle_bar(series.bar(open_ms), timeframe.next_open(open_ms) <= self._time)

    def candles(
        self,
        symbol: str,
        timeframe: Timeframe,
        *,
        older_than: int | None = None,
        newer_than: int | None = None,
        limit: int = 100,
    ) -> list[CandleBar]:
        """Bars newest first, from the forming bar back to the market's start, filtered by open time."""
        instrument = self._instrument(symbol)
        series = instrument.candle_series(timeframe, self._start_ms)
        raw = series.newest_first(
            timeframe.floor(self._time), older_than=older_than, newer_than=newer_than, limit=limit
        )
        return [instrument.candle_bar(bar, timeframe.next_open(bar.open_ms) <= self._time) for bar in raw]

