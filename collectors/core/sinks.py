"""Outputs of a collector: where its data points go besides callbacks.

A sink is attached with ``collector.add_sink(sink)``. The collector starts it before
connecting, awaits ``sink.handle(point)`` for every data point (so a sink can apply
backpressure by making that await wait), stops it (flushing) after the collector has
stopped, and shows ``sink.describe()`` in ``get_status()['outputs'][sink.name]``.

Sinks must not lose data silently: a sink that cannot deliver keeps the data (memory,
then disk) or reports the loss loudly in ``describe()`` and in the log.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from collectors.core.types import MarketDataPoint


@runtime_checkable
class Sink(Protocol):
    """What a collector needs from an output."""

    name: str

    async def start(self) -> None:
        """Open connections; called once before the collector connects."""

    async def handle(self, point: MarketDataPoint) -> None:
        """Take one data point. Should return quickly; waits only to apply backpressure."""

    async def stop(self) -> None:
        """Flush everything taken so far and close; called once after the collector stopped."""

    def describe(self) -> dict[str, Any]:
        """Figures for status (rows written, buffer depth, errors...)."""
