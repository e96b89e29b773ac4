"""Environment settings (see README "Configuration").

Values are read once, validated, and frozen. An invalid value raises
``ConfigurationError`` naming the variable, so a bad deployment fails at start-up
instead of misbehaving later.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from collectors.core.errors import ConfigurationError

_LOG_LEVELS = {"DEBUG", "INFO", "WARN", "WARNING", "ERROR", "CRITICAL"}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True, slots=True)
class Settings:
    log_level: str = "INFO"
    log_cleanup: bool = True
    log_max_files: int = 30
    log_dir: Path = Path("logs")
    default_health_check_interval: float = 30.0
    max_silence_duration: float = 300.0
    max_reconnect_attempts: int = 5
    reconnect_delay: float = 5.0
    reconnect_max_delay: float = 60.0
    market_data_endpoint: str = "live"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        defaults = cls()
        level = env.get("LOG_LEVEL", defaults.log_level).strip().upper()
        if level not in _LOG_LEVELS:
            raise ConfigurationError(
                f"LOG_LEVEL must be one of {', '.join(sorted(_LOG_LEVELS))}, got {env['LOG_LEVEL']!r}"
            )
        settings = cls(
            log_level="WARNING" if level == "WARN" else level,
            log_cleanup=_bool(env, "LOG_CLEANUP", defaults.log_cleanup),
            log_max_files=_int(env, "LOG_MAX_FILES", defaults.log_max_files, minimum=1),
            log_dir=Path(env.get("LOG_DIR", str(defaults.log_dir))),
            default_health_check_interval=_float(
                env, "DEFAULT_HEALTH_CHECK_INTERVAL", defaults.default_health_check_interval, positive=True
            ),
            max_silence_duration=_float(env, "MAX_SILENCE_DURATION", defaults.max_silence_duration, positive=True),
            max_reconnect_attempts=_int(env, "MAX_RECONNECT_ATTEMPTS", defaults.max_reconnect_attempts, minimum=0),
            reconnect_delay=_float(env, "RECONNECT_DELAY", defaults.reconnect_delay),
            reconnect_max_delay=_float(env, "RECONNECT_MAX_DELAY", defaults.reconnect_max_delay),
            market_data_endpoint=env.get("MARKET_DATA_ENDPOINT", defaults.market_data_endpoint).strip(),
        )
        if settings.reconnect_max_delay < settings.reconnect_delay:
            raise ConfigurationError(
                f"RECONNECT_MAX_DELAY ({settings.reconnect_max_delay}) must not be below "
                f"RECONNECT_DELAY ({settings.reconnect_delay})"
            )
        if not settings.market_data_endpoint:
            raise ConfigurationError("MARKET_DATA_ENDPOINT must be 'live', 'simulator' or a URL, got ''")
        return settings


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigurationError(f"{name} must be true or false, got {raw!r}")


def _int(env: Mapping[str, str], name: str, default: int, *, minimum: int) -> int:
    raw = env.get(name)
    if raw is None:
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ConfigurationError(f"{name} must be a whole number >= {minimum}, got {raw!r}") from None
    if value < minimum:
        raise ConfigurationError(f"{name} must be a whole number >= {minimum}, got {raw!r}")
    return value


def _float(env: Mapping[str, str], name: str, default: float, *, positive: bool = False) -> float:
    raw = env.get(name)
    if raw is None:
        return default
    what = "a number > 0 (seconds)" if positive else "a number >= 0 (seconds)"
    try:
        value = float(raw.strip())
    except ValueError:
        raise ConfigurationError(f"{name} must be {what}, got {raw!r}") from None
    if value != value or value in (float("inf"), float("-inf")) or value < 0 or (positive and value == 0):
        raise ConfigurationError(f"{name} must be {what}, got {raw!r}")
    return value
