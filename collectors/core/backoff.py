"""Reconnect delays: capped exponential backoff with jitter."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass(slots=True)
class Backoff:
    """``delay(n)`` for the n-th consecutive failed attempt (0-based).

    The un-jittered delay is ``initial * factor**n`` capped at ``maximum``; the returned
    value is drawn uniformly from ``[delay * (1 - jitter), delay]`` so that many
    collectors dropped at once do not reconnect in lock-step.
    """

    initial: float = 5.0
    maximum: float = 60.0
    factor: float = 2.0
    jitter: float = 0.5
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, attempt: int) -> float:
        if self.initial <= 0:
            return 0.0
        capped = min(self.maximum, self.initial * self.factor ** min(attempt, 64))
        return self.rng.uniform(capped * (1.0 - self.jitter), capped)
