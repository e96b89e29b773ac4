"""Fault injection of the OKX simulator: methods on the simulator and their HTTP control surface.

Every method acts immediately (call it from the event loop's thread) and returns a
:class:`~collectors.simulation.faults.FaultResult`; ``await`` it to also wait for the
closes it started. ``POST /simulator/faults/<name>`` with a JSON object of keyword
arguments calls the method of that name. Every fault is counted in ``state()``.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import msgspec

from collectors.exchanges.okx.simulator import frames
from collectors.simulation.faults import FaultResult, FaultState
from collectors.simulation.market import SimTrade, SyntheticMarket

if TYPE_CHECKING:
    from collectors.exchanges.okx.simulator.session import Session

FAULT_NAMES = frozenset({
    "drop_connections", "close_connections", "drop_every", "stop_dropping", "stall", "send_malformed",
    "notice_64008", "error_event", "sequence_gap", "sequence_reset", "wrong_checksum", "slow_client",
    "reject_connections",
})  # fmt: skip

NOTICE_CLOSE_CODE, NOTICE_CLOSE_REASON = 1001, "Service upgrade"


class FaultMixin:
    """Fault methods of :class:`~collectors.exchanges.okx.simulator.server.OKXSimulator`."""

    # Provided by the simulator.
    faults: FaultState
    market: SyntheticMarket
    drops: int
    dropped_connections: int
    notice_close_delay: float
    _sessions: dict[str, Session]
    _last_trade: dict[str, tuple[SimTrade, int]]
    _drop_task: asyncio.Task[None] | None = None

    def _spawn(self, coroutine: Any) -> asyncio.Task[Any]:
        raise NotImplementedError

    def _check_symbol(self, symbol: str) -> None:
        if not self.market.has_symbol(symbol):
            raise ValueError(f"unknown symbol {symbol!r}")

    # -- connections ------------------------------------------------------------------------

    def drop_connections(self) -> FaultResult:
        """Abort every client TCP connection without a close frame (counts one drop)."""
        sessions = list(self._sessions.values())
        for session in sessions:
            session.abort()
        if sessions:
            self.drops += 1
            self.dropped_connections += len(sessions)
        return FaultResult("drop_connections", len(sessions))

    def close_connections(self, code: int = 1000, reason: str = "") -> FaultResult:
        """Close every connection cleanly with ``code`` and ``reason``."""
        tasks = [t for s in list(self._sessions.values()) if (t := s.close(code, reason, "clean_closes"))]
        return FaultResult("close_connections", len(tasks), tuple(tasks))

    def drop_every(self, seconds: float) -> FaultResult:
        """Drop all connections every ``seconds`` until :meth:`stop_dropping`."""
        if seconds <= 0:
            raise ValueError(f"seconds must be > 0, got {seconds}")
        self.stop_dropping()
        self.faults.drop_every = float(seconds)

        async def periodic() -> None:
            while True:
                await asyncio.sleep(seconds)
                self.drop_connections()

        self._drop_task = self._spawn(periodic())
        return FaultResult("drop_every", len(self._sessions))

    def stop_dropping(self) -> FaultResult:
        """Stop periodic drops."""
        if self._drop_task is not None:
            self._drop_task.cancel()
            self._drop_task = None
        self.faults.drop_every = None
        return FaultResult("stop_dropping")

    def reject_connections(self, n: int) -> FaultResult:
        """Refuse the next ``n`` WebSocket handshakes with HTTP 503."""
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        self.faults.reject_remaining += int(n)
        return FaultResult("reject_connections", self.faults.reject_remaining)

    def notice_64008(self, close_delay: float | None = None) -> FaultResult:
        """Send the 64008 service-upgrade notice to every connection, close them ``close_delay`` s later."""
        delay = self.notice_close_delay if close_delay is None else close_delay
        sessions = list(self._sessions.values())
        for session in sessions:
            session.push(frames.notice_frame(session.conn_id))
        self.faults.count("notices", len(sessions))

        async def close_later() -> None:
            await asyncio.sleep(delay)
            closes = [s.close(NOTICE_CLOSE_CODE, NOTICE_CLOSE_REASON, "notice_closes") for s in sessions]
            await asyncio.gather(*(task for task in closes if task), return_exceptions=True)

        return FaultResult("notice_64008", len(sessions), (self._spawn(close_later()),))

    # -- sending ----------------------------------------------------------------------------

    def stall(self, seconds: float) -> FaultResult:
        """Keep sockets open but send nothing (not even ``pong``) for ``seconds``; frames queue up."""
        if seconds < 0:
            raise ValueError(f"seconds must be >= 0, got {seconds}")
        self.faults.stall_until = asyncio.get_running_loop().time() + seconds
        self.faults.count("stalls")
        return FaultResult("stall", len(self._sessions))

    def slow_client(self, delay_seconds: float) -> FaultResult:
        """Sleep ``delay_seconds`` before every outbound frame (0 turns it off)."""
        if delay_seconds < 0:
            raise ValueError(f"delay_seconds must be >= 0, got {delay_seconds}")
        self.faults.send_delay = float(delay_seconds)
        if delay_seconds:
            self.faults.count("slow_client")
        return FaultResult("slow_client", len(self._sessions))

    def send_malformed(self, count: int = 1) -> FaultResult:
        """Send ``count`` malformed frames to every connection, cycling through truncated JSON,
        a push without ``data`` and a trade with a non-numeric ``px``."""
        if count < 1:
            raise ValueError(f"count must be >= 1, got {count}")
        sessions = list(self._sessions.values())
        for session in sessions:
            subscribed = [symbol for channel, symbol in session.subscriptions if channel == "trades"]
            symbol = subscribed[0] if subscribed else self.market.symbols[0]
            trade, sequence = self._last_trade.get(symbol, (SimTrade(symbol, 1, "1", "1", "buy", 0), 1))
            kinds = frames.malformed_frames(trade, sequence)
            for index in range(count):
                session.push(kinds[index % len(kinds)])
        self.faults.count("malformed_frames", count * len(sessions))
        return FaultResult("send_malformed", len(sessions))

    def error_event(self, code: str, msg: str) -> FaultResult:
        """Send ``{"event":"error","code":code,"msg":msg,"connId":...}`` to every connection."""
        sessions = list(self._sessions.values())
        for session in sessions:
            session.push(frames.error_frame(str(code), msg, session.conn_id))
        self.faults.count("error_events", len(sessions))
        return FaultResult("error_event", len(sessions))

    # -- books ------------------------------------------------------------------------------

    def sequence_gap(self, symbol: str) -> FaultResult:
        """Withhold the next ``books`` update of ``symbol``: the following prevSeqId will not match."""
        self._check_symbol(symbol)
        self.faults.pending_gaps[symbol] += 1
        return FaultResult("sequence_gap", self.faults.pending_gaps[symbol])

    def sequence_reset(self, symbol: str) -> FaultResult:
        """Make the next ``books`` update of ``symbol`` a valid reset (seqId < prevSeqId, docs 1.9.1)."""
        self._check_symbol(symbol)
        self.faults.pending_resets[symbol] += 1
        return FaultResult("sequence_reset", self.faults.pending_resets[symbol])

    def wrong_checksum(self, symbol: str) -> FaultResult:
        """Corrupt the checksum of the next ``books`` update of ``symbol`` (legacy checksum mode only)."""
        self._check_symbol(symbol)
        self.faults.pending_wrong_checksums[symbol] += 1
        return FaultResult("wrong_checksum", self.faults.pending_wrong_checksums[symbol])

    # -- HTTP -------------------------------------------------------------------------------

    def apply_fault_request(self, name: str, body: bytes) -> tuple[int, dict[str, Any]]:
        """Handle ``POST /simulator/faults/<name>``: (HTTP status, JSON-ready reply)."""
        if name not in FAULT_NAMES:
            return 404, {"error": f"unknown fault {name!r}", "faults": sorted(FAULT_NAMES)}
        try:
            params = msgspec.json.decode(body) if body.strip() else {}
        except msgspec.DecodeError as error:
            return 400, {"error": f"body is not JSON: {error}"}
        if not isinstance(params, dict):
            return 400, {"error": "body must be a JSON object of keyword arguments"}
        try:
            result: FaultResult = getattr(self, name)(**params)
        except (TypeError, ValueError) as error:
            return 400, {"error": str(error)}
        return 200, result.as_dict()
