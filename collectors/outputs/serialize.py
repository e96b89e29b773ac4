"""Data points as JSON for Redis consumers. Pure: no I/O, no clock.

One flat JSON object per data point: the record's own fields plus ``data_type`` (the
collector's :class:`~collectors.core.types.DataType` value, which names the channel)
and ``record_type`` (which record it is; ``orderbook`` carries both ``book_update``
and ``book_snapshot``)::

    {"data_type":"trade","record_type":"trade","exchange":"okx","symbol":"BTC-USDT",
     "trade_id":"242720720","price":"42219.9","size":"0.12060306","side":"buy",
     "event_time_ns":1767225600123000000,"receive_time_ns":1767225600125071000,"fill_count":1}

* Decimals are strings, exactly as the exchange sent them (``"0.5000"`` keeps its zeros).
* Both clocks are integers, nanoseconds since the epoch: ``event_time_ns`` (the
  exchange's time; for candles the bar's open time, also given as ``open_time_ns``) and
  ``receive_time_ns`` (when the collector received it).
* Book levels are ``[price, size]`` pairs, best first.

Points without a typed record (seed-API collectors that pass a ``data`` dict) become
``data_type``, ``exchange``, ``symbol``, ``timestamp`` (ISO 8601) and the dict's items.
"""

from __future__ import annotations

from typing import Any

import msgspec

from collectors.core.records import Balance, BookSnapshot, BookTop, BookUpdate, Candle, Ticker, Trade
from collectors.core.types import MarketDataPoint

RECORD_TYPES: dict[type, str] = {
    Trade: "trade",
    Ticker: "ticker",
    BookUpdate: "book_update",
    BookSnapshot: "book_snapshot",
    BookTop: "book_top",
    Candle: "candle",
    Balance: "balance",
}

_encoder = msgspec.json.Encoder(decimal_format="string")
_heads: dict[tuple[str, type], bytes] = {}


def _head(data_type: str, record_type: type) -> bytes:
    head = _heads.get((data_type, record_type))
    if head is None:
        name = RECORD_TYPES.get(record_type, record_type.__name__.lower())
        head = _heads[(data_type, record_type)] = _encoder.encode(
            {"data_type": data_type, "record_type": name}
        )[:-1]
    return head


def encode_point(point: MarketDataPoint) -> bytes:
    """The JSON bytes of one data point (see module docstring)."""
    record = point.record
    if record is None:
        return encode_data(point)
    body = _encoder.encode(record)  # b'{"exchange":...}'
    head = _head(point.data_type.value, type(record))
    if type(record) is Candle:
        return b'%s,"event_time_ns":%d,%s' % (head, record.open_time_ns, body[1:])
    return head + b"," + body[1:]


def encode_data(point: MarketDataPoint) -> bytes:
    """JSON for a point that carries only a ``data`` dict."""
    payload: dict[str, Any] = {
        "data_type": point.data_type.value,
        "exchange": point.exchange,
        "symbol": point.symbol,
        "timestamp": point.timestamp,
    }
    payload.update(point.data)
    return _encoder.encode(payload)


def decode_point(data: bytes | str) -> dict[str, Any]:
    """The JSON object back as a dict (Decimals stay strings); for consumers and tests."""
    decoded = msgspec.json.decode(data)
    if not isinstance(decoded, dict):
        raise ValueError("a data point must be a JSON object")
    return decoded
