"""OKX v5 wire structs: the exchange's own field names and types (docs/exchange-protocols.md §1.5-1.12).

Conventions of the OKX JSON, kept here rather than hidden:

* Prices, sizes and volumes are decimal **strings**; they stay ``str`` in these structs and
  become ``Decimal`` in :mod:`collectors.exchanges.okx.parse` (``Decimal(str)`` is faster
  than msgspec's own ``Decimal`` decoding, and some ticker fields may be ``""``).
* ``ts`` values are millisecond **strings**; they are typed ``int`` and decoded with
  ``strict=False`` (msgspec's lax mode), which turns ``"1630048897897"`` into an int in C.
* ``seqId``/``prevSeqId``/``checksum`` are JSON integers; error ``code`` is a string.

Decoding is two-step: :data:`FRAME_DECODER` reads the envelope (``arg``/``action``/``event``
...) and keeps ``data`` as raw bytes, then one decoder per channel type turns ``data``
straight into structs. No intermediate dicts are built.
"""

from __future__ import annotations

from typing import Literal

import msgspec

class BookLevel(msgspec.Struct, frozen=True, gc=False, array_like=True):
    """A book level, the array ``["price", "size", "0", "numOrders"]``.

    Only price and size are decoded: msgspec skips the trailing elements (the deprecated
    liquidated-orders ``"0"`` and ``numOrders``) without allocating them, which is measurably
    faster on 400-level books and keeps decoding working if OKX drops the deprecated element.
    """

    px: str  # price, decimal string
    sz: str  # size, decimal string (base currency for spot, contracts for derivatives); "0" deletes


class ChannelArg(msgspec.Struct, frozen=True, gc=False):
    """The ``arg`` object that names a subscription."""

    channel: str  # e.g. "trades", "books", "candle1m"
    instId: str | None = None  # instrument id, e.g. "BTC-USDT"; absent for instType-wide channels
    instType: str | None = None  # SPOT / SWAP / FUTURES / OPTION (instType-wide channels only)
    instFamily: str | None = None  # e.g. "BTC-USD" (instFamily-wide channels only)


class Frame(msgspec.Struct, frozen=True, gc=False):
    """Envelope of every JSON frame: a data push or an event (ack, error, notice)."""

    arg: ChannelArg | None = None  # subscription the push or ack is about
    action: str | None = None  # "snapshot" | "update" (incremental book channels only)
    data: msgspec.Raw = msgspec.Raw(b"")  # payload array, decoded later by the channel's decoder
    event: str | None = None  # "subscribe" | "unsubscribe" | "error" | "notice" | ...
    code: str | None = None  # error/notice code, a string: "60018", "64008"
    msg: str | None = None  # human-readable error/notice text
    connId: str | None = None  # server connection id (absent in 2022-era acks)
    id: str | None = None  # echo of the request id, when the request had one


class TradeMessage(msgspec.Struct, frozen=True, gc=False):
    """One element of ``trades`` / ``trades-all`` data, and of REST ``market/trades``."""

    instId: str  # instrument id
    tradeId: str  # trade id; for aggregated `trades` the LAST id of the `count` fills
    px: str  # price, decimal string (quote currency)
    sz: str  # size, decimal string (base currency for spot, contracts for derivatives)
    side: Literal["buy", "sell"]  # taker side
    ts: int  # trade time, ms since epoch (sent as a string)
    count: int = 1  # number of fills aggregated (`trades` only; sent as a string)
    source: str | None = None  # "0" normal order, "1" ELP/RPI order (absent before 2023)
    seqId: int | None = None  # per-instrument sequence, may repeat for simultaneous trades


