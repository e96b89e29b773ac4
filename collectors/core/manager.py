"""CollectorManager: runs several collectors in one process with a global health check."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import time
from dataclasses import dataclass, field, replace
from typing import Any

import psutil

from collectors.core.base import BaseDataCollector, validate_symbols
from collectors.core.errors import ConfigurationError
from collectors.core.logging import get_logger
from collectors.core.types import CollectorStatus, DataType


@dataclass(frozen=True)
class CollectorConfig:
    """How the manager runs one collector."""

    name: str
    exchange: str
    symbols: list[str]
    data_types: list[str] = field(default_factory=lambda: ["candle"])
    auto_restart: bool = True
    health_check_interval: float = 30.0
    enabled: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ConfigurationError(f"name must be a non-empty string, got {self.name!r}")
        if not isinstance(self.exchange, str) or not self.exchange.strip():
            raise ConfigurationError(f"exchange must be a non-empty string, got {self.exchange!r}")
        object.__setattr__(self, "symbols", validate_symbols(self.symbols))
        if not self.data_types:
            raise ConfigurationError("data_types must not be empty")
        object.__setattr__(self, "data_types", [DataType.parse(t).value for t in self.data_types])
        if isinstance(self.health_check_interval, bool) or not isinstance(self.health_check_interval, int | float) \
                or self.health_check_interval <= 0:
            raise ConfigurationError(
                f"health_check_interval must be a number > 0 (seconds), got {self.health_check_interval!r}"
            )


@dataclass
class _Entry:
    collector: BaseDataCollector
    config: CollectorConfig
    last_restart: float = 0.0  # monotonic


class CollectorManager:
    """Supervises collectors: start/stop together, global health check, restart of failed ones."""

    def __init__(
        self,
        manager_name: str = "collector_manager",
        global_health_check_interval: float = 60.0,
        restart_delay: float = 5.0,
    ) -> None:
        if isinstance(global_health_check_interval, bool) or not isinstance(global_health_check_interval, int | float) \
                or global_health_check_interval <= 0:
            raise ConfigurationError(
                f"global_health_check_interval must be a number > 0 (seconds), got {global_health_check_interval!r}"
            )
        if isinstance(restart_delay, bool) or not isinstance(restart_delay, int | float) or restart_delay < 0:
            raise ConfigurationError(f"restart_delay must be a number >= 0 (seconds), got {restart_delay!r}")
        self.manager_name = manager_name
        self.global_health_check_interval = float(global_health_check_interval)
        self.restart_delay = float(restart_delay)
        self.logger = get_logger(manager_name)
        self._entries: dict[str, _Entry] = {}
        self._running = False
        self._started_at: float | None = None
        self._health_task: asyncio.Task[None] | None = None
        self._restarts_performed = 0
        self._last_global_check: float | None = None
        self._process = psutil.Process(os.getpid())
        self._process.cpu_percent(None)  # prime: the first reading is always 0.0

    # ------------------------------------------------------------------ membership
    def add_collector(self, collector: BaseDataCollector, config: CollectorConfig | None = None) -> None:
        if config is None:
            config = CollectorConfig(
                name=self._unique_name(collector.component_name),
                exchange=collector.exchange_name,
                symbols=list(collector.symbols),
                data_types=[t.value for t in collector.data_types],
                auto_restart=collector.auto_restart,
                health_check_interval=collector.health_check_interval,
            )
        if config.name in self._entries:
            raise ConfigurationError(f"a collector named {config.name!r} is already managed")
        collector.auto_restart = config.auto_restart
        collector.health_check_interval = config.health_check_interval
        self._entries[config.name] = _Entry(collector, config)
        self.logger.info("added collector %s (%s, enabled=%s)", config.name, config.exchange, config.enabled)
        if self._running and config.enabled:
            asyncio.get_running_loop().create_task(self._start_one(config.name))

    def _unique_name(self, base: str) -> str:
        name, n = base, 2
        while name in self._entries:
            name, n = f"{base}_{n}", n + 1
        return name

    def remove_collector(self, collector_name: str) -> bool:
        entry = self._entries.pop(collector_name, None)
        if entry is None:
            return False
        if entry.collector.is_running:
            asyncio.get_running_loop().create_task(entry.collector.stop())
        return True

    def enable_collector(self, collector_name: str) -> bool:
        entry = self._entries.get(collector_name)
        if entry is None:
            return False
        if not entry.config.enabled:
            entry.config = replace(entry.config, enabled=True)
            if self._running:
                asyncio.get_running_loop().create_task(self._start_one(collector_name))
        return True

    def disable_collector(self, collector_name: str) -> bool:
        entry = self._entries.get(collector_name)
        if entry is None:
            return False
        entry.config = replace(entry.config, enabled=False)
        if entry.collector.is_running or entry.collector.status is not CollectorStatus.STOPPED:
            asyncio.get_running_loop().create_task(entry.collector.stop())
        return True

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> bool:
        """Start every enabled collector; True when all of them started."""
        self._running = True
        self._started_at = time.monotonic()
        names = [name for name, entry in self._entries.items() if entry.config.enabled]
        results = await asyncio.gather(*(self._start_one(name) for name in names))
        self._health_task = asyncio.create_task(self._health_loop(), name=f"{self.manager_name}-health")
        self.logger.info("started %d/%d enabled collectors", sum(results), len(names))
        return all(results)

    async def stop(self) -> None:
        self._running = False
        if self._health_task is not None:
            self._health_task.cancel()
            await asyncio.gather(self._health_task, return_exceptions=True)
            self._health_task = None
        await asyncio.gather(*(entry.collector.stop() for entry in self._entries.values()), return_exceptions=True)
        self.logger.info("stopped")

    # Seed aliases.
    start_all = start
    stop_all = stop

    async def _start_one(self, name: str) -> bool:
        entry = self._entries.get(name)
        if entry is None:
            return False
        return await entry.collector.start()

    async def restart_collector(self, collector_name: str) -> bool:
        entry = self._entries.get(collector_name)
        if entry is None:
            return False
        entry.last_restart = time.monotonic()
        ok = await entry.collector.restart()
        self._restarts_performed += 1
        self.logger.info("restarted %s: %s", collector_name, "ok" if ok else "failed")
        return ok

    async def restart_all_collectors(self) -> dict[str, bool]:
        names = [name for name, entry in self._entries.items() if entry.config.enabled]
        results = await asyncio.gather(*(self.restart_collector(name) for name in names))
        return dict(zip(names, results, strict=True))

    async def _health_loop(self) -> None:
        while self._running:
            await asyncio.sleep(self.global_health_check_interval)
            await self.check_health_once()

    async def check_health_once(self) -> list[str]:
        """Restart enabled collectors that failed or stopped; return the names restarted."""
        self._last_global_check = time.time()
        restarted: list[str] = []
        now = time.monotonic()
        for name, entry in list(self._entries.items()):
            collector = entry.collector
            if not entry.config.enabled or not entry.config.auto_restart:
                continue
            needs_restart = collector.status in (CollectorStatus.ERROR, CollectorStatus.UNHEALTHY) or (
                collector.status is CollectorStatus.STOPPED and self._running
            )
            if not needs_restart or now - entry.last_restart < self.restart_delay:
                continue
            self.logger.warning("global health check: %s is %s; restarting", name, collector.status.value)
            await self.restart_collector(name)
            restarted.append(name)
        return restarted

    # ------------------------------------------------------------------ status
    def list_collectors(self) -> list[str]:
        return list(self._entries)

    def get_collector_status(self, collector_name: str) -> dict[str, Any] | None:
        entry = self._entries.get(collector_name)
        if entry is None:
            return None
        status = entry.collector.get_status()
        status["name"] = collector_name
        status["enabled"] = entry.config.enabled
        return status

    def get_running_collectors(self) -> list[str]:
        return [name for name, entry in self._entries.items() if entry.collector.is_running]

    def get_failed_collectors(self) -> list[str]:
        return [
            name
            for name, entry in self._entries.items()
            if entry.config.enabled and entry.collector.status in (CollectorStatus.ERROR, CollectorStatus.UNHEALTHY)
        ]

    def get_status(self) -> dict[str, Any]:
        uptime = None if self._started_at is None or not self._running else round(time.monotonic() - self._started_at, 3)
        memory = self._process.memory_info()
        failed = self.get_failed_collectors()
        running = self.get_running_collectors()
        return {
            "manager_name": self.manager_name,
            "running": self._running,
            "uptime_seconds": uptime,
            "statistics": {
                "total_collectors": len(self._entries),
                "enabled_collectors": sum(1 for e in self._entries.values() if e.config.enabled),
                "running_collectors": len(running),
                "failed_collectors": len(failed),
                "restarts_performed": self._restarts_performed,
                "uptime_seconds": uptime,
                "last_global_check": None
                if self._last_global_check is None
                else dt.datetime.fromtimestamp(self._last_global_check, tz=dt.UTC).isoformat(),
            },
            "system": {
                "uptime_seconds": uptime,
                "host_uptime_seconds": round(time.time() - psutil.boot_time(), 1),
                "process_cpu_percent": self._process.cpu_percent(None),
                "process_memory_rss_bytes": memory.rss,
                "process_memory_percent": round(self._process.memory_percent(), 3),
            },
            "running_collectors": running,
            "failed_collectors": failed,
            "collectors": {name: self.get_collector_status(name) for name in self._entries},
        }
