"""Fault switches shared by the exchange simulators, and counters of what was injected.

A simulator owns one :class:`FaultState`. Fault methods flip switches or queue one-shot
faults here; the server's send paths consult them; every injected (or provoked) event is
counted so tests and operators can observe it through the simulator's state.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Generator
from dataclasses import dataclass, field
from typing import Any


@dataclass
class FaultResult:
    """What a fault method did. Fault methods act at once; awaiting the result is optional
    and, for faults that close connections, waits until those closes have finished."""

    fault: str
    affected: int = 0  # connections (or queued one-shot faults) the call touched
    pending: tuple[Awaitable[Any], ...] = ()

    def __await__(self) -> Generator[Any, None, FaultResult]:
        if self.pending:
            yield from asyncio.gather(*self.pending, return_exceptions=True).__await__()
        return self

    def as_dict(self) -> dict[str, Any]:
        return {"fault": self.fault, "affected": self.affected}


@dataclass
class FaultState:
    """Current fault switches and the running count of every fault event.

    Times are event-loop times (``loop.time()``), so a stall is immune to an injected
    market clock.
    """

    stall_until: float = 0.0  # no frame leaves the server before this loop time
    send_delay: float = 0.0  # seconds slept before every outbound frame ("slow link")
    drop_every: float | None = None  # period of automatic connection drops, seconds
    reject_remaining: int = 0  # WebSocket handshakes still to refuse
    # One-shot per-symbol faults waiting for the symbol's next book update.
    pending_gaps: Counter[str] = field(default_factory=Counter)
    pending_resets: Counter[str] = field(default_factory=Counter)
    pending_wrong_checksums: Counter[str] = field(default_factory=Counter)
    events: Counter[str] = field(default_factory=Counter)  # event name -> times it happened

    def count(self, event: str, times: int = 1) -> None:
        """Record that ``event`` happened ``times`` times."""
        self.events[event] += times

    def stall_remaining(self, now: float) -> float:
        """Seconds until sending may resume (0 when not stalled)."""
        return max(0.0, self.stall_until - now)

    @staticmethod
    def take(pending: Counter[str], symbol: str) -> bool:
        """Consume one queued one-shot fault for ``symbol``; True if there was one."""
        if pending[symbol] > 0:
            pending[symbol] -= 1
            return True
        return False

    def take_rejection(self) -> bool:
        """Consume one pending handshake rejection; True if this handshake must be refused."""
        if self.reject_remaining > 0:
            self.reject_remaining -= 1
            self.count("rejected_connections")
            return True
        return False

    def snapshot(self, now: float) -> dict[str, Any]:
        """JSON-ready view of the switches and counters."""
        return {
            "stalled": self.stall_until > now,
            "stall_remaining_seconds": round(self.stall_remaining(now), 3),
            "send_delay_seconds": self.send_delay,
            "drop_every_seconds": self.drop_every,
            "reject_remaining": self.reject_remaining,
            "pending_sequence_gaps": {k: v for k, v in self.pending_gaps.items() if v},
            "pending_sequence_resets": {k: v for k, v in self.pending_resets.items() if v},
            "pending_wrong_checksums": {k: v for k, v in self.pending_wrong_checksums.items() if v},
            "events": dict(sorted(self.events.items())),
        }
