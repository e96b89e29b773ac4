"""Redis outputs: live fan-out over Pub/Sub, and Streams for durable downstream consumers.

Every Redis name the outputs use is made here (``prefix`` defaults to ``md``):

=====================  ==========================================  ==========================
output                 name                                        example
=====================  ==========================================  ==========================
Pub/Sub channel        ``{prefix}:{exchange}:{data_type}:{symbol}``  ``md:okx:trade:BTC-USDT``
Stream (one per type)  ``{prefix}:stream:{data_type}``               ``md:stream:trade``
=====================  ==========================================  ==========================

``data_type`` is the :class:`~collectors.core.types.DataType` value: ``trade``,
``ticker``, ``orderbook``, ``top_of_book``, ``candle``, ``balance``. Messages are the
JSON of :mod:`collectors.outputs.serialize`. A stream entry has the fields ``exchange``,
``symbol`` and ``data`` (that JSON); streams are trimmed with ``XADD ... MAXLEN ~ maxlen``.

Delivery (see shared notes C4): Pub/Sub is at-most-once by design (a subscriber that is
not connected misses messages). Streams keep the last ``maxlen`` entries for consumer
groups; a batch that failed on a broken connection is sent again, so consumers must
tolerate a repeated entry (trade ids make that easy). Both outputs send pipelined
batches from one background task. While Redis is unreachable they keep up to
``max_buffered`` messages in memory; beyond that the oldest are dropped, counted in
``dropped`` and logged at ERROR: the durable store is TimescaleDB, not Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections import deque
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import msgspec
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from collectors.core.backoff import Backoff
from collectors.core.errors import ConfigurationError
from collectors.core.logging import get_logger
from collectors.core.types import DataType, MarketDataPoint
from collectors.outputs.serialize import encode_point

DEFAULT_PREFIX = "md"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
_RETRYABLE = (RedisConnectionError, RedisTimeoutError, OSError, TimeoutError)
_LOSS_LOG_INTERVAL = 10.0  # seconds between ERROR lines about dropped messages


def pubsub_channel(
    exchange: str, data_type: DataType | str, symbol: str, prefix: str = DEFAULT_PREFIX
) -> str:
    """``md:okx:trade:BTC-USDT``: the Pub/Sub channel of one exchange, data type and symbol."""
    kind = data_type.value if isinstance(data_type, DataType) else DataType.parse(data_type).value
    return f"{prefix}:{exchange}:{kind}:{symbol}"


def stream_key(data_type: DataType | str, prefix: str = DEFAULT_PREFIX) -> str:
    """``md:stream:trade``: the stream of one data type (all exchanges and symbols)."""
    kind = data_type.value if isinstance(data_type, DataType) else DataType.parse(data_type).value
    return f"{prefix}:stream:{kind}"


def default_redis_url() -> str:
    return os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL


def mask_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


class RedisOutputConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Fields shared by both Redis outputs."""

    url: str | None = None  # None: REDIS_URL or redis://127.0.0.1:6379/0
    name: str = ""  # default: the sink type
    prefix: str = DEFAULT_PREFIX
    data_types: list[str] | None = None  # publish only these data types (default: all)
    max_buffered: int = 100_000  # messages held while Redis is slow or away
    max_batch: int = 2000  # commands per pipeline

    def __post_init__(self) -> None:
        if self.max_buffered < 1 or self.max_batch < 1:
            raise ConfigurationError("max_buffered and max_batch must be whole numbers >= 1")
        if not self.prefix or any(ch.isspace() for ch in self.prefix):
            raise ConfigurationError(f"prefix must be a non-empty word without spaces, got {self.prefix!r}")
        for value in self.data_types or ():
            DataType.parse(value)  # ValueError naming the allowed values


