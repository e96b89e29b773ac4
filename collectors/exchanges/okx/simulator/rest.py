"""OKX v5 REST market-data mirrors served by the simulator (docs 1.9.3 and 1.12).

``handle_market_request`` maps a path and query to an HTTP status and the OKX JSON
envelope ``{"code","msg","data"}``. The book endpoint asks the server for a snapshot,
because only the server knows the ``seqId`` its WebSocket chain has reached.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Mapping
from typing import Any

import msgspec

from collectors.exchanges.okx.simulator.frames import candle_row, rest_trade, wire_levels
from collectors.exchanges.okx.simulator.protocol import CANDLE_BARS
from collectors.simulation.market import BookLevels, SimTrade, SyntheticMarket

BookSnapshot = Callable[[str, int], tuple[BookLevels, int, int]]
"""(instId, depth) -> (levels, seqId, ts ms), consistent with the WebSocket ``books`` chain."""

_MAX_BOOK_DEPTH = 400
_RECENT_TRADES = 500  # /market/trades only reaches this far back
_RECENT_CANDLES = 1440  # /market/candles only reaches this many bars back


class RestError(Exception):
    """An OKX error envelope with HTTP status ``status``."""

    def __init__(self, code: str, msg: str, status: int = 400) -> None:
        super().__init__(f"{code}: {msg}")
        self.code, self.msg, self.status = code, msg, status


def _parameter_error(name: str) -> RestError:
    return RestError("51000", f"Parameter {name} error")


def _int_param(query: Mapping[str, str], name: str, default: int | None = None) -> int | None:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit():
        raise _parameter_error(name)
    return int(raw)


def _limit(query: Mapping[str, str], default: int, maximum: int, name: str = "limit") -> int:
    value = _int_param(query, name, default)
    assert value is not None
    if value < 1:
        raise _parameter_error(name)
    return min(value, maximum)  # OKX caps an oversized limit rather than refusing it


def _symbol(query: Mapping[str, str], market: SyntheticMarket) -> str:
    inst_id = query.get("instId")
    if not inst_id:
        raise _parameter_error("instId")
    if not market.has_symbol(inst_id):
        raise RestError("51001", "Instrument ID, Instrument ID code or Spread ID doesn't exist.")
    return inst_id


def envelope(data: list[Any], code: str = "0", msg: str = "") -> bytes:
    return msgspec.json.encode({"code": code, "msg": msg, "data": data})


def handle_market_request(
    path: str, query: Mapping[str, str], market: SyntheticMarket, book_snapshot: BookSnapshot
) -> tuple[int, bytes]:
    """Serve ``GET /api/v5/market/<endpoint>``; returns (HTTP status, JSON body)."""
    routes: dict[str, Callable[[Mapping[str, str], SyntheticMarket, BookSnapshot], list[Any]]] = {
        "/api/v5/market/books": _books,
        "/api/v5/market/trades": _trades,
        "/api/v5/market/history-trades": _history_trades,
        "/api/v5/market/candles": _candles,
        "/api/v5/market/history-candles": _history_candles,
    }
    route = routes.get(path)
    if route is None:
        return 404, envelope([], "50000", f"Unknown endpoint {path}")  # hypothetical code: no OKX text known
    try:
        return 200, envelope(route(query, market, book_snapshot))
    except RestError as error:
        return error.status, envelope([], error.code, error.msg)


def _books(query: Mapping[str, str], market: SyntheticMarket, book_snapshot: BookSnapshot) -> list[Any]:
    inst_id = _symbol(query, market)
    levels, seq_id, ts_ms = book_snapshot(inst_id, _limit(query, 1, _MAX_BOOK_DEPTH, "sz"))
    asks, bids = wire_levels(levels.asks), wire_levels(levels.bids)
    return [{"asks": asks, "bids": bids, "ts": str(ts_ms), "seqId": seq_id}]


def _trades(query: Mapping[str, str], market: SyntheticMarket, _: BookSnapshot) -> list[Any]:
    tape = market.trades(_symbol(query, market))
    limit = _limit(query, 100, _RECENT_TRADES)
    return [rest_trade(trade) for trade in reversed(tape[-limit:])]


def _history_trades(query: Mapping[str, str], market: SyntheticMarket, _: BookSnapshot) -> list[Any]:
    """Newest first; ``after`` = older than, ``before`` = newer than (tradeId, or ts with type=2)."""
    inst_id = _symbol(query, market)
    tape: list[SimTrade] = market.trades(inst_id)
    limit = _limit(query, 100, 100)
    paginate_by = query.get("type", "1")
    after, before = _int_param(query, "after"), _int_param(query, "before")
    if paginate_by == "1":
        first = market.first_trade_id(inst_id)  # ids are consecutive: id - first is the index
        end = len(tape) if after is None else max(0, min(len(tape), after - first))
        start = 0 if before is None else max(0, min(len(tape), before - first + 1))
    elif paginate_by == "2":
        end = len(tape) if after is None else bisect.bisect_left(tape, after, key=lambda t: t.ts_ms)
        start = 0 if before is None else bisect.bisect_right(tape, before, key=lambda t: t.ts_ms)
    else:
        raise _parameter_error("type")
    return [rest_trade(trade) for trade in reversed(tape[max(start, end - limit) : end])]


def _candle_rows(
    query: Mapping[str, str], market: SyntheticMarket, maximum: int, recent_only: bool
) -> list[Any]:
    inst_id = _symbol(query, market)
    timeframe = CANDLE_BARS.get(query.get("bar", "1m"))
    if timeframe is None:
        raise _parameter_error("bar")
    limit = _limit(query, 100, maximum)
    newer_than = _int_param(query, "before")
    if recent_only:
        cutoff = timeframe.floor(market.time_ms)
        for _ in range(_RECENT_CANDLES):
            cutoff = timeframe.previous_open(cutoff)
        newer_than = cutoff if newer_than is None else max(newer_than, cutoff)
    bars = market.candles(inst_id, timeframe, older_than=_int_param(query, "after"), newer_than=newer_than,
                          limit=limit)  # fmt: skip
    return [candle_row(bar) for bar in bars]


def _candles(query: Mapping[str, str], market: SyntheticMarket, _: BookSnapshot) -> list[Any]:
    return _candle_rows(query, market, 300, recent_only=True)


def _history_candles(query: Mapping[str, str], market: SyntheticMarket, _: BookSnapshot) -> list[Any]:
    return _candle_rows(query, market, 100, recent_only=False)
