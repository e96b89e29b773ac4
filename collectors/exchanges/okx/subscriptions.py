"""OKX channel names, WebSocket endpoints and subscribe/unsubscribe frames (protocol doc §1.2, §1.5, §1.10).

Pure helpers: no I/O. The client decides *when* to send; this module decides *what*.

Timeframes are written in the collector's normalized form (``"1m"``, ``"1h"``, ``"1d"``,
``"1w"``, ``"1M"`` = month, ``"6h-utc"``) and translated to OKX bar names with OKX's case
rules: minutes lower-case (``1m``), hours/days/weeks upper-case (``1H``, ``1D``, ``1W``),
months ``1M``, UTC-aligned bars suffixed ``utc`` (``6Hutc``). OKX aligns bars of 6 hours and
longer to UTC+8 unless the ``utc`` variant is used, so ``"1d"`` (OKX ``1D``) starts at
16:00 UTC and ``"1d-utc"`` (OKX ``1Dutc``) at 00:00 UTC.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Literal

import msgspec

from collectors.core.errors import ConfigurationError
from collectors.core.types import DataType

Endpoint = Literal["public", "business"]
Operation = Literal["subscribe", "unsubscribe"]

WS_URLS: dict[Endpoint, str] = {
    "public": "wss://ws.okx.com:8443/ws/v5/public",
    "business": "wss://ws.okx.com:8443/ws/v5/business",
}
DEMO_WS_URLS: dict[Endpoint, str] = {
    "public": "wss://wspap.okx.com:8443/ws/v5/public",
    "business": "wss://wspap.okx.com:8443/ws/v5/business",
}

MAX_REQUEST_BYTES = 64 * 1024  # documented limit on the size of one subscribe request
DEFAULT_TIMEFRAME = "1m"

# OKX bar name -> normalized timeframe. Order follows the OKX channel list.
_BAR_TO_TIMEFRAME: dict[str, str] = {
    "1s": "1s", "1m": "1m", "3m": "3m", "5m": "5m", "15m": "15m", "30m": "30m",
    "1H": "1h", "2H": "2h", "4H": "4h", "6H": "6h", "12H": "12h",
    "1D": "1d", "2D": "2d", "3D": "3d", "5D": "5d", "1W": "1w", "1M": "1M", "3M": "3M",
    "6Hutc": "6h-utc", "12Hutc": "12h-utc", "1Dutc": "1d-utc", "2Dutc": "2d-utc", "3Dutc": "3d-utc",
    "5Dutc": "5d-utc", "1Wutc": "1w-utc", "1Mutc": "1M-utc", "3Mutc": "3M-utc",
}  # fmt: skip
_TIMEFRAME_TO_BAR = {timeframe: bar for bar, timeframe in _BAR_TO_TIMEFRAME.items()}
# Channel name -> normalized timeframe, so the parser resolves candle channels with one dict lookup.
CANDLE_CHANNELS: dict[str, str] = {f"candle{bar}": timeframe for bar, timeframe in _BAR_TO_TIMEFRAME.items()}
TIMEFRAMES: tuple[str, ...] = tuple(_TIMEFRAME_TO_BAR)

_BUSINESS_CHANNELS = frozenset({"trades-all", *CANDLE_CHANNELS})
_REQUEST_ID = re.compile(r"[A-Za-z0-9]{1,32}")


def bar_for_timeframe(timeframe: str) -> str:
    """OKX bar name (``"1H"``) for a normalized timeframe (``"1h"``); OKX's own names are accepted too.

    Raises :class:`ConfigurationError` (a ``ValueError``) naming the allowed values for
    anything else. Case matters only where it carries meaning: ``"1m"`` is one minute,
    ``"1M"`` one month.
    """
    bar = _TIMEFRAME_TO_BAR.get(timeframe)
    if bar is None and timeframe in _BAR_TO_TIMEFRAME:
        bar = timeframe
    if bar is None:
        raise ConfigurationError(
            f"unsupported OKX candle timeframe {timeframe!r}; allowed values: {', '.join(TIMEFRAMES)}"
        )
    return bar


def timeframe_for_bar(bar: str) -> str:
    """Normalized timeframe (``"1h"``) for an OKX bar name (``"1H"``)."""
    try:
        return _BAR_TO_TIMEFRAME[bar]
    except KeyError:
        raise ValueError(f"unknown OKX bar {bar!r}; known bars: {', '.join(_BAR_TO_TIMEFRAME)}") from None


def candle_channel(timeframe: str = DEFAULT_TIMEFRAME) -> str:
    """OKX candle channel for a timeframe: ``"1h"`` -> ``"candle1H"``, ``"6h-utc"`` -> ``"candle6Hutc"``."""
    return "candle" + bar_for_timeframe(timeframe)


def channel_for(data_type: DataType | str, timeframe: str | None = None, *, all_trades: bool = False) -> str:
    """OKX channel for a data type: trade -> ``trades`` (``trades-all`` with ``all_trades``),
    ticker -> ``tickers``, orderbook -> ``books``, top_of_book -> ``bbo-tbt``,
    candle -> ``candle<bar>`` (default ``candle1m``). ``ValueError`` for anything else."""
    kind = DataType.parse(data_type)
    if kind is not DataType.CANDLE and timeframe is not None:
        raise ValueError(f"a timeframe applies only to candles, not to {kind.value!r}")
    if kind is DataType.TRADE:
        return "trades-all" if all_trades else "trades"
    if kind is DataType.TICKER:
        return "tickers"
    if kind is DataType.ORDERBOOK:
        return "books"
    if kind is DataType.TOP_OF_BOOK:
        return "bbo-tbt"
    if kind is DataType.CANDLE:
        return candle_channel(timeframe or DEFAULT_TIMEFRAME)
    raise ValueError(f"OKX public market data has no channel for {kind.value!r} (it needs a private login)")


def endpoint_for_channel(channel: str) -> Endpoint:
    """Which WebSocket URL serves ``channel``: candles and ``trades-all`` live on ``business``."""
    return "business" if channel in _BUSINESS_CHANNELS else "public"


def url_kind(data_type: DataType | str) -> Endpoint:
    """Which WebSocket URL serves a data type (candles: ``business``; the rest: ``public``)."""
    return endpoint_for_channel(channel_for(data_type))


def channel_arg(data_type: DataType | str, symbol: str, timeframe: str | None = None) -> dict[str, str]:
    """The OKX ``args`` element for one data type and instrument (``symbol`` is an OKX instId)."""
    if not symbol or symbol.strip() != symbol:
        raise ValueError(f"symbol must be an OKX instrument id such as 'BTC-USDT', got {symbol!r}")
    return {"channel": channel_for(data_type, timeframe), "instId": symbol}


def plan(
    symbols: Iterable[str],
    data_types: Iterable[DataType | str],
    candle_timeframes: Iterable[str] = (DEFAULT_TIMEFRAME,),
) -> dict[Endpoint, list[dict[str, str]]]:
    """Every channel argument for ``symbols`` x ``data_types``, grouped by endpoint, in order.

    Candles get one argument per timeframe in ``candle_timeframes``.
    """
    symbols, timeframes = list(symbols), list(candle_timeframes)
    groups: dict[Endpoint, list[dict[str, str]]] = {}
    for data_type in data_types:
        per_type = timeframes if DataType.parse(data_type) is DataType.CANDLE else [None]
        for timeframe in per_type:
            for symbol in symbols:
                arg = channel_arg(data_type, symbol, timeframe)
                groups.setdefault(endpoint_for_channel(arg["channel"]), []).append(arg)
    return groups


def frames(
    op: Operation,
    args: Iterable[Mapping[str, str]],
    request_id: str | None = None,
    *,
    max_bytes: int = MAX_REQUEST_BYTES,
) -> list[bytes]:
    """Encode subscribe/unsubscribe requests, split so that no frame exceeds ``max_bytes``.

    ``args`` are OKX argument objects (``{"channel": ..., "instId": ...}``) for ONE endpoint
    (a request goes to one socket). Every frame carries the same ``request_id`` when one is
    given; OKX echoes it in each per-argument acknowledgement. Returns ``[]`` for no args.
    """
    if op not in ("subscribe", "unsubscribe"):
        raise ValueError(f"op must be 'subscribe' or 'unsubscribe', got {op!r}")
    if request_id is not None and not _REQUEST_ID.fullmatch(request_id):
        raise ValueError(f"request id must be 1-32 letters or digits, got {request_id!r}")
    args = list(args)
    for arg in args:
        if not isinstance(arg.get("channel"), str):
            raise ValueError(f"argument without a 'channel': {arg!r}")
    endpoints = {endpoint_for_channel(arg["channel"]) for arg in args}
    if len(endpoints) > 1:
        raise ValueError(f"arguments for several endpoints in one request: {sorted(endpoints)}")
    head = b'{"id":' + msgspec.json.encode(request_id) + b"," if request_id is not None else b"{"
    head += b'"op":"' + op.encode() + b'","args":['
    tail = b"]}"
    result: list[bytes] = []
    batch: list[bytes] = []
    size = len(head) + len(tail)
    for arg in args:
        encoded = msgspec.json.encode(dict(arg))
        if len(head) + len(encoded) + len(tail) > max_bytes:
            raise ValueError(f"one argument alone exceeds {max_bytes} bytes: {arg!r}")
        added = len(encoded) + (1 if batch else 0)  # comma separator
        if size + added > max_bytes:
            result.append(head + b",".join(batch) + tail)
            batch, size = [], len(head) + len(tail)
            added = len(encoded)
        batch.append(encoded)
        size += added
    if batch:
        result.append(head + b",".join(batch) + tail)
    return result