class RedisPubSubConfig(RedisOutputConfig, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: str = "redis_pubsub"


class RedisStreamConfig(RedisOutputConfig, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: str = "redis_stream"
    maxlen: int = 100_000  # approximate length cap per stream (XADD MAXLEN ~)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.maxlen < 1:
            raise ConfigurationError(f"maxlen must be a whole number >= 1, got {self.maxlen}")


class _RedisOutput:
    """Batching, reconnecting, bounded sender shared by the Pub/Sub and Stream outputs."""

    kind = ""

    def __init__(self, config: RedisOutputConfig, *, client: aioredis.Redis | None = None) -> None:
        self.config = config
        self.name = config.name
        self.url = config.url or default_redis_url()
        self.prefix = config.prefix
        self._wanted = {DataType.parse(value) for value in config.data_types} if config.data_types else None
        self._client = client
        self._owns_client = client is None
        self._buffer: deque[tuple[Any, ...]] = deque()
        self._wake = asyncio.Event()
        self._room = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._state = "stopped"
        self._stopping = False
        self._backoff = Backoff(initial=0.05, maximum=2.0)
        self._attempts = 0
        self._logger = get_logger(f"outputs_{config.name}", to_file=False)
        self._sent = 0
        self._batches = 0
        self._dropped = 0
        self._errors = 0
        self._last_error: str | None = None
        self._last_loss_log = 0.0
        self._dropped_since_log = 0
        self._loss_reason = ""

    # ------------------------------------------------------------------ Sink protocol
    async def start(self) -> None:
        if self._task is not None:
            return
        if self._client is None:
            self._client = aioredis.Redis.from_url(
                self.url, socket_connect_timeout=2.0, socket_timeout=5.0, retry=Retry(NoBackoff(), 0)
            )
        self._stopping = False
        self._state = "connecting"
        self._task = asyncio.create_task(self._run(), name=f"{self.name}-sender")

    async def handle(self, point: MarketDataPoint) -> None:
        if self._wanted is not None and point.data_type not in self._wanted:
            return
        if len(self._buffer) >= self.config.max_buffered:
            await self._make_room()
        self._buffer.append(self._item(point))
        self._wake.set()

    async def stop(self, drain_timeout: float = 5.0) -> None:
        """Send what is buffered (for up to ``drain_timeout`` s), then close."""
        if self._task is None:
            return
        self._stopping = True
        self._wake.set()
        task, self._task = self._task, None
        try:
            await asyncio.wait_for(asyncio.shield(task), drain_timeout)
        except TimeoutError:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if self._buffer:
            self._lose(len(self._buffer), "not sent before stop (Redis unavailable)")
            self._buffer.clear()
        self._flush_loss_log(force=True)
        if self._owns_client and self._client is not None:
            with contextlib.suppress(Exception):
                await self._client.aclose()
            self._client = None
        self._state = "stopped"

    def describe(self) -> dict[str, Any]:
        return {
            "type": self.kind,
            "state": self._state,
            "url": mask_url(self.url),
            "messages_sent": self._sent,
            "batches_sent": self._batches,
            "buffered": len(self._buffer),
            "max_buffered": self.config.max_buffered,
            "dropped": self._dropped,
            "errors": self._errors,
            "last_error": self._last_error,
            **self._extra_status(),
        }

    # ------------------------------------------------------------------ subclass parts
    def _item(self, point: MarketDataPoint) -> tuple[Any, ...]:
        raise NotImplementedError

    def _queue_command(self, pipe: Any, item: tuple[Any, ...]) -> None:
        raise NotImplementedError

    def _extra_status(self) -> dict[str, Any]:
        return {}

    # ------------------------------------------------------------------ sending
    async def _make_room(self) -> None:
        while len(self._buffer) >= self.config.max_buffered:
            if self._state != "connected":  # Redis away: keep the newest, drop (loudly) the oldest
                self._buffer.popleft()
                self._lose(1, "buffer full while Redis is unavailable")
                return
            self._room.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._room.wait(), 0.05)

    async def _run(self) -> None:
        assert self._client is not None
        while True:
            if not self._buffer:
                if self._stopping:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            count = min(len(self._buffer), self.config.max_batch)
            items = [self._buffer[index] for index in range(count)]
            try:
                pipe = self._client.pipeline(transaction=False)
                for item in items:
                    self._queue_command(pipe, item)
                results = await pipe.execute(raise_on_error=False)
            except _RETRYABLE as exc:
                self._failed(exc)
                if self._stopping and self._state != "connected" and self._attempts > 3:
                    return
                await asyncio.sleep(self._backoff.delay(self._attempts))
                continue
            for _ in range(count):
                self._buffer.popleft()
            failed = [result for result in results if isinstance(result, Exception)]
            if failed:
                self._lose(len(failed), f"refused by Redis: {failed[0]}")
            recovered = self._state != "connected"
            if recovered:
                self._logger.info("%s: connected to %s", self.name, mask_url(self.url))
            self._state = "connected"
            self._attempts = 0
            self._sent += count - len(failed)
            self._batches += 1
            self._room.set()
            self._flush_loss_log(force=recovered)  # an outage's losses are reported when it ends

    def _failed(self, exc: BaseException) -> None:
        self._errors += 1
        self._last_error = f"{type(exc).__name__}: {exc}"
        if self._state == "connected" or self._attempts == 0:
            self._logger.warning(
                "%s: Redis unavailable (%s); buffering up to %d messages",
                self.name,
                self._last_error,
                self.config.max_buffered,
            )
        self._state = "disconnected"
        self._attempts += 1
        self._room.set()

    def _lose(self, count: int, reason: str) -> None:
        self._dropped += count
        self._dropped_since_log += count
        self._last_error = f"dropped {count} message(s): {reason}"
        self._loss_reason = reason
        self._flush_loss_log()

    def _flush_loss_log(self, force: bool = False) -> None:
        now = time.monotonic()
        if self._dropped_since_log and (force or now - self._last_loss_log >= _LOSS_LOG_INTERVAL):
            self._errors += 1
            self._logger.error(
                "%s: DROPPED %d messages (%d in total): %s",
                self.name,
                self._dropped_since_log,
                self._dropped,
                self._loss_reason,
            )
            self._dropped_since_log = 0
            self._last_loss_log = now


class RedisPubSubSink(_RedisOutput):
    """Publishes every data point on ``{prefix}:{exchange}:{data_type}:{symbol}`` (at-most-once)."""

    kind = "redis_pubsub"

    def __init__(
        self,
        url: str | None = None,
        *,
        client: aioredis.Redis | None = None,
        config: RedisPubSubConfig | None = None,
        **options: Any,
    ) -> None:
        config = config or RedisPubSubConfig(url=url, **options)
        super().__init__(config, client=client)
        self._channels: dict[tuple[str, DataType, str], str] = {}

    def _item(self, point: MarketDataPoint) -> tuple[Any, ...]:
        key = (point.exchange, point.data_type, point.symbol)
        channel = self._channels.get(key)
        if channel is None:
            channel = self._channels[key] = pubsub_channel(
                point.exchange, point.data_type, point.symbol, self.prefix
            )
        return (channel, encode_point(point))

    def _queue_command(self, pipe: Any, item: tuple[Any, ...]) -> None:
        pipe.publish(item[0], item[1])


class RedisStreamSink(_RedisOutput):
    """Appends every data point to ``{prefix}:stream:{data_type}`` with ``XADD MAXLEN ~ maxlen``."""

    kind = "redis_stream"
    config: RedisStreamConfig

    def __init__(
        self,
        url: str | None = None,
        *,
        client: aioredis.Redis | None = None,
        config: RedisStreamConfig | None = None,
        **options: Any,
    ) -> None:
        config = config or RedisStreamConfig(url=url, **options)
        super().__init__(config, client=client)
        self.maxlen = config.maxlen
        self._keys = {data_type: stream_key(data_type, self.prefix) for data_type in DataType}

    def _item(self, point: MarketDataPoint) -> tuple[Any, ...]:
        fields = {"exchange": point.exchange, "symbol": point.symbol, "data": encode_point(point)}
        return (self._keys[point.data_type], fields)

    def _queue_command(self, pipe: Any, item: tuple[Any, ...]) -> None:
        pipe.xadd(item[0], item[1], maxlen=self.maxlen, approximate=True)

    def _extra_status(self) -> dict[str, Any]:
        return {"maxlen": self.maxlen}
