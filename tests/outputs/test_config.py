"""build_sinks: composable outputs from configuration, strict validation, lazy storage import."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from collectors.core.errors import ConfigurationError
from collectors.core.types import DataType, MarketDataPoint
from collectors.outputs import CallbackSink, RedisPubSubSink, RedisStreamSink, build_sinks

RECEIVED: list[MarketDataPoint] = []


def remember(point: MarketDataPoint) -> None:  # target of the callback config below
    RECEIVED.append(point)


def test_every_sink_type_from_one_config(tmp_path: Path) -> None:
    from storage.writer import TimescaleSink

    sinks = build_sinks(
        [
            {
                "type": "timescaledb",
                "dsn": "postgresql://u:secret@db:5432/marketdata",
                "book_depth": 20,
                "spill_dir": str(tmp_path),
            },
            {"type": "redis_pubsub", "url": "redis://127.0.0.1:6379/0"},
            {"type": "redis_stream", "url": "redis://127.0.0.1:6379/0", "maxlen": 100000},
            {"type": "callback", "callable": "tests.outputs.test_config:remember", "data_types": ["trade"]},
            {"type": "redis_stream", "name": "trades_only", "data_types": ["trade"], "prefix": "mdx"},
        ]
    )

    assert [type(sink) for sink in sinks] == [
        TimescaleSink,
        RedisPubSubSink,
        RedisStreamSink,
        CallbackSink,
        RedisStreamSink,
    ]
    assert [sink.name for sink in sinks] == [
        "timescaledb",
        "redis_pubsub",
        "redis_stream",
        "callback",
        "trades_only",
    ]
    timescale = sinks[0].describe()
    assert timescale["database"] == "postgresql://u:***@db:5432/marketdata"  # never the password
    assert timescale["state"] == "stopped"
    assert sinks[0].writer.config.book_depth == 20  # type: ignore[attr-defined]
    assert sinks[2].describe()["maxlen"] == 100000


async def test_a_configured_callback_is_called_for_its_data_types() -> None:
    (sink,) = build_sinks(
        [{"type": "callback", "callable": "tests.outputs.test_config:remember", "data_types": ["trade"]}]
    )
    RECEIVED.clear()
    trade_point = MarketDataPoint("okx", "BTC-USDT", dt.datetime.now(dt.UTC), DataType.TRADE, {"id": 1})
    await sink.handle(trade_point)
    await sink.handle(
        MarketDataPoint("okx", "BTC-USDT", dt.datetime.now(dt.UTC), DataType.TICKER, {"last": 1})
    )

    assert RECEIVED == [trade_point]
    assert sink.describe()["calls"] == 1


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            [{"type": "kafka"}],
            "sinks[0].type: unknown sink type 'kafka'; "
            "allowed values: callback, redis_pubsub, redis_stream, timescaledb",
        ),
        ([{"dsn": "x"}], "sinks[0].type: unknown sink type None; allowed values:"),
        (
            [{"type": "timescaledb", "book_dept": 20}],
            "sinks[0]: unknown field 'book_dept' for sink type 'timescaledb'; "
            "allowed fields: type, dsn, name, book_depth",
        ),
        (
            [{"type": "redis_stream", "max_len": 5}],
            "sinks[0]: unknown field 'max_len' for sink type 'redis_stream'; "
            "allowed fields: type, url, name, prefix",
        ),
        (
            [{"type": "timescaledb", "book_depth": "20"}],
            "sinks[0] (timescaledb): Expected `int`, got `str` - at `$.book_depth`",
        ),
        (
            [{"type": "timescaledb", "book_depth": 0}],
            "sinks[0] (timescaledb): book_depth must be a whole number >= 1",
        ),
        ([{"type": "timescaledb", "max_batch_delay": -1}], "max_batch_delay must be a number > 0"),
        (
            [{"type": "timescaledb", "tables": ["trade"]}],
            "tables: unknown table(s) ['trade']; allowed values: trades",
        ),
        (
            [{"type": "redis_stream", "maxlen": 0}],
            "sinks[0] (redis_stream): maxlen must be a whole number >= 1",
        ),
        (
            [{"type": "redis_pubsub", "data_types": ["trades"]}],
            "unknown data type 'trades'; allowed values: ticker, trade, orderbook",
        ),
        (
            [{"type": "callback", "callable": "no.such.module:f"}],
            "sinks[0] (callback): callable 'no.such.module:f' cannot",
        ),
        ([{"type": "callback"}], "sinks[0] (callback): Object missing required field `callable`"),
        (
            [{"type": "redis_pubsub"}, {"type": "redis_pubsub"}],
            "sinks[1].name: duplicate output name 'redis_pubsub'",
        ),
        ({"type": "redis_pubsub"}, "sinks: expected a list of objects, got dict"),
        (["redis_pubsub"], "sinks[0]: expected an object with a 'type' field, got str"),
    ],
)
def test_bad_configs_name_the_field_and_the_allowed_values(config: Any, message: str) -> None:
    with pytest.raises(ConfigurationError) as error:
        build_sinks(config)

    assert isinstance(error.value, ValueError)
    assert message in str(error.value)


def test_redis_only_outputs_do_not_import_the_storage_layer() -> None:
    code = (
        "import sys\n"
        "from collectors.outputs import build_sinks\n"
        "build_sinks([{'type': 'redis_pubsub'}, {'type': 'redis_stream'}])\n"
        "assert 'storage' not in sys.modules and 'asyncpg' not in sys.modules, sorted(sys.modules)\n"
        "build_sinks([{'type': 'timescaledb'}])\n"
        "assert 'storage.writer' in sys.modules\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
    )

    assert result.returncode == 0, result.stderr
