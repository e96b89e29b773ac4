"""Records for storage tests (synthetic on purpose: the storage layer is exchange-neutral)."""

from __future__ import annotations

from decimal import Decimal

from collectors.core.records import Balance, BookSnapshot, Candle, Ticker, Trade

T0_NS = 1_798_761_600_000_000_000  # 2027-01-01T00:00:00Z
MS = 1_000_000


def make_trades(
    count: int,
    *,
    exchange: str = "testex",
    symbol: str = "BTC-USDT",
    first_id: int = 1_000,
    start_ns: int = T0_NS,
    step_ns: int = MS,
    per_ms: int = 1,
) -> list[Trade]:
    """``count`` trades with consecutive ids; ``per_ms`` trades share each millisecond (ties)."""
    trades = []
    for index in range(count):
        event_ns = start_ns + (index // per_ms) * step_ns
        price = Decimal(30_000) + Decimal(index % 97) / 10 - Decimal(index % 13)
        size = Decimal(index % 7 + 1) / Decimal(1000) + Decimal("0.00010")
        trades.append(
            Trade(
                exchange,
                symbol,
                str(first_id + index),
                price,
                size,
                "buy" if index % 3 else "sell",
                event_ns,
                event_ns + 2 * MS,
            )
        )
    return trades


def make_ticker(
    event_ns: int, bid: str, ask: str, *, exchange: str = "testex", symbol: str = "BTC-USDT"
) -> Ticker:
    return Ticker(
        exchange,
        symbol,
        Decimal(bid),
        Decimal("0.5"),
        Decimal(bid),
        Decimal("1.25"),
        Decimal(ask),
        Decimal("2.5"),
        Decimal("29000"),
        Decimal("31000"),
        Decimal("28000"),
        Decimal("1234.5"),
        Decimal("37000000"),
        event_ns,
        event_ns + MS,
    )


def make_snapshot(
    event_ns: int,
    bids: list[tuple[str, str]],
    asks: list[tuple[str, str]],
    *,
    sequence: int | None = 1,
    exchange: str = "testex",
    symbol: str = "BTC-USDT",
) -> BookSnapshot:
    return BookSnapshot(
        exchange,
        symbol,
        [(Decimal(p), Decimal(s)) for p, s in bids],
        [(Decimal(p), Decimal(s)) for p, s in asks],
        sequence,
        event_ns,
        event_ns + MS,
    )


def make_candle(open_ns: int, close: str, *, closed: bool, receive_ns: int, volume: str = "1.5") -> Candle:
    return Candle(
        "testex",
        "BTC-USDT",
        "1m",
        open_ns,
        Decimal("100"),
        max(Decimal("100"), Decimal(close)),
        min(Decimal("100"), Decimal(close)),
        Decimal(close),
        Decimal(volume),
        Decimal("150"),
        closed,
        receive_ns,
    )


def make_balance(event_ns: int, currency: str = "USDT") -> Balance:
    return Balance(
        "testex", currency, Decimal("100.5"), Decimal("0.5"), Decimal("101"), event_ns, event_ns + MS
    )
