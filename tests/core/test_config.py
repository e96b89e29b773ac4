"""Configuration, environment settings, validation and logging: bad input gets a clear error."""

from __future__ import annotations

import datetime as dt
import logging
import os
import random
from decimal import Decimal

import pytest

from collectors import (
    CollectorConfig,
    ConfigurationError,
    DataType,
    DataValidationError,
    ExchangeCollectorConfig,
    ExchangeFactory,
    OHLCVData,
    Settings,
)
from collectors.core.backoff import Backoff
from collectors.core.logging import cleanup_logs, close_logger, component_log_path, get_logger
from tests.core.test_seed_example import MyExchangeCollector


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("LOG_LEVEL", "LOUD", "LOG_LEVEL must be one of"),
        ("LOG_CLEANUP", "maybe", "LOG_CLEANUP must be true or false"),
        ("LOG_MAX_FILES", "0", "LOG_MAX_FILES must be a whole number >= 1"),
        ("LOG_MAX_FILES", "ten", "LOG_MAX_FILES must be a whole number >= 1"),
        ("DEFAULT_HEALTH_CHECK_INTERVAL", "0", "DEFAULT_HEALTH_CHECK_INTERVAL must be a number > 0"),
        ("MAX_SILENCE_DURATION", "-1", "MAX_SILENCE_DURATION must be a number > 0"),
        ("MAX_SILENCE_DURATION", "nan", "MAX_SILENCE_DURATION must be a number > 0"),
        ("MAX_RECONNECT_ATTEMPTS", "2.5", "MAX_RECONNECT_ATTEMPTS must be a whole number >= 0"),
        ("RECONNECT_DELAY", "soon", "RECONNECT_DELAY must be a number >= 0"),
    ],
)
def test_invalid_environment_value_names_the_variable(variable: str, value: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message) as info:
        Settings.from_env({variable: value})
    assert repr(value) in str(info.value)


def test_environment_values_are_honoured() -> None:
    settings = Settings.from_env(
        {
            "LOG_LEVEL": "warn",
            "LOG_CLEANUP": "false",
            "LOG_MAX_FILES": "7",
            "DEFAULT_HEALTH_CHECK_INTERVAL": "15",
            "MAX_SILENCE_DURATION": "42.5",
            "MAX_RECONNECT_ATTEMPTS": "9",
            "RECONNECT_DELAY": "0.25",
        }
    )
    assert settings.log_level == "WARNING"
    assert settings.log_cleanup is False
    assert settings.log_max_files == 7
    assert settings.default_health_check_interval == 15.0
    assert settings.max_silence_duration == 42.5
    assert settings.max_reconnect_attempts == 9
    assert settings.reconnect_delay == 0.25


def test_collector_start_up_fails_on_invalid_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAX_RECONNECT_ATTEMPTS", "lots")
    with pytest.raises(ConfigurationError, match="MAX_RECONNECT_ATTEMPTS"):
        MyExchangeCollector(["BTC-USDT"])


