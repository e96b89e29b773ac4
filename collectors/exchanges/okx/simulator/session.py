"""Per-connection plumbing of the simulator: request bodies, the send queue and its writer.

Every outbound frame of a connection (pushes, acks, errors, ``pong``) goes through one
bounded queue drained by one writer task, so faults that delay or stall sending apply
to all of them in order, and a consumer that cannot keep up is closed with 4005 instead
of growing server memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
from collections import deque
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.http11 import Response
from websockets.protocol import OPEN

from collectors.simulation.faults import FaultState

_CONTENT_LENGTH = re.compile(rb"(?im)^content-length:[ \t]*(\d+)[ \t]*\r\n")
_MAX_BODY = 1 << 20
_BATCH = 256  # frames per transport write
_TRANSPORT_HIGH_WATER = 256 * 1024
_CLOSE_TIMEOUT = 2.0  # seconds a server-initiated close may take before the socket is aborted

BUFFER_FULL_CODE, BUFFER_FULL_REASON = 4005, "Buffer is full, cannot write data"
IDLE_CODE, IDLE_REASON = 4004, "No data received in 30s."


class SimulatorConnection(ServerConnection):
    """A server connection that also accepts plain HTTP requests with a body.

    websockets parses only body-less requests (a handshake has none), but the control
    endpoints take JSON bodies. Before the request reaches the parser, the body is cut
    off into :attr:`request_body` and ``Content-Length`` rewritten to 0.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.request_body = b""
        self._head = bytearray()
        self._head_done = False

    def data_received(self, data: bytes) -> None:
        if self._head_done:
            super().data_received(data)
            return
        self._head += data
        end = self._head.find(b"\r\n\r\n")
        if end < 0:
            if len(self._head) > 65536:  # let websockets reject the oversized request
                self._release(bytes(self._head))
            return
        head, rest = bytes(self._head[: end + 4]), bytes(self._head[end + 4 :])
        match = _CONTENT_LENGTH.search(head)
        length = int(match.group(1)) if match else 0
        if 0 < length <= _MAX_BODY:
            if len(rest) < length:
                return  # wait for the rest of the body
            self.request_body, rest = rest[:length], rest[length:]
            head = _CONTENT_LENGTH.sub(b"Content-Length: 0\r\n", head)
        self._release(head + rest)

    def _release(self, data: bytes) -> None:
        self._head_done = True
        self._head = bytearray()
        super().data_received(data)


def json_response(connection: ServerConnection, status: int, body: bytes) -> Response:
    """A JSON HTTP response for ``process_request``.

    websockets aborts the TCP connection right after writing an HTTP response, which
    drops whatever the kernel has not accepted yet; a send buffer larger than any of our
    bodies makes the write complete at once.
    """
    sock = connection.transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, max(len(body) * 2, 1 << 18))
    response = connection.respond(status, "")
    response.headers = Headers(
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("Connection", "close"),
        ]
    )
    response.body = body
    return response


