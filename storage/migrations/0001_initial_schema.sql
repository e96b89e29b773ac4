-- 0001 initial schema: hypertables for trades, tickers, order-book snapshots, candles, balances.
--
-- Conventions (docs/storage.md):
--   time          the exchange's event time (candles: the bar's open time); the partition column
--   receive_time  when the collector received the data
--   prices/sizes  numeric: the exchange's decimal strings without loss
-- Unique keys include time (TimescaleDB requires the partition column) and lead with
-- (exchange, symbol) so that one instrument over a time range is an index range scan.
-- No default time index (create_default_indexes => false): every query we serve filters
-- on exchange and symbol, and each extra index costs ingest speed.
-- Compression and retention policies are not here: they need the full (Timescale License)
-- edition and are applied by storage.edition after the migrations.

CREATE EXTENSION IF NOT EXISTS timescaledb;

-- Trades: idempotent on (exchange, symbol, trade id, time).
CREATE TABLE IF NOT EXISTS trades (
    time         timestamptz NOT NULL,
    exchange     text        NOT NULL,
    symbol       text        NOT NULL,
    trade_id     text        NOT NULL,
    price        numeric     NOT NULL CHECK (price > 0),
    size         numeric     NOT NULL CHECK (size >= 0),
    side         text        NOT NULL CHECK (side IN ('buy', 'sell')),  -- taker side
    fill_count   integer     NOT NULL DEFAULT 1 CHECK (fill_count >= 1),
    receive_time timestamptz NOT NULL
);
SELECT create_hypertable('trades', by_range('time', INTERVAL '1 day'),
                         create_default_indexes => false, if_not_exists => true);
CREATE UNIQUE INDEX IF NOT EXISTS trades_key ON trades (exchange, symbol, time, trade_id);

-- Tickers: one row per (exchange, symbol, exchange time); a repeat of the same time is ignored.
CREATE TABLE IF NOT EXISTS tickers (
    time             timestamptz NOT NULL,
    exchange         text        NOT NULL,
    symbol           text        NOT NULL,
    last_price       numeric,
    last_size        numeric,
    best_bid         numeric,
    best_bid_size    numeric,
    best_ask         numeric,
    best_ask_size    numeric,
    open_24h         numeric,
    high_24h         numeric,
    low_24h          numeric,
    volume_24h       numeric,
    quote_volume_24h numeric,
    receive_time     timestamptz NOT NULL
);
SELECT create_hypertable('tickers', by_range('time', INTERVAL '1 day'),
                         create_default_indexes => false, if_not_exists => true);
CREATE UNIQUE INDEX IF NOT EXISTS tickers_key ON tickers (exchange, symbol, time);

-- Order-book snapshots: the top N levels per side (N = the writer's book_depth), best first,
-- as parallel arrays (prices[i] goes with sizes[i]).
CREATE TABLE IF NOT EXISTS book_snapshots (
    time         timestamptz NOT NULL,
    exchange     text        NOT NULL,
    symbol       text        NOT NULL,
    sequence     bigint,                 -- the exchange's book sequence number, if it has one
    bid_prices   numeric[]   NOT NULL,   -- descending
    bid_sizes    numeric[]   NOT NULL,
    ask_prices   numeric[]   NOT NULL,   -- ascending
    ask_sizes    numeric[]   NOT NULL,
    receive_time timestamptz NOT NULL,
    CHECK (cardinality(bid_prices) = cardinality(bid_sizes)),
    CHECK (cardinality(ask_prices) = cardinality(ask_sizes))
);
SELECT create_hypertable('book_snapshots', by_range('time', INTERVAL '6 hours'),
                         create_default_indexes => false, if_not_exists => true);
CREATE UNIQUE INDEX IF NOT EXISTS book_snapshots_key
    ON book_snapshots (exchange, symbol, time, sequence) NULLS NOT DISTINCT;

-- Candles: upserted on (exchange, symbol, timeframe, open time); a closed bar is final.
CREATE TABLE IF NOT EXISTS candles (
    time         timestamptz NOT NULL,   -- open time of the bar
    exchange     text        NOT NULL,
    symbol       text        NOT NULL,
    timeframe    text        NOT NULL,   -- 1s, 1m, 5m, 1h, 1d, ...
    open         numeric     NOT NULL,
    high         numeric     NOT NULL,
    low          numeric     NOT NULL,
    close        numeric     NOT NULL,
    volume       numeric     NOT NULL,
    quote_volume numeric,
    closed       boolean     NOT NULL,   -- false while the bar is forming
    receive_time timestamptz NOT NULL
);
SELECT create_hypertable('candles', by_range('time', INTERVAL '7 days'),
                         create_default_indexes => false, if_not_exists => true);
CREATE UNIQUE INDEX IF NOT EXISTS candles_key ON candles (exchange, symbol, timeframe, time);

-- Balances: filled by the account collectors (a later issue); symbol holds the currency code.
CREATE TABLE IF NOT EXISTS balances (
    time         timestamptz NOT NULL,
    exchange     text        NOT NULL,
    symbol       text        NOT NULL,
    available    numeric     NOT NULL,
    frozen       numeric     NOT NULL,
    total        numeric     NOT NULL,
    receive_time timestamptz NOT NULL
);
SELECT create_hypertable('balances', by_range('time', INTERVAL '30 days'),
                         create_default_indexes => false, if_not_exists => true);
CREATE UNIQUE INDEX IF NOT EXISTS balances_key ON balances (exchange, symbol, time);
