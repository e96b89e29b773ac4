"""Desired-state configuration: which collectors should run, from YAML or JSON.

File format (``config/collectors.simulator.yaml`` is an example)::

    collectors:
      - name: okx-btc              # unique; used in Redis key names and in Flower
        exchange: okx
        symbols: [BTC-USDT]
        data_types: [trade]        # default [trade]
        sinks:                     # handed to collectors.outputs.config.build_sinks
          - {type: timescaledb}
          - {type: redis_pubsub}
        enabled: true              # default true
        endpoint: simulator        # live | simulator | ws://host:port (default: MARKET_DATA_ENDPOINT)
        silence_timeout: 30        # seconds without market data before the health check restarts it
        options:                   # any other ExchangeCollectorConfig field
          candle_timeframes: [1m]

Validation is strict: unknown fields anywhere are errors, and every error names the
entry and the field (``collectors[1] (okx-eth): symbols: ...``). Validation does no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from collectors.core.errors import ConfigurationError
from collectors.core.factory import ExchangeCollectorConfig, ExchangeFactory
from tasks.keys import check_name

SPEC_FIELDS = (
    "name",
    "exchange",
    "symbols",
    "data_types",
    "sinks",
    "enabled",
    "endpoint",
    "silence_timeout",
    "options",
)
_RESERVED_OPTIONS = {"exchange", "symbol", "symbols", "data_types", "endpoint", "component_name"}


class ConfigError(ConfigurationError):
    """A configuration file or collector entry is invalid; the message names the field."""


@dataclass(frozen=True)
class CollectorSpec:
    """One desired collector. Frozen; built only through :meth:`from_dict` (validated)."""

    name: str
    exchange: str
    symbols: tuple[str, ...]
    data_types: tuple[str, ...] = ("trade",)
    sinks: tuple[dict[str, Any], ...] = ()
    enabled: bool = True
    endpoint: str | None = None
    silence_timeout: float | None = None
    options: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, raw: Any, *, where: str = "collector", check_sinks: bool = True) -> CollectorSpec:
        """Validate ``raw``. ``check_sinks=False`` skips building the sinks to validate them (done
        when a spec enters the registry; specs read back from Redis are not rebuilt every time)."""
        if not isinstance(raw, Mapping):
            raise ConfigError(f"{where}: must be a mapping of fields, got {type(raw).__name__}")
        unknown = sorted(set(raw) - set(SPEC_FIELDS))
        if unknown:
            raise ConfigError(
                f"{where}: unknown field(s) {', '.join(map(str, unknown))}; "
                f"allowed fields: {', '.join(SPEC_FIELDS)}"
            )
        for required in ("name", "exchange", "symbols"):
            if required not in raw:
                raise ConfigError(f"{where}: missing required field {required!r}")
        try:
            name = check_name(raw["name"])
        except ValueError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        where = f"{where} ({name})"
        enabled = raw.get("enabled", True)
        if not isinstance(enabled, bool):
            raise ConfigError(f"{where}: enabled: must be true or false, got {enabled!r}")
        silence = raw.get("silence_timeout")
        if silence is not None and (
            isinstance(silence, bool) or not isinstance(silence, int | float) or silence <= 0
        ):
            raise ConfigError(f"{where}: silence_timeout: must be a number > 0 (seconds), got {silence!r}")
        options = raw.get("options") or {}
        if not isinstance(options, Mapping):
            raise ConfigError(f"{where}: options: must be a mapping, got {type(options).__name__}")
        clash = sorted(_RESERVED_OPTIONS & set(options))
        if clash:
            raise ConfigError(f"{where}: options: {', '.join(clash)} must be given as top-level fields")
        data_types = raw.get("data_types", ["trade"])
        symbols = raw["symbols"]
        if isinstance(symbols, str):
            raise ConfigError(f"{where}: symbols: must be a list of symbols, got the string {symbols!r}")
        if isinstance(data_types, str):
            raise ConfigError(f"{where}: data_types: must be a list, got the string {data_types!r}")
        sinks = _check_sinks(raw.get("sinks", []), where, build=check_sinks)
        spec = cls(
            name=name,
            exchange=str(raw["exchange"]).strip().lower()
            if isinstance(raw["exchange"], str)
            else raw["exchange"],
            symbols=tuple(symbols) if isinstance(symbols, list | tuple) else symbols,
            data_types=tuple(str(t).lower() for t in data_types)
            if isinstance(data_types, list | tuple)
            else data_types,
            sinks=sinks,
            enabled=enabled,
            endpoint=raw.get("endpoint"),
            silence_timeout=float(silence) if silence is not None else None,
            options=dict(options),
        )
        try:
            ExchangeFactory.validate_config(spec.exchange_config())
        except (ConfigurationError, ValueError, TypeError) as exc:
            message = str(exc)
            if message.startswith("unknown field"):
                message = f"options: {message}"
            raise ConfigError(f"{where}: {message}") from None
        return spec

    def exchange_config(self) -> ExchangeCollectorConfig:
        """The collector's own configuration (raises ConfigurationError naming the field)."""
        raw: dict[str, Any] = {
            "exchange": self.exchange,
            "symbols": list(self.symbols),
            "data_types": list(self.data_types),
            "component_name": f"collector.{self.name}",
            **self.options,
        }
        if self.endpoint is not None:
            raw["endpoint"] = self.endpoint
        return ExchangeCollectorConfig.from_dict(raw)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "exchange": self.exchange,
            "symbols": list(self.symbols),
            "data_types": list(self.data_types),
            "sinks": [dict(s) for s in self.sinks],
            "enabled": self.enabled,
            "endpoint": self.endpoint,
            "silence_timeout": self.silence_timeout,
            "options": dict(self.options),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> CollectorSpec:
        return cls.from_dict(json.loads(text), where="stored collector", check_sinks=False)

    def with_enabled(self, enabled: bool) -> CollectorSpec:
        return CollectorSpec(**{**self.__dict__, "enabled": enabled})

    def summary(self) -> dict[str, Any]:
        """What a collector task's keyword arguments show (in Flower) about which collector it is."""
        return {"exchange": self.exchange, "symbols": list(self.symbols), "data_types": list(self.data_types)}


