"""Pure OKX parsers: raw frame bytes + receive time in, typed results out (protocol doc §1.5-1.12).

No I/O, no clock, no logging: the caller passes ``receive_time_ns``. Every problem with the
input raises :class:`~collectors.exchanges.okx.errors.OKXParseError`; nothing else escapes.

:func:`parse_frame` returns one of :data:`ParsedFrame`:

* :class:`Pong` — the text ``pong`` answering our ``ping``;
* :class:`Subscribed` / :class:`Unsubscribed` — one per-argument acknowledgement;
* :class:`ExchangeError` — ``event: error`` (channel and instId recovered from 60018 texts);
* :class:`Notice` — ``event: notice`` (e.g. 64008, reconnect before a service upgrade);
* :class:`DataBatch` — a data push turned into normalized records:

  ============================================  ==============================================
  channel                                       records
  ============================================  ==============================================
  ``trades``, ``trades-all``                    :class:`Trade` (``fill_count`` from ``count``)
  ``tickers``                                   :class:`Ticker`
  ``books``, ``books-l2-tbt``, ``books50-l2-tbt`` :class:`BookUpdate` (snapshot or update)
  ``books5``                                    :class:`BookUpdate`, always ``is_snapshot``
  ``bbo-tbt``                                   :class:`BookTop`
  ``candle<bar>``                               :class:`Candle`
  ============================================  ==============================================

``books5`` becomes a snapshot ``BookUpdate`` rather than a ``BookTop`` because each push is
the complete 5-level book; a ``BookTop`` would throw four levels away. Fed to ``LocalBooks``
it simply replaces the book every time.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable
from decimal import Decimal, InvalidOperation

import msgspec

from collectors.core.orderbook import OrderBook, decimal_text
from collectors.core.records import BookTop, BookUpdate, Candle, MarketRecord, PriceLevel, Ticker, Trade
from collectors.exchanges.okx.errors import OKXParseError, OKXRestError
from collectors.exchanges.okx.messages import (
    BOOKS_DECODER,
    BOOKS_FRAME_DECODER,
    CANDLES_DECODER,
    FRAME_DECODER,
    REST_BOOKS_DECODER,
    REST_DECODER,
    TICKERS_DECODER,
    TRADES_DECODER,
    BookData,
    BookLevel,
    CandleRow,
    Frame,
    TradeMessage,
)
from collectors.exchanges.okx.subscriptions import CANDLE_CHANNELS, bar_for_timeframe, timeframe_for_bar

EXCHANGE = "okx"
CHECKSUM_DEPTH = 25  # levels per side in OKX's legacy CRC32 checksum
_MS = 1_000_000  # nanoseconds per millisecond


class Pong(msgspec.Struct, frozen=True, gc=False):
    """The server's text ``pong``."""


class Subscribed(msgspec.Struct, frozen=True, gc=False):
    """Acknowledgement of one subscribed argument."""

    channel: str
    inst_id: str | None
    conn_id: str | None  # absent in acks of older server builds
    request_id: str | None  # echo of our request ``id``


class Unsubscribed(msgspec.Struct, frozen=True, gc=False):
    """Acknowledgement of one unsubscribed argument."""

    channel: str
    inst_id: str | None
    conn_id: str | None
    request_id: str | None


class ExchangeError(msgspec.Struct, frozen=True, gc=False):
    """``event: error``. ``channel``/``inst_id`` come from ``arg`` or the 60018 message text."""

    code: str
    message: str
    conn_id: str | None
    request_id: str | None
    channel: str | None = None
    inst_id: str | None = None


class Notice(msgspec.Struct, frozen=True, gc=False):
    """``event: notice``, e.g. code 64008: the connection closes soon for a service upgrade."""

    code: str
    message: str
    conn_id: str | None


class DataBatch(msgspec.Struct, frozen=True, gc=False):
    """Normalized records of one data push (all for ``channel`` and ``inst_id``)."""

    channel: str
    inst_id: str
    records: list[MarketRecord]  # Trade, Ticker, BookUpdate, BookTop or Candle, by channel


ParsedFrame = Pong | Subscribed | Unsubscribed | ExchangeError | Notice | DataBatch
PONG = Pong()


class _Invalid(ValueError):
    """Internal: a value inside ``data`` is unusable; turned into OKXParseError with the frame."""


