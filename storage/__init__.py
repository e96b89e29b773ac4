"""Storage: collected market data in TimescaleDB hypertables.

* :mod:`storage.schema` — tables, keys, chunk intervals (the DDL is ``storage/migrations``)
* :mod:`storage.migrate` — ``migrate(conn_or_dsn)``: versioned, idempotent migrations
* :mod:`storage.edition` — Apache vs full TimescaleDB, compression and policies
* :mod:`storage.rows` — records -> rows (pure)
* :mod:`storage.ingest` — COPY / staging INSERT / candle upsert, error classification
* :mod:`storage.spill` — disk spill and dead-letter file
* :mod:`storage.writer` — ``TimescaleWriter`` and the collector output ``TimescaleSink``
* :mod:`storage.retention` — ``apply_retention`` (drop_chunks) for the beat schedule
* :mod:`storage.analytics` — candles, VWAP, spread/mid, depth near the mid
* ``python -m storage migrate|retention|candles`` and ``python -m storage.bench``

See docs/storage.md, docs/analytics.md and docs/benchmarks.md ("Storage").
"""

from storage.migrate import migrate
from storage.retention import apply_retention, apply_retention_blocking
from storage.writer import TimescaleSink, TimescaleWriter, WriterConfig

__all__ = [
    "TimescaleSink",
    "TimescaleWriter",
    "WriterConfig",
    "apply_retention",
    "apply_retention_blocking",
    "migrate",
]
