"""Records -> rows (pure) and the candle de-duplication an upsert needs."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import msgspec
import pytest

from collectors.core.records import BookTop
from storage.rows import latest_candles, row_as_dict, to_row
from storage.schema import TABLES
from tests.storage.factories import MS, T0_NS, make_candle, make_snapshot, make_trades

T0 = dt.datetime(2027, 1, 1, tzinfo=dt.UTC)


def test_a_trade_row_has_both_times_and_exact_decimal_text() -> None:
    (trade,) = make_trades(1)
    trade = msgspec.structs.replace(trade, size=Decimal("0.00110"), price=Decimal("30000.0"))
    table, row = to_row(trade)

    assert table == "trades"
    assert row[0] == T0_NS // 1000  # times travel as microseconds since the epoch
    assert row_as_dict(table, row) == {
        "time": T0,
        "exchange": "testex",
        "symbol": "BTC-USDT",
        "trade_id": "1000",
        "price": "30000.0",  # the decimal's own text: scale kept, cast to numeric by the server
        "size": "0.00110",
        "side": "sell",
        "fill_count": 1,
        "receive_time": T0 + dt.timedelta(milliseconds=2),
    }
    assert len(row) == len(TABLES["trades"].columns)


def test_a_book_snapshot_keeps_the_top_n_levels_per_side() -> None:
    snapshot = make_snapshot(
        T0_NS, [("99", "1"), ("98", "2"), ("97", "3")], [("101", "4"), ("102", "5")], sequence=7
    )
    _, row = to_row(snapshot, book_depth=2)

    values = row_as_dict("book_snapshots", row)
    assert values["bid_prices"] == ["99", "98"]
    assert values["bid_sizes"] == ["1", "2"]
    assert values["ask_prices"] == ["101", "102"]
    assert values["ask_sizes"] == ["4", "5"]
    assert values["sequence"] == 7


def test_records_without_a_table_are_refused() -> None:
    top = BookTop("testex", "BTC-USDT", None, None, None, None, None, T0_NS, T0_NS)
    with pytest.raises(ValueError, match="BookTop records are not stored"):
        to_row(top)


def test_latest_candles_keeps_one_version_per_key_and_a_closed_one_wins() -> None:
    rows = [
        to_row(make_candle(T0_NS, "101", closed=False, receive_ns=T0_NS + 1 * MS))[1],
        to_row(make_candle(T0_NS, "102", closed=True, receive_ns=T0_NS + 2 * MS))[1],
        to_row(make_candle(T0_NS, "103", closed=False, receive_ns=T0_NS + 3 * MS))[1],  # late forming copy
        to_row(make_candle(T0_NS + 60_000 * MS, "104", closed=False, receive_ns=T0_NS + 4 * MS))[1],
        to_row(make_candle(T0_NS + 60_000 * MS, "105", closed=False, receive_ns=T0_NS + 5 * MS))[1],
    ]

    latest = latest_candles(rows)

    assert [(row_as_dict("candles", r)["close"], row_as_dict("candles", r)["closed"]) for r in latest] == [
        ("102", True),
        ("105", False),
    ]