# "Wrong URL or channel:books,instId:IRYS-USDT-SWAP doesn't exist..." and the newer
# "Subscribe failed, wrong URL or channel:..." variant.
_WRONG_CHANNEL = re.compile(r"wrong URL or channel:\s*([^,\s]+)\s*,\s*instId:\s*([^\s,]+)", re.IGNORECASE)


def parse_frame(raw: bytes | str, receive_time_ns: int) -> ParsedFrame:
    """Parse one WebSocket text frame from an OKX public/business socket.

    Raises :class:`OKXParseError` for malformed JSON, missing fields, non-numeric values and
    unknown channels or events; the message names the problem and quotes the frame.
    """
    if raw == b"pong" or raw == "pong":
        return PONG
    if type(raw) is str and raw.startswith(_BOOKS_HEAD):
        fast = _books_fast(raw, receive_time_ns)
        if fast is not None:
            return fast
    try:
        frame = FRAME_DECODER.decode(raw)
    except msgspec.DecodeError as exc:
        raise OKXParseError(f"not an OKX JSON frame ({exc})", raw) from None
    if frame.event is not None:
        return _parse_event(frame, raw)
    arg = frame.arg
    if arg is None or not frame.data:
        raise OKXParseError("frame has neither 'event' nor 'arg' and 'data'", raw)
    channel = arg.channel
    handler = _HANDLERS.get(channel)
    if handler is None:
        raise OKXParseError(f"unknown channel {channel!r}", raw)
    inst_id = arg.instId
    if inst_id is None:
        raise OKXParseError(f"{channel} push without arg.instId", raw)
    try:
        records = handler(frame, channel, inst_id, receive_time_ns)
    except msgspec.ValidationError as exc:
        raise OKXParseError(f"{channel} {inst_id}: invalid data ({exc})", raw) from None
    except msgspec.DecodeError as exc:
        raise OKXParseError(f"{channel} {inst_id}: malformed data ({exc})", raw) from None
    except _Invalid as exc:
        raise OKXParseError(f"{channel} {inst_id}: {exc}", raw) from None
    return DataBatch(channel, inst_id, records)


def _parse_event(frame: Frame, raw: bytes | str) -> ParsedFrame:
    event, arg = frame.event, frame.arg
    if event == "subscribe" or event == "unsubscribe":
        if arg is None:
            raise OKXParseError(f"{event} acknowledgement without 'arg'", raw)
        ack = Subscribed if event == "subscribe" else Unsubscribed
        return ack(arg.channel, arg.instId, frame.connId, frame.id)
    if event == "error":
        if frame.code is None:
            raise OKXParseError("error event without 'code'", raw)
        message = frame.msg or ""
        channel, inst_id = (arg.channel, arg.instId) if arg is not None else (None, None)
        if channel is None and (match := _WRONG_CHANNEL.search(message)):
            channel, inst_id = match.group(1), match.group(2)
        return ExchangeError(frame.code, message, frame.connId, frame.id, channel, inst_id)
    if event == "notice":
        if frame.code is None:
            raise OKXParseError("notice event without 'code'", raw)
        return Notice(frame.code, frame.msg or "", frame.connId)
    raise OKXParseError(f"unsupported event {event!r}", raw)


# ---------------------------------------------------------------------------- value helpers


def _decimal(text: str, field: str) -> Decimal:
    """Finite Decimal from an OKX decimal string (slow path; the hot paths inline this)."""
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise _Invalid(f"{field} is not a decimal number: {text!r}") from None
    if not value.is_finite():
        raise _Invalid(f"{field} is not a finite number: {text!r}")
    return value


def _optional_decimal(text: str, field: str) -> Decimal | None:
    return None if text == "" else _decimal(text, field)


# OKX price strings repeat constantly (a book has a few hundred live prices), so prices are
# interned by their exact text: a hit skips Decimal construction, and because the same
# Decimal object comes back, its hash (expensive for Decimal, ~0.3 us) is computed once and
# cached instead of on every book lookup. Bounded crudely: cleared when full, which costs a
# burst of misses but no per-hit LRU bookkeeping. Caching an immutable value keeps the
# parsers pure.
_PRICE_CACHE: dict[str, Decimal] = {}
PRICE_CACHE_LIMIT = 100_000
_ZERO = Decimal("0")  # deletions (size "0") are ~3/8 of book levels; skip building them


def _new_price(text: str) -> Decimal:
    price = Decimal(text)
    if len(_PRICE_CACHE) >= PRICE_CACHE_LIMIT:
        _PRICE_CACHE.clear()
    _PRICE_CACHE[text] = price
    return price


