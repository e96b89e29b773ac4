"""Which TimescaleDB edition the server runs, and the features that depend on it.

``SHOW timescaledb.license`` is ``apache`` for the Apache-2 build (Debian's, the
``-oss`` Docker tags, this project's local provisioning) and ``timescale`` for the full
"Community" build (the official ``timescale/timescaledb`` images).

* Full edition: native compression (segmented by ``exchange, symbol``, ordered by time)
  with a compression policy per table, and a retention policy for each table that has a
  default retention in :mod:`storage.schema`. TimescaleDB's job scheduler runs them.
* Apache edition: none of that exists (every ``add_*_policy`` raises "not supported under
  the current apache license"); retention is :func:`storage.retention.apply_retention`,
  called by the Celery beat schedule. Data stays uncompressed.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from storage.schema import COMPRESS_SEGMENTBY, TABLES, TableSpec

APACHE = "apache"
FULL = "timescale"
APACHE_NOTE = (
    "apache edition: no compression; retention runs as the beat task storage.retention.apply_retention"
)


@dataclass(frozen=True, slots=True)
class Edition:
    """The server's TimescaleDB build as seen from one database."""

    license: str  # "apache" or "timescale"
    version: str | None  # extension version installed in this database
    tsl_loaded: bool  # the TSL module is loaded (full edition features usable)

    @property
    def is_full(self) -> bool:
        return self.license == FULL and self.tsl_loaded

    def describe(self) -> dict[str, object]:
        return {"license": self.license, "version": self.version, "full_features": self.is_full}


async def detect_edition(conn: asyncpg.Connection) -> Edition:
    """Read ``timescaledb.license``, the extension version and whether TSL is loaded."""
    license_name = await conn.fetchval("SELECT current_setting('timescaledb.license', true)")
    version = await conn.fetchval("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'")
    tsl_loaded = False
    if license_name == FULL and version is not None:
        try:
            tsl_loaded = bool(await conn.fetchval("SELECT _timescaledb_functions.tsl_loaded()"))
        except asyncpg.PostgresError:  # older layouts: the license setting is the best evidence
            tsl_loaded = True
    return Edition(license=license_name or APACHE, version=version, tsl_loaded=tsl_loaded)


@dataclass(frozen=True, slots=True)
class EditionStatement:
    """One step of the edition plan: SQL plus its parameters and a human description."""

    description: str
    sql: str
    args: tuple[object, ...] = ()
    skip_if_compressed: str | None = None  # table name: skip when compression is already enabled


def edition_plan(edition: Edition, tables: dict[str, TableSpec] | None = None) -> list[EditionStatement]:
    """The statements that enable the edition's features (empty for the Apache edition). Pure."""
    if not edition.is_full:
        return []
    plan: list[EditionStatement] = []
    for spec in (tables or TABLES).values():
        # Identifiers come from storage.schema (constants), never from input; values are parameters.
        plan.append(
            EditionStatement(
                f"compression on {spec.name} "
                f"(segmentby {COMPRESS_SEGMENTBY}, orderby {spec.compress_orderby})",
                f"ALTER TABLE {spec.name} SET (timescaledb.compress, "
                f"timescaledb.compress_segmentby = '{COMPRESS_SEGMENTBY}', "
                f"timescaledb.compress_orderby = '{spec.compress_orderby}')",
                skip_if_compressed=spec.name,
            )
        )
        plan.append(
            EditionStatement(
                f"compression policy on {spec.name} after {spec.compress_after}",
                "SELECT add_compression_policy($1::text::regclass, $2::interval, if_not_exists => true)",
                (spec.name, spec.compress_after),
            )
        )
        if spec.retention is not None:
            plan.append(
                EditionStatement(
                    f"retention policy on {spec.name}: drop chunks older than {spec.retention}",
                    "SELECT add_retention_policy($1::text::regclass, $2::interval, if_not_exists => true)",
                    (spec.name, spec.retention),
                )
            )
    return plan


async def apply_edition_features(conn: asyncpg.Connection, edition: Edition) -> list[str]:
    """Run :func:`edition_plan` (idempotent); return what was done or, on Apache, what replaces it."""
    plan = edition_plan(edition)
    if not plan:
        return [APACHE_NOTE]
    done: list[str] = []
    for step in plan:
        if step.skip_if_compressed is not None:
            enabled = await conn.fetchval(
                "SELECT compression_enabled FROM timescaledb_information.hypertables "
                "WHERE hypertable_name = $1",
                step.skip_if_compressed,
            )
            if enabled:
                done.append(f"{step.description}: already enabled")
                continue
        await conn.execute(step.sql, *step.args)
        done.append(step.description)
    return done
