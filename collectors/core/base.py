"""BaseDataCollector: lifecycle, health monitoring and recovery shared by every collector.

A subclass implements six methods (connect, disconnect, subscribe_to_data,
unsubscribe_from_data, _process_message, _handle_messages). This class runs them:

* ``start()`` connects and subscribes, then runs two tasks: the message loop, which
  calls ``_handle_messages()`` over and over (each call handles one message), and the
  health monitor, which checks heartbeat and data silence every
  ``health_check_interval`` seconds.
* Any exception out of ``_handle_messages`` is a connection failure (a clean close by
  the server too). With ``auto_restart`` the collector reconnects with capped,
  jittered exponential backoff; after ``max_reconnect_attempts`` consecutive attempts
  without data it enters ``error`` with ``last_error`` set, and says so in the log.
* Data silence (no data for ``max_silence_duration``, counting from the connection
  for a connection that never delivers a first message) makes the health monitor
  close the connection, which fails the blocked receive and so goes through the same
  reconnect path.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import inspect
import re
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterable
from decimal import Decimal, InvalidOperation
from typing import Any

from collectors.core.backoff import Backoff
from collectors.core.errors import (
    ConfigurationError,
    DataSilence,
    DataValidationError,
    RestartLimitReached,
    is_retryable,
)
from collectors.core.logging import get_logger
from collectors.core.settings import Settings
from collectors.core.sinks import Sink
from collectors.core.types import CollectorStatus, DataType, MarketDataPoint, OHLCVData

DataCallback = Callable[[MarketDataPoint], Awaitable[None] | None]

_TIMEFRAME = re.compile(r"^\d+(s|m|h|H|d|D|w|W|M)(-utc)?$")


def _iso(epoch_seconds: float | None) -> str | None:
    if epoch_seconds is None:
        return None
    return dt.datetime.fromtimestamp(epoch_seconds, tz=dt.UTC).isoformat()


def validate_symbols(symbols: Iterable[str], *, field: str = "symbols") -> list[str]:
    """Non-empty list of non-empty, whitespace-free, unique strings."""
    if isinstance(symbols, str):
        raise ConfigurationError(f"{field} must be a list of symbols, got the string {symbols!r}")
    result: list[str] = []
    for symbol in symbols:
        if not isinstance(symbol, str) or not symbol.strip() or symbol != symbol.strip() or " " in symbol:
            raise ConfigurationError(f"{field}: malformed symbol {symbol!r} (expected e.g. 'BTC-USDT')")
        if symbol in result:
            raise ConfigurationError(f"{field}: duplicate symbol {symbol!r}")
        result.append(symbol)
    if not result:
        raise ConfigurationError(f"{field} must not be empty")
    return result


class BaseDataCollector(ABC):
    """Abstract base class of every exchange collector (see module docstring)."""

    def __init__(
        self,
        exchange_name: str,
        symbols: list[str],
        data_types: list[DataType] | None = None,
        component_name: str | None = None,
        auto_restart: bool = True,
        health_check_interval: float = 30.0,
        *,
        max_silence_duration: float | None = None,
        max_reconnect_attempts: int | None = None,
        reconnect_delay: float | None = None,
        settings: Settings | None = None,
    ) -> None:
        self.settings = settings or Settings.from_env()
        if not isinstance(exchange_name, str) or not exchange_name.strip():
            raise ConfigurationError(f"exchange_name must be a non-empty string, got {exchange_name!r}")
        self.exchange_name = exchange_name
        self.symbols = validate_symbols(symbols)
        self.data_types = [DataType.parse(t) for t in (data_types or [DataType.CANDLE])]
        self.component_name = component_name or f"{exchange_name}_collector"
        self.auto_restart = bool(auto_restart)
        self.health_check_interval = _positive("health_check_interval", health_check_interval)
        self.max_silence_duration = _positive(
            "max_silence_duration",
            self.settings.max_silence_duration if max_silence_duration is None else max_silence_duration,
        )
        attempts = self.settings.max_reconnect_attempts if max_reconnect_attempts is None else max_reconnect_attempts
        if not isinstance(attempts, int) or attempts < 0:
            raise ConfigurationError(f"max_reconnect_attempts must be a whole number >= 0, got {attempts!r}")
        self.max_reconnect_attempts = attempts
        delay = self.settings.reconnect_delay if reconnect_delay is None else reconnect_delay
        if not isinstance(delay, int | float) or delay < 0:
            raise ConfigurationError(f"reconnect_delay must be a number >= 0, got {delay!r}")
        self.backoff = Backoff(initial=float(delay), maximum=max(float(delay), self.settings.reconnect_max_delay))
        self.logger = get_logger(self.component_name, self.settings)

        self._callbacks: dict[DataType, list[tuple[DataCallback, bool]]] = {t: [] for t in DataType}
        self._sinks: list[Sink] = []
        self._status = CollectorStatus.STOPPED
        self._should_be_running = False
        self._message_task: asyncio.Task[None] | None = None
        self._health_task: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._failure_reason: str | None = None  # set by the health monitor before it drops a connection
        self._reconnect_immediately = False  # set by a subclass for announced closes (no backoff)
        self._health_issues: list[str] = []
        self._data_since_connect = False

        # Statistics (monotonic clock for durations, wall clock for reported times).
        self._messages_received = 0
        self._messages_processed = 0
        self._errors = 0
        self._restarts = 0
        self._reconnect_attempts = 0
        self._last_error: str | None = None
        self._started_at: float | None = None
        self._connected_at: float | None = None  # monotonic
        self._connected_wall: float | None = None
        self._last_heartbeat: float | None = None  # monotonic
        self._last_heartbeat_wall: float | None = None
        self._last_data: float | None = None  # monotonic
        self._last_data_wall: float | None = None
        self._last_restart_wall: float | None = None

    # ------------------------------------------------------------------ abstract
    @abstractmethod
    async def connect(self) -> bool:
        """Open the connection(s) to the exchange. Return False on failure."""

    @abstractmethod
    async def disconnect(self) -> None:
        """Close the connection(s); must make a blocked ``_handle_messages`` fail promptly."""

    @abstractmethod
    async def subscribe_to_data(self, symbols: list[str], data_types: list[DataType]) -> bool:
        """Subscribe to the given streams on the open connection."""

    @abstractmethod
    async def unsubscribe_from_data(self, symbols: list[str], data_types: list[DataType]) -> bool:
        """Unsubscribe from the given streams on the open connection."""

    @abstractmethod
    async def _process_message(self, message: Any) -> MarketDataPoint | None:
        """Turn one raw message into a data point (or None for control messages)."""

    @abstractmethod
    async def _handle_messages(self) -> None:
        """Receive and handle one message; raise to signal a connection failure."""

    # ------------------------------------------------------------------ lifecycle
    @property
    def status(self) -> CollectorStatus:
        return self._status

    @property
    def is_running(self) -> bool:
        return self._status in (CollectorStatus.RUNNING, CollectorStatus.RECONNECTING, CollectorStatus.UNHEALTHY)

    async def start(self) -> bool:
        """Connect, subscribe and start the message loop and health monitor."""
        if self.is_running or self._status is CollectorStatus.STARTING:
            return True
        self._status = CollectorStatus.STARTING
        self._should_be_running = True
        self._failure_reason = None
        self._started_at = time.monotonic()
        self.logger.info("starting %s for %s (%s)", self.exchange_name, self.symbols, self._data_type_names())
        try:
            for sink in self._sinks:
                await sink.start()
            ok = await self._connect_and_subscribe()
        except Exception as exc:
            ok = False
            self._record_error(f"start failed: {exc!r}")
        if not ok:
            self._should_be_running = False
            self._status = CollectorStatus.ERROR
            if self._last_error is None:
                self._last_error = "start failed: connect or subscribe returned False"
            self.logger.error("could not start: %s", self._last_error)
            await self._safe_disconnect()
            await self._stop_sinks()
            return False
        self._status = CollectorStatus.RUNNING
        self._message_task = asyncio.create_task(self._message_loop(), name=f"{self.component_name}-messages")
        self._health_task = asyncio.create_task(self._health_loop(), name=f"{self.component_name}-health")
        self.logger.info("running")
        return True

    async def stop(self, force: bool = False) -> None:
        """Stop collecting. Without ``force`` the message loop gets a few seconds to finish."""
        if self._status is CollectorStatus.STOPPED and self._message_task is None:
            return
        self._should_be_running = False
        self._status = CollectorStatus.STOPPING
        current = asyncio.current_task()
        if self._health_task is not None and self._health_task is not current:
            self._health_task.cancel()
        await self._safe_disconnect()
        await self._interrupt_connection("stopping")
        if self._message_task is not None and self._message_task is not current:
            if force:
                self._message_task.cancel()
            try:
                await asyncio.wait_for(asyncio.shield(self._message_task), timeout=0 if force else 5.0)
            except (TimeoutError, asyncio.CancelledError):
                self._message_task.cancel()
                await asyncio.gather(self._message_task, return_exceptions=True)
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        if self._health_task is not None and self._health_task is not current:
            await asyncio.gather(self._health_task, return_exceptions=True)
        self._message_task = self._health_task = None
        self._connected_at = None
        self._status = CollectorStatus.STOPPED
        await self._on_stopped()
        await self._stop_sinks()
        self.logger.info("stopped")

    async def _stop_sinks(self) -> None:
        for sink in self._sinks:
            try:
                await sink.stop()
            except Exception:  # one failing output must not keep the others from flushing
                self._errors += 1
                self.logger.exception("output %s failed to stop cleanly", sink.name)

    async def restart(self) -> bool:
        """Stop and start again; counts as a restart."""
        await self.stop()
        ok = await self.start()
        if ok:
            self._count_restart()
        return ok

    async def _on_stopped(self) -> None:
        """Hook for subclasses: flush and release resources after a stop."""

    async def _on_reconnected(self) -> None:
        """Hook for subclasses: recover what was missed while disconnected (e.g. REST backfill)."""

    # ------------------------------------------------------------------ message loop
    async def _message_loop(self) -> None:
        while self._should_be_running:
            try:
                await self._handle_messages()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not self._should_be_running:
                    return
                reason = self._failure_reason or f"{type(exc).__name__}: {exc}"
                self._failure_reason = None
                self._record_error(reason)
                if not self.auto_restart or not is_retryable(exc):
                    self._enter_error(f"{reason} (auto_restart={self.auto_restart})")
                    return
                if not await self._handle_connection_error():
                    return
                continue
            now = time.monotonic()
            self._messages_received += 1
            self._messages_processed += 1
            self._last_heartbeat = now
            self._last_heartbeat_wall = time.time()

    async def _handle_connection_error(self) -> bool:
        """Reconnect with backoff. Return False (status ``error``) once the limit is reached."""
        self._status = CollectorStatus.RECONNECTING
        await self._safe_disconnect()
        while self._should_be_running:
            if self._reconnect_attempts >= self.max_reconnect_attempts:
                message = (
                    f"restart limit reached after {self._reconnect_attempts} reconnect attempts "
                    f"(MAX_RECONNECT_ATTEMPTS={self.max_reconnect_attempts}); last error: {self._last_error}"
                )
                self._enter_error(message)
                return False
            delay = 0.0 if self._reconnect_immediately else self.backoff.delay(self._reconnect_attempts)
            self._reconnect_immediately = False
            self._reconnect_attempts += 1
            self.logger.warning(
                "reconnecting in %.2fs (attempt %d/%d) after: %s",
                delay,
                self._reconnect_attempts,
                self.max_reconnect_attempts,
                self._last_error,
            )
            await asyncio.sleep(delay)
            if not self._should_be_running:
                return False
            try:
                ok = await self._connect_and_subscribe()
            except Exception as exc:
                ok = False
                self._record_error(f"reconnect failed: {type(exc).__name__}: {exc}")
            if ok:
                self._count_restart()
                self._status = CollectorStatus.RUNNING
                self.logger.info("reconnected (restart #%d)", self._restarts)
                try:
                    await self._on_reconnected()
                except Exception as exc:  # recovery extras must not undo a good reconnect
                    self._record_error(f"after reconnect: {type(exc).__name__}: {exc}")
                return True
            await self._safe_disconnect()
        return False

    async def _connect_and_subscribe(self) -> bool:
        if not await self.connect():
            self._record_error(self._last_error or "connect() returned False")
            return False
        self._connected_at = time.monotonic()
        self._connected_wall = time.time()
        self._data_since_connect = False
        if not await self.subscribe_to_data(list(self.symbols), list(self.data_types)):
            self._record_error("subscribe_to_data() returned False")
            return False
        return True

    async def _safe_disconnect(self) -> None:
        try:
            await self.disconnect()
        except Exception as exc:  # a failing close must not mask the original failure
            self.logger.debug("disconnect raised %r", exc)

    def _enter_error(self, message: str) -> None:
        self._status = CollectorStatus.ERROR
        self._should_be_running = False
        self._last_error = message
        self.logger.error("collector stopped in error state: %s", message)

    def _count_restart(self) -> None:
        self._restarts += 1
        self._last_restart_wall = time.time()

    def _record_error(self, message: str) -> None:
        self._errors += 1
        self._last_error = message
        self.logger.warning("%s", message)

    def _record_data_error(self, exc: BaseException) -> None:
        """For subclasses: a bad message was skipped; counted, logged, no reconnect."""
        self._messages_received += 1
        self._record_error(f"invalid message skipped: {exc}")

    # ------------------------------------------------------------------ health monitor
    async def _health_loop(self) -> None:
        while self._should_be_running:
            await asyncio.sleep(self.health_check_interval)
            if not self._should_be_running:
                return
            self._check_health_once()

    def _check_health_once(self) -> None:
        issues = self._current_issues()
        self._health_issues = issues
        if self._status is not CollectorStatus.RUNNING and self._status is not CollectorStatus.UNHEALTHY:
            return
        silence = self._silence_issue()
        if silence is None:
            if self._status is CollectorStatus.UNHEALTHY and not issues:
                self._status = CollectorStatus.RUNNING
            return
        if not self.auto_restart:
            self._status = CollectorStatus.UNHEALTHY
            return
        # Dropping the connection makes the blocked receive fail; the message loop
        # then reconnects through the one recovery path, with the silence as reason.
        self._failure_reason = silence
        self.logger.warning("health check: %s; reconnecting", silence)
        self._spawn(self._interrupt_connection(silence))

    async def _interrupt_connection(self, reason: str) -> None:
        """Make the blocked ``_handle_messages`` fail so the message loop reconnects.

        The default closes the connection, which fails a pending receive. Collectors whose
        message loop waits on something else (an inbox fed by reader tasks) override this.
        """
        await self._safe_disconnect()

    def _silence_issue(self) -> str | None:
        if self._connected_at is None:
            return None
        now = time.monotonic()
        if self._last_data is not None and self._last_data >= self._connected_at:
            silent = now - self._last_data
            what = "no market data"
        else:
            silent = now - self._connected_at
            what = "no first message since the connection opened"
        if silent > self.max_silence_duration:
            error = DataSilence(f"{what} for {silent:.1f}s (max_silence_duration={self.max_silence_duration:g}s)")
            return f"{type(error).__name__}: {error}"
        return None

    def _current_issues(self) -> list[str]:
        issues: list[str] = []
        if self._should_be_running and not self.is_running:
            issues.append(f"should be running but status is {self._status.value}")
        if self._status is CollectorStatus.ERROR and self._last_error:
            issues.append(self._last_error)
        if self._status is CollectorStatus.RECONNECTING:
            issues.append(f"reconnecting (attempt {self._reconnect_attempts})")
        silence = self._silence_issue() if self.is_running else None
        if silence:
            issues.append(silence)
        heartbeat_age = self._age(self._last_heartbeat)
        if self.is_running and heartbeat_age is not None and heartbeat_age > self.max_silence_duration:
            issues.append(f"message loop heartbeat is {heartbeat_age:.1f}s old")
        return issues

    def _spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    # ------------------------------------------------------------------ callbacks
    def add_data_callback(self, data_type: DataType, callback: DataCallback) -> None:
        """Call ``callback(data_point)`` (sync or async) for every data point of ``data_type``."""
        data_type = DataType.parse(data_type, field="data_type")
        if not callable(callback):
            raise ConfigurationError(f"callback must be callable, got {callback!r}")
        entries = self._callbacks[data_type]
        if all(existing is not callback for existing, _ in entries):
            entries.append((callback, inspect.iscoroutinefunction(callback)))

    def remove_data_callback(self, data_type: DataType, callback: DataCallback) -> None:
        data_type = DataType.parse(data_type, field="data_type")
        self._callbacks[data_type] = [(cb, is_async) for cb, is_async in self._callbacks[data_type] if cb is not callback]

    def add_sink(self, sink: Sink) -> None:
        """Attach an output (see :mod:`collectors.core.sinks`); its figures appear in status."""
        if any(existing.name == sink.name for existing in self._sinks):
            raise ConfigurationError(f"an output named {sink.name!r} is already attached")
        self._sinks.append(sink)

    @property
    def sinks(self) -> list[Sink]:
        return list(self._sinks)

    async def _notify_callbacks(self, data_point: MarketDataPoint) -> None:
        """Record fresh data and hand ``data_point`` to every output and callback of its type."""
        self._mark_data()
        for sink in self._sinks:
            try:
                await sink.handle(data_point)
            except Exception as exc:  # sinks keep what they cannot deliver; a raise is a bug, shown loudly
                self._errors += 1
                self._last_error = f"output {sink.name} rejected a data point: {exc!r}"
                self.logger.exception("output %s rejected a data point", sink.name)
        for callback, is_async in self._callbacks[data_point.data_type]:
            try:
                result = callback(data_point)
                if is_async or inspect.isawaitable(result):
                    await result  # type: ignore[misc]
            except Exception as exc:  # a broken consumer must not stop collection
                self._errors += 1
                self._last_error = f"callback {getattr(callback, '__qualname__', callback)!r} failed: {exc!r}"
                self.logger.exception("data callback failed")

    def _mark_data(self) -> None:
        self._last_data = time.monotonic()
        if not self._data_since_connect:
            self._data_since_connect = True
            # Consecutive-attempt counting ends once a connection proves useful.
            self._reconnect_attempts = 0
        self._last_data_wall = time.time()

    # ------------------------------------------------------------------ symbols
    def add_symbol(self, symbol: str) -> None:
        """Add ``symbol``; on a live connection it is subscribed without reconnecting."""
        (symbol,) = validate_symbols([symbol], field="symbol")
        if symbol in self.symbols:
            return
        self.symbols.append(symbol)
        if self.is_running:
            self._spawn(self._change_subscription(symbol, subscribe=True))

    def remove_symbol(self, symbol: str) -> None:
        """Remove ``symbol``; on a live connection it is unsubscribed without reconnecting."""
        if symbol not in self.symbols:
            return
        self.symbols.remove(symbol)
        if self.is_running:
            self._spawn(self._change_subscription(symbol, subscribe=False))

    async def _change_subscription(self, symbol: str, *, subscribe: bool) -> None:
        action = self.subscribe_to_data if subscribe else self.unsubscribe_from_data
        try:
            ok = await action([symbol], list(self.data_types))
        except Exception as exc:
            ok = False
            self._record_error(f"{'subscribe' if subscribe else 'unsubscribe'} {symbol} failed: {exc!r}")
        if not ok:
            self.logger.warning("%s of %s was not acknowledged", "subscribe" if subscribe else "unsubscribe", symbol)

    # ------------------------------------------------------------------ status
    def _age(self, monotonic_time: float | None) -> float | None:
        return None if monotonic_time is None else round(time.monotonic() - monotonic_time, 3)

    def _data_type_names(self) -> list[str]:
        return [t.value for t in self.data_types]

    def get_status(self) -> dict[str, Any]:
        """Status snapshot with the keys documented in the README (seed API)."""
        status: dict[str, Any] = {
            "exchange": self.exchange_name,
            "component_name": self.component_name,
            "status": self._status.value,
            "should_be_running": self._should_be_running,
            "symbols": list(self.symbols),
            "data_types": self._data_type_names(),
            "auto_restart": self.auto_restart,
            "health": {
                "time_since_heartbeat": self._age(self._last_heartbeat),
                "time_since_data": self._age(self._last_data),
                "max_silence_duration": self.max_silence_duration,
            },
            "statistics": {
                "messages_received": self._messages_received,
                "messages_processed": self._messages_processed,
                "errors": self._errors,
                "restarts": self._restarts,
                "uptime_seconds": self._age(self._started_at) if self.is_running else None,
                "reconnect_attempts": self._reconnect_attempts,
                "last_message_time": _iso(self._last_data_wall),
                "connection_uptime": _iso(self._connected_wall) if self._connected_at is not None else None,
                "last_error": self._last_error,
                "last_restart_time": _iso(self._last_restart_wall),
            },
        }
        if self._sinks:
            status["outputs"] = {sink.name: sink.describe() for sink in self._sinks}
        status.update(self._extra_status())
        return status

    def _extra_status(self) -> dict[str, Any]:
        """Hook for subclasses: extra top-level status keys (e.g. failed symbols)."""
        return {}

    def get_health_status(self) -> dict[str, Any]:
        issues = self._current_issues() if self._should_be_running or self._status is CollectorStatus.ERROR else []
        return {
            "is_healthy": not issues and (self.is_running or not self._should_be_running)
            and self._status is not CollectorStatus.ERROR,
            "issues": issues,
            "status": self._status.value,
            "last_heartbeat": _iso(self._last_heartbeat_wall),
            "last_data_received": _iso(self._last_data_wall),
            "should_be_running": self._should_be_running,
            "is_running": self.is_running,
        }

    # ------------------------------------------------------------------ validation
    def validate_ohlcv_data(self, data: dict[str, Any], symbol: str, timeframe: str) -> OHLCVData:
        """Validate a candle dict and return an :class:`OHLCVData`; raise DataValidationError."""
        if not isinstance(data, dict):
            raise DataValidationError(f"candle for {symbol} must be a dict, got {type(data).__name__}")
        if not isinstance(timeframe, str) or not _TIMEFRAME.match(timeframe):
            raise DataValidationError(f"candle for {symbol}: invalid timeframe {timeframe!r} (e.g. '1m', '1h', '1d')")
        missing = [key for key in ("timestamp", "open", "high", "low", "close", "volume") if key not in data]
        if missing:
            raise DataValidationError(f"candle for {symbol} {timeframe}: missing field(s) {', '.join(missing)}")
        values = {key: _decimal(data[key], key, symbol) for key in ("open", "high", "low", "close", "volume")}
        for key in ("open", "high", "low", "close"):
            if values[key] <= 0:
                raise DataValidationError(f"candle for {symbol} {timeframe}: {key} must be > 0, got {values[key]}")
        if values["volume"] < 0:
            raise DataValidationError(f"candle for {symbol} {timeframe}: volume must be >= 0, got {values['volume']}")
        if values["high"] < values["low"]:
            raise DataValidationError(
                f"candle for {symbol} {timeframe}: high {values['high']} is below low {values['low']}"
            )
        for key in ("open", "close"):
            if not values["low"] <= values[key] <= values["high"]:
                raise DataValidationError(
                    f"candle for {symbol} {timeframe}: {key} {values[key]} outside [low {values['low']}, "
                    f"high {values['high']}]"
                )
        trades_count = data.get("trades_count")
        if trades_count is not None and (not isinstance(trades_count, int) or trades_count < 0):
            raise DataValidationError(f"candle for {symbol} {timeframe}: trades_count must be an int >= 0")
        return OHLCVData(
            symbol=symbol,
            timeframe=timeframe,
            timestamp=_timestamp(data["timestamp"], symbol),
            trades_count=trades_count,
            **values,
        )


def _positive(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ConfigurationError(f"{name} must be a number > 0 (seconds), got {value!r}")
    return float(value)


def _decimal(value: Any, key: str, symbol: str) -> Decimal:
    if isinstance(value, bool) or value is None:
        raise DataValidationError(f"candle for {symbol}: {key} must be numeric, got {value!r}")
    try:
        number = Decimal(str(value)) if not isinstance(value, Decimal) else value
    except (InvalidOperation, ValueError):
        raise DataValidationError(f"candle for {symbol}: {key} must be numeric, got {value!r}") from None
    if not number.is_finite():
        raise DataValidationError(f"candle for {symbol}: {key} must be finite, got {value!r}")
    return number


def _timestamp(value: Any, symbol: str) -> dt.datetime:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise DataValidationError(f"candle for {symbol}: timestamp must be timezone-aware (UTC)")
        return value.astimezone(dt.UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        # Milliseconds since the epoch (what exchanges send); seconds are accepted below 1e11.
        seconds = value / 1000 if value > 1e11 else value
        return dt.datetime.fromtimestamp(seconds, tz=dt.UTC)
    if isinstance(value, str):
        if value.isdigit():
            return _timestamp(int(value), symbol)
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise DataValidationError(f"candle for {symbol}: unreadable timestamp {value!r}") from None
        return _timestamp(parsed, symbol)
    raise DataValidationError(f"candle for {symbol}: unreadable timestamp {value!r}")


__all__ = ["BaseDataCollector", "DataCallback", "RestartLimitReached", "validate_symbols"]