def _levels(raw_levels: list[BookLevel], side: str, check_finite: bool = True) -> list[PriceLevel]:
    """``[(price, size), ...]`` from OKX level arrays, rejecting non-numbers.

    ``check_finite=False`` skips the NaN/Infinity test when the caller has already seen that
    the payload contains no ``n``/``N``, a letter every non-finite Decimal spelling contains.
    """
    cached = _PRICE_CACHE.get
    try:
        levels = [
            (cached(level.px) or _new_price(level.px), _ZERO if level.sz == "0" else Decimal(level.sz))
            for level in raw_levels
        ]
    except InvalidOperation:
        levels = [
            (_decimal(level.px, f"{side} price"), _decimal(level.sz, f"{side} size")) for level in raw_levels
        ]
    if check_finite:
        for price, size in levels:
            if not (price.is_finite() and size.is_finite()):
                raise _Invalid(f"{side} level with a non-finite number: {[str(price), str(size)]}")
    return levels


def _may_hold_non_finite(data: msgspec.Raw) -> bool:
    # Every spelling Decimal accepts for NaN/Infinity contains an n or N; the key names of
    # `books` data ("asks", "bids", "ts", "checksum", "seqId", "prevSeqId") contain neither.
    # One memchr-speed scan is ~5x cheaper than testing every number.
    raw = bytes(data)
    return b"n" in raw or b"N" in raw


def _is_spot(inst_id: str) -> bool:
    # Spot/margin ids are BASE-QUOTE; derivatives have more parts (SWAP, expiry, strike...).
    return inst_id.count("-") == 1


# ---------------------------------------------------------------------------- channel handlers


def _trade(item: TradeMessage, receive_time_ns: int) -> Trade:
    try:
        price, size = _PRICE_CACHE.get(item.px) or _new_price(item.px), Decimal(item.sz)
    except InvalidOperation:
        price, size = _decimal(item.px, "px"), _decimal(item.sz, "sz")
    if not (price.is_finite() and size.is_finite()):
        raise _Invalid(f"trade {item.tradeId} has a non-finite px/sz: {item.px!r}/{item.sz!r}")
    return Trade(
        EXCHANGE,
        item.instId,
        item.tradeId,
        price,
        size,
        item.side,
        item.ts * _MS,
        receive_time_ns,
        item.count,
    )


def _trades(frame: Frame, channel: str, inst_id: str, receive_time_ns: int) -> list[Trade]:
    return [_trade(item, receive_time_ns) for item in TRADES_DECODER.decode(frame.data)]


def _tickers(frame: Frame, channel: str, inst_id: str, receive_time_ns: int) -> list[Ticker]:
    records = []
    for item in TICKERS_DECODER.decode(frame.data):
        spot = item.instType in ("SPOT", "MARGIN") if item.instType else _is_spot(item.instId)
        records.append(
            Ticker(
                EXCHANGE,
                item.instId,
                last_price=_optional_decimal(item.last, "last"),
                last_size=_optional_decimal(item.lastSz, "lastSz"),
                best_bid=_optional_decimal(item.bidPx, "bidPx"),
                best_bid_size=_optional_decimal(item.bidSz, "bidSz"),
                best_ask=_optional_decimal(item.askPx, "askPx"),
                best_ask_size=_optional_decimal(item.askSz, "askSz"),
                open_24h=_optional_decimal(item.open24h, "open24h"),
                high_24h=_optional_decimal(item.high24h, "high24h"),
                low_24h=_optional_decimal(item.low24h, "low24h"),
                volume_24h=_optional_decimal(item.vol24h, "vol24h"),
                # volCcy24h is quote currency only for spot; for derivatives it is the base coin.
                quote_volume_24h=_optional_decimal(item.volCcy24h, "volCcy24h") if spot else None,
                event_time_ns=item.ts * _MS,
                receive_time_ns=receive_time_ns,
            )
        )
    return records


# `books` pushes are most of the traffic of a book collector. They are decoded in one pass
# (envelope and levels together) instead of envelope first and `data` second; anything
# unusual (another key order, bad values) falls back to the general path, which also
# produces the precise error message.
_BOOKS_HEAD = '{"arg":{"channel":"books",'


