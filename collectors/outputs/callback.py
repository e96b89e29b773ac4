"""A callback as a configurable output: ``{"type": "callback", "callable": "pkg.module:function"}``.

Collectors already take callbacks in code (``add_data_callback``); this output lets the
sink configuration name one, so that callbacks, Redis and TimescaleDB compose the same
way. The callable gets each :class:`~collectors.core.types.MarketDataPoint` (sync or
async); an exception is logged and counted, never raised into the collector.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from collectors.core.errors import ConfigurationError
from collectors.core.logging import get_logger
from collectors.core.types import DataType, MarketDataPoint

PointCallback = Callable[[MarketDataPoint], Awaitable[None] | None]


class CallbackConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    callable: str  # "package.module:function" (or "package.module.function")
    name: str = "callback"
    data_types: list[str] | None = None  # call only for these data types (default: all)

    def __post_init__(self) -> None:
        for value in self.data_types or ():
            DataType.parse(value)


def import_callable(path: str) -> PointCallback:
    """``package.module:attribute`` -> the object; ConfigurationError if missing or not callable."""
    module_name, _, attribute = path.partition(":") if ":" in path else path.rpartition(".")
    if not module_name or not attribute:
        raise ConfigurationError(f"callable must look like 'package.module:function', got {path!r}")
    try:
        target: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as exc:
        raise ConfigurationError(f"callable {path!r} cannot be imported: {exc}") from None
    if not callable(target):
        raise ConfigurationError(f"callable {path!r} is not callable")
    return target  # type: ignore[no-any-return]


class CallbackSink:
    """Calls ``callback(point)`` for every data point (of ``data_types``)."""

    def __init__(
        self,
        callback: PointCallback,
        *,
        name: str = "callback",
        data_types: list[DataType | str] | None = None,
    ) -> None:
        if not callable(callback):
            raise ConfigurationError(f"callback must be callable, got {callback!r}")
        self.name = name
        self._callback = callback
        self._is_async = inspect.iscoroutinefunction(callback)
        self._wanted = {DataType.parse(value) for value in data_types} if data_types else None
        self._logger = get_logger(f"outputs_{name}", to_file=False)
        self._calls = 0
        self._errors = 0
        self._last_error: str | None = None

    @classmethod
    def from_config(cls, config: CallbackConfig) -> CallbackSink:
        return cls(import_callable(config.callable), name=config.name, data_types=config.data_types)  # type: ignore[arg-type]

    async def start(self) -> None:
        return None

    async def handle(self, point: MarketDataPoint) -> None:
        if self._wanted is not None and point.data_type not in self._wanted:
            return
        self._calls += 1
        try:
            result = self._callback(point)
            if self._is_async or inspect.isawaitable(result):
                await result  # type: ignore[misc]
        except Exception as exc:  # a broken consumer must not stop collection
            self._errors += 1
            self._last_error = f"{type(exc).__name__}: {exc}"
            self._logger.exception("%s: callback failed", self.name)

    async def stop(self) -> None:
        return None

    def describe(self) -> dict[str, Any]:
        return {
            "type": "callback",
            "calls": self._calls,
            "errors": self._errors,
            "last_error": self._last_error,
        }
