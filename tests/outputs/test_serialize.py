"""JSON for Redis consumers: decimals as strings, both clocks, flat objects."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from collectors.core.records import BookSnapshot, Candle, Trade
from collectors.core.types import DataType, MarketDataPoint
from collectors.outputs.serialize import decode_point, encode_point

T0_NS = 1_798_761_600_123_000_000


def test_a_trade_keeps_its_decimal_strings_and_both_times() -> None:
    trade = Trade(
        "okx",
        "BTC-USDT",
        "242720720",
        Decimal("42219.90"),
        Decimal("0.12060306"),
        "buy",
        T0_NS,
        T0_NS + 2_071_000,
    )

    encoded = encode_point(MarketDataPoint("okx", "BTC-USDT", None, DataType.TRADE, None, trade))

    assert encoded.startswith(b'{"data_type":"trade","record_type":"trade","exchange":"okx"')
    assert decode_point(encoded) == {
        "data_type": "trade",
        "record_type": "trade",
        "exchange": "okx",
        "symbol": "BTC-USDT",
        "trade_id": "242720720",
        "price": "42219.90",
        "size": "0.12060306",
        "side": "buy",
        "event_time_ns": T0_NS,
        "receive_time_ns": T0_NS + 2_071_000,
        "fill_count": 1,
    }


def test_a_candle_carries_event_time_as_its_open_time() -> None:
    candle = Candle(
        "okx",
        "BTC-USDT",
        "1m",
        T0_NS,
        Decimal("1.0"),
        Decimal("2"),
        Decimal("0.5"),
        Decimal("1.5"),
        Decimal("10"),
        None,
        False,
        T0_NS + 5,
    )

    decoded = decode_point(
        encode_point(MarketDataPoint("okx", "BTC-USDT", None, DataType.CANDLE, None, candle))
    )

    assert decoded["event_time_ns"] == decoded["open_time_ns"] == T0_NS
    assert decoded["receive_time_ns"] == T0_NS + 5
    assert (decoded["open"], decoded["quote_volume"], decoded["closed"]) == ("1.0", None, False)


def test_book_levels_are_price_size_pairs() -> None:
    snapshot = BookSnapshot(
        "okx",
        "BTC-USDT",
        [(Decimal("99.5"), Decimal("1"))],
        [(Decimal("100.5"), Decimal("2.0"))],
        42,
        T0_NS,
        T0_NS + 1,
    )

    decoded = decode_point(
        encode_point(MarketDataPoint("okx", "BTC-USDT", None, DataType.ORDERBOOK, None, snapshot))
    )

    assert (decoded["data_type"], decoded["record_type"]) == ("orderbook", "book_snapshot")
    assert (decoded["bids"], decoded["asks"], decoded["sequence"]) == (
        [["99.5", "1"]],
        [["100.5", "2.0"]],
        42,
    )


def test_a_dict_point_is_flattened_with_an_iso_timestamp() -> None:
    when = dt.datetime(2027, 1, 1, 0, 0, 1, tzinfo=dt.UTC)
    point = MarketDataPoint("okx", "BTC-USDT", when, DataType.TICKER, {"last": Decimal("1.50")})

    assert decode_point(encode_point(point)) == {
        "data_type": "ticker",
        "exchange": "okx",
        "symbol": "BTC-USDT",
        "timestamp": "2027-01-01T00:00:01Z",
        "last": "1.50",
    }
