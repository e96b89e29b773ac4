"""Retention: drop whole chunks older than a period (``drop_chunks``, core TimescaleDB).

On the Apache edition this is the only retention there is: the Celery beat schedule
calls :func:`apply_retention` (or :func:`apply_retention_blocking` from a sync task)
once an hour or so. On the full edition the retention policies added by
:mod:`storage.edition` do the same job inside the database; calling this as well is
harmless. ``python -m storage retention --older-than 30d`` runs it by hand.

Whole chunks are dropped, so a table keeps up to one chunk interval more than asked
(see the chunk intervals in :mod:`storage.schema`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterable, Mapping

from storage.db import ConnectionOrDsn, connection, default_dsn
from storage.schema import TABLES, table


def default_retention() -> dict[str, dt.timedelta]:
    """table -> period for the tables that have a default retention in :mod:`storage.schema`."""
    return {name: spec.retention for name, spec in TABLES.items() if spec.retention is not None}


def retention_plan(
    older_than: dt.timedelta | Mapping[str, dt.timedelta] | None = None, tables: Iterable[str] | None = None
) -> dict[str, dt.timedelta]:
    """Which tables lose chunks older than what. Pure; raises ValueError for bad input.

    * ``older_than`` None: each table's default (:func:`default_retention`).
    * one period: applied to ``tables`` (default: the tables with a default retention).
    * a mapping: table -> period, exactly those tables.
    """
    if isinstance(older_than, Mapping):
        if tables is not None:
            raise ValueError("give either a mapping of table -> period or tables, not both")
        plan = {table(name).name: period for name, period in older_than.items()}
    else:
        names = [table(name).name for name in tables] if tables is not None else list(default_retention())
        if older_than is None:
            defaults = default_retention()
            missing = [name for name in names if name not in defaults]
            if missing:
                raise ValueError(f"no default retention for {', '.join(missing)}; give older_than")
            plan = {name: defaults[name] for name in names}
        else:
            plan = dict.fromkeys(names, older_than)
    for name, period in plan.items():
        if not isinstance(period, dt.timedelta) or period <= dt.timedelta(0):
            raise ValueError(f"retention period for {name} must be a positive timedelta, got {period!r}")
    return plan


async def apply_retention(
    conn_or_dsn: ConnectionOrDsn | None = None,
    older_than: dt.timedelta | Mapping[str, dt.timedelta] | None = None,
    *,
    tables: Iterable[str] | None = None,
) -> dict[str, list[str]]:
    """Drop chunks older than the retention period; return table -> names of the dropped chunks.

    Works on both editions (``drop_chunks`` is Apache-licensed). See :func:`retention_plan`
    for how ``older_than`` and ``tables`` combine. ``conn_or_dsn`` None: ``DATABASE_URL`` or
    the local default (:func:`storage.db.default_dsn`).
    """
    plan = retention_plan(older_than, tables)
    dropped: dict[str, list[str]] = {}
    async with connection(default_dsn() if conn_or_dsn is None else conn_or_dsn) as conn:
        for name, period in plan.items():
            rows = await conn.fetch(
                "SELECT drop_chunks($1::text::regclass, older_than => $2::interval)", name, period
            )
            dropped[name] = [row[0] for row in rows]
    return dropped


def apply_retention_blocking(
    dsn: str | None = None,
    older_than: dt.timedelta | Mapping[str, dt.timedelta] | None = None,
    *,
    tables: Iterable[str] | None = None,
) -> dict[str, list[str]]:
    """:func:`apply_retention` for synchronous callers (the Celery beat task): runs its own event loop."""
    return asyncio.run(apply_retention(dsn, older_than, tables=tables))
