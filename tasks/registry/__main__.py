"""Command line of the collector registry.

    python -m tasks.registry list [--json]
    python -m tasks.registry add NAME --exchange okx --symbols BTC-USDT,ETH-USDT [--data-types trade]
                                      [--sink timescaledb --sink redis_pubsub] [--endpoint simulator]
                                      [--silence-timeout 30] [--disabled] [--replace]
    python -m tasks.registry remove NAME
    python -m tasks.registry enable NAME        # also clears a failure and the restart count
    python -m tasks.registry disable NAME
    python -m tasks.registry load FILE [--merge] [--dry-run]
    python -m tasks.registry status [NAME] [--json]

Connects to ``REDIS_URL`` with the key prefix ``MARKETDATA_REDIS_PREFIX``. Changes take
effect on the next health check (``HEALTH_CHECK_INTERVAL``); a stop is seen by the running
collector within ``COLLECTOR_TICK``. Exit status: 0 done, 1 not found, 2 invalid input,
3 Redis unreachable.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

import redis

from collectors.core.errors import ConfigurationError
from tasks.config_file import CollectorSpec, load_file
from tasks.registry import Registry
from tasks.registry.status import system_status


def _csv(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tasks.registry", description="Manage the collector registry."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("list", help="desired collectors and their derived state")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = sub.add_parser("add", help="add a collector (or change one with --replace)")
    p.add_argument("name")
    p.add_argument("--exchange", required=True)
    p.add_argument("--symbols", required=True, type=_csv, help="comma-separated, e.g. BTC-USDT,ETH-USDT")
    p.add_argument("--data-types", type=_csv, default=["trade"], help="comma-separated (default trade)")
    p.add_argument("--sink", action="append", default=[], metavar="TYPE",
                   help="output type, repeatable (timescaledb, redis_pubsub, redis_stream)")  # fmt: skip
    p.add_argument("--endpoint", default=None, help="live, simulator or ws://host:port")
    p.add_argument(
        "--silence-timeout", type=float, default=None, help="seconds without data before a restart"
    )
    p.add_argument("--disabled", action="store_true", help="add it disabled")
    p.add_argument("--replace", action="store_true", help="replace an existing collector of that name")

    for command, text in (("remove", "remove a collector (a running one stops)"),
                          ("enable", "enable a collector; clears a failure and the restart count"),
                          ("disable", "disable a collector (a running one stops)")):  # fmt: skip
        sub.add_parser(command, help=text).add_argument("name")

    p = sub.add_parser("load", help="make the desired state equal to a YAML/JSON file")
    p.add_argument("file")
    p.add_argument("--merge", action="store_true", help="keep collectors that the file does not list")
    p.add_argument("--dry-run", action="store_true", help="validate only")

    p = sub.add_parser("status", help="cluster status (same keys as CollectorManager.get_status())")
    p.add_argument("name", nargs="?", help="only this collector")
    p.add_argument("--json", action="store_true", help="print JSON")
    return parser


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, sort_keys=True, default=str))


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows)


def run(args: argparse.Namespace, registry: Registry) -> int:
    command = args.command
    if command == "add":
        spec = CollectorSpec.from_dict(
            {
                "name": args.name,
                "exchange": args.exchange,
                "symbols": args.symbols,
                "data_types": args.data_types,
                "sinks": [{"type": kind} for kind in args.sink],
                "enabled": not args.disabled,
                "endpoint": args.endpoint,
                "silence_timeout": args.silence_timeout,
            },
            where="collector",
        )
        try:
            created = registry.put(spec, replace=args.replace)
        except KeyError as exc:
            print(f"error: {exc.args[0]}", file=sys.stderr)
            return 2
        print(f"{'added' if created else 'replaced'} {spec.name}")
        return 0
    if command in ("remove", "enable", "disable"):
        if command == "remove":
            ok = registry.remove(args.name)
        else:
            ok = registry.set_enabled(args.name, command == "enable")
        if not ok:
            print(f"error: no collector named {args.name!r}", file=sys.stderr)
            return 1
        print(f"{command}d {args.name}" if command != "remove" else f"removed {args.name}")
        return 0
    if command == "load":
        specs = load_file(args.file)
        if args.dry_run:
            print(f"{args.file}: {len(specs)} valid collector(s): {', '.join(s.name for s in specs)}")
            return 0
        result = registry.load(specs, merge=args.merge)
        for label in ("added", "updated", "unchanged", "removed"):
            names = getattr(result, label)
            if names:
                print(f"{label}: {', '.join(names)}")
        return 0
    status = system_status(registry)
    if command == "status" and args.name:
        entry = status["collectors"].get(args.name)
        if entry is None:
            print(f"error: no collector named {args.name!r}", file=sys.stderr)
            return 1
        _print_json(entry)
        return 0
    if args.json:
        _print_json(
            status
            if command == "status"
            else {n: c["orchestration"] for n, c in status["collectors"].items()}
        )
        return 0
    rows = [["NAME", "STATE", "EXCHANGE", "SYMBOLS", "WORKER", "TOKEN", "RESTARTS", "SINCE DATA"]]
    for name, entry in status["collectors"].items():
        orch = entry["orchestration"]
        lease = orch["lease"] or {}
        since = orch["seconds_since_data"]
        rows.append([
            name, orch["state"], str(entry.get("exchange") or ""), ",".join(entry.get("symbols") or []),
            str(lease.get("hostname", "")), str(lease.get("token", "")),
            f"{orch['restarts']['consecutive']}/{orch['restarts']['total']}",
            "" if since is None else f"{since:.1f}s",
        ])  # fmt: skip
    print(_table(rows))
    if command == "status":
        stats = status["statistics"]
        print(
            f"\nhealth check: {'active' if status['running'] else 'NOT RUNNING'} "
            f"(last {stats['last_global_check'] or 'never'}); running {stats['running_collectors']}/"
            f"{stats['enabled_collectors']} enabled; failed {stats['failed_collectors']}; "
            f"restarts performed {stats['restarts_performed']}"
        )
        for name in status["failed_collectors"]:
            print(f"failed: {name}: {status['collectors'][name]['orchestration']['failure']}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    registry = Registry.from_settings()
    try:
        return run(args, registry)
    except ConfigurationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except redis.RedisError as exc:
        print(f"error: Redis at {registry.settings.redis_url}: {exc}", file=sys.stderr)
        return 3
    finally:
        registry.client.close()


if __name__ == "__main__":
    sys.exit(main())
