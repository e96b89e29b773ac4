"""Real services for tests: a throw-away TimescaleDB database, Redis names, and a TCP proxy.

* Databases: ``DATABASE_URL`` (default: the local cluster) names the *server*; tests never
  write into its database. :func:`create_test_database` makes ``marketdata_test_<random>``
  from the ``postgres`` maintenance database and :func:`drop_test_database` removes it.
* Redis: ``REDIS_URL`` (default ``redis://127.0.0.1:6379/0``); every test gets its own key
  prefix and deletes its keys afterwards (:func:`delete_redis_prefix`).
* :class:`TcpProxy`: a loopback TCP forwarder that can be *paused* (refuses new
  connections and cuts the open ones) and resumed, to take a service away from one client
  without touching the shared server.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg

DEFAULT_SERVER_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"

T = TypeVar("T")


def run_in_thread(factory: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to completion on a private event loop in a worker thread.

    For session fixtures, which must not touch the event loop of the test that runs them."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(factory())).result()  # type: ignore[arg-type]


def _with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


def server_url() -> str:
    """The PostgreSQL server the tests use (DATABASE_URL's server, maintenance database)."""
    return _with_database(os.environ.get("DATABASE_URL") or DEFAULT_SERVER_URL, "postgres")


def create_test_database(prefix: str = "marketdata_test") -> str:
    """Create ``<prefix>_<random>`` on the test server; return its DSN."""
    name = f"{prefix}_{secrets.token_hex(4)}"

    async def create() -> None:
        conn = await asyncpg.connect(server_url())
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    run_in_thread(create)
    return _with_database(server_url(), name)


def drop_test_database(dsn: str) -> None:
    """Drop a database made by :func:`create_test_database` (ending its sessions)."""
    name = urlsplit(dsn).path.lstrip("/")
    if not name.startswith(("marketdata_test_", "marketdata_bench_")):
        raise ValueError(f"refusing to drop {name!r}: not a test database")

    async def drop() -> None:
        conn = await asyncpg.connect(server_url())
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    run_in_thread(drop)


def redis_url() -> str:
    return os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL


def redis_prefix() -> str:
    return f"test-{secrets.token_hex(4)}"


async def delete_redis_prefix(client: Any, prefix: str) -> None:
    """Delete every key under ``prefix:`` (SCAN, never KEYS)."""
    async for key in client.scan_iter(match=f"{prefix}:*", count=500):
        await client.delete(key)


class TcpProxy:
    """Forward ``127.0.0.1:<port>`` to ``target``; :meth:`pause` takes the service away.

    While paused the listening socket is closed (clients get "connection refused") and
    every forwarded connection is aborted (clients see a reset), like a database that went
    away. :meth:`resume` listens on the same port again.
    """

    def __init__(self, target_host: str, target_port: int, host: str = "127.0.0.1") -> None:
        self.target_host = target_host
        self.target_port = target_port
        self.host = host
        self.port = 0
        self.paused = False
        self.connections_accepted = 0
        self._server: asyncio.Server | None = None
        self._transports: set[asyncio.BaseTransport] = set()
        self._tasks: set[asyncio.Task[Any]] = set()

    @classmethod
    def for_dsn(cls, dsn: str) -> TcpProxy:
        parts = urlsplit(dsn)
        return cls(parts.hostname or "127.0.0.1", parts.port or 5432)

    def dsn(self, dsn: str) -> str:
        """``dsn`` rewritten to go through this proxy."""
        parts = urlsplit(dsn)
        credentials = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
        return urlunsplit(parts._replace(netloc=f"{credentials}{self.host}:{self.port}"))

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def pause(self) -> None:
        """Refuse new connections and cut the open ones."""
        self.paused = True
        if self._server is not None:
            self._server.close()
            self._server = None
        for transport in list(self._transports):
            transport.abort()
        self._transports.clear()

    async def resume(self) -> None:
        self.paused = False
        await self.start()

    async def stop(self) -> None:
        await self.pause()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def __aenter__(self) -> TcpProxy:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        if self.paused:
            client_writer.transport.abort()
            return
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(
                self.target_host, self.target_port
            )
        except OSError:
            client_writer.transport.abort()
            return
        self.connections_accepted += 1
        self._transports.update((client_writer.transport, upstream_writer.transport))
        pumps = [
            asyncio.ensure_future(self._pump(client_reader, upstream_writer)),
            asyncio.ensure_future(self._pump(upstream_reader, client_writer)),
        ]
        self._tasks.update(pumps)
        try:
            await asyncio.gather(*pumps, return_exceptions=True)
        finally:
            self._tasks.difference_update(pumps)
            for writer in (client_writer, upstream_writer):
                self._transports.discard(writer.transport)
                writer.transport.abort()

    @staticmethod
    async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while data := await reader.read(256 * 1024):
                writer.write(data)
                await writer.drain()
        with contextlib.suppress(OSError, RuntimeError):
            if not writer.transport.is_closing():
                writer.write_eof()
