"""Errors raised by the storage layer.

Tree::

    StorageError               base of everything raised on purpose here
    ├── MigrationError         a migration failed, or an applied migration's file changed
    ├── SchemaMissing          the database lacks the tables (migrations not run, migrate=False)
    └── SpillError             the local spill store cannot take or give back data
        ├── SpillFull          max_spill_bytes reached, or the disk itself is full
        ├── SpillCorrupt       a spill frame failed its checksum or is truncated
        └── SpillLocked        another writer holds the spill directory

Configuration mistakes raise :class:`collectors.core.errors.ConfigurationError` (a
``ValueError``) naming the field, like everywhere else in the project.

Which *database* errors are retried is decided in one place,
:func:`storage.ingest.classify_error`.
"""

from __future__ import annotations


class StorageError(Exception):
    """Base class of the storage layer's own errors."""


class MigrationError(StorageError):
    """A migration failed or an already applied migration was edited."""


class SchemaMissing(StorageError):
    """The storage tables do not exist (run ``python -m storage migrate``)."""


class SpillError(StorageError):
    """The local spill store failed."""


class SpillFull(SpillError):
    """The spill store reached ``max_spill_bytes`` or the disk is full."""


class SpillCorrupt(SpillError):
    """A spill frame is damaged (checksum mismatch or truncated)."""


class SpillLocked(SpillError):
    """The spill directory is in use by another writer (one directory per writer)."""