def _books_fast(raw: str, receive_time_ns: int) -> DataBatch | None:
    try:
        frame = BOOKS_FRAME_DECODER.decode(raw)
        inst_id = frame.arg.instId
        if inst_id is None or not frame.data:
            return None
        # Only the part from "data" on can hold a NaN/Infinity spelling (see _may_hold_non_finite).
        start = raw.find('"data"')
        check = start < 0 or raw.find("n", start) >= 0 or raw.find("N", start) >= 0
        return DataBatch("books", inst_id, _book_records(frame.action, frame.data, inst_id, check, receive_time_ns))
    except (msgspec.DecodeError, msgspec.ValidationError, _Invalid):
        return None


def _books(frame: Frame, channel: str, inst_id: str, receive_time_ns: int) -> list[BookUpdate]:
    check = _may_hold_non_finite(frame.data)
    return _book_records(frame.action, BOOKS_DECODER.decode(frame.data), inst_id, check, receive_time_ns)


def _book_records(
    action: str | None, items: list[BookData], inst_id: str, check: bool, receive_time_ns: int
) -> list[BookUpdate]:
    if action == "update":
        is_snapshot = False
    elif action == "snapshot":
        is_snapshot = True
    else:
        raise _Invalid(f"'action' must be 'snapshot' or 'update', got {action!r}")
    records = []
    for item in items:
        previous = item.prevSeqId
        if is_snapshot or previous == -1:
            previous = None  # -1 marks "no previous message" on a snapshot
        records.append(
            BookUpdate(
                EXCHANGE,
                inst_id,
                is_snapshot,
                _levels(item.bids, "bid", check),
                _levels(item.asks, "ask", check),
                item.seqId,
                previous,
                item.checksum,
                item.ts * _MS,
                receive_time_ns,
            )
        )
    return records


def _books5(frame: Frame, channel: str, inst_id: str, receive_time_ns: int) -> list[BookUpdate]:
    return [
        BookUpdate(
            EXCHANGE,
            inst_id,
            True,
            _levels(item.bids, "bid"),
            _levels(item.asks, "ask"),
            item.seqId,
            None,
            None,
            item.ts * _MS,
            receive_time_ns,
        )
        for item in BOOKS_DECODER.decode(frame.data)
    ]


def _bbo(frame: Frame, channel: str, inst_id: str, receive_time_ns: int) -> list[BookTop]:
    records = []
    for item in BOOKS_DECODER.decode(frame.data):
        bids, asks = _levels(item.bids[:1], "bid"), _levels(item.asks[:1], "ask")
        bid_price, bid_size = bids[0] if bids else (None, None)
        ask_price, ask_size = asks[0] if asks else (None, None)
        records.append(
            BookTop(
                EXCHANGE,
                inst_id,
                bid_price,
                bid_size,
                ask_price,
                ask_size,
                item.seqId,
                item.ts * _MS,
                receive_time_ns,
            )
        )
    return records


def _candle(row: CandleRow, inst_id: str, timeframe: str, receive_time_ns: int) -> Candle:
    if row.confirm not in ("0", "1"):
        raise _Invalid(f"candle confirm must be '0' or '1', got {row.confirm!r}")
    if row.volCcyQuote:
        quote_volume = _decimal(row.volCcyQuote, "volCcyQuote")
    elif row.volCcy and _is_spot(inst_id):  # rows from before volCcyQuote existed
        quote_volume = _decimal(row.volCcy, "volCcy")
    else:
        quote_volume = None
    return Candle(
        EXCHANGE,
        inst_id,
        timeframe=timeframe,
        open_time_ns=row.ts * _MS,
        open=_decimal(row.o, "open"),
        high=_decimal(row.h, "high"),
        low=_decimal(row.l, "low"),
        close=_decimal(row.c, "close"),
        volume=_decimal(row.vol, "vol"),
        quote_volume=quote_volume,
        closed=row.confirm == "1",
        receive_time_ns=receive_time_ns,
    )


def _candles(frame: Frame, channel: str, inst_id: str, receive_time_ns: int) -> list[Candle]:
    timeframe = CANDLE_CHANNELS[channel]
    return [_candle(row, inst_id, timeframe, receive_time_ns) for row in CANDLES_DECODER.decode(frame.data)]


_Handler = Callable[[Frame, str, str, int], list]
_HANDLERS: dict[str, _Handler] = {
    "trades": _trades,
    "trades-all": _trades,
    "tickers": _tickers,
    "books": _books,
    "books-l2-tbt": _books,
    "books50-l2-tbt": _books,
    "books5": _books5,
    "bbo-tbt": _bbo,
    **dict.fromkeys(CANDLE_CHANNELS, _candles),
}
CHANNELS: frozenset[str] = frozenset(_HANDLERS)  # every channel parse_frame understands


