"""Redis Pub/Sub and Stream outputs against a real Redis, alone and behind a collector."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import redis.asyncio as aioredis

from collectors.core.records import Ticker, Trade
from collectors.core.types import DataType, MarketDataPoint
from collectors.exchanges.okx.client import OKXCollector
from collectors.exchanges.okx.simulator import OKXSimulator
from collectors.outputs import (
    RedisPubSubSink,
    RedisStreamSink,
    build_sinks,
    decode_point,
    pubsub_channel,
    stream_key,
)
from tests.fixtures_services import TcpProxy, redis_url
from tests.helpers import wait_for

T0_NS = 1_798_761_600_000_000_000


def _trade(index: int, symbol: str = "BTC-USDT") -> MarketDataPoint:
    trade = Trade(
        "okx",
        symbol,
        str(1000 + index),
        Decimal("42000.5"),
        Decimal("0.010"),
        "sell",
        T0_NS + index,
        T0_NS + index + 7,
    )
    return MarketDataPoint("okx", symbol, None, DataType.TRADE, None, trade)


def _ticker() -> MarketDataPoint:
    ticker = Ticker("okx", "BTC-USDT", *([Decimal("1")] * 11), T0_NS, T0_NS + 1)  # type: ignore[arg-type]
    return MarketDataPoint("okx", "BTC-USDT", None, DataType.TICKER, None, ticker)


def test_the_documented_names() -> None:
    assert pubsub_channel("okx", DataType.TRADE, "BTC-USDT") == "md:okx:trade:BTC-USDT"
    assert pubsub_channel("okx", "orderbook", "ETH-USDT") == "md:okx:orderbook:ETH-USDT"
    assert stream_key(DataType.TRADE) == "md:stream:trade"
    assert stream_key("candle", prefix="x") == "x:stream:candle"


async def test_pubsub_publishes_each_point_on_its_channel(redis_client: aioredis.Redis, prefix: str) -> None:
    pubsub = redis_client.pubsub()
    trade_channel = pubsub_channel("okx", DataType.TRADE, "BTC-USDT", prefix)
    await pubsub.subscribe(trade_channel, pubsub_channel("okx", DataType.TICKER, "BTC-USDT", prefix))
    await wait_for(lambda: pubsub.subscribed, timeout=5)
    sink = RedisPubSubSink(redis_url(), prefix=prefix)
    await sink.start()
    received: list[dict[str, Any]] = []
    try:
        for index in range(3):
            await sink.handle(_trade(index))
        await sink.handle(_ticker())
        await sink.handle(_trade(9, symbol="ETH-USDT"))  # a channel nobody listens to

        async def collect() -> bool:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.05)
            if message is not None:
                received.append({"channel": message["channel"].decode(), **decode_point(message["data"])})
            return len(received) == 4

        deadline = time.monotonic() + 5
        while not await collect():
            assert time.monotonic() < deadline, f"got {received}"
    finally:
        await sink.stop()
        await pubsub.aclose()

    assert [(m["channel"], m["data_type"], m.get("trade_id")) for m in received] == [
        (trade_channel, "trade", "1000"),
        (trade_channel, "trade", "1001"),
        (trade_channel, "trade", "1002"),
        (f"{prefix}:okx:ticker:BTC-USDT", "ticker", None),
    ]
    assert received[0]["price"] == "42000.5" and received[0]["receive_time_ns"] == T0_NS + 7
    assert sink.describe()["messages_sent"] == 5


async def test_a_stream_per_data_type_trimmed_to_about_maxlen(
    redis_client: aioredis.Redis, prefix: str
) -> None:
    sink = RedisStreamSink(redis_url(), prefix=prefix, maxlen=100, data_types=["trade"])
    await sink.start()
    for index in range(1000):
        await sink.handle(_trade(index))
    await sink.handle(_ticker())  # filtered out by data_types
    await wait_for(lambda: sink.describe()["messages_sent"] == 1000, timeout=10, what="1000 entries added")
    await sink.stop()

    key = stream_key(DataType.TRADE, prefix)
    length = await redis_client.xlen(key)
    assert 100 <= length < 300  # MAXLEN ~ trims whole nodes: approximately 100
    ((entry_id, fields),) = await redis_client.xrevrange(key, count=1)
    assert fields[b"exchange"] == b"okx" and fields[b"symbol"] == b"BTC-USDT"
    assert decode_point(fields[b"data"])["trade_id"] == "1999"
    assert await redis_client.exists(stream_key(DataType.TICKER, prefix)) == 0
    assert sink.describe()["maxlen"] == 100


async def test_redis_away_never_blocks_collection_and_losses_are_counted(
    redis_client: aioredis.Redis, prefix: str, caplog: Any
) -> None:
    host, port = "127.0.0.1", int(redis_url().rsplit(":", 1)[1].split("/")[0])
    async with TcpProxy(host, port) as proxy:
        await proxy.pause()
        sink = RedisStreamSink(f"redis://127.0.0.1:{proxy.port}/0", prefix=prefix, max_buffered=100)
        await sink.start()
        started = time.monotonic()
        for index in range(250):
            await sink.handle(_trade(index))
        assert time.monotonic() - started < 2
        await wait_for(lambda: sink.describe()["state"] == "disconnected", timeout=5)
        status = sink.describe()
        assert (status["buffered"], status["dropped"]) == (100, 150)
        assert status["errors"] > 0

        await proxy.resume()
        await wait_for(
            lambda: sink.describe()["messages_sent"] == 100, timeout=10, what="buffer sent after recovery"
        )
        await sink.stop()

    entries = await redis_client.xrange(stream_key(DataType.TRADE, prefix))
    assert [decode_point(fields[b"data"])["trade_id"] for _, fields in entries] == [
        str(1150 + i) for i in range(100)
    ]
    assert "(150 in total): buffer full while Redis is unavailable" in caplog.text


async def test_outputs_built_from_config_behind_a_collector(
    redis_client: aioredis.Redis, prefix: str
) -> None:
    sinks = build_sinks(
        [
            {"type": "redis_pubsub", "url": redis_url(), "prefix": prefix},
            {"type": "redis_stream", "url": redis_url(), "prefix": prefix, "maxlen": 10_000},
        ]
    )
    async with OKXSimulator(port=0, seed=3, symbols=("BTC-USDT",), trade_rate=50.0) as sim:
        collector = OKXCollector(["BTC-USDT"], [DataType.TRADE], endpoint=f"ws://127.0.0.1:{sim.port}")
        for sink in sinks:
            collector.add_sink(sink)
        assert await collector.start()
        try:
            await wait_for(
                lambda: collector.get_status()["outputs"]["redis_stream"]["messages_sent"] >= 20, timeout=10
            )
        finally:
            await collector.stop()
        status = collector.get_status()["outputs"]

    assert status["redis_pubsub"]["messages_sent"] == status["redis_stream"]["messages_sent"] >= 20
    assert status["redis_stream"]["dropped"] == 0
    entries = await redis_client.xrange(stream_key(DataType.TRADE, prefix))
    ids = [int(decode_point(fields[b"data"])["trade_id"]) for _, fields in entries]
    assert len(ids) == status["redis_stream"]["messages_sent"] and ids == sorted(ids)
