"""``build_sinks(config)``: collector outputs from configuration, strictly validated.

    build_sinks([
        {"type": "timescaledb", "dsn": "postgresql://postgres@127.0.0.1:5432/marketdata", "book_depth": 20},
        {"type": "redis_pubsub", "url": "redis://127.0.0.1:6379/0"},
        {"type": "redis_stream", "url": "redis://127.0.0.1:6379/0", "maxlen": 100000},
        {"type": "callback", "callable": "myapp.handlers:on_point", "data_types": ["trade"]},
    ])

Each entry needs ``type``; the other fields are those of the type's config struct
(:class:`storage.writer.WriterConfig`, :class:`~collectors.outputs.redis.RedisPubSubConfig`,
:class:`~collectors.outputs.redis.RedisStreamConfig`,
:class:`~collectors.outputs.callback.CallbackConfig`). An unknown type or field, a
value of the wrong type or out of range, or two outputs with the same ``name`` raise
:class:`~collectors.core.errors.ConfigurationError` (a ``ValueError``) naming the entry,
the field and the allowed values. Nothing connects here: outputs open their connections
when the collector starts them.

``storage`` is imported only when a ``timescaledb`` entry is built, so Redis-only
deployments do not load the database driver.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import msgspec

from collectors.core.errors import ConfigurationError
from collectors.core.sinks import Sink
from collectors.outputs.callback import CallbackConfig, CallbackSink
from collectors.outputs.redis import RedisPubSubConfig, RedisPubSubSink, RedisStreamConfig, RedisStreamSink

ConfigT = TypeVar("ConfigT", bound=msgspec.Struct)


def _convert(config_type: type[ConfigT], fields: Mapping[str, Any], where: str, kind: str) -> ConfigT:
    allowed = config_type.__struct_fields__
    unknown = [name for name in fields if name not in allowed]
    if unknown:
        raise ConfigurationError(
            f"{where}: unknown field {unknown[0]!r} for sink type {kind!r}; "
            f"allowed fields: type, {', '.join(allowed)}"
        )
    try:
        return msgspec.convert(dict(fields), config_type)
    except msgspec.ValidationError as exc:
        raise ConfigurationError(f"{where} ({kind}): {exc}") from None
    except ValueError as exc:  # raised by __post_init__ checks
        raise ConfigurationError(f"{where} ({kind}): {exc}") from None


def _timescaledb(fields: Mapping[str, Any], where: str) -> Sink:
    from storage.writer import TimescaleSink, WriterConfig  # lazy: only deployments that store load asyncpg

    return TimescaleSink.from_config(_convert(WriterConfig, fields, where, "timescaledb"))


def _redis_pubsub(fields: Mapping[str, Any], where: str) -> Sink:
    return RedisPubSubSink(config=_convert(RedisPubSubConfig, fields, where, "redis_pubsub"))


def _redis_stream(fields: Mapping[str, Any], where: str) -> Sink:
    return RedisStreamSink(config=_convert(RedisStreamConfig, fields, where, "redis_stream"))


def _callback(fields: Mapping[str, Any], where: str) -> Sink:
    return CallbackSink.from_config(_convert(CallbackConfig, fields, where, "callback"))


SINK_TYPES: dict[str, Callable[[Mapping[str, Any], str], Sink]] = {
    "callback": _callback,
    "redis_pubsub": _redis_pubsub,
    "redis_stream": _redis_stream,
    "timescaledb": _timescaledb,
}
"""Sink type -> builder. The allowed values of ``type``."""


def build_sinks(config: list[dict[str, Any]]) -> list[Sink]:
    """Build the outputs described by ``config`` (see module docstring); nothing is started."""
    if not isinstance(config, list):
        raise ConfigurationError(f"sinks: expected a list of objects, got {type(config).__name__}")
    sinks: list[Sink] = []
    names: set[str] = set()
    for index, entry in enumerate(config):
        where = f"sinks[{index}]"
        if not isinstance(entry, Mapping):
            raise ConfigurationError(
                f"{where}: expected an object with a 'type' field, got {type(entry).__name__}"
            )
        kind = entry.get("type")
        builder = SINK_TYPES.get(kind) if isinstance(kind, str) else None
        if builder is None:
            raise ConfigurationError(
                f"{where}.type: unknown sink type {kind!r}; allowed values: {', '.join(SINK_TYPES)}"
            )
        try:
            sink = builder({key: value for key, value in entry.items() if key != "type"}, where)
        except ConfigurationError as exc:
            if str(exc).startswith(where):
                raise
            raise ConfigurationError(f"{where} ({kind}): {exc}") from None
        if sink.name in names:
            raise ConfigurationError(
                f"{where}.name: duplicate output name {sink.name!r}; give each output its own name"
            )
        names.add(sink.name)
        sinks.append(sink)
    return sinks