# ---------------------------------------------------------------------------- REST bodies


def _rest_data(raw: bytes | str) -> msgspec.Raw:
    try:
        response = REST_DECODER.decode(raw)
    except msgspec.DecodeError as exc:
        raise OKXParseError(f"not an OKX REST response ({exc})", raw) from None
    if response.code != "0":
        raise OKXRestError(response.code, response.msg)
    return response.data


def parse_rest_book(raw: bytes | str, inst_id: str, receive_time_ns: int) -> BookUpdate:
    """``GET /api/v5/market/books`` body -> snapshot ``BookUpdate`` (``sequence`` = ``seqId``).

    Pass the result to ``LocalBooks.seed`` to join it to the WebSocket chain.

    Raises :class:`OKXRestError` for an error ``code``, :class:`OKXParseError` for a malformed body.
    """
    data = _rest_data(raw)
    try:
        items = REST_BOOKS_DECODER.decode(data)
        if len(items) != 1:
            raise _Invalid(f"expected one book in 'data', got {len(items)}")
        item = items[0]
        bids, asks = _levels(item.bids, "bid"), _levels(item.asks, "ask")
    except (msgspec.DecodeError, _Invalid) as exc:
        raise OKXParseError(f"market/books {inst_id}: {exc}", raw) from None
    event_time_ns = item.ts * _MS
    return BookUpdate(
        EXCHANGE, inst_id, True, bids, asks, item.seqId, None, None, event_time_ns, receive_time_ns
    )


def parse_rest_trades(raw: bytes | str, inst_id: str, receive_time_ns: int) -> list[Trade]:
    """``GET /api/v5/market/trades`` / ``history-trades`` body for ``inst_id`` -> trades, newest first."""
    data = _rest_data(raw)
    try:
        trades = [_trade(item, receive_time_ns) for item in TRADES_DECODER.decode(data)]
    except (msgspec.DecodeError, _Invalid) as exc:
        raise OKXParseError(f"market/trades {inst_id}: {exc}", raw) from None
    for trade in trades:
        if trade.symbol != inst_id:
            raise OKXParseError(f"market/trades {inst_id}: response holds a trade of {trade.symbol}", raw)
    return trades


def parse_rest_candles(raw: bytes | str, inst_id: str, timeframe: str, receive_time_ns: int) -> list[Candle]:
    """``GET /api/v5/market/candles`` / ``history-candles`` body -> candles, newest first as OKX sends them.

    ``timeframe`` is the normalized timeframe (``"1h"``) or the OKX bar (``"1H"``) requested.
    """
    normalized = timeframe_for_bar(bar_for_timeframe(timeframe))
    data = _rest_data(raw)
    try:
        return [_candle(row, inst_id, normalized, receive_time_ns) for row in CANDLES_DECODER.decode(data)]
    except (msgspec.DecodeError, _Invalid) as exc:
        raise OKXParseError(f"market/candles {inst_id}: {exc}", raw) from None


# ---------------------------------------------------------------------------- legacy checksum


def okx_checksum_string(book: OrderBook, depth: int = CHECKSUM_DEPTH) -> str:
    """The string OKX's legacy checksum hashes: ``bid:size:ask:size:...`` over the best ``depth`` levels.

    Levels alternate bid, ask; once one side runs out the other continues alone. Prices and
    sizes are the exchange's original strings, rebuilt exactly from the Decimals.
    """
    bids, asks = book.top(depth)
    parts: list[str] = []
    for index in range(max(len(bids), len(asks))):
        if index < len(bids):
            parts += (decimal_text(bids[index][0]), decimal_text(bids[index][1]))
        if index < len(asks):
            parts += (decimal_text(asks[index][0]), decimal_text(asks[index][1]))
    return ":".join(parts)


def okx_checksum(book: OrderBook) -> int:
    """OKX's legacy book checksum: signed CRC32 of :func:`okx_checksum_string` (§1.9.2).

    OKX sends 0 since 2026-06-23; pass this to ``LocalBooks(checksum=okx_checksum)``, which
    only calls it for non-zero checksums.
    """
    crc = zlib.crc32(okx_checksum_string(book).encode("ascii"))
    return crc - (1 << 32) if crc >= 1 << 31 else crc