class TickerMessage(msgspec.Struct, frozen=True, gc=False):
    """One element of ``tickers`` data. Decimal fields may be ``""`` for a fresh instrument."""

    instId: str  # instrument id
    ts: int  # ticker time, ms since epoch (sent as a string)
    instType: str = ""  # SPOT / MARGIN / SWAP / FUTURES / OPTION
    last: str = ""  # last traded price
    lastSz: str = ""  # last traded size (base currency or contracts)
    askPx: str = ""  # best ask price
    askSz: str = ""  # best ask size
    bidPx: str = ""  # best bid price
    bidSz: str = ""  # best bid size
    open24h: str = ""  # price 24 h ago
    high24h: str = ""  # 24 h high
    low24h: str = ""  # 24 h low
    sodUtc0: str = ""  # open price at 00:00 UTC
    sodUtc8: str = ""  # open price at 00:00 UTC+8
    volCcy24h: str = ""  # 24 h volume: quote currency for spot, base currency for derivatives
    vol24h: str = ""  # 24 h volume: base currency for spot, contracts for derivatives


class BookData(msgspec.Struct, frozen=True, gc=False):
    """One element of ``books`` / ``books-l2-tbt`` / ``books50-l2-tbt`` / ``books5`` / ``bbo-tbt`` data."""

    asks: list[BookLevel]  # best (lowest) first; size "0" deletes a level in an update
    bids: list[BookLevel]  # best (highest) first
    ts: int  # book time, ms since epoch (sent as a string)
    checksum: int | None = None  # signed CRC32 of the top 25 levels; always 0 since 2026-06-23
    seqId: int | None = None  # per-instrument sequence (absent before 2023)
    prevSeqId: int | None = None  # seqId of the previous push; -1 on a snapshot; absent on books5/bbo-tbt
    instId: str | None = None  # sent by books5 only


class BooksFrame(msgspec.Struct, frozen=True, gc=False):
    """A whole ``books`` push decoded in one pass (the hot path; see ``parse.parse_frame``)."""

    arg: ChannelArg
    data: list[BookData]
    action: str | None = None  # "snapshot" | "update"


class CandleRow(msgspec.Struct, frozen=True, gc=False, array_like=True):
    """One candle: an array ``[ts, o, h, l, c, vol, volCcy, volCcyQuote, confirm]`` (WS and REST)."""

    ts: int  # bar OPEN time, ms since epoch (sent as a string)
    o: str  # open price
    h: str  # high price
    l: str  # noqa: E741 (OKX's name) low price
    c: str  # close price
    vol: str  # volume: base currency for spot, contracts for derivatives
    volCcy: str = ""  # volume: quote currency for spot, base currency for derivatives
    volCcyQuote: str = ""  # volume in quote currency (all instrument types)
    confirm: str = "0"  # "0" bar still forming, "1" bar closed


class RestResponse(msgspec.Struct, frozen=True, gc=False):
    """Envelope of every REST answer: ``{"code": "0", "msg": "", "data": [...]}``."""

    code: str  # "0" on success, otherwise an error code such as "50011" (rate limit)
    msg: str = ""  # error text
    data: msgspec.Raw = msgspec.Raw(b"[]")  # payload array, decoded by the endpoint's decoder


class RestBookData(msgspec.Struct, frozen=True, gc=False):
    """One element of REST ``market/books`` data."""

    asks: list[BookLevel]  # best (lowest) first
    bids: list[BookLevel]  # best (highest) first
    ts: int  # snapshot time, ms since epoch (sent as a string)
    seqId: int | None = None  # sequence to join the WebSocket chain (see §1.9.3)


FRAME_DECODER = msgspec.json.Decoder(Frame)
TRADES_DECODER = msgspec.json.Decoder(list[TradeMessage], strict=False)
TICKERS_DECODER = msgspec.json.Decoder(list[TickerMessage], strict=False)
BOOKS_DECODER = msgspec.json.Decoder(list[BookData], strict=False)
BOOKS_FRAME_DECODER = msgspec.json.Decoder(BooksFrame, strict=False)
CANDLES_DECODER = msgspec.json.Decoder(list[CandleRow], strict=False)
REST_DECODER = msgspec.json.Decoder(RestResponse)
REST_BOOKS_DECODER = msgspec.json.Decoder(list[RestBookData], strict=False)
