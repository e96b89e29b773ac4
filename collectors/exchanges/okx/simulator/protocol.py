"""OKX v5 WebSocket request rules for the simulator: paths, channels, bars, request validation.

Pure functions; error texts follow what OKX sends (docs section 1.5).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import msgspec

from collectors.simulation.candles import FixedTimeframe, MonthTimeframe, Timeframe

PUBLIC_PATH = "/ws/v5/public"
BUSINESS_PATH = "/ws/v5/business"
WEBSOCKET_PATHS = (PUBLIC_PATH, BUSINESS_PATH)

_SECOND, _MINUTE, _HOUR, _DAY = 1000, 60_000, 3_600_000, 86_400_000
_UTC8 = 8 * _HOUR  # OKX aligns bars of 6H and longer to Hong Kong time unless the name ends in "utc"

CANDLE_BARS: dict[str, Timeframe] = {
    "1s": FixedTimeframe(_SECOND),
    "1m": FixedTimeframe(_MINUTE),
    "3m": FixedTimeframe(3 * _MINUTE),
    "5m": FixedTimeframe(5 * _MINUTE),
    "15m": FixedTimeframe(15 * _MINUTE),
    "30m": FixedTimeframe(30 * _MINUTE),
    "1H": FixedTimeframe(_HOUR),
    "2H": FixedTimeframe(2 * _HOUR),
    "4H": FixedTimeframe(4 * _HOUR),
    **{
        f"{label}{suffix}": FixedTimeframe.aligned(duration, offset)
        for label, duration in (("6H", 6 * _HOUR), ("12H", 12 * _HOUR), ("1D", _DAY), ("2D", 2 * _DAY),
                                ("3D", 3 * _DAY), ("5D", 5 * _DAY), ("1W", 7 * _DAY))
        for suffix, offset in (("", _UTC8), ("utc", 0))
    },  # fmt: skip
    "1M": MonthTimeframe(1, _UTC8),
    "3M": MonthTimeframe(3, _UTC8),
    "1Mutc": MonthTimeframe(1, 0),
    "3Mutc": MonthTimeframe(3, 0),
}
"""REST ``bar`` values (and ``candle<bar>`` channel suffixes) -> bucketing rule."""

CANDLE_CHANNELS = {f"candle{bar}": bar for bar in CANDLE_BARS}
PUBLIC_CHANNELS = frozenset({"tickers", "trades", "books", "books5", "bbo-tbt"})
BUSINESS_CHANNELS = frozenset({"trades-all", *CANDLE_CHANNELS})

_REQUEST_KEYS = frozenset({"id", "op", "args"})
_ARG_KEYS = frozenset({"channel", "instId", "instType", "instFamily"})
_OPS = frozenset({"subscribe", "unsubscribe"})
_REQUEST_ID = re.compile(r"[A-Za-z0-9]{1,32}")


class RequestError(Exception):
    """A request or one of its args is refused with OKX ``code`` and ``msg``."""

    def __init__(self, code: str, msg: str, request_id: str | None = None) -> None:
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg
        self.request_id = request_id


@dataclass(frozen=True, slots=True)
class SubscribeRequest:
    """A syntactically valid ``subscribe``/``unsubscribe`` request."""

    op: str
    args: list[dict[str, Any]]
    request_id: str | None


def wrong_channel_message(channel: object, inst_id: object) -> str:
    """The 60018 text OKX sends for an unknown channel/instrument or a channel on the wrong URL."""
    return (
        f"Wrong URL or channel:{channel},instId:{inst_id} doesn't exist. "
        "Please use the correct URL, channel and parameters referring to API document."
    )


def parse_request(text: str) -> SubscribeRequest:
    """Validate the request envelope; raises :class:`RequestError` (60012 / 60019)."""
    invalid = RequestError("60012", f"Invalid request: {text}")
    try:
        message = msgspec.json.decode(text)
    except msgspec.DecodeError:
        raise invalid from None
    if not isinstance(message, dict):
        raise invalid
    request_id = message.get("id")
    if request_id is not None and (not isinstance(request_id, str) or not _REQUEST_ID.fullmatch(request_id)):
        raise invalid
    invalid.request_id = request_id
    args = message.get("args")
    if set(message) - _REQUEST_KEYS or "op" not in message or not isinstance(args, list) or not args:
        raise invalid
    op = message["op"]
    if op not in _OPS:
        raise RequestError("60019", f"Invalid OP: {op}", request_id)
    if not all(isinstance(arg, dict) and not set(arg) - _ARG_KEYS and "channel" in arg for arg in args):
        raise invalid
    return SubscribeRequest(op, args, request_id)


def check_arg(path: str, arg: dict[str, Any], symbols: frozenset[str]) -> tuple[str, str]:
    """``(channel, instId)`` of an arg valid on ``path``; raises 60018 otherwise."""
    channel, inst_id = arg.get("channel"), arg.get("instId")
    allowed = PUBLIC_CHANNELS if path == PUBLIC_PATH else BUSINESS_CHANNELS
    if channel not in allowed or inst_id not in symbols:
        raise RequestError("60018", wrong_channel_message(channel, inst_id))
    assert isinstance(channel, str) and isinstance(inst_id, str)
    return channel, inst_id
