"""Component-level logging to ``LOG_DIR`` (default ``./logs``).

Each component (a collector, the manager, a simulator) gets ``<LOG_DIR>/<component>.log``,
rotated at midnight UTC and when it reaches 50 MB. With ``LOG_CLEANUP=true`` only the
newest ``LOG_MAX_FILES`` rotated files of a component are kept; older ones are deleted
at set-up and at every rotation. Records also go to stderr at ``LOG_LEVEL``.
"""

from __future__ import annotations

import logging
import logging.handlers
import re
import threading
from pathlib import Path

from collectors.core.settings import Settings

_FORMAT = "%(asctime)s %(levelname)s [%(name)s] %(message)s"
_COMPONENT = re.compile(r"[^A-Za-z0-9_.-]+")
_lock = threading.Lock()
_configured: dict[str, logging.Logger] = {}


class _RotatingFileHandler(logging.handlers.TimedRotatingFileHandler):
    """Rotates at midnight UTC or at ``max_bytes``, whichever comes first."""

    def __init__(self, path: Path, *, backup_count: int, max_bytes: int) -> None:
        super().__init__(path, when="midnight", utc=True, backupCount=backup_count, encoding="utf-8", delay=True)
        self.max_bytes = max_bytes
        # Size-triggered rotations within one day need distinct names: add the time.
        self.suffix = "%Y-%m-%d_%H-%M-%S"
        self.extMatch = re.compile(r"^\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2}(\.\w+)?$", re.ASCII)

    def shouldRollover(self, record: logging.LogRecord) -> bool:  # noqa: N802 (stdlib name)
        if super().shouldRollover(record):
            return True
        if self.stream is not None and self.max_bytes > 0:
            return self.stream.tell() >= self.max_bytes
        return False


def component_log_path(component: str, settings: Settings | None = None) -> Path:
    settings = settings or Settings.from_env()
    return settings.log_dir / f"{_COMPONENT.sub('_', component)}.log"


def cleanup_logs(component: str, settings: Settings) -> list[Path]:
    """Delete rotated files of ``component`` beyond ``log_max_files``; return what was deleted."""
    if not settings.log_cleanup:
        return []
    base = component_log_path(component, settings)
    rotated = sorted(base.parent.glob(base.name + ".*"), key=lambda p: p.stat().st_mtime, reverse=True)
    doomed = rotated[settings.log_max_files :]
    for path in doomed:
        path.unlink(missing_ok=True)
    return doomed


def get_logger(component: str, settings: Settings | None = None, *, to_file: bool = True) -> logging.Logger:
    """Logger for ``component`` writing to its own file under ``LOG_DIR``."""
    settings = settings or Settings.from_env()
    name = f"marketdata.{_COMPONENT.sub('_', component)}"
    with _lock:
        logger = _configured.get(name)
        if logger is not None:
            return logger
        logger = logging.getLogger(name)
        logger.setLevel(settings.log_level)
        logger.propagate = True  # stderr handling (and pytest's caplog) via the root logger
        if to_file:
            path = component_log_path(component, settings)
            path.parent.mkdir(parents=True, exist_ok=True)
            cleanup_logs(component, settings)
            handler = _RotatingFileHandler(
                path,
                backup_count=settings.log_max_files if settings.log_cleanup else 0,
                max_bytes=50 * 1024 * 1024,
            )
            handler.setFormatter(logging.Formatter(_FORMAT))
            logger.addHandler(handler)
        _configured[name] = logger
        return logger


def close_logger(component: str) -> None:
    """Close and forget the file handler of ``component`` (used on collector removal and in tests)."""
    name = f"marketdata.{_COMPONENT.sub('_', component)}"
    with _lock:
        logger = _configured.pop(name, None)
    if logger is None:
        return
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