def _check_sinks(raw: Any, where: str, *, build: bool = True) -> tuple[dict[str, Any], ...]:
    if not isinstance(raw, list | tuple):
        raise ConfigError(
            f"{where}: sinks: must be a list of {{type: ...}} mappings, got {type(raw).__name__}"
        )
    sinks: list[dict[str, Any]] = []
    for index, sink in enumerate(raw):
        if not isinstance(sink, Mapping):
            raise ConfigError(f"{where}: sinks[{index}]: must be a mapping with a 'type', got {sink!r}")
        kind = sink.get("type")
        if not isinstance(kind, str) or not kind.strip():
            raise ConfigError(f"{where}: sinks[{index}]: missing or empty field 'type'")
        sinks.append(dict(sink))
    validate = _sink_validator() if build and sinks else None
    if validate is not None:
        try:
            validate([dict(s) for s in sinks])  # builds the sink objects; nothing connects
        except (ConfigurationError, ValueError, TypeError, KeyError, ImportError) as exc:
            message = str(exc)
            raise ConfigError(
                f"{where}: {message if message.startswith('sinks') else f'sinks: {message}'}"
            ) from None
    return tuple(sinks)


def _sink_validator() -> Any:
    """``collectors.outputs.config.build_sinks`` when the outputs layer is installed (imported lazily)."""
    try:
        from collectors.outputs.config import build_sinks
    except ImportError:
        return None
    return build_sinks


def parse_document(document: Any, *, source: str = "configuration") -> list[CollectorSpec]:
    """Validate a parsed file: ``{collectors: [...]}``; names must be unique."""
    if not isinstance(document, Mapping):
        raise ConfigError(f"{source}: the top level must be a mapping with a 'collectors' list")
    unknown = sorted(set(document) - {"collectors"})
    if unknown:
        raise ConfigError(
            f"{source}: unknown top-level field(s) {', '.join(map(str, unknown))}; allowed: collectors"
        )
    entries = document.get("collectors")
    if not isinstance(entries, list):
        raise ConfigError(f"{source}: collectors: must be a list of collector entries")
    specs: list[CollectorSpec] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(entries):
        spec = CollectorSpec.from_dict(entry, where=f"collectors[{index}]")
        if spec.name in seen:
            raise ConfigError(
                f"collectors[{index}]: name: duplicate name {spec.name!r} "
                f"(first at collectors[{seen[spec.name]}])"
            )
        seen[spec.name] = index
        specs.append(spec)
    return specs


def load_file(path: str | Path) -> list[CollectorSpec]:
    """Read and validate a YAML (``.yaml``/``.yml``) or JSON (``.json``) desired-state file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if path.suffix.lower() == ".json":
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"{path}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
            ) from None
    elif path.suffix.lower() in (".yaml", ".yml"):
        import yaml

        try:
            document = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
            raise ConfigError(f"{path}: invalid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    else:
        raise ConfigError(f"{path}: unknown file type {path.suffix!r}; use .yaml, .yml or .json")
    return parse_document(document, source=str(path))
