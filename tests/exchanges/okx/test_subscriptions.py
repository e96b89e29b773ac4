"""OKX channel names, endpoints and subscribe/unsubscribe frames (protocol doc §1.2, §1.5, §1.10)."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest

from collectors.core.errors import ConfigurationError
from collectors.core.types import DataType
from collectors.exchanges.okx import subscriptions
from collectors.exchanges.okx.subscriptions import (
    MAX_REQUEST_BYTES,
    bar_for_timeframe,
    candle_channel,
    channel_arg,
    channel_for,
    endpoint_for_channel,
    frames,
    plan,
    timeframe_for_bar,
    url_kind,
)

FIXTURES = Path(__file__).resolve().parents[3] / ".." / "shared" / "fixtures" / "okx"


@pytest.mark.parametrize(
    ("data_type", "channel"),
    [
        ("trade", "trades"),
        ("ticker", "tickers"),
        ("orderbook", "books"),
        ("top_of_book", "bbo-tbt"),
        ("candle", "candle1m"),
        (DataType.TRADE, "trades"),
        (DataType.CANDLE, "candle1m"),
    ],
)
def test_data_types_map_to_okx_channels(data_type: DataType | str, channel: str) -> None:
    assert channel_for(data_type) == channel


def test_all_trades_channel_is_opt_in() -> None:
    assert channel_for("trade", all_trades=True) == "trades-all"


def test_balance_and_unknown_types_are_rejected_with_reasons() -> None:
    with pytest.raises(ValueError, match="private login"):
        channel_for("balance")
    with pytest.raises(ValueError, match="allowed values: ticker, trade"):
        channel_for("quotes")
    with pytest.raises(ValueError, match="only to candles"):
        channel_for("trade", "1m")


@pytest.mark.parametrize(
    ("timeframe", "channel"),
    [
        ("1s", "candle1s"),
        ("1m", "candle1m"),
        ("15m", "candle15m"),
        ("1h", "candle1H"),
        ("4h", "candle4H"),
        ("1d", "candle1D"),
        ("1w", "candle1W"),
        ("1M", "candle1M"),  # month, not minute
        ("3M", "candle3M"),
        ("6h-utc", "candle6Hutc"),
        ("1d-utc", "candle1Dutc"),
        ("1M-utc", "candle1Mutc"),
        ("1H", "candle1H"),  # OKX's own bar names are accepted as well
        ("1Dutc", "candle1Dutc"),
    ],
)
def test_candle_timeframes_follow_okx_case_rules(timeframe: str, channel: str) -> None:
    assert candle_channel(timeframe) == channel
    assert channel_for("candle", timeframe) == channel


@pytest.mark.parametrize("timeframe", ["2m", "1y", "1hour", "", "1D-UTC", "60"])
def test_unsupported_timeframe_names_the_allowed_values(timeframe: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        bar_for_timeframe(timeframe)
    assert isinstance(caught.value, ValueError)
    assert f"unsupported OKX candle timeframe {timeframe!r}" in str(caught.value)
    assert "allowed values: 1s, 1m, 3m, 5m, 15m, 30m, 1h, 2h, 4h, 6h, 12h, 1d" in str(caught.value)


def test_every_bar_round_trips_through_its_normalized_timeframe() -> None:
    for timeframe in subscriptions.TIMEFRAMES:
        assert timeframe_for_bar(bar_for_timeframe(timeframe)) == timeframe
    assert timeframe_for_bar("6Hutc") == "6h-utc"
    with pytest.raises(ValueError, match="unknown OKX bar '1h'"):
        timeframe_for_bar("1h")


def test_candles_and_all_trades_live_on_the_business_url() -> None:
    assert endpoint_for_channel("candle1m") == "business"
    assert endpoint_for_channel("candle1Mutc") == "business"
    assert endpoint_for_channel("trades-all") == "business"
    for channel in ("trades", "tickers", "books", "bbo-tbt", "books5"):
        assert endpoint_for_channel(channel) == "public"
    assert url_kind(DataType.CANDLE) == "business"
    assert url_kind("orderbook") == "public"


def test_channel_arg_uses_okx_key_names_and_checks_the_symbol() -> None:
    assert channel_arg("candle", "BTC-USDT", "1h") == {"channel": "candle1H", "instId": "BTC-USDT"}
    with pytest.raises(ValueError, match="OKX instrument id"):
        channel_arg("trade", " BTC-USDT")


def test_plan_groups_arguments_by_endpoint() -> None:
    assert plan(["BTC-USDT", "ETH-USDT"], ["trade", "candle", "orderbook"], ["1m", "1h"]) == {
        "public": [
            {"channel": "trades", "instId": "BTC-USDT"},
            {"channel": "trades", "instId": "ETH-USDT"},
            {"channel": "books", "instId": "BTC-USDT"},
            {"channel": "books", "instId": "ETH-USDT"},
        ],
        "business": [
            {"channel": "candle1m", "instId": "BTC-USDT"},
            {"channel": "candle1m", "instId": "ETH-USDT"},
            {"channel": "candle1H", "instId": "BTC-USDT"},
            {"channel": "candle1H", "instId": "ETH-USDT"},
        ],
    }


def test_subscribe_frame_matches_the_documented_request() -> None:
    [frame] = frames("subscribe", [channel_arg("ticker", "BTC-USDT")], request_id="1512")
    args = [{"channel": "tickers", "instId": "BTC-USDT"}]
    assert json.loads(frame) == {"id": "1512", "op": "subscribe", "args": args}
    [frame] = frames("unsubscribe", [channel_arg("ticker", "BTC-USDT")])
    assert json.loads(frame) == {"op": "unsubscribe", "args": args}


def test_subscribe_frame_is_byte_identical_to_a_recorded_request() -> None:
    timeline = FIXTURES / "okx_2022-05-13_cryptofeed.timeline.jsonl"
    if not timeline.exists():
        pytest.skip(f"shared OKX fixtures not found at {timeline} (expected next to the repository)")
    sent = [json.loads(line) for line in timeline.read_text().splitlines()]
    recorded = next(entry["raw"] for entry in sent if entry.get("dir") == "send")
    symbols = ["BTC-USD-220527", "UNI-USD-SWAP", "BTC-USDT"]
    assert frames("subscribe", plan(symbols, ["ticker"])["public"]) == [recorded.encode()]


def test_large_requests_are_split_below_the_size_limit_without_losing_arguments() -> None:
    args = [{"channel": "books", "instId": f"COIN{i}-USDT-SWAP"} for i in range(3000)]
    result = frames("subscribe", args, request_id="7")
    assert len(result) > 1
    assert all(len(frame) <= MAX_REQUEST_BYTES for frame in result)
    decoded = [msgspec.json.decode(frame) for frame in result]
    assert all(request["id"] == "7" and request["op"] == "subscribe" for request in decoded)
    assert [arg for request in decoded for arg in request["args"]] == args


def test_split_uses_the_given_limit_exactly() -> None:
    args = [channel_arg("trade", symbol) for symbol in ("BTC-USDT", "ETH-USDT", "SOL-USDT")]
    one = frames("subscribe", args[:1])[0]
    two = frames("subscribe", args[:2])[0]
    assert frames("subscribe", args, max_bytes=len(two)) == [two, frames("subscribe", args[2:])[0]]
    assert len(frames("subscribe", args, max_bytes=len(two) - 1)) == 3
    assert frames("subscribe", args[:1], max_bytes=len(one)) == [one]
    with pytest.raises(ValueError, match="one argument alone exceeds"):
        frames("subscribe", args[:1], max_bytes=len(one) - 1)


def test_frames_reject_bad_input() -> None:
    assert frames("subscribe", []) == []
    with pytest.raises(ValueError, match="1-32 letters or digits"):
        frames("subscribe", [channel_arg("trade", "BTC-USDT")], request_id="not-alnum")
    with pytest.raises(ValueError, match="1-32 letters or digits"):
        frames("subscribe", [channel_arg("trade", "BTC-USDT")], request_id="x" * 33)
    with pytest.raises(ValueError, match="several endpoints"):
        frames("subscribe", [channel_arg("trade", "BTC-USDT"), channel_arg("candle", "BTC-USDT")])
    with pytest.raises(ValueError, match="'subscribe' or 'unsubscribe'"):
        frames("login", [channel_arg("trade", "BTC-USDT")])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="without a 'channel'"):
        frames("subscribe", [{"instId": "BTC-USDT"}])
