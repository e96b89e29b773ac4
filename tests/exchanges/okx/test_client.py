"""OKXCollector against the OKX simulator over real loopback WebSockets and HTTP."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest

from collectors import DataType, ExchangeCollectorConfig, ExchangeFactory, MarketDataPoint
from collectors.core.records import BookSnapshot, BookUpdate, Candle, Ticker, Trade
from collectors.exchanges.okx.client import OKXCollector
from collectors.exchanges.okx.simulator import OKXSimulator
from tests.helpers import wait_for

ALL_TYPES = [DataType.TRADE, DataType.TICKER, DataType.ORDERBOOK, DataType.CANDLE]


class Sink:
    """Collects data points per type."""

    def __init__(self, collector: OKXCollector) -> None:
        self.points: list[MarketDataPoint] = []
        for data_type in DataType:
            collector.add_data_callback(data_type, self.points.append)

    def records(self, kind: type, symbol: str | None = None) -> list[Any]:
        return [p.record for p in self.points if isinstance(p.record, kind) and (symbol is None or p.symbol == symbol)]


@pytest.fixture
async def simulator() -> AsyncIterator[OKXSimulator]:
    async with OKXSimulator(port=0, seed=7, symbols=("BTC-USDT", "ETH-USDT", "SOL-USDT"), trade_rate=30.0) as sim:
        yield sim


def make_collector(sim: OKXSimulator, symbols: list[str], data_types: list[DataType] | None = None, **kwargs: Any):
    defaults: dict[str, Any] = {
        "health_check_interval": 0.1,
        "max_silence_duration": 5.0,
        "max_reconnect_attempts": 5,
        "reconnect_delay": 0.05,
    }
    defaults.update(kwargs)
    collector = OKXCollector(symbols, data_types or ALL_TYPES, endpoint=f"ws://127.0.0.1:{sim.port}", **defaults)
    return collector, Sink(collector)


async def test_streams_normalized_records_of_every_type(simulator: OKXSimulator) -> None:
    collector, sink = make_collector(simulator, ["BTC-USDT", "ETH-USDT"])
    assert await collector.start()
    try:
        await wait_for(
            lambda: all(sink.records(kind, "ETH-USDT") for kind in (Trade, Ticker, BookUpdate, BookSnapshot, Candle)),
            what="every record type",
        )
        truth = {t.trade_id: t for t in simulator.trades_emitted("BTC-USDT")}
        trades = sink.records(Trade, "BTC-USDT")
        await wait_for(lambda: sink.records(Trade, "BTC-USDT"), what="BTC trades")
        trade = sink.records(Trade, "BTC-USDT")[0]
        truth = {t.trade_id: t for t in simulator.trades_emitted("BTC-USDT")}
        expected = truth[int(trade.trade_id)]
        assert trade.price == Decimal(expected.price) and str(trade.price) == expected.price  # full precision
        assert trade.size == Decimal(expected.size) and trade.side == expected.side
        assert trade.event_time_ns == expected.ts_ms * 1_000_000
        assert trade.receive_time_ns >= trade.event_time_ns - 5_000_000_000
        snapshot = sink.records(BookSnapshot, "ETH-USDT")[-1]
        assert len(snapshot.bids) == 20 and len(snapshot.asks) == 20
        assert snapshot.bids[0][0] < snapshot.asks[0][0]
        assert [p for p, _ in snapshot.bids] == sorted((p for p, _ in snapshot.bids), reverse=True)
        status = collector.get_status()
        assert status["status"] == "running"
        assert status["order_books"]["BTC-USDT"]["live"] is True
        assert status["order_books"]["BTC-USDT"]["bid_levels"] == 400
        assert status["subscriptions"] == {"active": 8, "pending": 0}
        assert status["endpoint"]["simulated"] is True
        del trades
    finally:
        await collector.stop()


async def test_factory_builds_an_okx_collector_with_one_endpoint_setting(
    simulator: OKXSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MARKET_DATA_ENDPOINT", "simulator")
    monkeypatch.setenv("OKX_SIMULATOR_PORT", str(simulator.port))
    collector = ExchangeFactory.create_collector(
        ExchangeCollectorConfig(exchange="okx", symbol="BTC-USDT", data_types=["trade"], health_check_interval=1.0)
    )
    assert isinstance(collector, OKXCollector)
    assert collector.endpoints.public_url == f"ws://127.0.0.1:{simulator.port}/ws/v5/public"
    live = ExchangeFactory.create_collector(ExchangeCollectorConfig(exchange="okx", symbol="BTC-USDT", endpoint="live"))
    assert live.endpoints.public_url == "wss://ws.okx.com:8443/ws/v5/public"
    sink = Sink(collector)
    assert await collector.start()
    try:
        await wait_for(lambda: sink.records(Trade), what="trades via MARKET_DATA_ENDPOINT=simulator")
    finally:
        await collector.stop()


async def test_reconnects_and_resubscribes_after_a_drop(simulator: OKXSimulator) -> None:
    collector, sink = make_collector(simulator, ["BTC-USDT", "ETH-USDT"])
    assert await collector.start()
    try:
        await wait_for(lambda: collector.get_status()["order_books"].get("ETH-USDT", {}).get("live"), what="books")
        simulator.drop_connections()
        await wait_for(lambda: collector.get_status()["statistics"]["restarts"] == 1, what="restart")
        before = len(sink.records(BookUpdate, "ETH-USDT"))
        await wait_for(lambda: len(sink.records(BookUpdate, "ETH-USDT")) > before + 3, what="book data after reconnect")
        status = collector.get_status()
        assert status["status"] == "running"
        assert status["order_books"]["ETH-USDT"]["live"] is True
        assert status["subscriptions"]["active"] == 8
        assert "closed" in status["statistics"]["last_error"]
    finally:
        await collector.stop()


async def test_trades_are_complete_and_unique_across_drops(simulator: OKXSimulator) -> None:
    collector, sink = make_collector(simulator, ["BTC-USDT"], [DataType.TRADE], reconnect_delay=0.2)
    assert await collector.start()
    try:
        await wait_for(lambda: sink.records(Trade), what="first trade")
        for drop in range(3):
            restarts = collector.get_status()["statistics"]["restarts"]
            simulator.drop_connections()
            await wait_for(lambda: collector.get_status()["statistics"]["restarts"] == restarts + 1, what="restart")
        last_truth = simulator.trades_emitted("BTC-USDT")[-1].trade_id
        await wait_for(lambda: sink.records(Trade) and int(sink.records(Trade)[-1].trade_id) >= last_truth, what="catch-up")
        ids = [int(t.trade_id) for t in sink.records(Trade)]
        assert ids == sorted(set(ids)), "trades out of order or duplicated"
        truth = [t.trade_id for t in simulator.trades_emitted("BTC-USDT") if ids[0] <= t.trade_id <= ids[-1]]
        assert ids == truth  # nothing missed while disconnected (REST backfill)
        assert collector.get_status()["exchange_statistics"]["backfilled_trades"] > 0
    finally:
        await collector.stop()


async def test_data_silence_triggers_a_restart(simulator: OKXSimulator) -> None:
    collector, sink = make_collector(simulator, ["BTC-USDT"], [DataType.TRADE], max_silence_duration=0.5)
    assert await collector.start()
    try:
        await wait_for(lambda: sink.records(Trade), what="first trade")
        simulator.stall(1.5)
        await wait_for(lambda: collector.get_status()["statistics"]["restarts"] >= 1, what="silence restart")
        assert "no market data" in collector.get_status()["statistics"]["last_error"]
        count = len(sink.records(Trade))
        await wait_for(lambda: len(sink.records(Trade)) > count, what="data after the stall")
    finally:
        await collector.stop()


async def test_connection_that_never_delivers_a_first_message_is_restarted(simulator: OKXSimulator) -> None:
    simulator.stall(1.2)
    collector, sink = make_collector(simulator, ["BTC-USDT"], [DataType.TRADE], max_silence_duration=0.4)
    assert await collector.start()
    try:
        await wait_for(lambda: collector.get_status()["statistics"]["restarts"] >= 1, what="restart")
        assert "no first message since the connection opened" in collector.get_status()["statistics"]["last_error"]
        await wait_for(lambda: sink.records(Trade), what="data once the stall ends")
    finally:
        await collector.stop()


async def test_missing_pong_fails_the_connection(simulator: OKXSimulator) -> None:
    collector, sink = make_collector(
        simulator, ["BTC-USDT"], [DataType.TRADE], ping_interval=0.2, pong_timeout=0.3, max_silence_duration=30.0
    )
    assert await collector.start()
    try:
        await wait_for(lambda: sink.records(Trade), what="first trade")
        simulator.stall(2.0)
        await wait_for(lambda: collector.get_status()["statistics"]["restarts"] >= 1, what="keepalive restart")
        assert "no answer to 'ping'" in collector.get_status()["statistics"]["last_error"]
    finally:
        await collector.stop()


async def test_quiet_feed_is_kept_alive_by_ping(simulator: OKXSimulator) -> None:
    # Only candles on a simulator with a 0.5 s idle close: without text pings OKX would close with 4004.
    async with OKXSimulator(port=0, seed=3, symbols=("BTC-USDT",), trade_rate=0.0, idle_timeout=0.5,
                            candle_interval=5.0) as quiet:  # fmt: skip
        collector, _ = make_collector(quiet, ["BTC-USDT"], [DataType.CANDLE], ping_interval=0.2, pong_timeout=1.0)
        assert await collector.start()
        try:
            started = time.monotonic()
            await wait_for(lambda: time.monotonic() - started > 1.5, what="time passing")
            assert collector.get_status()["statistics"]["restarts"] == 0
            assert collector.get_status()["status"] == "running"
        finally:
            await collector.stop()


async def test_gap_resyncs_only_the_affected_symbol(simulator: OKXSimulator) -> None:
    collector, sink = make_collector(simulator, ["BTC-USDT", "ETH-USDT"], [DataType.ORDERBOOK])
    assert await collector.start()
    try:
        await wait_for(
            lambda: all(collector.get_status()["order_books"].get(s, {}).get("live") for s in ("BTC-USDT", "ETH-USDT")),
            what="both books live",
        )
        simulator.sequence_gap("BTC-USDT")
        await wait_for(lambda: collector.get_status()["order_books"]["BTC-USDT"]["gaps"] == 1, what="gap seen")
        await wait_for(lambda: collector.get_status()["order_books"]["BTC-USDT"]["live"], what="BTC book rebuilt")
        status = collector.get_status()
        assert status["order_books"]["ETH-USDT"]["gaps"] == 0
        assert status["exchange_statistics"]["book_resyncs"] == 1
        assert status["statistics"]["restarts"] == 0  # no reconnect: one symbol resubscribed
        # Our book equals the simulator's after the resync.
        book = collector._books.book("BTC-USDT")
        assert book is not None
        await wait_for(lambda: collector._books.book("BTC-USDT").sequence == simulator.book_sequence("BTC-USDT"),
                       what="caught up", timeout=5.0)  # fmt: skip
    finally:
        await collector.stop()


async def test_books_seeded_from_rest_without_an_initial_snapshot() -> None:
    async with OKXSimulator(port=0, seed=5, symbols=("BTC-USDT",), initial_snapshot=False) as sim:
        collector, sink = make_collector(sim, ["BTC-USDT"], [DataType.ORDERBOOK])
        assert await collector.start()
        try:
            await wait_for(lambda: collector.get_status()["order_books"].get("BTC-USDT", {}).get("live"), what="seeded")
            await wait_for(lambda: len(sink.records(BookUpdate)) > 5, what="updates applied")
            assert all(not u.is_snapshot for u in sink.records(BookUpdate))
            assert collector.get_status()["order_books"]["BTC-USDT"]["bid_levels"] == 400
        finally:
            await collector.stop()


async def test_unknown_symbol_is_marked_failed_while_others_stream(simulator: OKXSimulator) -> None:
    collector, sink = make_collector(simulator, ["BTC-USDT", "NOPE-USDT"], [DataType.TRADE, DataType.TICKER])
    assert await collector.start()
    try:
        await wait_for(lambda: "NOPE-USDT" in collector.get_status()["failed_symbols"], what="failed symbol")
        message = collector.get_status()["failed_symbols"]["NOPE-USDT"]
        assert message.startswith("60018: ") and "NOPE-USDT" in message
        count = len(sink.records(Trade, "BTC-USDT"))
        await wait_for(lambda: len(sink.records(Trade, "BTC-USDT")) > count + 3, what="BTC keeps streaming")
        assert collector.get_status()["status"] == "running"
        assert not sink.records(Trade, "NOPE-USDT")
    finally:
        await collector.stop()


async def test_add_and_remove_symbol_on_a_live_connection(simulator: OKXSimulator) -> None:
    collector, sink = make_collector(simulator, ["BTC-USDT"], [DataType.TRADE, DataType.ORDERBOOK])
    assert await collector.start()
    try:
        await wait_for(lambda: sink.records(Trade, "BTC-USDT"), what="BTC")
        accepted = simulator.connections_accepted
        collector.add_symbol("SOL-USDT")
        await wait_for(lambda: sink.records(Trade, "SOL-USDT") and collector._books.is_live("SOL-USDT"), what="SOL")
        assert collector.symbols == ["BTC-USDT", "SOL-USDT"]
        collector.remove_symbol("BTC-USDT")
        await wait_for(lambda: collector.get_status()["subscriptions"]["active"] == 2, what="unsubscribe acks")
        count = len(sink.records(Trade, "BTC-USDT"))
        sol = len(sink.records(Trade, "SOL-USDT"))
        await wait_for(lambda: len(sink.records(Trade, "SOL-USDT")) > sol + 5, what="more SOL")
        assert len(sink.records(Trade, "BTC-USDT")) == count
        assert simulator.connections_accepted == accepted  # same connection throughout
        assert collector.get_status()["statistics"]["restarts"] == 0
    finally:
        await collector.stop()


async def test_restart_limit_leaves_a_visible_error_state(simulator: OKXSimulator) -> None:
    collector, sink = make_collector(simulator, ["BTC-USDT"], [DataType.TRADE], max_reconnect_attempts=3)
    assert await collector.start()
    try:
        await wait_for(lambda: sink.records(Trade), what="first trade")
        simulator.reject_connections(100)
        simulator.drop_connections()
        await wait_for(lambda: collector.get_status()["status"] == "error", what="error state")
        status = collector.get_status()
        assert "restart limit reached after 3 reconnect attempts" in status["statistics"]["last_error"]
        assert status["should_be_running"] is False
        health = collector.get_health_status()
        assert health["is_healthy"] is False and any("restart limit" in issue for issue in health["issues"])
    finally:
        await collector.stop()


async def test_notice_64008_reconnects_without_backoff(simulator: OKXSimulator) -> None:
    collector, sink = make_collector(simulator, ["BTC-USDT"], [DataType.TRADE], reconnect_delay=30.0)
    assert await collector.start()
    try:
        await wait_for(lambda: sink.records(Trade), what="first trade")
        simulator.notice_64008(close_delay=5.0)
        # With a 30 s backoff, a restart within 3 s proves the notice reconnects at once.
        await wait_for(lambda: collector.get_status()["statistics"]["restarts"] == 1, timeout=3.0, what="reconnect")
        assert "64008" in collector.get_status()["statistics"]["last_error"]
    finally:
        await collector.stop()


async def test_malformed_frames_are_counted_and_skipped(simulator: OKXSimulator) -> None:
    collector, sink = make_collector(simulator, ["BTC-USDT"], [DataType.TRADE])
    assert await collector.start()
    try:
        await wait_for(lambda: sink.records(Trade), what="first trade")
        simulator.send_malformed(3)
        await wait_for(lambda: collector.get_status()["statistics"]["errors"] >= 3, what="errors counted")
        status = collector.get_status()
        assert "invalid message skipped" in status["statistics"]["last_error"]
        assert status["statistics"]["restarts"] == 0 and status["status"] == "running"
        count = len(sink.records(Trade))
        await wait_for(lambda: len(sink.records(Trade)) > count, what="still streaming")
    finally:
        await collector.stop()


async def test_unreachable_exchange_fails_start_with_a_reason() -> None:
    collector = OKXCollector(["BTC-USDT"], [DataType.TRADE], endpoint="ws://127.0.0.1:9")
    assert await collector.start() is False
    status = collector.get_status()
    assert status["status"] == "error"
    assert "cannot connect to ws://127.0.0.1:9/ws/v5/public" in status["statistics"]["last_error"]


@pytest.mark.slow
async def test_keeps_streaming_while_dropped_every_few_seconds_for_a_minute(simulator: OKXSimulator) -> None:
    collector, sink = make_collector(simulator, ["BTC-USDT", "ETH-USDT"], ALL_TYPES, max_reconnect_attempts=5)
    assert await collector.start()
    try:
        await wait_for(lambda: sink.records(Trade), what="first trade")
        simulator.drop_every(4.0)
        started = time.monotonic()
        seen_per_window = []
        while time.monotonic() - started < 60.0:
            count = len(sink.records(Trade))
            await wait_for(lambda c=count: len(sink.records(Trade)) > c, timeout=10.0, what="trades keep coming")
            seen_per_window.append(len(sink.records(Trade)))
            await wait_for(lambda t=time.monotonic(): time.monotonic() - t >= 2.0, what="next window")
        simulator.stop_dropping()
        drops = simulator.drops
        await wait_for(lambda: collector.get_status()["statistics"]["restarts"] == drops, what="restarts == drops")
        assert drops >= 14
        status = collector.get_status()
        assert status["status"] == "running"
        ids = [int(t.trade_id) for t in sink.records(Trade, "BTC-USDT")]
        assert ids == sorted(set(ids))
    finally:
        await collector.stop()


async def test_top_of_book_and_several_candle_timeframes(simulator: OKXSimulator) -> None:
    from collectors.core.records import BookTop

    collector, sink = make_collector(
        simulator, ["BTC-USDT"], [DataType.TOP_OF_BOOK, DataType.CANDLE], candle_timeframes=["1m", "5m"]
    )
    assert await collector.start()
    try:
        await wait_for(lambda: sink.records(BookTop), what="bbo-tbt")
        await wait_for(lambda: {c.timeframe for c in sink.records(Candle)} == {"1m", "5m"}, what="both timeframes")
        top = sink.records(BookTop)[-1]
        assert top.best_bid is not None and top.best_ask is not None and top.best_bid < top.best_ask
        assert all(p.data_type is DataType.TOP_OF_BOOK for p in sink.points if isinstance(p.record, BookTop))
        five = [c for c in sink.records(Candle) if c.timeframe == "5m"][-1]
        assert five.open_time_ns % (300 * 10**9) == 0
        assert five.low <= five.open <= five.high and five.low <= five.close <= five.high
        assert collector.get_status()["endpoint"]["business"].endswith("/ws/v5/business")
    finally:
        await collector.stop()
