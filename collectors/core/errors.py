"""Errors raised by the collector library.

Tree::

    CollectorError                 base of everything raised on purpose
    ├── ConfigurationError         bad config, CLI or environment value (also a ValueError)
    ├── DataValidationError        a record failed validation (also a ValueError); never retried
    ├── ConnectionFailure          the feed is gone or useless; retried with backoff
    │   ├── ServerClosedConnection a close frame from the server, clean or not
    │   ├── DataSilence            no market data within max_silence_duration
    │   └── KeepaliveTimeout       no pong within the keepalive timeout
    └── RestartLimitReached        reconnects exhausted; the collector is in ERROR

``is_retryable`` is the one place that decides whether an exception seen by the
message loop leads to a reconnect or straight to the error state.
"""

from __future__ import annotations


class CollectorError(Exception):
    """Base class of the library's own errors."""


class ConfigurationError(CollectorError, ValueError):
    """A configuration field, CLI flag or environment variable has an invalid value."""


class DataValidationError(CollectorError, ValueError):
    """Data from an exchange or a caller failed validation."""


class ConnectionFailure(CollectorError):
    """The connection to the exchange failed or stopped delivering."""


class ServerClosedConnection(ConnectionFailure):
    """The server closed the connection (a clean close counts as a failure too)."""


class DataSilence(ConnectionFailure):
    """No market data arrived within the allowed silence."""


class KeepaliveTimeout(ConnectionFailure):
    """The server did not answer a keepalive ping in time."""


class RestartLimitReached(CollectorError):
    """Reconnect attempts are exhausted."""


# Programming errors are not cured by reconnecting; retrying them forever hides bugs.
_FATAL = (TypeError, AttributeError, NameError, NotImplementedError, AssertionError, ImportError)


def is_retryable(exc: BaseException) -> bool:
    """True when a reconnect may cure ``exc``; False for programming errors."""
    if isinstance(exc, ConnectionFailure | OSError | TimeoutError):
        return True
    if isinstance(exc, _FATAL):
        return False
    # Anything else (library-specific connection errors, protocol errors) is worth a retry:
    # the restart limit bounds it and the error stays visible in status.
    return True
