"""The OKX v5 simulator server: WebSocket paths, REST mirrors and control endpoints on one port.

One market task advances the synthetic market every ``tick_interval`` and fans the
results out: trades at once, ``books``/``books5``/``bbo-tbt`` every ``book_interval``,
tickers every ``ticker_interval`` when changed, candles every ``candle_interval``.
Each frame is serialized once and the same bytes are queued to every subscriber.
Fault methods live in :class:`~collectors.exchanges.okx.simulator.faults.FaultMixin`.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass
from typing import Any, Self
from urllib.parse import parse_qsl

import msgspec
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from collectors.exchanges.okx.simulator import frames
from collectors.exchanges.okx.simulator.faults import FaultMixin
from collectors.exchanges.okx.simulator.protocol import (
    CANDLE_BARS,
    CANDLE_CHANNELS,
    WEBSOCKET_PATHS,
    RequestError,
    check_arg,
    parse_request,
)
from collectors.exchanges.okx.simulator.rest import envelope, handle_market_request
from collectors.exchanges.okx.simulator.session import Session, SimulatorConnection, json_response
from collectors.simulation.faults import FaultState
from collectors.simulation.market import BookLevels, Clock, SimTrade, SyntheticMarket, TradeEvent

logger = logging.getLogger(__name__)

DEFAULT_SYMBOLS = ("BTC-USDT", "ETH-USDT", "SOL-USDT")


@dataclass
class _BookStream:
    """Where the ``books`` chain of one instrument stands (shared by all connections)."""

    last_seq: int
    last_push: float  # loop time of the last books push (for the idle heartbeat)
    last_top: dict[str, tuple[BookLevels, float]]  # books5 / bbo-tbt: last levels sent and when


class OKXSimulator(FaultMixin):
    """OKX v5 public market-data simulator on loopback (see the package docstring).

    Args:
        host, port: where to listen; port 0 picks a free port (see :attr:`port`).
        seed: seed of the synthetic market; same seed and clock, same market.
        symbols: instrument ids served; anything else is answered with 60018 / 51001.
        trade_rate: mean trades per second per symbol (0 halts the market).
        book_interval: period of ``books``/``books5``/``bbo-tbt`` pushes, seconds.
        ticker_interval: minimum period between ``tickers`` pushes, seconds.
        candle_interval: period of candle pushes, seconds.
        idle_timeout: close with 4004 after this long without inbound frames or pushes.
        initial_snapshot: send a 400-level ``books`` snapshot on subscribe; when False only
            updates are sent and clients seed from ``GET /api/v5/market/books``.
        legacy_checksum: send the retired signed CRC32 in ``checksum`` instead of 0.
        book_heartbeat_interval: resend an empty ``books`` update after this long unchanged.
        book_depth: levels per side of the book.
        max_send_queue_bytes: per-connection queue cap; overflow closes with 4005.
        notice_close_delay: seconds between a 64008 notice and the close that follows it.
        clock: market clock in ms (injected for deterministic tests); timers use the loop.
        tick_interval: market step cadence of the server, seconds.
        compression: negotiate permessage-deflate (off by default: it costs throughput).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        seed: int = 1,
        symbols: tuple[str, ...] | list[str] = DEFAULT_SYMBOLS,
        trade_rate: float = 20.0,
        book_interval: float = 0.1,
        ticker_interval: float = 0.1,
        candle_interval: float = 1.0,
        idle_timeout: float = 30.0,
        initial_snapshot: bool = True,
        legacy_checksum: bool = False,
        book_heartbeat_interval: float = 60.0,
        book_depth: int = 400,
        max_send_queue_bytes: int = 16 * 1024 * 1024,
        notice_close_delay: float = 1.0,
        clock: Clock | None = None,
        tick_interval: float = 0.01,
        compression: bool = False,
    ) -> None:
        positive = {
            "book_interval": book_interval,
            "ticker_interval": ticker_interval,
            "candle_interval": candle_interval,
            "idle_timeout": idle_timeout,
            "tick_interval": tick_interval,
            "book_heartbeat_interval": book_heartbeat_interval,
        }
        for name, value in positive.items():
            if value <= 0:
                raise ValueError(f"{name} must be > 0, got {value}")
        self.host = host
        self.port = port
        self.trade_rate = trade_rate
        self.book_interval = book_interval
        self.ticker_interval = ticker_interval
        self.candle_interval = candle_interval
        self.idle_timeout = idle_timeout
        self.initial_snapshot = initial_snapshot
        self.legacy_checksum = legacy_checksum
        self.book_heartbeat_interval = book_heartbeat_interval
        self.max_send_queue_bytes = max_send_queue_bytes
        self.notice_close_delay = notice_close_delay
        self.tick_interval = tick_interval
        self.compression = compression
        self.book_depth = book_depth
        self.market = SyntheticMarket(
            symbols, seed=seed, trade_rate=trade_rate, book_depth=book_depth, clock=clock
        )
        self.faults = FaultState()
        self.drops = 0  # injected drop events that aborted at least one connection
        self.dropped_connections = 0
        self.connections_accepted = 0
        self._frames_sent_closed = 0  # frames sent on connections that have ended
        self._symbols = frozenset(self.market.symbols)
        self._conn_ids = random.Random(f"{seed}:connId")
        self._sessions: dict[str, Session] = {}
        # (channel, instId) -> subscribed sessions; the value is per-channel progress: for candles
        # the next bar to confirm, for tickers the ticker version the session has seen.
        self._subscribers: dict[tuple[str, str], dict[Session, int]] = {}
        self._books: dict[str, _BookStream] = {}
        self._last_trade: dict[str, tuple[SimTrade, int]] = {}
        self._server: Server | None = None
        self._market_task: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Bind and start serving; :attr:`port` then holds the real port."""
        loop = asyncio.get_running_loop()
        for symbol in self.market.symbols:
            self._books[symbol] = _BookStream(self.market.next_sequence(symbol), loop.time(), {})
            self.market.take_book_changes(symbol)  # changes before start belong to the first state
        self._server = await serve(
            self._handle,
            self.host,
            self.port,
            process_request=self._process_request,
            create_connection=SimulatorConnection,
            compression="deflate" if self.compression else None,
            ping_interval=None,  # OKX's JSON endpoints send no WebSocket pings
            close_timeout=2.0,
            max_queue=64,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._market_task = loop.create_task(self._market_loop(), name="okx-sim-market")

    async def stop(self) -> None:
        """Stop the market, close every connection and release the port."""
        self.stop_dropping()
        if self._market_task is not None:
            self._market_task.cancel()
            await asyncio.gather(self._market_task, return_exceptions=True)
            self._market_task = None
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        if self._server is not None:
            self._server.close(close_connections=True)
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def public_url(self) -> str:
        return f"ws://{self.host}:{self.port}/ws/v5/public"

    @property
    def business_url(self) -> str:
        return f"ws://{self.host}:{self.port}/ws/v5/business"

    @property
    def rest_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # -- ground truth -----------------------------------------------------------------------

    def trades_emitted(self, symbol: str | None = None) -> list[SimTrade]:
        """Every trade the market generated (oldest first), for one symbol or all."""
        return list(self.market.trades(symbol))

    @property
    def connection_count(self) -> int:
        return len(self._sessions)

    @property
    def subscriptions(self) -> dict[str, list[dict[str, Any]]]:
        """connId -> the args it is subscribed to, as the client sent them."""
        return {cid: list(s.subscriptions.values()) for cid, s in self._sessions.items()}

    def book_sequence(self, symbol: str) -> int:
        """``seqId`` of the latest ``books`` message for ``symbol``."""
        return self._books[symbol].last_seq

    def state(self) -> dict[str, Any]:
        """JSON-ready statistics and fault state (also ``GET /simulator/state``)."""
        loop = asyncio.get_running_loop()
        return {
            "connections": self.connection_count,
            "connections_accepted": self.connections_accepted,
            "drops": self.drops,
            "dropped_connections": self.dropped_connections,
            "frames_sent": self._frames_sent_closed + sum(s.frames_sent for s in self._sessions.values()),
            "trades_emitted": self.market.trade_counts(),
            "book_sequence": {symbol: stream.last_seq for symbol, stream in self._books.items()},
            "market_time_ms": self.market.time_ms,
            "subscriptions": self.subscriptions,
            "faults": self.faults.snapshot(loop.time()),
        }

    def _spawn(self, coroutine: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    # -- HTTP -------------------------------------------------------------------------------

    async def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        """Route plain HTTP requests (REST, control) and refuse handshakes while rejecting."""
        path, _, raw_query = request.path.partition("?")
        if path in WEBSOCKET_PATHS:
            if self.faults.take_rejection():
                return connection.respond(503, "Service Unavailable\n")
            return None
        query = dict(parse_qsl(raw_query))
        if request.method == "GET" and path.startswith("/api/v5/"):
            status, body = handle_market_request(path, query, self.market, self._book_snapshot)
            return json_response(connection, status, body)
        if request.method == "GET" and path == "/simulator/state":
            return json_response(connection, 200, msgspec.json.encode(self.state()))
        if request.method == "POST" and path.startswith("/simulator/faults/"):
            body = getattr(connection, "request_body", b"")
            status, payload = self.apply_fault_request(path.removeprefix("/simulator/faults/"), body)
            return json_response(connection, status, msgspec.json.encode(payload))
        return json_response(connection, 404, envelope([], "50000", f"Unknown path {path}"))

    def _book_snapshot(self, symbol: str, depth: int) -> tuple[BookLevels, int, int]:
        """Levels at the latest ``books`` seqId: pending changes are published first."""
        self._flush_book(symbol, asyncio.get_running_loop().time())
        return self.market.book(symbol, depth), self._books[symbol].last_seq, self.market.time_ms

    # -- WebSocket --------------------------------------------------------------------------

    async def _handle(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        path = ws.request.path.partition("?")[0]
        conn_id = f"{self._conn_ids.getrandbits(32):08x}"
        while conn_id in self._sessions:
            conn_id = f"{self._conn_ids.getrandbits(32):08x}"
        session = Session(ws, conn_id, path, self.faults, max_queue_bytes=self.max_send_queue_bytes,
                          idle_timeout=self.idle_timeout)  # fmt: skip
        self._sessions[conn_id] = session
        self.connections_accepted += 1
        session.start()
        try:
            async for message in ws:
                session.received()
                self._on_message(session, message)
        except ConnectionClosed:
            pass  # an abnormal end (dropped, or closed with a code other than 1000/1001) is still an end
        finally:
            del self._sessions[conn_id]
            self._frames_sent_closed += session.frames_sent
            for key in session.subscriptions:
                self._subscribers.get(key, {}).pop(session, None)
            await session.stop()

    def _on_message(self, session: Session, message: str | bytes) -> None:
        if message == "ping":
            session.push(b"pong")
            return
        text = message if isinstance(message, str) else message.decode("utf-8", "replace")
        try:
            request = parse_request(text)
        except RequestError as error:
            session.push(frames.error_frame(error.code, error.msg, session.conn_id, error.request_id))
            return
        for arg in request.args:
            try:
                key = check_arg(session.path, arg, self._symbols)
            except RequestError as error:
                session.push(frames.error_frame(error.code, error.msg, session.conn_id, request.request_id))
                continue
            session.push(frames.ack_frame(request.op, arg, session.conn_id, request.request_id))
            if request.op == "subscribe":
                self._subscribe(session, key, arg)
            else:
                session.subscriptions.pop(key, None)
                self._subscribers.get(key, {}).pop(session, None)

    def _subscribe(self, session: Session, key: tuple[str, str], arg: dict[str, Any]) -> None:
        if key in session.subscriptions:
            return  # a repeated subscribe is acknowledged again but replays nothing
        session.subscriptions[key] = arg
        channel, symbol = key
        market = self.market
        # Initial pushes come before the session joins the fan-out, so that the update a
        # snapshot flushes out reaches only the sessions that already hold the book.
        progress = 0
        if channel == "books" and self.initial_snapshot:
            levels, seq, ts = self._book_snapshot(symbol, self.book_depth)
            checksum = frames.legacy_checksum(levels.bids, levels.asks) if self.legacy_checksum else 0
            snapshot = frames.books_frame(symbol, "snapshot", levels.bids, levels.asks, ts, checksum, -1, seq)
            session.push(snapshot)
        elif channel in ("books5", "bbo-tbt"):
            self._flush_book(symbol, asyncio.get_running_loop().time())
            levels = market.book(symbol, 5 if channel == "books5" else 1)
            session.push(frames.top_frame(channel, symbol, levels.bids, levels.asks, market.time_ms,
                                          self._books[symbol].last_seq))  # fmt: skip
        elif channel == "trades" and symbol in self._last_trade:
            session.push(frames.trade_frame(*self._last_trade[symbol]))  # OKX replays the latest trade
        elif channel == "tickers":
            session.push(frames.ticker_frame(symbol, market.ticker(symbol)))
            progress = market.ticker_version(symbol)
        elif channel in CANDLE_CHANNELS:
            timeframe = CANDLE_BARS[CANDLE_CHANNELS[channel]]
            market.track_timeframe(symbol, timeframe)
            progress = timeframe.floor(market.time_ms)
        self._subscribers.setdefault(key, {})[session] = progress

    # -- market fan-out ---------------------------------------------------------------------

    async def _market_loop(self) -> None:
        loop = asyncio.get_running_loop()
        next_book = next_ticker = next_candle = loop.time()
        while True:
            try:
                events = self.market.advance()
                if events:
                    self._publish_trades(events)
                now = loop.time()
                if now >= next_book:
                    next_book = max(next_book + self.book_interval, now)
                    for symbol in self.market.symbols:
                        self._flush_book(symbol, now)
                        self._publish_tops(symbol, now)
                if now >= next_ticker:
                    next_ticker = max(next_ticker + self.ticker_interval, now)
                    self._publish_tickers()
                if now >= next_candle:
                    next_candle = max(next_candle + self.candle_interval, now)
                    self._publish_candles()
            except Exception:  # keep serving: a dead market would look like a silent exchange
                logger.exception("okx simulator market step failed")
            await asyncio.sleep(min(self.tick_interval, max(0.0, next_book - loop.time())))

    def _publish_trades(self, events: list[TradeEvent]) -> None:
        """Build each trade frame once; hand every subscriber its symbol's frames in one batch."""
        batches: dict[tuple[str, str], list[bytes]] = {}
        for channel in ("trades", "trades-all"):
            for symbol in self.market.symbols:
                if self._subscribers.get((channel, symbol)):
                    batches[(channel, symbol)] = []
        last_trade = self._last_trade
        if batches:
            trade_frame, trade_all_frame = frames.trade_frame, frames.trade_all_frame
            no_batch: list[bytes] = []
            for trade, sequence in events:
                symbol = trade.symbol
                batch = batches.get(("trades", symbol), no_batch)
                if batch is not no_batch:
                    batch.append(trade_frame(trade, sequence))
                batch = batches.get(("trades-all", symbol), no_batch)
                if batch is not no_batch:
                    batch.append(trade_all_frame(trade))
            for key, batch in batches.items():
                for session in self._subscribers[key]:
                    session.push_many(batch)
        for symbol in self.market.symbols:  # the latest trade, replayed to new trades subscribers
            for trade, sequence in reversed(events):
                if trade.symbol == symbol:
                    last_trade[symbol] = (trade, sequence)
                    break

    def _flush_book(self, symbol: str, now: float) -> None:
        """Publish the changes since the last ``books`` message as one update (or a heartbeat)."""
        market, stream, faults = self.market, self._books[symbol], self.faults
        changes = market.take_book_changes(symbol)
        sessions = self._subscribers.get(("books", symbol))
        prev = stream.last_seq
        if not changes.bids and not changes.asks:
            if now - stream.last_push >= self.book_heartbeat_interval:
                stream.last_push = now
                if sessions:  # heartbeat: nothing changed, seqId == prevSeqId
                    checksum = self._checksum(symbol, False)
                    frame = frames.books_frame(symbol, "update", [], [], market.time_ms, checksum, prev, prev)
                    for session in sessions:
                        session.push(frame)
            return
        reset = bool(sessions) and faults.take(faults.pending_resets, symbol)
        seq = market.reset_sequence(symbol) if reset else market.next_sequence(symbol)
        stream.last_seq, stream.last_push = seq, now
        if reset:
            faults.count("sequence_resets")
        if not sessions:
            return
        if faults.take(faults.pending_gaps, symbol):
            faults.count("sequence_gaps")  # the update is "lost": the next prevSeqId will not match
            return
        wrong = self.legacy_checksum and faults.take(faults.pending_wrong_checksums, symbol)
        if wrong:
            faults.count("wrong_checksums")
        frame = frames.books_frame(symbol, "update", changes.bids, changes.asks, market.time_ms,
                                   self._checksum(symbol, wrong), prev, seq)  # fmt: skip
        for session in sessions:
            session.push(frame)

    def _checksum(self, symbol: str, wrong: bool) -> int:
        if not self.legacy_checksum:
            return 0
        top = self.market.book(symbol, 25)
        value = frames.legacy_checksum(top.bids, top.asks)
        if wrong:  # off by one, staying inside the signed 32-bit range
            return value - 1 if value > -(2**31) else value + 1
        return value

    def _publish_tops(self, symbol: str, now: float) -> None:
        """``books5`` and ``bbo-tbt``: a full snapshot when the top changed (or after the heartbeat)."""
        stream = self._books[symbol]
        for channel, depth in (("books5", 5), ("bbo-tbt", 1)):
            sessions = self._subscribers.get((channel, symbol))
            if not sessions:
                continue
            levels = self.market.book(symbol, depth)
            last = stream.last_top.get(channel)
            if last is not None and last[0] == levels and now - last[1] < self.book_heartbeat_interval:
                continue
            stream.last_top[channel] = (levels, now)
            frame = frames.top_frame(
                channel, symbol, levels.bids, levels.asks, self.market.time_ms, stream.last_seq
            )
            for session in sessions:
                session.push(frame)

    def _publish_tickers(self) -> None:
        """Push the ticker to each subscriber that has not seen its latest version (change-driven)."""
        for symbol in self.market.symbols:
            sessions = self._subscribers.get(("tickers", symbol))
            if not sessions:
                continue
            version = self.market.ticker_version(symbol)
            frame = b""
            for session, seen in sessions.items():
                if seen != version:
                    frame = frame or frames.ticker_frame(symbol, self.market.ticker(symbol))
                    session.push(frame)
                    sessions[session] = version

    def _publish_candles(self) -> None:
        """Per subscription: each bar that closed since the last push once with confirm "1",
        otherwise the forming bar with confirm "0"."""
        market = self.market
        for channel, bar in CANDLE_CHANNELS.items():
            for symbol in market.symbols:
                sessions = self._subscribers.get((channel, symbol))
                if not sessions:
                    continue
                timeframe = CANDLE_BARS[bar]
                current = timeframe.floor(market.time_ms)
                built: dict[int, bytes] = {}
                for session, next_open in sessions.items():
                    opens = [current]
                    if next_open < current:
                        opens = []
                        while next_open < current:
                            opens.append(next_open)
                            next_open = timeframe.next_open(next_open)
                        sessions[session] = current
                    for open_ms in opens:
                        frame = built.get(open_ms)
                        if frame is None:
                            frame = built[open_ms] = frames.candle_frame(
                                channel, symbol, market.candle(symbol, timeframe, open_ms)
                            )
                        session.push(frame)
