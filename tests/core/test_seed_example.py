"""The custom-collector example of the seed documentation, run as written (package name aside).

`connect_to_exchange()` is the one thing the seed leaves to the reader; here it opens a
real WebSocket connection to a small ticker server on loopback that the test can cut.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json

import pytest
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve

from collectors import BaseDataCollector, CollectorConfig, CollectorManager, DataType, MarketDataPoint
from tests.helpers import wait_for


class TickerServer:
    """Pushes a ticker for every subscribed symbol every 10 ms; can drop all connections."""

    def __init__(self) -> None:
        self.connections: set[ServerConnection] = set()
        self.accepted = 0
        self.server = None

    async def handler(self, ws: ServerConnection) -> None:
        self.connections.add(ws)
        self.accepted += 1
        symbols: set[str] = set()
        try:

            async def pump() -> None:
                n = 0
                while True:
                    for symbol in sorted(symbols):
                        n += 1
                        await ws.send(json.dumps({"symbol": symbol, "ts": 1_700_000_000_000 + n, "last": str(100 + n)}))
                    await asyncio.sleep(0.01)

            pumper = asyncio.create_task(pump())
            try:
                async for frame in ws:
                    request = json.loads(frame)
                    if request["op"] == "subscribe":
                        symbols.update(request["symbols"])
                    else:
                        symbols.difference_update(request["symbols"])
            finally:
                pumper.cancel()
        finally:
            self.connections.discard(ws)

    def drop_all(self) -> int:
        dropped = 0
        for ws in list(self.connections):
            ws.transport.abort()
            dropped += 1
        return dropped

    @property
    def url(self) -> str:
        port = self.server.sockets[0].getsockname()[1]
        return f"ws://127.0.0.1:{port}"


SERVER = TickerServer()


class ExchangeSocket:
    def __init__(self, ws) -> None:
        self.ws = ws

    async def subscribe(self, symbols, data_types) -> None:
        await self.ws.send(json.dumps({"op": "subscribe", "symbols": symbols}))

    async def unsubscribe(self, symbols, data_types) -> None:
        await self.ws.send(json.dumps({"op": "unsubscribe", "symbols": symbols}))

    async def receive(self) -> dict:
        raw = json.loads(await self.ws.recv())
        return {
            "symbol": raw["symbol"],
            "timestamp": dt.datetime.fromtimestamp(raw["ts"] / 1000, tz=dt.UTC),
            "data": {"last": raw["last"]},
        }

    async def close(self) -> None:
        await self.ws.close()


async def connect_to_exchange() -> ExchangeSocket:
    return ExchangeSocket(await connect(SERVER.url))


# ---- the seed's example, verbatim apart from the import of the package -----------------
class MyExchangeCollector(BaseDataCollector):
    """Custom collector implementation."""

    def __init__(self, symbols: list):
        super().__init__("my_exchange", symbols, [DataType.TICKER])
        self.websocket = None

    async def connect(self) -> bool:
        """Connect to exchange WebSocket."""
        try:
            # Connect to your exchange WebSocket
            self.websocket = await connect_to_exchange()
            return True
        except Exception:
            return False

    async def disconnect(self) -> None:
        """Disconnect from exchange."""
        if self.websocket:
            await self.websocket.close()

    async def subscribe_to_data(self, symbols: list, data_types: list) -> bool:
        """Subscribe to data streams."""
        try:
            await self.websocket.subscribe(symbols, data_types)
            return True
        except Exception:
            return False

    async def unsubscribe_from_data(self, symbols: list, data_types: list) -> bool:
        """Unsubscribe from data streams."""
        try:
            await self.websocket.unsubscribe(symbols, data_types)
            return True
        except Exception:
            return False

    async def _process_message(self, message) -> MarketDataPoint:
        """Process incoming message."""
        return MarketDataPoint(
            exchange=self.exchange_name,
            symbol=message["symbol"],
            timestamp=message["timestamp"],
            data_type=DataType.TICKER,
            data=message["data"],
        )

    async def _handle_messages(self) -> None:
        """Handle incoming messages."""
        try:
            message = await self.websocket.receive()
            data_point = await self._process_message(message)
            await self._notify_callbacks(data_point)
        except Exception as e:
            # This will trigger reconnection logic
            raise e


# -----------------------------------------------------------------------------------------

STATUS_KEYS = {"exchange", "status", "should_be_running", "symbols", "data_types", "auto_restart", "health", "statistics"}
HEALTH_KEYS = {"time_since_heartbeat", "time_since_data", "max_silence_duration"}
STATISTICS_KEYS = {
    "messages_received",
    "messages_processed",
    "errors",
    "restarts",
    "uptime_seconds",
    "reconnect_attempts",
    "last_message_time",
    "connection_uptime",
    "last_error",
    "last_restart_time",
}
HEALTH_STATUS_KEYS = {
    "is_healthy",
    "issues",
    "status",
    "last_heartbeat",
    "last_data_received",
    "should_be_running",
    "is_running",
}


@pytest.fixture
async def ticker_server():
    async with serve(SERVER.handler, "127.0.0.1", 0) as server:
        SERVER.server = server
        yield SERVER


async def test_seed_example_streams_and_reports_documented_keys(ticker_server) -> None:
    collector = MyExchangeCollector(["BTC-USDT", "ETH-USDT"])
    received: list[MarketDataPoint] = []
    collector.add_data_callback(DataType.TICKER, received.append)
    assert await collector.start() is True
    try:
        await wait_for(lambda: {p.symbol for p in received} == {"BTC-USDT", "ETH-USDT"}, what="both symbols")
        status = collector.get_status()
        assert STATUS_KEYS <= set(status)
        assert set(status["health"]) == HEALTH_KEYS
        assert set(status["statistics"]) == STATISTICS_KEYS
        assert status["status"] == "running" and status["should_be_running"] is True
        assert status["data_types"] == ["ticker"]
        assert status["statistics"]["messages_processed"] >= 2
        assert status["statistics"]["last_message_time"] is not None
        health = collector.get_health_status()
        assert set(health) == HEALTH_STATUS_KEYS
        assert health["is_healthy"] is True and health["issues"] == [] and health["is_running"] is True
        assert received[0].data["last"].isdigit()
    finally:
        await collector.stop()
    assert collector.get_status()["status"] == "stopped"
    assert collector.get_health_status()["is_running"] is False


async def test_seed_example_under_manager_restarts_after_connection_failure(ticker_server) -> None:
    manager = CollectorManager("seed_manager", global_health_check_interval=0.2, restart_delay=0.1)
    collector = MyExchangeCollector(["BTC-USDT"])
    received: list[MarketDataPoint] = []
    collector.add_data_callback(DataType.TICKER, received.append)
    manager.add_collector(
        collector,
        CollectorConfig(name="seed", exchange="my_exchange", symbols=["BTC-USDT"], data_types=["ticker"]),
    )
    assert await manager.start() is True
    try:
        await wait_for(lambda: received, what="first ticker")
        accepted_before = ticker_server.accepted
        assert ticker_server.drop_all() == 1
        await wait_for(lambda: collector.get_status()["statistics"]["restarts"] == 1, what="one restart")
        count = len(received)
        await wait_for(lambda: len(received) > count + 5, what="data after the restart")
        assert ticker_server.accepted == accepted_before + 1
        status = manager.get_status()
        assert status["statistics"]["failed_collectors"] == 0
        assert manager.get_running_collectors() == ["seed"]
        assert status["collectors"]["seed"]["statistics"]["last_error"] is not None
        assert status["collectors"]["seed"]["statistics"]["last_restart_time"] is not None
        assert status["system"]["process_memory_rss_bytes"] > 0
    finally:
        await manager.stop()


async def test_manager_restarts_a_collector_that_reached_its_restart_limit(ticker_server) -> None:
    manager = CollectorManager("limit_manager", global_health_check_interval=0.1, restart_delay=0.0)
    collector = MyExchangeCollector(["BTC-USDT"])
    collector.max_reconnect_attempts = 0  # first failure puts it in error
    received: list[MarketDataPoint] = []
    collector.add_data_callback(DataType.TICKER, received.append)
    manager.add_collector(collector)
    assert manager.list_collectors() == ["my_exchange_collector"]
    assert await manager.start()
    try:
        await wait_for(lambda: received, what="first ticker")
        ticker_server.drop_all()
        await wait_for(lambda: manager.get_status()["statistics"]["restarts_performed"] >= 1, what="manager restart")
        await wait_for(lambda: collector.is_running, what="running again")
        assert "restart limit reached" in collector.get_status()["statistics"]["last_error"]
    finally:
        await manager.stop()
