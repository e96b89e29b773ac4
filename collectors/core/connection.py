"""FeedConnection: one WebSocket, owned by a thin reader task.

The reader puts every inbound frame, with our receive time, into an inbox shared by
all connections of a collector, so the collector's message loop handles frames from
several sockets in arrival order. When the socket ends (closed by the server, even
cleanly, or by a keepalive timeout) the reader puts a :class:`ConnectionLost` event
instead, which the collector raises as a connection failure.

Keepalive is optional and exchange-supplied: some exchanges want an application
level text ``ping`` after a quiet period and answer ``pong``; others use WebSocket
ping frames, which the ``websockets`` library answers by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, ConnectionClosedOK

from collectors.core.errors import ConnectionFailure, KeepaliveTimeout, ServerClosedConnection


@dataclass(frozen=True, slots=True)
class TextKeepalive:
    """Send ``payload`` after ``interval`` s without inbound frames; fail after ``timeout`` more."""

    payload: str = "ping"
    interval: float = 25.0
    timeout: float = 10.0


@dataclass(frozen=True, slots=True)
class ConnectionLost:
    """Inbox event: the connection ended; ``error`` says why."""

    connection: FeedConnection | None  # None: raised by the collector itself (e.g. data silence)
    error: ConnectionFailure


InboxItem = tuple["FeedConnection | None", "str | bytes | ConnectionLost", int]


class FeedConnection:
    """A WebSocket connection feeding a shared inbox (see module docstring)."""

    def __init__(
        self,
        name: str,
        url: str,
        inbox: asyncio.Queue[InboxItem],
        *,
        keepalive: TextKeepalive | None = None,
        open_timeout: float = 10.0,
        max_size: int = 16 * 1024 * 1024,
        ws_ping_interval: float | None = None,
    ) -> None:
        self.name = name
        self.url = url
        self.inbox = inbox
        self.keepalive = keepalive
        self.open_timeout = open_timeout
        self.max_size = max_size
        self.ws_ping_interval = ws_ping_interval
        self.ws: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._keeper: asyncio.Task[None] | None = None
        self._last_inbound = 0.0
        self._closing = False

    async def open(self) -> None:
        """Connect and start the reader (and keepalive) tasks; raise ConnectionFailure on failure."""
        self._closing = False
        try:
            self.ws = await connect(
                self.url,
                open_timeout=self.open_timeout,
                max_size=self.max_size,
                ping_interval=self.ws_ping_interval,
                compression="deflate",
                # The inbox bounds memory; the library's own queue only needs to absorb bursts.
                max_queue=256,
            )
        except (OSError, TimeoutError) as exc:
            raise ConnectionFailure(f"{self.name}: cannot connect to {self.url}: {exc}") from exc
        except Exception as exc:  # handshake rejected (HTTP 503...), invalid URI
            raise ConnectionFailure(f"{self.name}: handshake with {self.url} failed: {exc}") from exc
        self._last_inbound = time.monotonic()
        self._reader = asyncio.create_task(self._read(), name=f"{self.name}-reader")
        if self.keepalive is not None:
            self._keeper = asyncio.create_task(
                self._keep_alive(self.keepalive), name=f"{self.name}-keepalive"
            )

    async def send(self, data: str | bytes) -> None:
        if self.ws is None:
            raise ConnectionFailure(f"{self.name}: not connected")
        try:
            await self.ws.send(data)
        except ConnectionClosed as exc:
            raise ServerClosedConnection(f"{self.name}: closed while sending: {exc}") from exc

    async def close(self) -> None:
        """Close the socket and stop the tasks; safe to call twice."""
        self._closing = True
        current = asyncio.current_task()
        for task in (self._keeper, self._reader):
            if task is not None and task is not current:
                task.cancel()
        ws, self.ws = self.ws, None
        if ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), timeout=2.0)
        for task in (self._keeper, self._reader):
            if task is not None and task is not current:
                await asyncio.gather(task, return_exceptions=True)
        self._reader = self._keeper = None

    async def _read(self) -> None:
        ws = self.ws
        assert ws is not None
        put = self.inbox.put
        try:
            async for frame in ws:
                self._last_inbound = time.monotonic()
                await put((self, frame, time.time_ns()))
        except ConnectionClosed as exc:
            await self._lost(exc)
            return
        # `async for` ends without an exception on a clean close (1000/1001).
        await self._lost(ConnectionClosedOK(ws.close_rcvd, ws.close_sent))

    async def _lost(self, exc: BaseException | ConnectionFailure) -> None:
        if self._closing:
            return
        if isinstance(exc, ConnectionFailure):
            error = exc
        else:
            rcvd = getattr(exc, "rcvd", None)
            detail = f"code {rcvd.code} {rcvd.reason!r}" if rcvd is not None else "no close frame"
            error = ServerClosedConnection(f"{self.name}: connection closed by server ({detail})")
        await self.inbox.put((self, ConnectionLost(self, error), time.time_ns()))

    async def _keep_alive(self, policy: TextKeepalive) -> None:
        ping_sent_at: float | None = None
        while not self._closing and self.ws is not None:
            now = time.monotonic()
            quiet = now - self._last_inbound
            if ping_sent_at is not None and self._last_inbound >= ping_sent_at:
                ping_sent_at = None  # anything inbound after the ping proves the link is alive
            if ping_sent_at is None and quiet >= policy.interval:
                with contextlib.suppress(ConnectionClosed):
                    await self.ws.send(policy.payload)
                ping_sent_at = time.monotonic()
            elif ping_sent_at is not None and now - ping_sent_at >= policy.timeout:
                await self._lost(
                    KeepaliveTimeout(
                        f"{self.name}: no answer to {policy.payload!r} within {policy.timeout:g}s"
                    )
                )
                ws = self.ws
                if ws is not None:
                    ws.transport.abort()
                return
            wait = policy.timeout if ping_sent_at is not None else policy.interval - quiet
            await asyncio.sleep(max(0.05, min(wait, policy.interval)))
