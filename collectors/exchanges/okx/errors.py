"""Errors raised by the OKX package.

Tree::

    CollectorError (collectors.core.errors)
    ├── DataValidationError (also a ValueError)
    │   └── OKXParseError      a frame or REST body is malformed, truncated, or of an unknown kind
    └── OKXRestError           a REST response carried a non-"0" ``code`` (rate limit, unknown instrument...)

The parser never lets a bare ``KeyError``/``TypeError``/``msgspec`` error escape: anything
wrong with the input becomes an ``OKXParseError`` whose message names the problem and
quotes the start of the offending frame.
"""

from __future__ import annotations

from collectors.core.errors import CollectorError, DataValidationError

_EXCERPT_CHARS = 160


def excerpt(raw: bytes | str, limit: int = _EXCERPT_CHARS) -> str:
    """Short printable excerpt of a frame for error messages."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes | bytearray | memoryview) else str(raw)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


class OKXParseError(DataValidationError):
    """An OKX frame or REST body could not be turned into records."""

    def __init__(self, problem: str, raw: bytes | str) -> None:
        super().__init__(f"{problem}; frame: {excerpt(raw)}")
        self.problem = problem


class OKXRestError(CollectorError):
    """OKX answered a REST request with an error ``code`` (e.g. ``50011`` rate limit)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"OKX REST error {code}: {message}")
        self.code = code
        self.message = message
