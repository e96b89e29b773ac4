"""Migrations on a real TimescaleDB: idempotent, concurrent-safe, hypertables as specified."""

from __future__ import annotations

import asyncio
import datetime as dt

import asyncpg
import pytest

from storage.edition import APACHE, APACHE_NOTE, FULL, Edition, detect_edition, edition_plan
from storage.errors import MigrationError
from storage.migrate import latest_version, migrate
from storage.schema import SCHEMA_MIGRATIONS_TABLE, TABLES


async def test_migrations_run_twice_on_a_fresh_database(fresh_dsn: str) -> None:
    first = await migrate(fresh_dsn)
    second = await migrate(fresh_dsn)

    assert first.applied == list(range(1, latest_version() + 1))
    assert second.applied == []
    assert second.already_applied == first.applied
    conn = await asyncpg.connect(fresh_dsn)
    try:
        hypertables = {
            row["hypertable_name"]
            for row in await conn.fetch("SELECT hypertable_name FROM timescaledb_information.hypertables")
        }
        assert hypertables == set(TABLES)
        intervals = {
            row["hypertable_name"]: row["time_interval"]
            for row in await conn.fetch(
                "SELECT hypertable_name, time_interval FROM timescaledb_information.dimensions "
                "WHERE column_name = 'time'"
            )
        }
        assert intervals == {name: spec.chunk_interval for name, spec in TABLES.items()}
        for name, spec in TABLES.items():
            columns = await conn.fetch(
                "SELECT attname, format_type(atttypid, atttypmod) AS type FROM pg_attribute "
                "WHERE attrelid = $1::text::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
                name,
            )
            assert tuple(row["attname"] for row in columns) == spec.columns, name
            spelled = {"timestamptz": "timestamp with time zone"}
            assert tuple(row["type"] for row in columns) == tuple(spelled.get(t, t) for t in spec.types), name
            key = await conn.fetchval(
                """SELECT array_agg(a.attname ORDER BY k.ordinality)
                   FROM pg_index i
                   JOIN pg_class c ON c.oid = i.indrelid
                   CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ordinality)
                   JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
                   WHERE c.relname = $1 AND i.indisunique
                   GROUP BY i.indexrelid""",
                name,
            )
            assert tuple(key) == spec.key, name
    finally:
        await conn.close()


async def test_concurrent_migrations_apply_each_version_once(fresh_dsn: str) -> None:
    reports = await asyncio.gather(migrate(fresh_dsn), migrate(fresh_dsn), migrate(fresh_dsn))

    applied = sorted(version for report in reports for version in report.applied)
    assert applied == list(range(1, latest_version() + 1))


async def test_an_edited_migration_is_refused(fresh_dsn: str) -> None:
    await migrate(fresh_dsn)
    conn = await asyncpg.connect(fresh_dsn)
    try:
        await conn.execute(f"UPDATE {SCHEMA_MIGRATIONS_TABLE} SET checksum = 'edited' WHERE version = 1")
    finally:
        await conn.close()

    with pytest.raises(MigrationError, match="changed after it was applied"):
        await migrate(fresh_dsn)


async def test_the_edition_is_detected_and_reported(db: asyncpg.Connection) -> None:
    edition = await detect_edition(db)
    license_name = await db.fetchval("SHOW timescaledb.license")

    assert edition.license == license_name
    assert edition.version
    report = await migrate(db)
    if license_name == APACHE:
        assert report.edition_features == [APACHE_NOTE]
        policies = await db.fetchval(
            "SELECT count(*) FROM timescaledb_information.jobs WHERE hypertable_name = ANY($1::text[])",
            list(TABLES),
        )
        assert policies == 0


def test_full_edition_plan_compresses_by_exchange_and_symbol_and_adds_policies() -> None:
    plan = edition_plan(Edition(license=FULL, version="2.19.3", tsl_loaded=True))

    compress = [step for step in plan if step.sql.startswith("ALTER TABLE")]
    assert {step.skip_if_compressed for step in compress} == set(TABLES)
    assert all("timescaledb.compress_segmentby = 'exchange, symbol'" in step.sql for step in compress)
    retention = {step.args[0]: step.args[1] for step in plan if "add_retention_policy" in step.sql}
    assert retention == {name: spec.retention for name, spec in TABLES.items() if spec.retention is not None}
    assert retention["trades"] == dt.timedelta(days=90)
    compression_policies = {step.args[0] for step in plan if "add_compression_policy" in step.sql}
    assert compression_policies == set(TABLES)
    assert all("if_not_exists => true" in step.sql for step in plan if step.args)


def test_apache_edition_plan_is_empty() -> None:
    assert edition_plan(Edition(license=APACHE, version="2.19.3", tsl_loaded=False)) == []
    assert edition_plan(Edition(license=FULL, version="2.19.3", tsl_loaded=False)) == []
