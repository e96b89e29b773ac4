"""The OKX simulator over real loopback WebSockets and HTTP: protocol, data integrity, faults."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import weakref
from collections import deque
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from collectors.exchanges.okx.simulator import OKXSimulator
from collectors.exchanges.okx.simulator.cli import main as cli_main
from collectors.exchanges.okx.simulator.frames import legacy_checksum
from collectors.simulation.market import SimTrade
from tests.exchanges.okx.conftest import SIMULATOR_DEFAULTS
from tests.helpers import wait_for

Message = dict[str, Any]
WRONG_URL = (
    "Wrong URL or channel:{channel},instId:{inst_id} doesn't exist. "
    "Please use the correct URL, channel and parameters referring to API document."
)
TICKER_FIELDS = [
    "instType", "instId", "last", "lastSz", "askPx", "askSz", "bidPx", "bidSz", "open24h", "high24h",
    "low24h", "sodUtc0", "sodUtc8", "volCcy24h", "vol24h", "ts",
]  # fmt: skip


def simulator(**overrides: Any) -> OKXSimulator:
    return OKXSimulator(**{**SIMULATOR_DEFAULTS, **overrides})


def fast_clock(speed: float = 10.0) -> Callable[[], int]:
    """A market clock running ``speed`` times faster than real time (bars close sooner)."""
    start_ms, start = 1_700_000_000_000, time.monotonic()
    return lambda: start_ms + int((time.monotonic() - start) * speed * 1000)


# Pushes that arrived while subscribe() waited for its acks, per connection; recv() serves them first.
_backlog: weakref.WeakKeyDictionary[ClientConnection, deque[Any]] = weakref.WeakKeyDictionary()


async def recv(ws: ClientConnection, timeout: float = 5.0) -> Any:
    """The next frame, JSON-decoded unless it is the bare ``pong``."""
    if _backlog.get(ws):
        return _backlog[ws].popleft()
    raw = await asyncio.wait_for(ws.recv(), timeout)
    return raw if raw == "pong" else json.loads(raw)


async def recv_until(
    ws: ClientConnection, done: Callable[[list[Any]], bool], timeout: float = 8.0
) -> list[Any]:
    """Frames until ``done(frames)`` holds; fails after ``timeout`` seconds."""
    frames: list[Any] = []
    async with asyncio.timeout(timeout):
        while not done(frames):
            frames.append(await recv(ws, timeout))
    return frames


def is_event(frame: Any, event: str | None = None) -> bool:
    return isinstance(frame, dict) and "event" in frame and (event is None or frame["event"] == event)


def on(channel: str, *, action: str | None = None) -> Callable[[Any], bool]:
    """Predicate: the frame is a push of ``channel`` (and of ``action``, if given)."""

    def matches(frame: Any) -> bool:
        return (
            isinstance(frame, dict)
            and "event" not in frame
            and frame.get("arg", {}).get("channel") == channel
            and (action is None or frame.get("action") == action)
        )

    return matches


def count(channel: str, *, action: str | None = None, at_least: int = 1) -> Callable[[list[Any]], bool]:
    """``recv_until`` condition: at least ``at_least`` pushes of ``channel``."""
    return lambda frames: sum(map(on(channel, action=action), frames)) >= at_least


async def subscribe(
    ws: ClientConnection, *args: tuple[str, str], request_id: str | None = None
) -> list[Message]:
    """Subscribe and return the acks/errors (one per arg); pushes meanwhile stay queued for recv()."""
    request: Message = {"op": "subscribe", "args": [{"channel": c, "instId": i} for c, i in args]}
    if request_id:
        request["id"] = request_id
    await ws.send(json.dumps(request))
    frames = await recv_until(ws, lambda fs: sum(map(is_event, fs)) == len(args))
    _backlog.setdefault(ws, deque()).extend(f for f in frames if not is_event(f))
    return [f for f in frames if is_event(f)]


async def rest_data(http: httpx.AsyncClient, path: str, **params: str) -> Any:
    """``data`` of a successful OKX REST reply."""
    body = (await http.get(path, params=params)).json()
    assert body["code"] == "0" and body["msg"] == "", body
    return body["data"]


class LocalBook:
    """A client-side book applying OKX snapshots/updates by price, as a collector would."""

    def __init__(self) -> None:
        self.bids: dict[str, str] = {}
        self.asks: dict[str, str] = {}
        self.seq: int | None = None

    def apply(self, data: Message, snapshot: bool = False) -> None:
        if snapshot:
            self.bids, self.asks = {}, {}
        for side, levels in ((self.bids, data["bids"]), (self.asks, data["asks"])):
            for price, size, _, _ in levels:
                if Decimal(size) == 0:
                    side.pop(price, None)
                else:
                    side[price] = size
        self.seq = data["seqId"]

    def top(self, side: str, depth: int) -> list[tuple[str, str]]:
        levels = self.bids if side == "bids" else self.asks
        return sorted(levels.items(), key=lambda kv: Decimal(kv[0]), reverse=side == "bids")[:depth]

    def matches(self, rest: Message) -> bool:
        return self.top("bids", 400) == [(p, s) for p, s, _, _ in rest["bids"]] and self.top("asks", 400) == [
            (p, s) for p, s, _, _ in rest["asks"]
        ]

    def checksum(self) -> int:
        bids = [(p, s, 0) for p, s in self.top("bids", 25)]
        return legacy_checksum(bids, [(p, s, 0) for p, s in self.top("asks", 25)])


def check_chain(book: LocalBook, frames: list[Any]) -> int:
    """Apply every ``books`` update in ``frames`` after checking prevSeqId; returns chain breaks."""
    breaks = 0
    for frame in filter(on("books", action="update"), frames):
        data = frame["data"][0]
        breaks += data["prevSeqId"] != book.seq
        book.apply(data)
    return breaks


async def catch_up(ws: ClientConnection, book: LocalBook, seq_id: int) -> int:
    """Apply updates until the book reaches ``seq_id``; returns chain breaks on the way."""
    breaks = 0
    async with asyncio.timeout(8.0):
        while book.seq != seq_id:
            breaks += check_chain(book, [await recv(ws)])
    return breaks


def snapshot_book(frames: list[Any]) -> LocalBook:
    book = LocalBook()
    book.apply(next(filter(on("books", action="snapshot"), frames))["data"][0], snapshot=True)
    return book


async def idle(ws: ClientConnection, seconds: float) -> None:
    """Expect no frame for ``seconds`` on a quiet socket; raises ConnectionClosed if it closes."""
    try:
        frame = await asyncio.wait_for(ws.recv(), seconds)
    except TimeoutError:
        return
    raise AssertionError(f"quiet socket received {frame!r}")


async def wait_closed(ws: ClientConnection) -> ConnectionClosed:
    """Read until the server ends the connection; return how it ended."""
    with pytest.raises(ConnectionClosed) as closed:
        async with asyncio.timeout(8.0):
            while True:
                await ws.recv()
    return closed.value


@pytest.fixture
async def http(okx_simulator: OKXSimulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=okx_simulator.rest_url, timeout=5.0) as client:
        yield client


# -- subscribe / errors / keepalive ------------------------------------------------------------


async def test_acks_per_arg_with_conn_id_and_unsubscribe(okx_simulator: OKXSimulator) -> None:
    args = [("tickers", "BTC-USDT"), ("trades", "BTC-USDT"), ("books5", "ETH-USDT")]
    async with connect(okx_simulator.public_url) as ws:
        acks = await subscribe(ws, *args, request_id="1512")
        assert [a["arg"] for a in acks] == [{"channel": c, "instId": i} for c, i in args]
        conn_id = acks[0]["connId"]
        assert len(conn_id) == 8 and int(conn_id, 16) >= 0
        assert all(a["event"] == "subscribe" and a["id"] == "1512" and a["connId"] == conn_id for a in acks)
        assert okx_simulator.subscriptions[conn_id] == [a["arg"] for a in acks]
        tickers = {"channel": "tickers", "instId": "BTC-USDT"}
        await ws.send(json.dumps({"op": "unsubscribe", "args": [tickers]}))
        frames = await recv_until(ws, lambda fs: any(map(is_event, fs)))
        assert frames[-1] == {"event": "unsubscribe", "arg": tickers, "connId": conn_id}
        assert tickers not in okx_simulator.subscriptions[conn_id]


async def test_unknown_instrument_and_wrong_url_are_60018(okx_simulator: OKXSimulator) -> None:
    async with connect(okx_simulator.public_url) as ws:
        args = [("books", "DOGE-BTC"), ("candle1m", "BTC-USDT"), ("trades", "ETH-USDT")]
        unknown, candle, good = await subscribe(ws, *args)
        assert unknown["event"] == "error" and unknown["code"] == "60018"
        assert unknown["msg"] == WRONG_URL.format(channel="books", inst_id="DOGE-BTC")
        assert candle["code"] == "60018"
        assert candle["msg"] == WRONG_URL.format(channel="candle1m", inst_id="BTC-USDT")
        assert good["event"] == "subscribe"  # the socket stays usable after errors
    async with connect(okx_simulator.business_url) as ws:
        (error,) = await subscribe(ws, ("books", "BTC-USDT"))
        assert error["code"] == "60018"
        (ack,) = await subscribe(ws, ("candle1H", "BTC-USDT"))
        assert ack["event"] == "subscribe"


async def test_garbage_unknown_keys_and_bad_op(okx_simulator: OKXSimulator) -> None:
    async with connect(okx_simulator.public_url) as ws:
        await ws.send("hello")
        garbage = await recv(ws)
        assert (garbage["event"], garbage["code"]) == ("error", "60012")
        assert garbage["msg"] == "Invalid request: hello"
        bad_key = '{"op": "subscribe", "argss":[{"channel": "books", "instId": "BTC-USDT"}]}'
        await ws.send(bad_key)
        expected = {"event": "error", "code": "60012", "msg": f"Invalid request: {bad_key}"}
        assert await recv(ws) == {**expected, "connId": garbage["connId"]}
        books = {"channel": "books", "instId": "BTC-USDT"}
        await ws.send(json.dumps({"id": "7", "op": "subscrib", "args": [books]}))
        bad_op = await recv(ws)
        assert bad_op["code"] == "60019" and bad_op["id"] == "7"


async def test_text_ping_gets_text_pong(okx_simulator: OKXSimulator) -> None:
    async with connect(okx_simulator.public_url) as ws:
        await ws.send("ping")
        assert await recv(ws) == "pong"


async def test_idle_connection_is_closed_with_4004_unless_it_pings() -> None:
    async with simulator(idle_timeout=0.5, trade_rate=0.0) as sim:
        async with connect(sim.public_url) as quiet, connect(sim.public_url) as pinging:
            loop = asyncio.get_running_loop()
            opened = loop.time()
            with pytest.raises(ConnectionClosed):
                while True:  # the pinging socket keeps talking while the quiet one times out
                    await pinging.send("ping")
                    assert await recv(pinging) == "pong"
                    await idle(quiet, 0.15)
            assert quiet.close_code == 4004 and quiet.close_reason == "No data received in 30s."
            assert 0.45 <= loop.time() - opened < 2.0
            await pinging.send("ping")
            assert await recv(pinging) == "pong"
        assert sim.state()["faults"]["events"]["idle_closes"] == 1


# -- books ------------------------------------------------------------------------------------


async def test_books_snapshot_chain_and_rest_join(
    okx_simulator: OKXSimulator, http: httpx.AsyncClient
) -> None:
    async with connect(okx_simulator.public_url, max_size=None) as ws:
        await subscribe(ws, ("books", "BTC-USDT"))
        frames = await recv_until(ws, count("books", action="update", at_least=25))
        books = list(filter(on("books"), frames))
        assert books[0]["action"] == "snapshot"
        snapshot = books[0]["data"][0]
        assert len(snapshot["bids"]) == 400 and len(snapshot["asks"]) == 400
        assert (snapshot["prevSeqId"], snapshot["checksum"]) == (-1, 0) and isinstance(snapshot["seqId"], int)
        bid_prices = [Decimal(level[0]) for level in snapshot["bids"]]
        ask_prices = [Decimal(level[0]) for level in snapshot["asks"]]
        assert bid_prices == sorted(bid_prices, reverse=True) and ask_prices == sorted(ask_prices)
        assert bid_prices[0] < ask_prices[0]
        assert all(level[2] == "0" and int(level[3]) >= 1 for level in snapshot["bids"] + snapshot["asks"])
        book = snapshot_book(frames)
        steps = set()
        for frame in books[1:]:
            data = frame["data"][0]
            assert frame["action"] == "update" and data["prevSeqId"] == book.seq, "broken seqId chain"
            steps.add(data["seqId"] - data["prevSeqId"])
            book.apply(data)
            assert len(book.bids) == 400 and len(book.asks) == 400
            assert Decimal(book.top("bids", 1)[0][0]) < Decimal(book.top("asks", 1)[0][0])
        assert len(steps) > 3 and min(steps) >= 1, f"seqId steps should be irregular: {steps}"

        response = await http.get("/api/v5/market/books", params={"instId": "BTC-USDT", "sz": "400"})
        assert response.headers["content-type"] == "application/json"
        (rest,) = response.json()["data"]
        assert await catch_up(ws, book, rest["seqId"]) == 0  # the REST seqId is a link of the WS chain
        assert book.matches(rest)


async def test_sequence_gap_breaks_the_chain_exactly_once(okx_simulator: OKXSimulator) -> None:
    async with connect(okx_simulator.public_url, max_size=None) as ws:
        await subscribe(ws, ("books", "ETH-USDT"))
        frames = await recv_until(ws, count("books", action="update", at_least=5))
        book = snapshot_book(frames)
        assert check_chain(book, frames) == 0
        okx_simulator.sequence_gap("ETH-USDT")
        assert okx_simulator.state()["faults"]["pending_sequence_gaps"] == {"ETH-USDT": 1}
        frames = await recv_until(ws, count("books", action="update", at_least=8))
        assert check_chain(book, frames) == 1
        state = okx_simulator.state()["faults"]
        assert state["events"]["sequence_gaps"] == 1 and state["pending_sequence_gaps"] == {}


async def test_sequence_reset_is_a_valid_chain_link(okx_simulator: OKXSimulator) -> None:
    async with connect(okx_simulator.public_url, max_size=None) as ws:
        await subscribe(ws, ("books", "BTC-USDT"))
        frames = await recv_until(ws, count("books", action="update", at_least=3))
        book = snapshot_book(frames)
        assert check_chain(book, frames) == 0
        okx_simulator.sequence_reset("BTC-USDT")
        frames = await recv_until(ws, count("books", action="update", at_least=5))
        updates = [f["data"][0] for f in filter(on("books", action="update"), frames)]
        resets = [u for u in updates if u["seqId"] < u["prevSeqId"]]
        assert len(resets) == 1 and 0 <= resets[0]["seqId"] <= 20
        assert check_chain(book, frames) == 0  # its prevSeqId still equals the last seqId
        assert okx_simulator.state()["faults"]["events"]["sequence_resets"] == 1


def test_legacy_checksum_matches_the_documented_examples() -> None:
    bids, asks = [("3366.1", "7", 0), ("3366", "6", 0)], [("3366.8", "9", 0), ("3368", "8", 0)]
    assert legacy_checksum(bids, asks) == -1881014294
    asks.append(("3372", "8", 0))
    assert legacy_checksum(bids[:1], asks) == 831078360


async def test_legacy_checksum_mode_and_wrong_checksum_fault() -> None:
    async with simulator(legacy_checksum=True) as sim, connect(sim.public_url, max_size=None) as ws:
        await subscribe(ws, ("books", "BTC-USDT"))
        frames = await recv_until(ws, count("books", action="update", at_least=5))
        book, mismatches = LocalBook(), 0
        for frame in filter(on("books"), frames):
            book.apply(frame["data"][0], snapshot=frame["action"] == "snapshot")
            mismatches += book.checksum() != frame["data"][0]["checksum"]
        assert mismatches == 0 and frames[-1]["data"][0]["checksum"] != 0
        sim.wrong_checksum("BTC-USDT")
        frames = await recv_until(ws, count("books", action="update", at_least=8))
        for frame in filter(on("books", action="update"), frames):
            book.apply(frame["data"][0])
            mismatches += book.checksum() != frame["data"][0]["checksum"]
        assert mismatches == 1
        assert sim.state()["faults"]["events"]["wrong_checksums"] == 1


async def test_without_initial_snapshot_clients_seed_from_rest() -> None:
    async with simulator(initial_snapshot=False) as sim, connect(sim.public_url, max_size=None) as ws:
        async with httpx.AsyncClient(base_url=sim.rest_url) as http:
            await subscribe(ws, ("books", "ETH-USDT"))
            buffered = await recv_until(ws, count("books", at_least=2))
            assert not any(map(on("books", action="snapshot"), buffered))
            (rest,) = await rest_data(http, "/api/v5/market/books", instId="ETH-USDT", sz="400")
            assert len(rest["bids"]) == 400 and len(rest["asks"]) == 400

            def newer(frame: Any) -> bool:
                return on("books")(frame) and frame["data"][0]["seqId"] > rest["seqId"]

            buffered += await recv_until(ws, lambda fs: any(map(newer, fs)))
            pending = list(filter(newer, buffered))
            first = pending[0]["data"][0]
            assert first["prevSeqId"] <= rest["seqId"] < first["seqId"]  # the documented seeding rule
            book = LocalBook()
            book.apply(rest, snapshot=True)
            assert check_chain(book, pending) == 0
            (again,) = await rest_data(http, "/api/v5/market/books", instId="ETH-USDT", sz="400")
            assert await catch_up(ws, book, again["seqId"]) == 0
            assert book.matches(again)


async def test_quiet_market_heartbeat_ticker_and_empty_candles() -> None:
    async with simulator(trade_rate=0.0, book_heartbeat_interval=0.3) as sim:
        async with connect(sim.public_url) as public, connect(sim.business_url) as business:
            await subscribe(public, ("books", "BTC-USDT"), ("tickers", "BTC-USDT"))
            await subscribe(business, ("candle1s", "BTC-USDT"))
            frames = await recv_until(public, count("books", action="update"))
            snapshot = next(filter(on("books", action="snapshot"), frames))["data"][0]
            heartbeat = next(filter(on("books", action="update"), frames))["data"][0]
            assert heartbeat["bids"] == [] and heartbeat["asks"] == []
            assert heartbeat["seqId"] == heartbeat["prevSeqId"] == snapshot["seqId"]
            assert sum(map(on("tickers"), frames)) == 1  # pushed on subscribe, then only on change
            candles = await recv_until(business, count("candle1s"))
            row = next(filter(on("candle1s"), candles))["data"][0]
            assert row[1] == row[2] == row[3] == row[4] and row[5] == row[6] == row[7] == "0"
            assert row[8] == "1"


async def test_books5_and_bbo_tbt_are_plain_snapshots(okx_simulator: OKXSimulator) -> None:
    async with connect(okx_simulator.public_url) as ws:
        await subscribe(ws, ("books5", "BTC-USDT"), ("bbo-tbt", "BTC-USDT"))
        both = (count("books5", at_least=2), count("bbo-tbt", at_least=2))
        frames = await recv_until(ws, lambda fs: all(enough(fs) for enough in both))
        for frame in frames:
            if on("books5")(frame) or on("bbo-tbt")(frame):
                assert "action" not in frame
                data = frame["data"][0]
                depth = 5 if frame["arg"]["channel"] == "books5" else 1
                assert len(data["bids"]) == depth and len(data["asks"]) == depth
                assert "prevSeqId" not in data and "checksum" not in data and isinstance(data["seqId"], int)
                assert ("instId" in data) == (depth == 5) and data["ts"].isdigit()
                assert Decimal(data["bids"][0][0]) < Decimal(data["asks"][0][0])


# -- trades, tickers, candles -----------------------------------------------------------------


async def test_trades_replay_latest_then_follow_the_ground_truth(okx_simulator: OKXSimulator) -> None:
    await wait_for(lambda: len(okx_simulator.trades_emitted("BTC-USDT")) >= 3, what="some trades")
    okx_simulator.market.set_trade_rate(0.0)  # freeze the tape so "the latest trade" is known
    latest = okx_simulator.trades_emitted("BTC-USDT")[-1]
    async with connect(okx_simulator.public_url) as ws:
        await subscribe(ws, ("trades", "BTC-USDT"))
        frames = await recv_until(ws, count("trades"))
        assert frames[0]["data"][0]["tradeId"] == str(latest.trade_id)  # replayed on subscribe
        okx_simulator.market.set_trade_rate(20.0)
        frames += await recv_until(ws, count("trades", at_least=5))
    pushes = [f["data"] for f in filter(on("trades"), frames)]
    assert all(len(data) == 1 for data in pushes)
    trades = [data[0] for data in pushes]
    ids = [int(t["tradeId"]) for t in trades]
    assert ids == list(range(latest.trade_id, latest.trade_id + len(ids)))
    truth = {t.trade_id: t for t in okx_simulator.trades_emitted("BTC-USDT")}
    for pushed in trades:
        expected = truth[int(pushed["tradeId"])]
        assert pushed == {
            "instId": "BTC-USDT", "tradeId": str(expected.trade_id), "px": expected.price,
            "sz": expected.size, "side": expected.side, "ts": str(expected.ts_ms), "count": "1",
            "source": "0", "seqId": pushed["seqId"],
        }  # fmt: skip
        assert isinstance(pushed["seqId"], int) and "e" not in pushed["px"] + pushed["sz"]
    assert [t["seqId"] for t in trades] == sorted(t["seqId"] for t in trades)


async def test_trades_all_on_business_only(okx_simulator: OKXSimulator) -> None:
    async with connect(okx_simulator.public_url) as ws:
        (error,) = await subscribe(ws, ("trades-all", "BTC-USDT"))
        assert error["code"] == "60018"
    async with connect(okx_simulator.business_url) as ws:
        await subscribe(ws, ("trades-all", "ETH-USDT"))
        frames = await recv_until(ws, count("trades-all", at_least=3))
    truth = {t.trade_id: t for t in okx_simulator.trades_emitted("ETH-USDT")}
    for frame in filter(on("trades-all"), frames):
        (trade,) = frame["data"]
        assert set(trade) == {"instId", "tradeId", "px", "sz", "side", "source", "ts"}
        assert trade["px"] == truth[int(trade["tradeId"])].price


async def test_tickers_push_at_once_then_throttled(okx_simulator: OKXSimulator) -> None:
    loop = asyncio.get_running_loop()
    async with connect(okx_simulator.public_url) as ws:
        (ack,) = await subscribe(ws, ("tickers", "BTC-USDT"))
        assert ack["event"] == "subscribe"
        first = await recv(ws, timeout=1.0)
        assert on("tickers")(first)
        data = first["data"][0]
        assert list(data) == TICKER_FIELDS and data["instType"] == "SPOT"
        assert Decimal(data["bidPx"]) < Decimal(data["askPx"])
        assert Decimal(data["low24h"]) <= Decimal(data["last"]) <= Decimal(data["high24h"])
        started, pushes = loop.time(), 0
        while loop.time() - started < 0.5:
            pushes += on("tickers")(await recv(ws))
        assert 2 <= pushes <= 0.5 / 0.05 + 2  # change-driven, at most one per ticker_interval


def aggregate(trades: list[SimTrade], bar_ms: int) -> dict[int, tuple[Decimal, ...]]:
    """Reference OHLCV: open time -> (o, h, l, c, vol, quote vol), straight from the trade log."""
    bars: dict[int, list[Decimal]] = {}
    for trade in trades:
        price, size = Decimal(trade.price), Decimal(trade.size)
        open_ms = trade.ts_ms - trade.ts_ms % bar_ms
        bar = bars.setdefault(open_ms, [price, price, price, price, Decimal(0), Decimal(0)])
        bar[1], bar[2], bar[3] = max(bar[1], price), min(bar[2], price), price
        bar[4] += size
        bar[5] += price * size
    return {open_ms: tuple(values) for open_ms, values in bars.items()}


async def test_candles_equal_an_independent_aggregation_of_trades() -> None:
    async with simulator(clock=fast_clock(), candle_interval=0.1) as sim:
        async with connect(sim.business_url) as ws:
            await subscribe(ws, ("candle1s", "BTC-USDT"), ("candle1m", "BTC-USDT"))
            frames = await recv_until(
                ws, lambda fs: sum(f["data"][0][8] == "1" for f in filter(on("candle1s"), fs)) >= 3
            )
        async with httpx.AsyncClient(base_url=sim.rest_url) as http:
            rest_rows = await rest_data(http, "/api/v5/market/history-candles", instId="BTC-USDT", bar="1s")
        trades = sim.trades_emitted("BTC-USDT")
    confirmed = [f["data"][0] for f in filter(on("candle1s"), frames) if f["data"][0][8] == "1"]
    assert len({row[0] for row in confirmed}) == len(confirmed), "a bar was confirmed twice"
    truth = aggregate(trades, 1000)
    assert sum(int(row[0]) in truth for row in confirmed) >= 2
    for row in confirmed:
        if int(row[0]) in truth:
            assert tuple(Decimal(x) for x in row[1:7]) == truth[int(row[0])]
        else:  # a bar without trades repeats the previous close
            before = [t.price for t in trades if t.ts_ms < int(row[0])]
            assert row[1] == row[2] == row[3] == row[4] and row[5] == row[6] == "0"
            assert not before or row[4] == before[-1]
        assert row[6] == row[7]  # spot: volCcy and volCcyQuote are both quote currency
    minute = [f["data"][0] for f in filter(on("candle1m"), frames)]
    assert minute and all(row[8] == "0" and int(row[0]) % 60_000 == 0 for row in minute)
    rest = {row[0]: row for row in rest_rows}
    assert all(rest[row[0]] == row for row in confirmed)
    opens = [int(ts) for ts in rest]
    assert opens == sorted(opens, reverse=True)
    assert all(newer - older == 1000 for older, newer in zip(opens[1:], opens, strict=False))


# -- REST -------------------------------------------------------------------------------------


async def test_rest_trades_newest_first_and_history_pagination() -> None:
    async with simulator(trade_rate=300.0) as sim, httpx.AsyncClient(base_url=sim.rest_url) as http:
        await wait_for(lambda: len(sim.trades_emitted("BTC-USDT")) >= 150, what="150 trades")
        sim.market.set_trade_rate(0.0)  # a still tape makes every page predictable
        tape = sim.trades_emitted("BTC-USDT")
        recent = await rest_data(http, "/api/v5/market/trades", instId="BTC-USDT", limit="5")
        assert recent == [
            {"instId": "BTC-USDT", "side": t.side, "sz": t.size, "source": "0", "px": t.price,
             "tradeId": str(t.trade_id), "ts": str(t.ts_ms)}
            for t in reversed(tape[-5:])
        ]  # fmt: skip

        walked: list[int] = []
        params = {"instId": "BTC-USDT", "limit": "40", "type": "1"}
        while page := await rest_data(http, "/api/v5/market/history-trades", **params):
            walked += [int(row["tradeId"]) for row in page]
            params["after"] = page[-1]["tradeId"]  # older than the oldest seen
        assert walked == [t.trade_id for t in reversed(tape)]  # complete, newest first, no duplicates

        pivot = tape[-11].trade_id
        newer = await rest_data(http, "/api/v5/market/history-trades", instId="BTC-USDT", before=str(pivot))
        assert [int(row["tradeId"]) for row in newer] == [t.trade_id for t in reversed(tape[-10:])]
        capped = await rest_data(http, "/api/v5/market/history-trades", instId="BTC-USDT", limit="500")
        assert len(capped) == 100
        cutoff = tape[100].ts_ms
        by_time = await rest_data(
            http, "/api/v5/market/history-trades", instId="BTC-USDT", type="2", after=str(cutoff)
        )
        assert by_time and all(int(row["ts"]) < cutoff for row in by_time)
        expected = [t.trade_id for t in reversed(tape) if t.ts_ms < cutoff]
        assert [int(row["tradeId"]) for row in by_time] == expected


async def test_rest_candles_pagination() -> None:
    async with simulator(clock=fast_clock()) as sim, httpx.AsyncClient(base_url=sim.rest_url) as http:
        start_ms = sim.market.time_ms
        await wait_for(lambda: sim.market.time_ms - start_ms > 3000, what="three market seconds")
        rows = await rest_data(http, "/api/v5/market/candles", instId="BTC-USDT", bar="1s", limit="3")
        opens = [int(row[0]) for row in rows]
        assert opens == [opens[0], opens[0] - 1000, opens[0] - 2000] and all(len(row) == 9 for row in rows)
        assert [row[8] for row in rows[1:]] == ["1", "1"]
        older = await rest_data(
            http, "/api/v5/market/history-candles", instId="BTC-USDT", bar="1s", after=str(opens[0])
        )
        assert [int(row[0]) for row in older][:2] == opens[1:]
        newer = await rest_data(
            http, "/api/v5/market/candles", instId="BTC-USDT", bar="1s", before=str(opens[1])
        )
        assert [int(row[0]) for row in newer] == [opens[0]]


async def test_rest_errors(http: httpx.AsyncClient) -> None:
    async def error(path: str, **params: str) -> tuple[int, Message]:
        response = await http.get(path, params=params)
        assert response.headers["content-type"] == "application/json"
        return response.status_code, response.json()

    status, body = await error("/api/v5/market/trades", instId="NOPE-USDT")
    assert status == 400 and body["code"] == "51001" and body["data"] == []
    _, body = await error("/api/v5/market/trades", instId="BTC-USDT", limit="x")
    assert (body["code"], body["msg"]) == ("51000", "Parameter limit error")
    missing = {"code": "51000", "msg": "Parameter instId error", "data": []}
    assert await error("/api/v5/market/books") == (400, missing)
    _, body = await error("/api/v5/market/candles", instId="BTC-USDT", bar="1h")  # hours are upper case
    assert body["msg"] == "Parameter bar error"
    (books,) = await rest_data(http, "/api/v5/market/books", instId="ETH-USDT")  # sz defaults to 1
    assert len(books["bids"]) == len(books["asks"]) == 1 and isinstance(books["seqId"], int)


# -- faults -----------------------------------------------------------------------------------


async def test_drop_connections_aborts_without_a_close_frame(okx_simulator: OKXSimulator) -> None:
    async with connect(okx_simulator.public_url) as first, connect(okx_simulator.business_url) as second:
        await wait_for(lambda: okx_simulator.connection_count == 2, what="two connections")
        result = await okx_simulator.drop_connections()
        assert result.affected == 2
        for ws in (first, second):
            assert (await wait_closed(ws)).rcvd is None  # no close frame: an abnormal closure
    await wait_for(lambda: okx_simulator.connection_count == 0, what="connections gone")
    state = okx_simulator.state()
    assert okx_simulator.drops == state["drops"] == 1 and state["dropped_connections"] == 2


async def test_close_connections_is_a_clean_close(okx_simulator: OKXSimulator) -> None:
    async with connect(okx_simulator.public_url) as ws:
        await wait_for(lambda: okx_simulator.connection_count == 1, what="connection")
        await okx_simulator.close_connections(4000, "maintenance")
        closed = await wait_closed(ws)
        assert closed.rcvd is not None and (closed.rcvd.code, closed.rcvd.reason) == (4000, "maintenance")
    assert okx_simulator.state()["faults"]["events"]["clean_closes"] == 1


async def test_drop_every_until_stopped(okx_simulator: OKXSimulator) -> None:
    okx_simulator.drop_every(0.2)
    assert okx_simulator.state()["faults"]["drop_every_seconds"] == 0.2
    for _ in range(2):
        async with connect(okx_simulator.public_url) as ws:
            assert (await wait_closed(ws)).rcvd is None
    assert okx_simulator.drops >= 2
    okx_simulator.stop_dropping()
    assert okx_simulator.state()["faults"]["drop_every_seconds"] is None
    drops = okx_simulator.drops
    async with connect(okx_simulator.public_url) as ws:
        await idle(ws, 0.5)  # survives more than two drop periods
    assert okx_simulator.drops == drops


async def test_stall_holds_every_frame_including_pong(okx_simulator: OKXSimulator) -> None:
    loop = asyncio.get_running_loop()
    async with connect(okx_simulator.public_url) as ws:
        await subscribe(ws, ("trades", "BTC-USDT"))
        okx_simulator.stall(0.6)
        started = loop.time()
        assert okx_simulator.state()["faults"]["stalled"] is True
        await ws.send("ping")
        await recv_until(ws, lambda fs: "pong" in fs)
        assert loop.time() - started >= 0.55
        await recv_until(ws, count("trades"))  # what was generated during the stall follows
    state = okx_simulator.state()["faults"]
    assert state["events"]["stalls"] == 1 and state["stalled"] is False


async def test_slow_client_delays_every_frame(okx_simulator: OKXSimulator) -> None:
    loop = asyncio.get_running_loop()
    async with connect(okx_simulator.public_url) as ws:
        okx_simulator.slow_client(0.15)
        started = loop.time()
        await ws.send("ping")
        await ws.send("ping")
        assert await recv(ws) == "pong" and await recv(ws) == "pong"
        assert loop.time() - started >= 0.3
        assert okx_simulator.state()["faults"]["send_delay_seconds"] == 0.15
        okx_simulator.slow_client(0)
        started = loop.time()
        await ws.send("ping")
        assert await recv(ws) == "pong" and loop.time() - started < 0.15
    assert okx_simulator.state()["faults"]["events"]["slow_client"] == 1


async def test_send_malformed_frames(okx_simulator: OKXSimulator) -> None:
    async with connect(okx_simulator.public_url) as ws:
        await subscribe(ws, ("trades", "ETH-USDT"))
        okx_simulator.send_malformed(3)
        kinds: set[str] = set()
        async with asyncio.timeout(5.0):
            while len(kinds) < 3:
                raw = await ws.recv()
                try:
                    frame = json.loads(raw)
                except ValueError:
                    kinds.add("truncated")
                    continue
                if "arg" in frame and "data" not in frame and "event" not in frame:
                    kinds.add("missing data")
                elif frame.get("data") and frame["data"][0].get("px") == "not-a-number":
                    kinds.add("bad px")
    assert okx_simulator.state()["faults"]["events"]["malformed_frames"] == 3


async def test_notice_64008_then_close(okx_simulator: OKXSimulator) -> None:
    async with connect(okx_simulator.public_url) as ws:
        await wait_for(lambda: okx_simulator.connection_count == 1, what="connection")
        result = okx_simulator.notice_64008(close_delay=0.2)
        notice = await recv(ws)
        assert notice["event"] == "notice" and notice["code"] == "64008" and len(notice["connId"]) == 8
        assert "service upgrade" in notice["msg"]
        closed = await wait_closed(ws)
        assert closed.rcvd is not None and closed.rcvd.code == 1001
        await result
    events = okx_simulator.state()["faults"]["events"]
    assert events["notices"] == 1 and events["notice_closes"] == 1


async def test_error_event_reaches_every_connection(okx_simulator: OKXSimulator) -> None:
    async with connect(okx_simulator.public_url) as ws:
        await wait_for(lambda: okx_simulator.connection_count == 1, what="connection")
        okx_simulator.error_event("50001", "Service temporarily unavailable")
        error = await recv(ws)
        assert (error["event"], error["code"]) == ("error", "50001")
        assert error["msg"] == "Service temporarily unavailable"
    assert okx_simulator.state()["faults"]["events"]["error_events"] == 1


async def test_reject_connections_with_503(okx_simulator: OKXSimulator) -> None:
    okx_simulator.reject_connections(2)
    for _ in range(2):
        with pytest.raises(InvalidStatus) as rejected:
            async with connect(okx_simulator.public_url):
                pass
        assert rejected.value.response.status_code == 503
    async with connect(okx_simulator.public_url) as ws:
        await ws.send("ping")
        assert await recv(ws) == "pong"
    faults = okx_simulator.state()["faults"]
    assert faults["events"]["rejected_connections"] == 2 and faults["reject_remaining"] == 0


async def test_a_consumer_that_falls_behind_is_closed_with_4005() -> None:
    async with simulator(trade_rate=500.0, max_send_queue_bytes=30_000) as sim:
        async with connect(sim.public_url) as ws:
            await subscribe(ws, ("trades", "BTC-USDT"), ("trades", "ETH-USDT"))
            sim.stall(5.0)  # nothing leaves the server: the queue grows until the cap
            closed = await wait_closed(ws)
            assert closed.rcvd is not None
            assert (closed.rcvd.code, closed.rcvd.reason) == (4005, "Buffer is full, cannot write data")
            sim.stall(0)
        assert sim.state()["faults"]["events"]["buffer_full_closes"] == 1


async def test_http_control_endpoints(okx_simulator: OKXSimulator, http: httpx.AsyncClient) -> None:
    async def fault(name: str, **body: Any) -> httpx.Response:
        return await http.post(f"/simulator/faults/{name}", json=body)

    async with connect(okx_simulator.public_url) as ws:
        await subscribe(ws, ("tickers", "BTC-USDT"))
        response = await fault("error_event", code="60012", msg="injected")
        assert response.status_code == 200 and response.json() == {"fault": "error_event", "affected": 1}
        frames = await recv_until(ws, lambda fs: any(is_event(f, "error") for f in fs))
        assert frames[-1]["msg"] == "injected"
        assert (await fault("sequence_gap", symbol="ETH-USDT")).status_code == 200
        state = (await http.get("/simulator/state")).json()
        assert state["connections"] == 1 and state["drops"] == 0
        assert set(state["trades_emitted"]) == {"BTC-USDT", "ETH-USDT"}
        assert 0 <= state["trades_emitted"]["BTC-USDT"] <= len(okx_simulator.trades_emitted("BTC-USDT"))
        assert list(state["subscriptions"].values()) == [[{"channel": "tickers", "instId": "BTC-USDT"}]]
        assert state["faults"]["pending_sequence_gaps"] == {"ETH-USDT": 1}
        assert (await fault("unknown")).status_code == 404
        assert (await fault("stall", secs=1)).status_code == 400
        assert (await http.post("/simulator/faults/stall", content=b"[1]")).status_code == 400
        assert (await fault("sequence_gap", symbol="X")).status_code == 400
        response = await http.post("/simulator/faults/drop_connections")  # no body: no arguments
        assert response.json() == {"fault": "drop_connections", "affected": 1}
        await wait_closed(ws)
    assert (await http.get("/simulator/state")).json()["drops"] == 1
    assert (await http.get("/nowhere")).status_code == 404


# -- determinism and the command line ---------------------------------------------------------


async def test_same_seed_and_clock_give_the_same_market() -> None:
    now = [1_700_000_000_000]

    def clock() -> int:
        return now[0]

    async with (
        simulator(seed=5, clock=clock) as a,
        simulator(seed=5, clock=clock) as b,
        simulator(seed=6, clock=clock) as c,
    ):
        now[0] += 3_000
        await wait_for(lambda: all(s.market.time_ms == now[0] for s in (a, b, c)), what="markets caught up")
        assert a.trades_emitted() == b.trades_emitted() and len(a.trades_emitted()) > 50
        assert a.trades_emitted() != c.trades_emitted()
        assert all(now[0] - 3_000 < t.ts_ms <= now[0] for t in a.trades_emitted())
        books = []
        for sim in (a, b):
            async with httpx.AsyncClient(base_url=sim.rest_url) as http:
                (book,) = await rest_data(http, "/api/v5/market/books", instId="BTC-USDT", sz="400")
            books.append({key: value for key, value in book.items() if key != "seqId"})
        assert books[0] == books[1] and books[0]["ts"] == str(now[0])


def test_cli_rejects_bad_values_naming_the_flag(capsys: pytest.CaptureFixture[str]) -> None:
    cases = [
        (["--port", "70000"], "--port"),
        (["--trade-rate", "fast"], "--trade-rate"),
        (["--symbols", "btc usdt"], "--symbols"),
        (["--drop-every", "0"], "--drop-every"),
    ]
    for argv, flag in cases:
        with pytest.raises(SystemExit) as exit_info:
            cli_main(argv)
        assert exit_info.value.code == 2
        assert f"argument {flag}" in capsys.readouterr().err


async def test_standalone_process_prints_urls_and_exits_cleanly_on_sigterm() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "collectors.exchanges.okx.simulator",
        "--port", "0", "--symbols", "BTC-USDT", "--trade-rate", "5",
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "PYTHONWARNINGS": "error"},
    )  # fmt: skip
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 10.0)).decode()
        assert line.startswith("OKX simulator ready: public=ws://127.0.0.1:") and "/ws/v5/business" in line
        async with httpx.AsyncClient(base_url=line.split("rest=")[1].strip()) as http:
            assert (await http.get("/simulator/state")).json()["connections"] == 0
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 10.0) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
