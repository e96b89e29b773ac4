"""OKX v5 frame builders for the simulator: market state in, UTF-8 JSON bytes out.

Pure functions. Hot frames (trades) are assembled as strings; symbols, sides and
decimal strings come from the synthetic market and need no JSON escaping.
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Sequence
from typing import Any

import msgspec

from collectors.simulation.market import BookLevel, CandleBar, SimTrade, TickerState

_encode = msgspec.json.encode


def _arg(channel: str, inst_id: str) -> str:
    return f'{{"channel":"{channel}","instId":"{inst_id}"}}'


@functools.cache
def _trade_prefix(channel: str, inst_id: str) -> str:
    return f'{{"arg":{_arg(channel, inst_id)},"data":[{{"instId":"{inst_id}","tradeId":"'


def trade_frame(trade: SimTrade, sequence: int) -> bytes:
    """``trades`` push: one fill per push, so ``count`` is always "1"."""
    return (
        f'{_trade_prefix("trades", trade.symbol)}{trade.trade_id}","px":"{trade.price}","sz":"{trade.size}",'
        f'"side":"{trade.side}","ts":"{trade.ts_ms}","count":"1","source":"0","seqId":{sequence}}}]}}'
    ).encode()


def trade_all_frame(trade: SimTrade) -> bytes:
    """``trades-all`` push (business URL): every fill, no ``count``/``seqId``."""
    return (
        f'{_trade_prefix("trades-all", trade.symbol)}{trade.trade_id}","px":"{trade.price}",'
        f'"sz":"{trade.size}","side":"{trade.side}","source":"0","ts":"{trade.ts_ms}"}}]}}'
    ).encode()


def rest_trade(trade: SimTrade) -> dict[str, str]:
    """One row of ``/api/v5/market/trades`` and ``history-trades``."""
    return {
        "instId": trade.symbol,
        "side": trade.side,
        "sz": trade.size,
        "source": "0",
        "px": trade.price,
        "tradeId": str(trade.trade_id),
        "ts": str(trade.ts_ms),
    }


def inst_type(inst_id: str) -> str:
    """OKX instrument type from the id's shape (the simulator lists spot pairs and swaps)."""
    return "SWAP" if inst_id.endswith("-SWAP") else "SPOT"


def ticker_frame(inst_id: str, ticker: TickerState) -> bytes:
    """``tickers`` push with the fields of the documented example, in its order."""
    data = {
        "instType": inst_type(inst_id),
        "instId": inst_id,
        "last": ticker.last,
        "lastSz": ticker.last_size,
        "askPx": ticker.ask,
        "askSz": ticker.ask_size,
        "bidPx": ticker.bid,
        "bidSz": ticker.bid_size,
        "open24h": ticker.open_24h,
        "high24h": ticker.high_24h,
        "low24h": ticker.low_24h,
        "sodUtc0": ticker.start_of_day_utc0,
        "sodUtc8": ticker.start_of_day_utc8,
        "volCcy24h": ticker.quote_volume_24h,
        "vol24h": ticker.volume_24h,
        "ts": str(ticker.ts_ms),
    }
    return _encode({"arg": {"channel": "tickers", "instId": inst_id}, "data": [data]})


def wire_levels(levels: Sequence[BookLevel]) -> list[list[str]]:
    """``[price, size, "0", orders]`` rows; the third element is OKX's deprecated field."""
    return [[price, size, "0", str(orders)] for price, size, orders in levels]


def legacy_checksum(bids: Sequence[BookLevel], asks: Sequence[BookLevel]) -> int:
    """Signed CRC32 of the top 25 levels interleaved bid/ask (docs 1.9.2), over the sent strings."""
    parts: list[str] = []
    for index in range(25):
        if index < len(bids):
            parts.append(f"{bids[index][0]}:{bids[index][1]}")
        if index < len(asks):
            parts.append(f"{asks[index][0]}:{asks[index][1]}")
    crc = zlib.crc32(":".join(parts).encode())
    return crc - (1 << 32) if crc >= 1 << 31 else crc


def books_frame(
    inst_id: str,
    action: str,
    bids: Sequence[BookLevel],
    asks: Sequence[BookLevel],
    ts_ms: int,
    checksum: int,
    prev_seq_id: int,
    seq_id: int,
) -> bytes:
    """``books`` snapshot or update (field order as OKX sends it: ts, checksum, seqId, prevSeqId)."""
    data = {
        "asks": wire_levels(asks),
        "bids": wire_levels(bids),
        "ts": str(ts_ms),
        "checksum": checksum,
        "seqId": seq_id,
        "prevSeqId": prev_seq_id,
    }
    return _encode({"arg": {"channel": "books", "instId": inst_id}, "action": action, "data": [data]})


def top_frame(channel: str, inst_id: str, bids: Sequence[BookLevel], asks: Sequence[BookLevel], ts_ms: int,
              seq_id: int) -> bytes:  # fmt: skip
    """``books5`` / ``bbo-tbt`` full snapshot: no ``action``, no ``prevSeqId``."""
    data: dict[str, Any] = {"asks": wire_levels(asks), "bids": wire_levels(bids)}
    if channel == "books5":
        data["instId"] = inst_id  # the documented books5 push carries it; bbo-tbt does not
    data["ts"] = str(ts_ms)
    data["seqId"] = seq_id
    return _encode({"arg": {"channel": channel, "instId": inst_id}, "data": [data]})


def candle_row(bar: CandleBar) -> list[str]:
    """``[ts, o, h, l, c, vol, volCcy, volCcyQuote, confirm]`` (spot: vol base, volCcy* quote)."""
    return [
        str(bar.open_ms), bar.open, bar.high, bar.low, bar.close,
        bar.volume, bar.quote_volume, bar.quote_volume, "1" if bar.closed else "0",
    ]  # fmt: skip


def candle_frame(channel: str, inst_id: str, bar: CandleBar) -> bytes:
    return _encode({"arg": {"channel": channel, "instId": inst_id}, "data": [candle_row(bar)]})


def _with_id(request_id: str | None, body: dict[str, Any]) -> bytes:
    return _encode({"id": request_id, **body} if request_id is not None else body)


def ack_frame(event: str, arg: dict[str, Any], conn_id: str, request_id: str | None) -> bytes:
    """Per-arg ``subscribe``/``unsubscribe`` acknowledgement."""
    return _with_id(request_id, {"event": event, "arg": arg, "connId": conn_id})


def error_frame(code: str, msg: str, conn_id: str, request_id: str | None = None) -> bytes:
    return _with_id(request_id, {"event": "error", "code": code, "msg": msg, "connId": conn_id})


def notice_frame(conn_id: str) -> bytes:
    """The service-upgrade notice OKX sends before closing connections."""
    return _encode({
        "event": "notice",
        "code": "64008",
        "msg": "The connection will soon be closed for a service upgrade. Please reconnect.",
        "connId": conn_id,
    })  # fmt: skip


def malformed_frames(trade: SimTrade, sequence: int) -> tuple[bytes, bytes, bytes]:
    """Three broken pushes: truncated JSON, a push without ``data``, a trade with a non-numeric px."""
    good = trade_frame(trade, sequence)
    missing_data = _encode({"arg": {"channel": "trades", "instId": trade.symbol}})
    bad_price = trade_frame(trade._replace(price="not-a-number"), sequence)
    return good[: len(good) // 2], missing_data, bad_price
