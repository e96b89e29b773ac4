"""Versioned, idempotent migrations: ``python -m storage migrate`` or :func:`migrate`.

Migrations are the files ``storage/migrations/NNNN_name.sql``, applied in version
order, each in its own transaction together with its row in
``storage_schema_migrations`` (version, name, checksum, applied_at). A run takes a
PostgreSQL advisory lock, so concurrent runs (two collectors starting at once) apply
each migration exactly once. A migration that was applied and later edited is an error:
write a new migration instead.

After the migrations, :func:`storage.edition.apply_edition_features` enables what the
server's TimescaleDB edition offers (compression and retention policies on the full
edition; nothing on the Apache edition, where retention is a beat task).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from importlib import resources

import asyncpg

from storage.db import ConnectionOrDsn, connection
from storage.edition import Edition, apply_edition_features, detect_edition
from storage.errors import MigrationError
from storage.schema import MIGRATION_LOCK_ID, SCHEMA_MIGRATIONS_TABLE

_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


@dataclass(slots=True)
class MigrationReport:
    """What a run did: versions applied now, versions already there, edition features."""

    applied: list[int] = field(default_factory=list)
    already_applied: list[int] = field(default_factory=list)
    edition: Edition | None = None
    edition_features: list[str] = field(default_factory=list)

    @property
    def schema_version(self) -> int:
        return max(self.applied + self.already_applied, default=0)


def load_migrations() -> list[Migration]:
    """The migration files shipped in ``storage/migrations``, in version order."""
    migrations: list[Migration] = []
    for entry in resources.files("storage").joinpath("migrations").iterdir():
        match = _FILE_NAME.match(entry.name)
        if match is None:
            continue
        migrations.append(Migration(int(match.group(1)), match.group(2), entry.read_text(encoding="utf-8")))
    migrations.sort(key=lambda m: m.version)
    versions = [m.version for m in migrations]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"duplicate migration versions in storage/migrations: {versions}")
    return migrations


def latest_version() -> int:
    return max((m.version for m in load_migrations()), default=0)


async def applied_versions(conn: asyncpg.Connection) -> dict[int, str]:
    """version -> checksum of the migrations applied to this database (empty if none)."""
    exists = await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", SCHEMA_MIGRATIONS_TABLE)
    if not exists:
        return {}
    rows = await conn.fetch(f"SELECT version, checksum FROM {SCHEMA_MIGRATIONS_TABLE}")
    return {row["version"]: row["checksum"] for row in rows}


async def migrate(conn_or_dsn: ConnectionOrDsn, *, edition_features: bool = True) -> MigrationReport:
    """Apply the pending migrations, then the edition's features; safe to run any number of times."""
    report = MigrationReport()
    async with connection(conn_or_dsn) as conn:
        await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_ID)
        try:
            await conn.execute(
                f"""CREATE TABLE IF NOT EXISTS {SCHEMA_MIGRATIONS_TABLE} (
                        version    integer     PRIMARY KEY,
                        name       text        NOT NULL,
                        checksum   text        NOT NULL,
                        applied_at timestamptz NOT NULL DEFAULT now())"""
            )
            done = await applied_versions(conn)
            for migration in load_migrations():
                if migration.version in done:
                    if done[migration.version] != migration.checksum:
                        raise MigrationError(
                            f"migration {migration.version:04d}_{migration.name} was changed "
                            "after it was applied; "
                            "add a new migration instead of editing an applied one"
                        )
                    report.already_applied.append(migration.version)
                    continue
                try:
                    async with conn.transaction():
                        await conn.execute(migration.sql)
                        await conn.execute(
                            f"INSERT INTO {SCHEMA_MIGRATIONS_TABLE} (version, name, checksum) "
                            "VALUES ($1, $2, $3)",
                            migration.version,
                            migration.name,
                            migration.checksum,
                        )
                except asyncpg.PostgresError as exc:
                    raise MigrationError(
                        f"migration {migration.version:04d}_{migration.name} failed: "
                        f"{type(exc).__name__}: {exc}"
                    ) from exc
                report.applied.append(migration.version)
            report.edition = await detect_edition(conn)
            if edition_features:
                report.edition_features = await apply_edition_features(conn, report.edition)
        finally:
            if not conn.is_closed():  # a lost connection has released the lock already
                await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_ID)
    return report