class Session:
    """One client WebSocket: its subscriptions, send queue, writer and idle watchdog."""

    def __init__(
        self,
        ws: ServerConnection,
        conn_id: str,
        path: str,
        faults: FaultState,
        *,
        max_queue_bytes: int,
        idle_timeout: float,
    ) -> None:
        self.ws = ws
        self.conn_id = conn_id
        self.path = path
        self.subscriptions: dict[tuple[str, str], dict[str, Any]] = {}  # (channel, instId) -> arg as sent
        self.frames_sent = 0
        self._faults = faults
        self._queue: deque[bytes] = deque()
        self._queued_bytes = 0
        self._max_queue_bytes = max_queue_bytes
        self._idle_timeout = idle_timeout
        self._wake = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self.last_activity = self._loop.time()  # last inbound frame or outbound push
        self.closing = False
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [
            self._loop.create_task(self._write_loop(), name=f"okx-sim-writer-{self.conn_id}"),
            self._loop.create_task(self._idle_watch(), name=f"okx-sim-idle-{self.conn_id}"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def received(self) -> None:
        """Note an inbound frame (resets the idle timer)."""
        self.last_activity = self._loop.time()

    def push(self, frame: bytes) -> None:
        """Queue one text frame; a full queue closes the connection with 4005."""
        if self.closing:
            return
        self._queue.append(frame)
        self._queued_bytes += len(frame)
        if self._queued_bytes > self._max_queue_bytes:
            self._overflow()
            return
        self._wake.set()

    def push_many(self, batch: list[bytes]) -> None:
        """Queue several text frames in order (one overflow check for the batch)."""
        if self.closing or not batch:
            return
        self._queue.extend(batch)
        self._queued_bytes += sum(map(len, batch))
        if self._queued_bytes > self._max_queue_bytes:
            self._overflow()
            return
        self._wake.set()

    def _overflow(self) -> None:
        self._queue.clear()
        self._queued_bytes = 0
        self.close(BUFFER_FULL_CODE, BUFFER_FULL_REASON, "buffer_full_closes")

    def close(self, code: int, reason: str, event: str) -> asyncio.Task[None] | None:
        """Close cleanly in the background, counting ``event``; None if already closing."""
        if self.closing:
            return None
        self.closing = True
        self._faults.count(event)
        task = self._loop.create_task(self._close(code, reason))
        self._tasks.append(task)
        return task

    async def _close(self, code: int, reason: str) -> None:
        # A peer that stopped reading never lets the close frame out (the write waits for
        # buffer space, before websockets' own close timeout starts): abort it instead.
        try:
            async with asyncio.timeout(_CLOSE_TIMEOUT):
                await self.ws.close(code, reason)
        except TimeoutError:
            self.ws.transport.abort()

    def abort(self) -> None:
        """Drop the TCP connection without a close frame."""
        self.closing = True
        self.ws.transport.abort()

    async def _write_loop(self) -> None:
        """Drain the queue in batches: frame them with the sans-I/O protocol, write them in one go.

        Compared with ``await ws.send()`` per frame this saves a context manager and a
        system call per frame, which is what lets one connection take 50k+ trades/s.
        """
        ws, queue, faults, loop = self.ws, self._queue, self._faults, self._loop
        protocol, transport = ws.protocol, ws.transport
        while True:
            if not queue:
                self._wake.clear()
                await self._wake.wait()
                continue
            stalled = faults.stall_remaining(loop.time())
            if stalled > 0:
                await asyncio.sleep(stalled)
                continue
            count = min(len(queue), _BATCH)
            if faults.send_delay > 0:
                await asyncio.sleep(faults.send_delay)
                count = min(len(queue), 1)  # the queue may have been cleared meanwhile
            if not count:
                continue
            if protocol.state is not OPEN or transport.is_closing():
                return
            sent = 0
            for _ in range(count):
                frame = queue.popleft()
                sent += len(frame)
                protocol.send_text(frame)
            self._queued_bytes -= sent
            transport.write(b"".join(protocol.data_to_send()))
            self.frames_sent += count
            self.last_activity = loop.time()
            # Back-pressure: a consumer that does not read makes the transport buffer grow;
            # wait for it instead, so frames pile up in the capped queue (then 4005).
            while transport.get_write_buffer_size() > _TRANSPORT_HIGH_WATER and not transport.is_closing():
                await asyncio.sleep(0.001)
            await asyncio.sleep(0)  # let the market task run between batches

    async def _idle_watch(self) -> None:
        """Close with 4004 after ``idle_timeout`` s with neither inbound frames nor pushes."""
        loop = self._loop
        while not self.closing:
            remaining = self.last_activity + self._idle_timeout - loop.time()
            if remaining <= 0:
                self.close(IDLE_CODE, IDLE_REASON, "idle_closes")
                return
            await asyncio.sleep(remaining)
