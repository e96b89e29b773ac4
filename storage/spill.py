"""Local disk spill for rows the database cannot take yet, and the dead-letter file.

Layout of a spill directory (one per writer; a lock file keeps a second writer out)::

    <dir>/.lock
    <dir>/0000000001.spill     append-only segments, replayed in name order
    <dir>/0000000001.done      offsets of frames already written (not replayed again)
    <dir>/dead-letter.jsonl    rows the database refused for good, one JSON object per line

A segment starts with the 8-byte magic ``MDSPILL1`` followed by frames::

    u32 payload length | u32 CRC-32 of the payload | u8 table code | u32 row count | payload

(little-endian; the payload is a msgpack list of rows, decoded back with the table's
row type from :data:`storage.rows.ROW_TYPES`, so Decimals and datetimes round-trip
exactly). Each append is fsynced by default, so a spilled batch survives a crash of the
process or the machine. On start, :meth:`SpillStore.open` finds the frames left by an
earlier run; a torn frame at the end of a segment (a crash mid-append) is cut off and
counted in ``corrupt_bytes``.

A segment is deleted as soon as every frame in it has been written to the database;
until then the offsets of its written frames are noted in ``<segment>.done``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import fcntl
import os
import struct
import zlib
from pathlib import Path
from typing import Any, NamedTuple

import msgspec

from storage.errors import SpillCorrupt, SpillError, SpillFull, SpillLocked
from storage.rows import ROW_TYPES, Row
from storage.schema import TABLES

MAGIC = b"MDSPILL1"
_HEADER = struct.Struct("<IIBI")
_DONE = struct.Struct("<Q")  # offset of a released frame, in <segment>.done
_TABLE_CODES = {name: code for code, name in enumerate(TABLES)}
_TABLE_NAMES = dict(enumerate(TABLES))
_DISK_FULL = {errno.ENOSPC, errno.EDQUOT}


class SpillRef(NamedTuple):
    """Where one spilled batch lives."""

    segment: int
    offset: int
    length: int  # header + payload
    table: str
    rows: int


class _Segment:
    __slots__ = ("number", "path", "frames", "rows", "bytes")

    def __init__(self, number: int, path: Path) -> None:
        self.number = number
        self.path = path
        self.frames = 0  # frames not yet released
        self.rows = 0
        self.bytes = 0


class SpillStore:
    """Append-only, checksummed, fsynced spill segments in one directory (see module docstring)."""

    def __init__(
        self,
        directory: Path | str,
        *,
        max_bytes: int,
        fsync: bool = True,
        segment_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.fsync = fsync
        self.segment_bytes = segment_bytes
        self.corrupt_bytes = 0  # cut off torn/corrupt tails found at open
        self._encoder = msgspec.msgpack.Encoder()
        self._decoders = {
            name: msgspec.msgpack.Decoder(list[row_type]) for name, row_type in ROW_TYPES.items()
        }
        self._segments: dict[int, _Segment] = {}
        self._active: _Segment | None = None
        self._active_file: Any = None
        self._active_size = 0
        self._next_number = 1
        self._lock_file: Any = None

    # ------------------------------------------------------------------ figures
    @property
    def pending_rows(self) -> int:
        return sum(segment.rows for segment in self._segments.values())

    @property
    def pending_bytes(self) -> int:
        return sum(segment.bytes for segment in self._segments.values())

    @property
    def segment_count(self) -> int:
        return len(self._segments)

    # ------------------------------------------------------------------ lifecycle
    def open(self) -> list[SpillRef]:
        """Lock the directory and return the frames an earlier run left behind, oldest first."""
        self.directory.mkdir(parents=True, exist_ok=True)
        lock_file = open(self.directory / ".lock", "a+b")  # noqa: SIM115 (held open while the store is open)
        try:
            fcntl.flock(lock_file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock_file.close()
            raise SpillLocked(f"spill directory {self.directory} is in use by another writer") from None
        self._lock_file = lock_file
        refs: list[SpillRef] = []
        for path in sorted(self.directory.glob("*.spill")):
            try:
                number = int(path.stem)
            except ValueError:
                continue
            segment_refs = self._recover(number, path)
            self._next_number = max(self._next_number, number + 1)
            if not segment_refs:
                path.unlink()
                path.with_suffix(".done").unlink(missing_ok=True)
                continue
            segment = _Segment(number, path)
            for ref in segment_refs:
                segment.frames += 1
                segment.rows += ref.rows
                segment.bytes += ref.length
            self._segments[number] = segment
            refs.extend(segment_refs)
        return refs

    def close(self) -> None:
        """Close files and release the lock; pending segments stay for the next run."""
        if self._active_file is not None:
            self._active_file.close()
            self._active_file = None
        self._active = None
        if self._lock_file is not None:
            fcntl.flock(self._lock_file.fileno(), fcntl.LOCK_UN)
            self._lock_file.close()
            self._lock_file = None

    # ------------------------------------------------------------------ append / read / release
    def append(self, table: str, rows: list[Row]) -> SpillRef:
        """Write one batch; raise SpillFull at ``max_bytes`` or on a full disk, SpillError otherwise."""
        payload = self._encoder.encode(rows)
        header = _HEADER.pack(len(payload), zlib.crc32(payload), _TABLE_CODES[table], len(rows))
        length = len(header) + len(payload)
        if self.pending_bytes + length > self.max_bytes:
            raise SpillFull(
                f"spill limit reached: {self.pending_bytes + length} bytes would exceed "
                f"max_spill_bytes={self.max_bytes}"
            )
        if self._active is None or self._active_size + length > self.segment_bytes:
            self._rotate()
        assert self._active is not None and self._active_file is not None
        offset = self._active_size
        try:
            self._active_file.write(header + payload)
            self._active_file.flush()
            if self.fsync:
                os.fsync(self._active_file.fileno())
        except OSError as exc:
            with contextlib.suppress(OSError):  # drop the partial frame so the segment stays readable
                self._active_file.truncate(offset)
            if exc.errno in _DISK_FULL:
                raise SpillFull(f"disk full while spilling to {self._active.path}: {exc}") from exc
            raise SpillError(f"cannot spill to {self._active.path}: {exc}") from exc
        self._active_size += length
        segment = self._active
        segment.frames += 1
        segment.rows += len(rows)
        segment.bytes += length
        return SpillRef(segment.number, offset, length, table, len(rows))

    def read(self, ref: SpillRef) -> list[Row]:
        """The rows of a spilled batch; SpillCorrupt if the frame fails its checksum."""
        segment = self._segments.get(ref.segment)
        if segment is None:
            raise SpillCorrupt(f"spill segment {ref.segment} is gone")
        with open(segment.path, "rb") as file:
            file.seek(ref.offset)
            data = file.read(ref.length)
        return self._decode(data, ref, segment.path)

    def release(self, ref: SpillRef) -> None:
        """The batch is in the database: forget it, and delete its segment once it is empty."""
        segment = self._segments.get(ref.segment)
        if segment is None:
            return
        segment.frames -= 1
        segment.rows -= ref.rows
        segment.bytes -= ref.length
        if segment.frames > 0:
            # Remember it, so that a restart does not replay it (a lost note only costs a
            # duplicate write, which the database ignores: no fsync needed).
            with open(segment.path.with_suffix(".done"), "ab") as done:
                done.write(_DONE.pack(ref.offset))
            return
        del self._segments[ref.segment]
        if segment is self._active:
            self._active_file.close()
            self._active_file = None
            self._active = None
        segment.path.unlink(missing_ok=True)
        segment.path.with_suffix(".done").unlink(missing_ok=True)

    # ------------------------------------------------------------------ internals
    def _rotate(self) -> None:
        if self._active_file is not None:
            self._active_file.close()
            self._active_file = None
        number = self._next_number
        self._next_number += 1
        path = self.directory / f"{number:010d}.spill"
        try:
            file = open(path, "xb")  # noqa: SIM115 (kept open for appends)
            file.write(MAGIC)
            file.flush()
            if self.fsync:
                os.fsync(file.fileno())
                self._fsync_directory()
        except OSError as exc:
            if exc.errno in _DISK_FULL:
                raise SpillFull(f"disk full while creating {path}: {exc}") from exc
            raise SpillError(f"cannot create spill segment {path}: {exc}") from exc
        segment = _Segment(number, path)
        self._segments[number] = segment
        self._active, self._active_file, self._active_size = segment, file, len(MAGIC)

    def _fsync_directory(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def _decode(self, data: bytes, ref: SpillRef, path: Path) -> list[Row]:
        if len(data) < _HEADER.size:
            raise SpillCorrupt(f"{path}@{ref.offset}: truncated frame")
        length, crc, _code, _rows = _HEADER.unpack_from(data)
        payload = data[_HEADER.size : _HEADER.size + length]
        if len(payload) != length or zlib.crc32(payload) != crc:
            raise SpillCorrupt(f"{path}@{ref.offset}: checksum mismatch")
        return [tuple(row) for row in self._decoders[ref.table].decode(payload)]

    def _recover(self, number: int, path: Path) -> list[SpillRef]:
        """Frames of an existing segment; a torn or corrupt tail is cut off and counted."""
        data = path.read_bytes()
        if not data.startswith(MAGIC):
            self.corrupt_bytes += len(data)
            return []
        done_path = path.with_suffix(".done")
        done: set[int] = set()
        if done_path.exists():
            notes = done_path.read_bytes()
            done = {
                _DONE.unpack_from(notes, at)[0]
                for at in range(0, len(notes) - len(notes) % _DONE.size, _DONE.size)
            }
        refs: list[SpillRef] = []
        offset = len(MAGIC)
        while offset + _HEADER.size <= len(data):
            length, crc, code, rows = _HEADER.unpack_from(data, offset)
            end = offset + _HEADER.size + length
            table = _TABLE_NAMES.get(code)
            if table is None or end > len(data) or zlib.crc32(data[offset + _HEADER.size : end]) != crc:
                break
            if offset not in done:
                refs.append(SpillRef(number, offset, end - offset, table, rows))
            offset = end
        if offset < len(data):
            self.corrupt_bytes += len(data) - offset
            with open(path, "r+b") as file:
                file.truncate(offset)
        return refs


class DeadLetterFile:
    """Rows the database refused for good, appended as JSON lines (Decimals as strings)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._encoder = msgspec.json.Encoder(decimal_format="string")

    def append(self, entry: dict[str, Any]) -> None:
        """Append one entry and fsync it; OSError propagates (the caller logs the row instead)."""
        line = self._encoder.encode({"written_at": dt.datetime.now(dt.UTC), **entry}) + b"\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "ab") as file:
            file.write(line)
            file.flush()
            os.fsync(file.fileno())
