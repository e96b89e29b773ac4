"""ExchangeFactory and ExchangeCollectorConfig: build collectors from validated configuration."""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Protocol

from collectors.core.base import BaseDataCollector, validate_symbols
from collectors.core.errors import ConfigurationError
from collectors.core.types import DataType


@dataclass(frozen=True)
class ExchangeCollectorConfig:
    """Everything needed to build one exchange collector.

    ``symbol`` (one) and ``symbols`` (several) are alternatives. ``endpoint`` is
    ``"live"`` (the exchange itself), ``"simulator"`` (the bundled simulator on
    loopback), or a base URL such as ``ws://127.0.0.1:18443``; ``None`` means the
    ``MARKET_DATA_ENDPOINT`` setting, itself ``live`` by default.
    """

    exchange: str
    symbol: str | None = None
    symbols: list[str] | None = None
    data_types: list[DataType | str] = field(default_factory=lambda: [DataType.TRADE])
    auto_restart: bool = True
    health_check_interval: float = 30.0
    candle_timeframes: list[str] = field(default_factory=lambda: ["1m"])
    endpoint: str | None = None
    component_name: str | None = None
    max_silence_duration: float | None = None
    max_reconnect_attempts: int | None = None
    reconnect_delay: float | None = None
    custom_params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.exchange, str) or not self.exchange.strip():
            raise ConfigurationError(f"exchange must be a non-empty string, got {self.exchange!r}")
        object.__setattr__(self, "exchange", self.exchange.strip().lower())
        if self.symbol is not None and self.symbols is not None:
            raise ConfigurationError("give either symbol or symbols, not both")
        if self.symbol is None and self.symbols is None:
            raise ConfigurationError("symbols must not be empty (give symbol='BTC-USDT' or symbols=[...])")
        symbols = [self.symbol] if self.symbol is not None else self.symbols
        object.__setattr__(self, "symbols", validate_symbols(symbols or []))
        if isinstance(self.data_types, str | DataType) or not self.data_types:
            raise ConfigurationError(f"data_types must be a non-empty list, got {self.data_types!r}")
        object.__setattr__(self, "data_types", [DataType.parse(t) for t in self.data_types])
        for name in ("health_check_interval", "max_silence_duration"):
            value = getattr(self, name)
            if value is None and name != "health_check_interval":
                continue
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise ConfigurationError(f"{name} must be a number > 0 (seconds), got {value!r}")
        if self.reconnect_delay is not None and (
            isinstance(self.reconnect_delay, bool)
            or not isinstance(self.reconnect_delay, int | float)
            or self.reconnect_delay < 0
        ):
            raise ConfigurationError(f"reconnect_delay must be a number >= 0 (seconds), got {self.reconnect_delay!r}")
        if self.max_reconnect_attempts is not None and (
            isinstance(self.max_reconnect_attempts, bool)
            or not isinstance(self.max_reconnect_attempts, int)
            or self.max_reconnect_attempts < 0
        ):
            raise ConfigurationError(
                f"max_reconnect_attempts must be a whole number >= 0, got {self.max_reconnect_attempts!r}"
            )
        if isinstance(self.candle_timeframes, str) or not self.candle_timeframes:
            raise ConfigurationError(f"candle_timeframes must be a non-empty list, got {self.candle_timeframes!r}")
        if self.endpoint is not None:
            check_endpoint(self.endpoint)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> ExchangeCollectorConfig:
        """Build from a plain mapping (a config file); unknown keys are errors naming the key."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ConfigurationError(
                f"unknown field(s) {', '.join(unknown)}; allowed fields: {', '.join(sorted(known))}"
            )
        return cls(**dict(raw))


_URL = re.compile(r"^(ws|wss|http|https)://[^\s/]+(:\d+)?/?$")


def check_endpoint(endpoint: str) -> str:
    if endpoint in ("live", "simulator") or (isinstance(endpoint, str) and _URL.match(endpoint)):
        return endpoint
    raise ConfigurationError(
        f"endpoint must be 'live', 'simulator' or a base URL like 'ws://127.0.0.1:18443', got {endpoint!r}"
    )


class CollectorClass(Protocol):
    @classmethod
    def from_exchange_config(cls, config: ExchangeCollectorConfig) -> BaseDataCollector: ...


@dataclass(frozen=True)
class ExchangeRegistration:
    name: str
    collector: str | type  # "package.module:ClassName" (imported on first use) or the class
    data_types: frozenset[DataType]
    symbol_pattern: re.Pattern[str] | None
    symbol_example: str
    timeframes: frozenset[str] | None

    def load(self) -> CollectorClass:
        if isinstance(self.collector, str):
            module_name, _, attr = self.collector.partition(":")
            return getattr(importlib.import_module(module_name), attr)
        return self.collector


class ExchangeFactory:
    """Registry of exchanges and the one way to build their collectors."""

    _registry: dict[str, ExchangeRegistration] = {}

    @classmethod
    def register_exchange(
        cls,
        name: str,
        collector: str | type,
        *,
        data_types: Iterable[DataType | str],
        symbol_pattern: str | None = None,
        symbol_example: str = "BTC-USDT",
        timeframes: Iterable[str] | None = None,
        replace: bool = False,
    ) -> None:
        """Register an exchange.

        ``collector`` is a class with a ``from_exchange_config(config)`` classmethod, or
        ``"module:Class"`` to import lazily. ``symbol_pattern`` is a regular expression
        every symbol must match.
        """
        key = name.strip().lower()
        if key in cls._registry and not replace:
            raise ConfigurationError(f"exchange {key!r} is already registered (pass replace=True to override)")
        cls._registry[key] = ExchangeRegistration(
            name=key,
            collector=collector,
            data_types=frozenset(DataType.parse(t) for t in data_types),
            symbol_pattern=re.compile(symbol_pattern) if symbol_pattern else None,
            symbol_example=symbol_example,
            timeframes=frozenset(timeframes) if timeframes is not None else None,
        )

    @classmethod
    def unregister_exchange(cls, name: str) -> None:
        cls._registry.pop(name.strip().lower(), None)

    @classmethod
    def get_supported_exchanges(cls) -> list[str]:
        _load_builtin_exchanges()
        return sorted(cls._registry)

    @classmethod
    def get_registration(cls, exchange: str) -> ExchangeRegistration:
        _load_builtin_exchanges()
        registration = cls._registry.get(exchange)
        if registration is None:
            raise ConfigurationError(
                f"exchange: {exchange!r} is not supported; supported exchanges: "
                f"{', '.join(sorted(cls._registry)) or '(none)'}"
            )
        return registration

    @classmethod
    def validate_config(cls, config: ExchangeCollectorConfig) -> ExchangeRegistration:
        """Check ``config`` against what its exchange supports; raise ConfigurationError."""
        registration = cls.get_registration(config.exchange)
        for data_type in config.data_types:
            if data_type not in registration.data_types:
                allowed = ", ".join(sorted(t.value for t in registration.data_types))
                raise ConfigurationError(
                    f"data_types: {data_type.value!r} is not supported by {config.exchange}; allowed values: {allowed}"
                )
        if registration.symbol_pattern is not None:
            for symbol in config.symbols or []:
                if not registration.symbol_pattern.match(symbol):
                    raise ConfigurationError(
                        f"symbols: {symbol!r} is not a valid {config.exchange} symbol "
                        f"(expected the form {registration.symbol_example!r})"
                    )
        if registration.timeframes is not None and DataType.CANDLE in config.data_types:
            for timeframe in config.candle_timeframes:
                if timeframe not in registration.timeframes:
                    raise ConfigurationError(
                        f"candle_timeframes: {timeframe!r} is not supported by {config.exchange}; allowed values: "
                        f"{', '.join(sorted(registration.timeframes))}"
                    )
        return registration

    @classmethod
    def create_collector(cls, config: ExchangeCollectorConfig) -> BaseDataCollector:
        registration = cls.validate_config(config)
        return registration.load().from_exchange_config(config)

    @classmethod
    def create_multiple_collectors(cls, configs: Iterable[ExchangeCollectorConfig]) -> list[BaseDataCollector]:
        """Validate every config first, so one bad entry creates nothing."""
        configs = list(configs)
        for config in configs:
            cls.validate_config(config)
        return [cls.create_collector(config) for config in configs]


_builtins_loaded = False


def _load_builtin_exchanges() -> None:
    global _builtins_loaded
    if not _builtins_loaded:
        _builtins_loaded = True
        importlib.import_module("collectors.exchanges")