def test_collector_takes_its_limits_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAX_SILENCE_DURATION", "12")
    monkeypatch.setenv("MAX_RECONNECT_ATTEMPTS", "3")
    collector = MyExchangeCollector(["BTC-USDT"])
    assert collector.max_silence_duration == 12.0
    assert collector.max_reconnect_attempts == 3
    assert collector.get_status()["health"]["max_silence_duration"] == 12.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"exchange": "kraken", "symbol": "BTC-USDT"}, "exchange: 'kraken' is not supported; supported exchanges: "),
        ({"exchange": "okx", "symbols": []}, "symbols must not be empty"),
        ({"exchange": "okx", "symbols": ["BTC USDT"]}, "malformed symbol"),
        ({"exchange": "okx", "symbols": ["btc_usdt"]}, "not a valid okx symbol"),
        ({"exchange": "okx", "symbol": "BTC-USDT", "data_types": ["quotes"]}, "allowed values: ticker, trade"),
        ({"exchange": "okx", "symbol": "BTC-USDT", "data_types": ["balance"]}, "'balance' is not supported by okx"),
        ({"exchange": "okx", "symbol": "BTC-USDT", "health_check_interval": -5}, "health_check_interval must be"),
        ({"exchange": "okx", "symbol": "BTC-USDT", "reconnect_delay": -1}, "reconnect_delay must be"),
        ({"exchange": "okx", "symbol": "BTC-USDT", "endpoint": "okx.com"}, "endpoint must be 'live', 'simulator'"),
        (
            {"exchange": "okx", "symbol": "BTC-USDT", "data_types": ["candle"], "candle_timeframes": ["7m"]},
            "candle_timeframes: '7m'",
        ),
    ],
)
def test_factory_rejects_invalid_config_naming_the_field(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ExchangeFactory.create_collector(ExchangeCollectorConfig(**kwargs))


def test_config_from_dict_rejects_unknown_fields() -> None:
    with pytest.raises(ConfigurationError, match="unknown field\\(s\\) symbl; allowed fields: "):
        ExchangeCollectorConfig.from_dict({"exchange": "okx", "symbl": "BTC-USDT"})


def test_collector_config_validates_data_types() -> None:
    with pytest.raises(ValueError, match="unknown data type 'tick'"):
        CollectorConfig(name="x", exchange="okx", symbols=["BTC-USDT"], data_types=["tick"])
    config = CollectorConfig(name="x", exchange="okx", symbols=["BTC-USDT"], data_types=["TICKER", DataType.TRADE])
    assert config.data_types == ["ticker", "trade"]


def test_factory_lists_okx_and_accepts_custom_exchanges() -> None:
    assert "okx" in ExchangeFactory.get_supported_exchanges()

    class Custom(MyExchangeCollector):
        @classmethod
        def from_exchange_config(cls, config: ExchangeCollectorConfig) -> Custom:
            return cls(list(config.symbols or []))

    ExchangeFactory.register_exchange("my_exchange", Custom, data_types=[DataType.TICKER])
    try:
        with pytest.raises(ConfigurationError, match="already registered"):
            ExchangeFactory.register_exchange("my_exchange", Custom, data_types=[DataType.TICKER])
        collectors = ExchangeFactory.create_multiple_collectors(
            [ExchangeCollectorConfig(exchange="my_exchange", symbols=["A-B"], data_types=["ticker"])]
        )
        assert isinstance(collectors[0], Custom) and collectors[0].symbols == ["A-B"]
        assert "my_exchange" in ExchangeFactory.get_supported_exchanges()
        # One bad config in a batch creates nothing.
        with pytest.raises(ConfigurationError, match="'trade' is not supported by my_exchange"):
            ExchangeFactory.create_multiple_collectors(
                [
                    ExchangeCollectorConfig(exchange="my_exchange", symbols=["A-B"], data_types=["ticker"]),
                    ExchangeCollectorConfig(exchange="my_exchange", symbols=["A-B"], data_types=["trade"]),
                ]
            )
    finally:
        ExchangeFactory.unregister_exchange("my_exchange")


def _collector() -> MyExchangeCollector:
    return MyExchangeCollector(["BTC-USDT"])


def test_validate_ohlcv_accepts_a_good_candle() -> None:
    candle = _collector().validate_ohlcv_data(
        {"timestamp": 1_700_000_040_000, "open": "10.5", "high": "11", "low": "10", "close": "10.75", "volume": "3.25"},
        "BTC-USDT",
        "1m",
    )
    assert candle == OHLCVData(
        symbol="BTC-USDT",
        timeframe="1m",
        timestamp=dt.datetime(2023, 11, 14, 22, 14, tzinfo=dt.UTC),
        open=Decimal("10.5"),
        high=Decimal("11"),
        low=Decimal("10"),
        close=Decimal("10.75"),
        volume=Decimal("3.25"),
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"high": "9"}, "high 9 is below low 10"),
        ({"volume": "-1"}, "volume must be >= 0"),
        ({"open": "abc"}, "open must be numeric, got 'abc'"),
        ({"close": None}, "close must be numeric"),
        ({"close": "12"}, "close 12 outside"),
        ({"timestamp": "yesterday"}, "unreadable timestamp"),
    ],
)
def test_validate_ohlcv_rejects_bad_candles(change: dict, message: str) -> None:
    data = {"timestamp": 1_700_000_040_000, "open": "10.5", "high": "11", "low": "10", "close": "10.75", "volume": "1"}
    data.update(change)
    with pytest.raises(DataValidationError, match=message):
        _collector().validate_ohlcv_data(data, "BTC-USDT", "1m")


def test_validate_ohlcv_names_missing_fields_and_bad_timeframe() -> None:
    with pytest.raises(DataValidationError, match="missing field\\(s\\) high, volume"):
        _collector().validate_ohlcv_data({"timestamp": 1, "open": 1, "low": 1, "close": 1}, "BTC-USDT", "1m")
    with pytest.raises(DataValidationError, match="invalid timeframe 'minute'"):
        _collector().validate_ohlcv_data({}, "BTC-USDT", "minute")


def test_backoff_is_capped_exponential_with_jitter() -> None:
    backoff = Backoff(initial=1.0, maximum=8.0, jitter=0.5, rng=random.Random(7))
    delays = [backoff.delay(n) for n in range(8)]
    for n, delay in enumerate(delays):
        ceiling = min(8.0, 2.0**n)
        assert ceiling / 2 <= delay <= ceiling
    assert max(delays) <= 8.0
    assert len({round(d, 6) for d in delays[4:]}) > 1  # jittered, not lock-step at the cap
    assert Backoff(initial=0.0).delay(3) == 0.0


def test_component_logs_rotate_and_clean_up(tmp_path) -> None:
    settings = Settings.from_env({"LOG_DIR": str(tmp_path), "LOG_MAX_FILES": "2", "LOG_CLEANUP": "true"})
    path = component_log_path("okx_test", settings)
    for n in range(5):
        rotated = tmp_path / f"okx_test.log.2026-01-0{n + 1}_00-00-00"
        rotated.write_text("old")
        os.utime(rotated, (1_000_000 + n, 1_000_000 + n))
    deleted = cleanup_logs("okx_test", settings)
    assert sorted(p.name for p in deleted) == [f"okx_test.log.2026-01-0{n}_00-00-00" for n in (1, 2, 3)]
    logger = get_logger("okx_test", settings)
    try:
        logger.warning("hello from the test")
        for handler in logger.handlers:
            handler.flush()
        assert "hello from the test" in path.read_text()
        handler = logger.handlers[0]
        assert isinstance(handler, logging.Handler) and handler.backupCount == 2  # type: ignore[attr-defined]
    finally:
        close_logger("okx_test")
