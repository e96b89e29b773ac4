"""The synthetic market on its own: determinism, string formats, book invariants, candles."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest

from collectors.simulation import (
    FixedTimeframe,
    InstrumentSpec,
    MonthTimeframe,
    SyntheticMarket,
    format_units,
)
from collectors.simulation.market import CandleBar, SimTrade, parse_units

START = 1_700_000_000_000
SYMBOLS = ("BTC-USDT", "ETH-USDT", "XRP-USDT")


class ManualClock:
    def __init__(self, now: int = START) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def market(seed: int = 1, trade_rate: float = 50.0) -> tuple[SyntheticMarket, ManualClock]:
    clock = ManualClock()
    return SyntheticMarket(SYMBOLS, seed=seed, trade_rate=trade_rate, clock=clock), clock


def test_same_seed_and_clock_values_give_the_same_market_however_often_advanced() -> None:
    (one, clock_one), (other, clock_other) = market(), market()
    clock_one.now += 4_000
    one.advance()
    for _ in range(40):  # the same span in small, uneven slices
        clock_other.now += 100
        other.advance()
    assert one.trades() == other.trades() and len(one.trades()) > 300
    for symbol in SYMBOLS:
        assert one.book(symbol) == other.book(symbol)
        assert one.ticker(symbol) == other.ticker(symbol)
    different, clock = market(seed=2)
    clock.now += 4_000
    different.advance()
    assert different.trades() != one.trades()


def test_prices_and_sizes_are_fixed_decimal_strings_on_the_instrument_grid() -> None:
    m, clock = market()
    clock.now += 3_000
    m.advance()
    for symbol in SYMBOLS:
        spec = m.spec(symbol)
        price_form = re.compile(rf"\d+\.\d{{{spec.price_decimals}}}")
        size_form = re.compile(rf"\d+\.\d{{{spec.size_decimals}}}")
        trades = m.trades(symbol)
        assert trades and all(price_form.fullmatch(t.price) and size_form.fullmatch(t.size) for t in trades)
        assert all(Decimal(t.size) > 0 for t in trades)
        book = m.book(symbol)
        assert all(price_form.fullmatch(p) and size_form.fullmatch(s) for p, s, _ in book.bids + book.asks)
    assert InstrumentSpec.for_symbol("BTC-USDT") == InstrumentSpec("BTC-USDT", "30000", 1, 8)
    assert InstrumentSpec.for_symbol("XRP-USDT").price_decimals == 6
    assert format_units(12029, 7) == "0.0012029" and format_units(302366, 1) == "30236.6"
    assert format_units(5, 0) == "5" and parse_units("0.0012029") == 12029


def test_trade_tape_ids_times_sides_and_rate() -> None:
    m, clock = market(trade_rate=50.0)
    clock.now += 4_000
    events = m.advance()
    assert [e.trade for e in events] == m.trades()
    for symbol in SYMBOLS:
        trades = m.trades(symbol)
        ids = [t.trade_id for t in trades]
        assert ids == list(range(m.first_trade_id(symbol), m.first_trade_id(symbol) + len(ids)))
        assert all(a.ts_ms <= b.ts_ms for a, b in zip(trades, trades[1:], strict=False))
        assert all(START < t.ts_ms <= START + 4_000 for t in trades)
        assert {t.side for t in trades} == {"buy", "sell"}
        assert 150 <= len(trades) <= 250  # 50/s for 4 s
    sequences = [e.sequence for e in events if e.trade.symbol == "BTC-USDT"]
    steps = {b - a for a, b in zip(sequences, sequences[1:], strict=False)}
    assert min(steps) >= 1 and max(steps) <= 12 and len(steps) > 5  # irregular increments


def test_book_keeps_depth_never_crosses_and_changes_replay_to_the_same_book() -> None:
    m, clock = market(trade_rate=200.0)
    symbol = "ETH-USDT"
    mirror_bids = {p: (s, n) for p, s, n in m.book(symbol).bids}
    mirror_asks = {p: (s, n) for p, s, n in m.book(symbol).asks}
    for _ in range(50):
        clock.now += 50
        m.advance()
        changes = m.take_book_changes(symbol)
        for mirror, levels in ((mirror_bids, changes.bids), (mirror_asks, changes.asks)):
            for price, size, orders in levels:
                if size == "0":
                    mirror.pop(price, None)
                else:
                    mirror[price] = (size, orders)
        book = m.book(symbol)
        assert len(book.bids) == len(book.asks) == 400
        assert Decimal(book.bids[0][0]) < Decimal(book.asks[0][0])
        assert {p: (s, n) for p, s, n in book.bids} == mirror_bids
        assert {p: (s, n) for p, s, n in book.asks} == mirror_asks
    assert m.take_book_changes(symbol) == ([], [])


def test_trades_consume_the_best_level() -> None:
    m, clock = market(trade_rate=5.0)
    before = m.book("BTC-USDT", 1)
    while not m.trades("BTC-USDT"):
        clock.now += 10
        m.advance()
    trade = m.trades("BTC-USDT")[0]
    # The first trade happens in the first step with a trade, at that step's best quote.
    assert trade.side in ("buy", "sell") and Decimal(trade.price) > 0
    assert abs(Decimal(trade.price) - Decimal(before.asks[0][0])) < Decimal("100")


def test_sequence_counter_and_reset() -> None:
    m, _ = market()
    first = m.sequence("BTC-USDT")
    steps = [m.next_sequence("BTC-USDT") for _ in range(50)]
    assert all(1 <= b - a <= 12 for a, b in zip([first, *steps], steps, strict=False))
    reset = m.reset_sequence("BTC-USDT")
    assert 0 <= reset < steps[-1] and m.next_sequence("BTC-USDT") > reset


def test_candles_equal_an_aggregation_of_the_tape_and_carry_quiet_bars() -> None:
    m, clock = market(trade_rate=3.0)
    minute = FixedTimeframe(60_000)
    m.track_timeframe("ETH-USDT", minute)  # ETH bars are aggregated live from here on
    for _ in range(40):  # 2.5 minutes of trading in 3.75 s slices (the catch-up limit is 5 s)
        clock.now += 3_750
        m.advance()
    for symbol in ("ETH-USDT", "BTC-USDT"):  # BTC bars are first built from the tape when asked for
        check_bars(m.candles(symbol, minute, limit=10), m.trades(symbol))


def check_bars(bars: list[CandleBar], trades: list[SimTrade]) -> None:
    assert len(bars) == 3  # 150 s from 20 s into a minute: a partial bar, a full one, the forming one
    assert [b.open_ms for b in bars] == sorted((b.open_ms for b in bars), reverse=True)
    assert bars[0].closed is False and all(b.closed for b in bars[1:])
    for bar in bars:
        inside = [t for t in trades if bar.open_ms <= t.ts_ms < bar.open_ms + 60_000]
        if not inside:
            assert bar.volume == "0" and bar.open == bar.high == bar.low == bar.close
            continue
        prices = [Decimal(t.price) for t in inside]
        assert (Decimal(bar.open), Decimal(bar.close)) == (prices[0], prices[-1])
        assert (Decimal(bar.high), Decimal(bar.low)) == (max(prices), min(prices))
        assert Decimal(bar.volume) == sum(Decimal(t.size) for t in inside)
        assert Decimal(bar.quote_volume) == sum(Decimal(t.price) * Decimal(t.size) for t in inside)
        assert bar.trade_count == len(inside)


def test_halted_market_stands_still() -> None:
    m, clock = market(trade_rate=0.0)
    book = m.book("BTC-USDT")
    clock.now += 2_000
    assert m.advance() == [] and m.book("BTC-USDT") == book and m.time_ms == START + 2_000
    m.set_trade_rate(100.0)
    clock.now += 1_000
    assert len(m.advance()) > 100


HOUR, DAY = 3_600_000, 86_400_000


@pytest.mark.parametrize(
    ("timeframe", "ts", "expected_open"),
    [
        (FixedTimeframe(60_000), "2024-03-05T10:17:42+00:00", "2024-03-05T10:17:00+00:00"),
        (FixedTimeframe.aligned(DAY, 8 * HOUR), "2024-03-05T10:00:00+00:00", "2024-03-04T16:00:00+00:00"),
        (FixedTimeframe.aligned(7 * DAY), "2024-03-07T10:00:00+00:00", "2024-03-04T00:00:00+00:00"),
        (MonthTimeframe(1), "2024-03-31T23:59:59+00:00", "2024-03-01T00:00:00+00:00"),
        (MonthTimeframe(3, 8 * HOUR), "2024-05-10T00:00:00+00:00", "2024-03-31T16:00:00+00:00"),
    ],
)
def test_timeframes_align_bars(
    timeframe: FixedTimeframe | MonthTimeframe, ts: str, expected_open: str
) -> None:
    def ms(text: str) -> int:
        return int(dt.datetime.fromisoformat(text).timestamp() * 1000)

    opened = timeframe.floor(ms(ts))
    assert opened == ms(expected_open)
    assert timeframe.previous_open(timeframe.next_open(opened)) == opened
    assert timeframe.floor(timeframe.next_open(opened) - 1) == opened


def test_constructor_validation() -> None:
    with pytest.raises(ValueError, match="trade_rate"):
        SyntheticMarket(["BTC-USDT"], trade_rate=-1)
    with pytest.raises(ValueError, match="duplicate"):
        SyntheticMarket(["BTC-USDT", "BTC-USDT"])
    with pytest.raises(KeyError, match="NOPE"):
        SyntheticMarket(["BTC-USDT"]).book("NOPE")


def test_a_market_restarted_later_with_the_same_seed_never_reuses_trade_ids() -> None:
    first_clock = [1_767_225_600_000]
    first = SyntheticMarket(("BTC-USDT",), seed=1, trade_rate=500.0, clock=lambda: first_clock[0])
    first_clock[0] += 60_000
    earlier = {e.trade.trade_id for e in first.advance()}
    assert len(earlier) > 1000
    second = SyntheticMarket(("BTC-USDT",), seed=1, trade_rate=500.0, clock=lambda: first_clock[0] + 1)
    later = {e.trade.trade_id for e in second.advance(first_clock[0] + 60_001)}
    assert later and min(later) > max(earlier)
