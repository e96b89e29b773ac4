"""OKXCollector: OKX API v5 public and business WebSocket feeds.

* Two sockets: ``/ws/v5/public`` (trades, tickers, books, bbo-tbt) and
  ``/ws/v5/business`` (candles), each opened only when needed.
* Text ``ping``/``pong`` keepalive after 25 s of quiet, with a pong timeout.
* ``books`` kept as a local book per symbol; a broken ``seqId`` chain resubscribes
  that one symbol (a fresh snapshot) while the others keep streaming. Without an
  initial snapshot the book is seeded from REST ``/api/v5/market/books``.
* Error ``60018`` marks the symbol failed in status, with OKX's message.
* Notice ``64008`` (service upgrade) reconnects at once, without backoff.
* Trades are de-duplicated by trade id (OKX replays the latest trade on subscribe)
  and, after a reconnect, the gap is backfilled from REST ``/api/v5/market/trades``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import httpx

from collectors.core.base import BaseDataCollector
from collectors.core.connection import ConnectionLost, FeedConnection, InboxItem, TextKeepalive
from collectors.core.errors import ConfigurationError, ConnectionFailure, DataSilence, ServerClosedConnection
from collectors.core.factory import ExchangeCollectorConfig
from collectors.core.orderbook import BookEvent, LocalBooks
from collectors.core.records import BookSnapshot, BookTop, BookUpdate, Candle, Ticker, Trade
from collectors.core.settings import Settings
from collectors.core.types import DataType, MarketDataPoint
from collectors.exchanges.okx import parse, subscriptions
from collectors.exchanges.okx.endpoints import OKXEndpoints, resolve_endpoints
from collectors.exchanges.okx.errors import OKXParseError, OKXRestError

EXCHANGE = "okx"
# Records passed straight to callbacks; book updates go through the local book first.
_RECORD_TYPES: dict[type, DataType] = {
    Trade: DataType.TRADE,
    Ticker: DataType.TICKER,
    BookTop: DataType.TOP_OF_BOOK,
    Candle: DataType.CANDLE,
}
NOTICE_SERVICE_UPGRADE = "64008"
ERROR_UNKNOWN_INSTRUMENT = "60018"
BACKFILL_MAX_PAGES = 20
REST_SEED_MIN_INTERVAL = 1.0  # seconds
REST_SEED_AFTER_UPDATES = 5  # held updates without a snapshot before the REST fallback


class OKXCollector(BaseDataCollector):
    """Collector for OKX (see module docstring)."""

    def __init__(
        self,
        symbols: list[str],
        data_types: list[DataType] | None = None,
        *,
        candle_timeframes: list[str] | None = None,
        endpoint: str | None = None,
        component_name: str | None = None,
        auto_restart: bool = True,
        health_check_interval: float = 30.0,
        max_silence_duration: float | None = None,
        max_reconnect_attempts: int | None = None,
        reconnect_delay: float | None = None,
        ping_interval: float = 25.0,
        pong_timeout: float = 10.0,
        book_snapshot_interval: float = 1.0,
        book_snapshot_depth: int = 20,
        backfill_trades: bool = True,
        http_transport: httpx.AsyncBaseTransport | None = None,
        settings: Settings | None = None,
    ) -> None:
        super().__init__(
            EXCHANGE,
            symbols,
            data_types or [DataType.TRADE],
            component_name=component_name,
            auto_restart=auto_restart,
            health_check_interval=health_check_interval,
            max_silence_duration=max_silence_duration,
            max_reconnect_attempts=max_reconnect_attempts,
            reconnect_delay=reconnect_delay,
            settings=settings,
        )
        self.candle_timeframes = list(candle_timeframes or ["1m"])
        for timeframe in self.candle_timeframes:
            subscriptions.candle_channel(timeframe)  # raises ConfigurationError naming allowed values
        if book_snapshot_depth < 1 or book_snapshot_interval <= 0:
            raise ConfigurationError("book_snapshot_depth must be >= 1 and book_snapshot_interval > 0")
        self.endpoints: OKXEndpoints = resolve_endpoints(endpoint or self.settings.market_data_endpoint)
        self.keepalive = TextKeepalive("ping", ping_interval, pong_timeout)
        self.book_snapshot_interval_ns = int(book_snapshot_interval * 1e9)
        self.book_snapshot_depth = book_snapshot_depth
        self.backfill_trades = backfill_trades
        self._http_transport = http_transport
        self._http: httpx.AsyncClient | None = None
        self._inbox: asyncio.Queue[InboxItem] = asyncio.Queue(maxsize=10_000)
        self._connections: dict[str, FeedConnection] = {}
        self._books = LocalBooks(checksum=parse.okx_checksum)
        self._last_snapshot_ns: dict[str, int] = {}
        self._last_trade_id: dict[str, int] = {}
        self._last_rest_seed: dict[str, float] = {}
        self._failed_symbols: dict[str, str] = {}
        self._pending_acks: set[tuple[str, str]] = set()
        self._active: set[tuple[str, str]] = set()
        self._book_resyncs = 0
        self._rest_book_seeds = 0
        self._backfilled_trades = 0
        self._duplicate_trades = 0
        self._request_id = 0

    @classmethod
    def from_exchange_config(cls, config: ExchangeCollectorConfig) -> OKXCollector:
        params = dict(config.custom_params)
        return cls(
            list(config.symbols or []),
            list(config.data_types),  # type: ignore[arg-type]
            candle_timeframes=list(config.candle_timeframes),
            endpoint=config.endpoint,
            component_name=config.component_name,
            auto_restart=config.auto_restart,
            health_check_interval=config.health_check_interval,
            max_silence_duration=config.max_silence_duration,
            max_reconnect_attempts=config.max_reconnect_attempts,
            reconnect_delay=config.reconnect_delay,
            **params,
        )

    # ------------------------------------------------------------------ connection
    def _wanted_urls(self) -> dict[str, str]:
        wanted: dict[str, str] = {}
        for data_type in self.data_types:
            kind = subscriptions.url_kind(data_type)
            wanted[kind] = self.endpoints.business_url if kind == "business" else self.endpoints.public_url
        return wanted

    async def connect(self) -> bool:
        await self.disconnect()
        self._http = httpx.AsyncClient(
            base_url=self.endpoints.rest_url, transport=self._http_transport, timeout=10.0
        )
        try:
            for kind, url in self._wanted_urls().items():
                connection = FeedConnection(
                    f"{self.component_name}-{kind}", url, self._inbox, keepalive=self.keepalive
                )
                await connection.open()
                self._connections[kind] = connection
        except ConnectionFailure as exc:
            self._record_error(str(exc))
            await self.disconnect()
            return False
        self._books.reset_all()
        self._last_snapshot_ns.clear()
        return True

    async def disconnect(self) -> None:
        connections, self._connections = list(self._connections.values()), {}
        for connection in connections:
            await connection.close()
        self._pending_acks.clear()
        self._active.clear()
        if self._http is not None:
            http, self._http = self._http, None
            await http.aclose()

    async def subscribe_to_data(self, symbols: list[str], data_types: list[DataType]) -> bool:
        return await self._send_subscription("subscribe", symbols, data_types)

    async def unsubscribe_from_data(self, symbols: list[str], data_types: list[DataType]) -> bool:
        ok = await self._send_subscription("unsubscribe", symbols, data_types)
        for symbol in symbols:
            self._books.forget(symbol)
            self._failed_symbols.pop(symbol, None)
            self._last_trade_id.pop(symbol, None)
        return ok

    async def _send_subscription(self, op: str, symbols: list[str], data_types: list[DataType]) -> bool:
        plan = subscriptions.plan(symbols, data_types, self.candle_timeframes)
        for kind, args in plan.items():
            connection = self._connections.get(kind)
            if connection is None:
                self._record_error(f"{op}: no open {kind} connection")
                return False
            for arg in args:
                key = (arg["channel"], arg["instId"])
                if op == "subscribe":
                    self._pending_acks.add(key)
                else:
                    self._active.discard(key)
            self._request_id += 1
            for frame in subscriptions.frames(op, args, request_id=str(self._request_id)):
                await connection.send(frame)
        return True

    async def _interrupt_connection(self, reason: str) -> None:
        # The message loop waits on the inbox, not on a socket: post the failure there.
        with contextlib.suppress(asyncio.QueueFull):  # a full inbox means the loop is not waiting
            self._inbox.put_nowait((None, ConnectionLost(None, DataSilence(reason)), time.time_ns()))

    async def _on_reconnected(self) -> None:
        if self.backfill_trades and DataType.TRADE in self.data_types:
            await self._backfill_trades()

    # ------------------------------------------------------------------ messages
    async def _handle_messages(self) -> None:
        item = await self._inbox.get()
        await self._process_message(item)

    async def _process_message(self, message: InboxItem) -> MarketDataPoint | None:
        """Handle one inbox item; data frames notify callbacks here (a frame may hold many records)."""
        connection, frame, receive_time_ns = message
        if isinstance(frame, ConnectionLost):
            if connection is None or connection in self._connections.values():
                raise frame.error
            return None  # a stale event from a connection we already replaced
        try:
            parsed = parse.parse_frame(frame, receive_time_ns)
        except OKXParseError as exc:
            self._record_data_error(exc)
            return None
        if isinstance(parsed, parse.DataBatch):
            for record in parsed.records:
                await self._dispatch(record)
        elif isinstance(parsed, parse.Subscribed):
            key = (parsed.channel, parsed.inst_id)
            self._pending_acks.discard(key)
            self._active.add(key)
        elif isinstance(parsed, parse.Unsubscribed):
            self._active.discard((parsed.channel, parsed.inst_id))
        elif isinstance(parsed, parse.ExchangeError):
            self._handle_exchange_error(parsed)
        elif isinstance(parsed, parse.Notice):
            if parsed.code == NOTICE_SERVICE_UPGRADE:
                self.logger.warning("OKX notice %s: %s; reconnecting now", parsed.code, parsed.message)
                self._reconnect_immediately = True
                raise ServerClosedConnection(f"notice {parsed.code}: {parsed.message}")
            self.logger.info("OKX notice %s: %s", parsed.code, parsed.message)
        return None

    def _handle_exchange_error(self, error: parse.ExchangeError) -> None:
        if error.code == ERROR_UNKNOWN_INSTRUMENT and error.inst_id:
            self._failed_symbols[error.inst_id] = f"{error.code}: {error.message}"
            if error.channel:
                self._pending_acks.discard((error.channel, error.inst_id))
            self.logger.error("symbol %s failed: %s %s", error.inst_id, error.code, error.message)
        self._record_error(f"OKX error {error.code}: {error.message}")

    async def _dispatch(self, record: Any) -> None:
        record_type = type(record)
        if record_type is Trade:
            if not self._accept_trade(record):
                return
        elif record_type is BookUpdate:
            await self._apply_book(record)
            return
        await self._emit(_RECORD_TYPES[record_type], record)

    async def _emit(self, data_type: DataType, record: Any) -> None:
        await self._notify_callbacks(MarketDataPoint(EXCHANGE, record.symbol, None, data_type, None, record))

    def _accept_trade(self, trade: Trade) -> bool:
        trade_id = int(trade.trade_id)
        last = self._last_trade_id.get(trade.symbol)
        if last is not None and trade_id <= last:
            self._duplicate_trades += 1
            return False
        self._last_trade_id[trade.symbol] = trade_id
        return True

    async def _apply_book(self, update: BookUpdate) -> None:
        event = self._books.apply(update)
        if event is BookEvent.APPLIED:
            await self._emit(DataType.ORDERBOOK, update)
            last = self._last_snapshot_ns.get(update.symbol, 0)
            if update.receive_time_ns - last >= self.book_snapshot_interval_ns:
                self._last_snapshot_ns[update.symbol] = update.receive_time_ns
                bids, asks = self._books.top(update.symbol, self.book_snapshot_depth)
                snapshot = BookSnapshot(
                    EXCHANGE,
                    update.symbol,
                    bids,
                    asks,
                    update.sequence,
                    update.event_time_ns,
                    update.receive_time_ns,
                )
                await self._emit(DataType.ORDERBOOK, snapshot)
        elif event is BookEvent.NEEDS_SNAPSHOT:
            await self._seed_book_from_rest(update.symbol)
        elif (
            event is BookEvent.AWAITING_SNAPSHOT
            and self._books.pending_count(update.symbol) >= REST_SEED_AFTER_UPDATES
        ):
            # Resubscribed but the server sends updates without a snapshot (OKX's announced
            # "no initial snapshot" mode): join a REST snapshot to the held updates instead.
            await self._seed_book_from_rest(update.symbol)
        elif event in (BookEvent.GAP, BookEvent.CHECKSUM_MISMATCH):
            self._book_resyncs += 1
            await self._resubscribe_book(update.symbol, reason=event.value)

    async def _resubscribe_book(self, symbol: str, *, reason: str) -> None:
        """Rebuild one symbol's book from a fresh snapshot: unsubscribe and subscribe it again."""
        self.logger.warning("book %s: %s; resyncing this symbol only", symbol, reason)
        connection = self._connections.get("public")
        if connection is None:
            return
        args = [{"channel": "books", "instId": symbol}]
        for op in ("unsubscribe", "subscribe"):
            for frame in subscriptions.frames(op, args):
                await connection.send(frame)

    async def _seed_book_from_rest(self, symbol: str) -> None:
        """Join a REST snapshot to the held updates (OKX's "no initial snapshot" procedure)."""
        now = time.monotonic()
        if self._http is None or now - self._last_rest_seed.get(symbol, -1e9) < REST_SEED_MIN_INTERVAL:
            return  # at most one REST snapshot per symbol per interval, however many updates arrive
        self._last_rest_seed[symbol] = now
        self._rest_book_seeds += 1
        self.logger.warning("book %s: updates without a snapshot; seeding this symbol from REST", symbol)
        for _attempt in range(3):
            try:
                response = await self._http.get(
                    "/api/v5/market/books", params={"instId": symbol, "sz": "400"}
                )
                snapshot = parse.parse_rest_book(response.content, symbol, time.time_ns())
            except (httpx.HTTPError, OKXParseError, OKXRestError) as exc:
                self._record_error(f"book {symbol}: REST snapshot failed: {exc}")
                return
            if self._books.seed(snapshot) is not BookEvent.SNAPSHOT_TOO_OLD:
                return
        self._record_error(f"book {symbol}: REST snapshot stayed older than the stream after 3 tries")

    async def _backfill_trades(self) -> None:
        """Fetch trades missed while disconnected (newest first from REST) and emit them in order."""
        if self._http is None:
            return
        for symbol, last_id in list(self._last_trade_id.items()):
            missed: list[Trade] = []
            after: str | None = None
            try:
                for page in range(BACKFILL_MAX_PAGES):
                    if page == 0:
                        response = await self._http.get(
                            "/api/v5/market/trades", params={"instId": symbol, "limit": "500"}
                        )
                    else:
                        response = await self._http.get(
                            "/api/v5/market/history-trades",
                            params={"instId": symbol, "type": "1", "after": after, "limit": "100"},
                        )
                    trades = parse.parse_rest_trades(response.content, symbol, time.time_ns())
                    newer = [t for t in trades if int(t.trade_id) > last_id]
                    missed.extend(newer)
                    if not trades or len(newer) < len(trades):
                        break  # reached what we already had
                    after = trades[-1].trade_id
                else:
                    self._record_error(f"trades {symbol}: backfill stopped after {BACKFILL_MAX_PAGES} pages")
            except (httpx.HTTPError, OKXParseError, OKXRestError) as exc:
                self._record_error(f"trades {symbol}: backfill failed: {exc}")
            for trade in sorted(missed, key=lambda t: int(t.trade_id)):
                if self._accept_trade(trade):
                    self._backfilled_trades += 1
                    await self._emit(DataType.TRADE, trade)

    # ------------------------------------------------------------------ status
    def _extra_status(self) -> dict[str, Any]:
        return {
            "endpoint": {
                "public": self.endpoints.public_url,
                "business": self.endpoints.business_url,
                "rest": self.endpoints.rest_url,
                "simulated": self.endpoints.simulated,
            },
            "failed_symbols": dict(self._failed_symbols),
            "subscriptions": {"active": len(self._active), "pending": len(self._pending_acks)},
            "order_books": self._books.describe(),
            "exchange_statistics": {
                "book_resyncs": self._book_resyncs,
                "rest_book_seeds": self._rest_book_seeds,
                "duplicate_trades_dropped": self._duplicate_trades,
                "backfilled_trades": self._backfilled_trades,
                "inbox_depth": self._inbox.qsize(),
            },
        }
