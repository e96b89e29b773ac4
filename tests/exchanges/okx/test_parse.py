"""OKX parsers against the 2022 capture (shared fixtures) and the protocol doc's examples (§1.5-1.12).

Line numbers refer to ``okx_2022-05-13_cryptofeed.server_messages.jsonl`` (1-based).
"""

from __future__ import annotations

import ast
import json
from decimal import Decimal
from pathlib import Path

import pytest

from collectors.core.orderbook import BookEvent, LocalBooks, OrderBook, decimal_text
from collectors.core.records import BookTop, BookUpdate, Candle, Ticker, Trade
from collectors.exchanges.okx import messages as messages_module
from collectors.exchanges.okx import parse as parse_module
from collectors.exchanges.okx.errors import OKXParseError, OKXRestError
from collectors.exchanges.okx.parse import (
    PONG,
    DataBatch,
    ExchangeError,
    Notice,
    Subscribed,
    Unsubscribed,
    okx_checksum,
    okx_checksum_string,
    parse_frame,
    parse_rest_book,
    parse_rest_candles,
    parse_rest_trades,
)

D = Decimal
RECEIVED = 1_700_000_000_123_456_789
FIXTURES = Path(__file__).resolve().parents[3] / ".." / "shared" / "fixtures" / "okx"
SERVER_MESSAGES = FIXTURES / "okx_2022-05-13_cryptofeed.server_messages.jsonl"
REST_SAMPLES = FIXTURES / "nautilus_rest_samples.jsonl"


def _require(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"shared OKX fixture {path.name} is missing from {path.parent} (../shared not present)")
    return path


@pytest.fixture(scope="module")
def captured() -> list[bytes]:
    """Raw frames of the 2022 capture, index 0 = line 1."""
    return _require(SERVER_MESSAGES).read_bytes().splitlines()


def line(captured: list[bytes], number: int) -> bytes:
    return captured[number - 1]


def records(raw: bytes | str) -> list:
    parsed = parse_frame(raw, RECEIVED)
    assert isinstance(parsed, DataBatch)
    return parsed.records


# ---------------------------------------------------------------------------- captured frames


def test_every_captured_frame_parses(captured: list[bytes]) -> None:
    for number, raw in enumerate(captured, start=1):
        parsed = parse_frame(raw, RECEIVED)
        assert isinstance(parsed, DataBatch | Subscribed), number


def test_captured_subscribe_ack_without_conn_id(captured: list[bytes]) -> None:
    assert parse_frame(line(captured, 1), RECEIVED) == Subscribed("tickers", "BTC-USD-220527", None, None)
    assert parse_frame(line(captured, 18), RECEIVED) == Subscribed("books", "BTC-USDT", None, None)


def test_captured_futures_ticker(captured: list[bytes]) -> None:
    parsed = parse_frame(line(captured, 19), RECEIVED)
    assert isinstance(parsed, DataBatch)
    assert (parsed.channel, parsed.inst_id) == ("tickers", "BTC-USD-220527")
    [ticker] = parsed.records
    assert ticker == Ticker(
        exchange="okx",
        symbol="BTC-USD-220527",
        last_price=D("30218.8"),
        last_size=D("1"),
        best_bid=D("30210.4"),
        best_bid_size=D("4"),
        best_ask=D("30220.1"),
        best_ask_size=D("3"),
        open_24h=D("29571.4"),
        high_24h=D("31003.3"),
        low_24h=D("27930.8"),
        volume_24h=D("779573"),  # contracts
        quote_volume_24h=None,  # volCcy24h (2620.289) is BTC for futures, not quote currency
        event_time_ns=1_652_459_223_003_000_000,
        receive_time_ns=RECEIVED,
    )


def test_captured_spot_ticker_reports_quote_volume(captured: list[bytes]) -> None:
    [ticker] = records(line(captured, 21))
    assert ticker.symbol == "BTC-USDT"
    assert ticker.last_price == D("30236")
    assert ticker.best_ask_size == D("1.55896972")
    assert ticker.volume_24h == D("17602.13085371")
    assert ticker.quote_volume_24h == D("525802090.62716611")
    assert ticker.event_time_ns == 1_652_459_224_956_000_000


def test_captured_trades(captured: list[bytes]) -> None:
    ts = 1_652_459_224_818_000_000
    assert records(line(captured, 24)) == [
        Trade("okx", "BTC-USDT", "338476307", D("30236"), D("0.0002"), "buy", ts, RECEIVED, fill_count=1)
    ]
    [trade] = records(line(captured, 23))
    assert (trade.symbol, trade.trade_id, trade.price, trade.size, trade.side) == (
        "UNI-USD-SWAP",
        "12883020",
        D("5.123"),
        D("100"),
        "sell",
    )
    assert trade.fill_count == 1  # 2022 frames carry no `count`


def test_captured_books_snapshot(captured: list[bytes]) -> None:
    [book] = records(line(captured, 27))
    assert isinstance(book, BookUpdate)
    assert (book.symbol, book.is_snapshot) == ("BTC-USDT", True)
    assert (book.sequence, book.previous_sequence) == (None, None)
    assert book.checksum == 47640993
    assert book.event_time_ns == 1_652_459_225_381_000_000
    assert book.receive_time_ns == RECEIVED
    assert book.bids[:2] == [(D("30243.4"), D("0.0012029")), (D("30236.6"), D("0.007903"))]
    assert book.asks[:2] == [(D("30243.5"), D("1.44679")), (D("30244"), D("0.08"))]
    assert (len(book.bids), len(book.asks)) == (400, 400)


def test_captured_books_update(captured: list[bytes]) -> None:
    [book] = records(line(captured, 83))  # the update quoted in protocol doc §1.9
    assert book == BookUpdate(
        "okx", "UNI-USD-SWAP", False, [], [(D("5.149"), D("212"))], None, None, 1146082652,
        1_652_459_226_883_000_000, RECEIVED,
    )  # fmt: skip
    [book] = records(line(captured, 28))
    assert book.asks == [(D("30249.4"), D("0")), (D("30261"), D("4")), (D("30310.3"), D("19"))]
    assert book.checksum == -914047754


def test_every_captured_level_string_is_rebuilt_exactly_from_its_decimal(captured: list[bytes]) -> None:
    """The legacy checksum hashes the exchange's strings; the book keeps only Decimals."""
    checked = 0
    for raw in captured:
        message = json.loads(raw)
        for item in message.get("data", []) if message.get("arg", {}).get("channel") == "books" else []:
            for level in item["bids"] + item["asks"]:
                for text in level[:2]:
                    assert str(D(text)) == text
                    assert decimal_text(D(text)) == text
                    checked += 1
    assert checked == 16528


def test_checksum_matches_on_every_captured_books_frame(captured: list[bytes]) -> None:
    books: dict[str, OrderBook] = {}
    verified = 0
    for raw in captured:
        parsed = parse_frame(raw, RECEIVED)
        if not (isinstance(parsed, DataBatch) and parsed.channel == "books"):
            continue
        for update in parsed.records:
            book = books.setdefault(update.symbol, OrderBook())
            if update.is_snapshot:
                book.apply_snapshot(update.bids, update.asks, update.sequence)
            else:
                book.apply_update(update.bids, update.asks, update.sequence)
            assert okx_checksum(book) == update.checksum
            verified += 1
    assert verified == 290  # 3 snapshots + 287 updates


def test_checksum_values_quoted_in_the_protocol_doc(captured: list[bytes]) -> None:
    book = OrderBook()
    [snapshot] = records(line(captured, 27))
    book.apply_snapshot(snapshot.bids, snapshot.asks, None)
    assert okx_checksum(book) == 47640993
    [update] = records(line(captured, 29))
    book.apply_update(update.bids, update.asks, None)
    assert okx_checksum(book) == -652563973
    start = "30243.4:0.0012029:30243.5:1.2112:30236.6:0.007903:30243.6:0.059:"
    assert okx_checksum_string(book).startswith(start)


def test_local_books_replay_the_capture_with_checksum_verification(captured: list[bytes]) -> None:
    books = LocalBooks(checksum=okx_checksum)
    events = []
    for raw in captured:
        parsed = parse_frame(raw, RECEIVED)
        if isinstance(parsed, DataBatch) and parsed.channel == "books":
            events += [books.apply(update) for update in parsed.records]
    assert events == [BookEvent.APPLIED] * 290
    book = books.book("BTC-USDT")
    assert book is not None and book.best_bid()[0] < book.best_ask()[0]  # type: ignore[index]


# ---------------------------------------------------------------------------- legacy checksum, doc examples


@pytest.mark.parametrize(
    ("bids", "asks", "text", "expected"),
    [
        ([("3366.1", "7"), ("3366", "6")], [("3366.8", "9"), ("3368", "8")],
         "3366.1:7:3366.8:9:3366:6:3368:8", -1881014294),
        ([("3366.1", "7")], [("3366.8", "9"), ("3368", "8"), ("3372", "8")],
         "3366.1:7:3366.8:9:3368:8:3372:8", 831078360),
    ],
)  # fmt: skip
def test_checksum_worked_examples(bids: list, asks: list, text: str, expected: int) -> None:
    book = OrderBook()
    book.apply_snapshot([(D(p), D(s)) for p, s in bids], [(D(p), D(s)) for p, s in asks], None)
    assert okx_checksum_string(book) == text
    assert okx_checksum(book) == expected


def test_checksum_uses_strings_as_received() -> None:
    book = OrderBook()
    book.apply_snapshot([(D("0.5000"), D("1.10"))], [(D("0.5001"), D("0.00000001"))], None)
    assert okx_checksum_string(book) == "0.5000:1.10:0.5001:0.00000001"


# ---------------------------------------------------------------------------- current-format doc examples


def test_doc_trades_push_with_count_source_and_seq_id() -> None:
    raw = (
        '{"arg":{"channel":"trades","instId":"BTC-USDT"},"data":[{"instId":"BTC-USDT","tradeId":"130639474",'
        '"px":"42219.9","sz":"0.12060306","side":"buy","ts":"1630048897897","count":"3","source":"0",'
        '"seqId":1234}]}'
    )
    assert records(raw) == [
        Trade("okx", "BTC-USDT", "130639474", D("42219.9"), D("0.12060306"), "buy", 1_630_048_897_897_000_000,
              RECEIVED, fill_count=3)
    ]  # fmt: skip


def test_doc_trades_all_push() -> None:
    raw = (
        b'{"arg":{"channel":"trades-all","instId":"BTC-USDT"},"data":[{"instId":"BTC-USDT",'
        b'"tradeId":"130639474","px":"42219.9","sz":"0.12060306","side":"buy","source":"0",'
        b'"ts":"1630048897897"}]}'
    )
    parsed = parse_frame(raw, RECEIVED)
    assert isinstance(parsed, DataBatch) and parsed.channel == "trades-all"
    [trade] = parsed.records
    assert (trade.trade_id, trade.price, trade.fill_count) == ("130639474", D("42219.9"), 1)


DOC_BOOKS_SNAPSHOT = """{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"snapshot","data":[{
"asks":[["8476.98","415","0","13"],["8477","7","0","2"],["8477.34","85","0","1"],["8477.56","1","0","1"],
["8505.84","8","0","1"],["8506.37","85","0","1"],["8506.49","2","0","1"],["8506.96","100","0","2"]],
"bids":[["8476.97","256","0","12"],["8475.55","101","0","1"],["8475.54","100","0","1"],["8475.3","1","0","1"],
["8447.32","6","0","1"],["8447.02","246","0","1"],["8446.83","24","0","1"],["8446","95","0","3"]],
"ts":"1597026383085","checksum":0,"prevSeqId":-1,"seqId":123456}]}"""

DOC_BOOKS_UPDATE = (
    '{"arg":{"channel":"books","instId":"STX-USDT-SWAP"},"action":"update","data":[{'
    '"asks":[["0.692","463","0","9"],["0.6921","584","0","10"],["0.6923","591","0","10"],'
    '["0.6924","1385","0","9"],["0.6927","2801","0","11"]],'
    '"bids":[["0.6915","44","0","4"],["0.6906","2344","0","9"],["0.6903","197","0","7"],'
    '["0.6902","203","0","9"],["0.69","397","0","12"],["0.6895","192","0","6"],["0.6893","4088","0","6"]],'
    '"ts":"1701388800001","checksum":945112414,"seqId":1314875837,"prevSeqId":1314875825}]}'
)


def test_doc_books_snapshot_with_seq_id() -> None:
    [book] = records(DOC_BOOKS_SNAPSHOT)
    assert (book.is_snapshot, book.sequence, book.previous_sequence, book.checksum) == (True, 123456, None, 0)
    assert book.bids[0] == (D("8476.97"), D("256"))
    assert book.asks[-1] == (D("8506.96"), D("100"))
    assert (len(book.bids), len(book.asks)) == (8, 8)
    assert book.event_time_ns == 1_597_026_383_085_000_000


def test_doc_books_update_with_seq_id_and_prev_seq_id() -> None:
    [book] = records(DOC_BOOKS_UPDATE)
    assert (book.symbol, book.is_snapshot) == ("STX-USDT-SWAP", False)
    assert (book.sequence, book.previous_sequence, book.checksum) == (1314875837, 1314875825, 945112414)
    assert book.bids[4] == (D("0.69"), D("397"))
    assert book.asks[0] == (D("0.692"), D("463"))


def test_doc_heartbeat_update_keeps_both_sequences() -> None:
    raw = (
        '{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"update","data":[{"asks":[],"bids":[],'
        '"ts":"1597026383085","checksum":0,"seqId":15,"prevSeqId":15}]}'
    )
    [book] = records(raw)
    assert (book.bids, book.asks, book.sequence, book.previous_sequence) == ([], [], 15, 15)


def test_doc_bbo_tbt_becomes_book_top() -> None:
    raw = (
        '{"arg":{"channel":"bbo-tbt","instId":"BCH-USDT-SWAP"},"data":[{"asks":[["111.06","55154","0","2"]],'
        '"bids":[["111.05","57745","0","2"]],"ts":"1670324386802","seqId":363996337}]}'
    )
    assert records(raw) == [
        BookTop("okx", "BCH-USDT-SWAP", D("111.05"), D("57745"), D("111.06"), D("55154"), 363996337,
                1_670_324_386_802_000_000, RECEIVED)
    ]  # fmt: skip


def test_doc_books5_becomes_a_snapshot_book_update() -> None:
    raw = (
        '{"arg":{"channel":"books5","instId":"BCH-USDT-SWAP"},"data":[{'
        '"asks":[["111.06","55154","0","2"],["111.07","53276","0","2"],["111.08","72435","0","2"],'
        '["111.09","70312","0","2"],["111.1","67272","0","2"]],'
        '"bids":[["111.05","57745","0","2"],["111.04","57109","0","2"],["111.03","69563","0","2"],'
        '["111.02","71248","0","2"],["111.01","65090","0","2"]],'
        '"instId":"BCH-USDT-SWAP","ts":"1670324386802","seqId":363996337}]}'
    )
    [book] = records(raw)
    assert (book.is_snapshot, book.sequence) == (True, 363996337)
    assert (book.previous_sequence, book.checksum) == (None, None)
    assert book.bids[-1] == (D("111.01"), D("65090"))
    assert book.asks[-1] == (D("111.1"), D("67272"))


DOC_CANDLE = (
    '{"arg":{"channel":"candle1D","instId":"BTC-USDT"},"data":[['
    '"1597026383085","8533.02","8553.74","8527.17","8548.26","45247","529.5858061","5529.5858061","0"]]}'
)


def test_doc_candle_push() -> None:
    assert records(DOC_CANDLE) == [
        Candle("okx", "BTC-USDT", timeframe="1d", open_time_ns=1_597_026_383_085_000_000, open=D("8533.02"),
               high=D("8553.74"), low=D("8527.17"), close=D("8548.26"), volume=D("45247"),
               quote_volume=D("5529.5858061"), closed=False, receive_time_ns=RECEIVED)
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("channel", "timeframe"),
    [("candle1m", "1m"), ("candle1H", "1h"), ("candle1D", "1d"), ("candle1W", "1w"), ("candle1M", "1M"),
     ("candle6Hutc", "6h-utc"), ("candle1Mutc", "1M-utc"), ("candle1s", "1s")],
)  # fmt: skip
def test_candle_channel_timeframes_are_normalized(channel: str, timeframe: str) -> None:
    [candle] = records(DOC_CANDLE.replace("candle1D", channel))
    assert candle.timeframe == timeframe


def test_confirm_one_marks_a_closed_candle() -> None:
    [candle] = records(DOC_CANDLE.replace('"0"]]', '"1"]]'))
    assert candle.closed is True


def test_doc_event_frames() -> None:
    assert parse_frame(b"pong", RECEIVED) is PONG
    assert parse_frame("pong", RECEIVED) is PONG
    ack = (
        '{"id":"1512","event":"subscribe","arg":{"channel":"tickers","instId":"BTC-USDT"},'
        '"connId":"accb8e21"}'
    )
    assert parse_frame(ack, RECEIVED) == Subscribed("tickers", "BTC-USDT", "accb8e21", "1512")
    ack = '{"event":"unsubscribe","arg":{"channel":"tickers","instId":"BTC-USDT"},"connId":"d0b44253"}'
    assert parse_frame(ack, RECEIVED) == Unsubscribed("tickers", "BTC-USDT", "d0b44253", None)
    notice = (
        '{"event":"notice","code":"64008","msg":"The connection will soon be closed for a service upgrade. '
        'Please reconnect.","connId":"a4d3ae55"}'
    )
    assert parse_frame(notice, RECEIVED) == Notice(
        "64008", "The connection will soon be closed for a service upgrade. Please reconnect.", "a4d3ae55"
    )


def test_doc_error_60012_has_no_channel() -> None:
    raw = (
        '{"id":"1512","event":"error","code":"60012","msg":"Invalid request: {\\"op\\": \\"subscribe\\", '
        '\\"argss\\":[{ \\"channel\\" : \\"books\\", \\"instId\\" : \\"BTC-USD-191227\\"}]}",'
        '"connId":"a4d3ae55"}'
    )
    error = parse_frame(raw, RECEIVED)
    assert isinstance(error, ExchangeError)
    assert (error.code, error.conn_id, error.request_id, error.channel, error.inst_id) == (
        "60012", "a4d3ae55", "1512", None, None,
    )  # fmt: skip
    assert error.message.startswith('Invalid request: {"op": "subscribe", "argss"')


@pytest.mark.parametrize(
    ("message", "channel", "inst_id"),
    [
        ("Wrong URL or channel:books,instId:IRYS-USDT-SWAP doesn't exist. Please use the correct URL, "
         "channel and parameters referring to API document.", "books", "IRYS-USDT-SWAP"),
        ("Wrong URL or channel:candle1m,instId:BTC-USDT doesn't exist. Please use the correct URL, "
         "channel and parameters referring to API document.", "candle1m", "BTC-USDT"),
        ("Subscribe failed, wrong URL or channel:books,instId:FOO-USDT doesn't exist.", "books", "FOO-USDT"),
    ],
)  # fmt: skip
def test_error_60018_names_the_channel_and_instrument(message: str, channel: str, inst_id: str) -> None:
    raw = json.dumps({"event": "error", "msg": message, "code": "60018", "connId": "9a6e0d1c"})
    assert parse_frame(raw, RECEIVED) == ExchangeError("60018", message, "9a6e0d1c", None, channel, inst_id)


# ---------------------------------------------------------------------------- REST bodies


def test_rest_samples_trades_and_candles_newest_first() -> None:
    samples = [json.loads(text) for text in _require(REST_SAMPLES).read_text().splitlines()]
    trades_body, candles_body = (json.dumps(sample["body"]).encode() for sample in samples)
    trades = parse_rest_trades(trades_body, "BTC-USDT", RECEIVED)
    assert [(t.trade_id, t.price, t.size, t.side) for t in trades] == [
        ("734864333", D("102537.9"), D("0.00013669"), "sell"),
        ("734864332", D("102537.9"), D("0.0000125"), "buy"),
    ]
    assert trades[0].event_time_ns == 1_747_087_163_557_000_000
    candles = parse_rest_candles(candles_body, "BTC-USDT-SWAP", "1m", RECEIVED)
    assert [c.open_time_ns for c in candles] == [1_747_094_040_000_000_000, 1_747_093_980_000_000_000]
    assert (candles[0].open, candles[0].close) == (D("102806.1"), D("102820.4"))
    assert candles[0].volume == D("1040.37")
    assert candles[0].quote_volume == D("1069603.34883")
    assert candles[0].closed is True and candles[0].timeframe == "1m"


def test_doc_rest_book_snapshot_carries_seq_id() -> None:
    body = (
        b'{"code":"0","msg":"","data":[{"asks":[["41006.8","0.60038921","0","1"]],'
        b'"bids":[["41006.3","0.30178218","0","2"]],"ts":"1629966436396","seqId":3235851742}]}'
    )
    assert parse_rest_book(body, "BTC-USDT", RECEIVED) == BookUpdate(
        "okx", "BTC-USDT", True, [(D("41006.3"), D("0.30178218"))], [(D("41006.8"), D("0.60038921"))],
        3235851742, None, None, 1_629_966_436_396_000_000, RECEIVED,
    )  # fmt: skip


def test_rest_error_code_raises_rest_error() -> None:
    body = (
        b'{"code":"51001","msg":"Instrument ID, Instrument ID code or Spread ID doesn\'t exist.",'
        b'"data":[]}'
    )
    with pytest.raises(OKXRestError) as caught:
        parse_rest_book(body, "NOPE-USDT", RECEIVED)
    assert caught.value.code == "51001"
    assert "doesn't exist" in caught.value.message


def test_rest_body_problems_raise_parse_errors() -> None:
    with pytest.raises(OKXParseError, match="not an OKX REST response"):
        parse_rest_trades(b"<html>502</html>", "BTC-USDT", RECEIVED)
    with pytest.raises(OKXParseError, match="expected one book in 'data', got 0"):
        parse_rest_book(b'{"code":"0","msg":"","data":[]}', "BTC-USDT", RECEIVED)
    other = (
        b'{"code":"0","msg":"","data":[{"instId":"ETH-USDT","side":"sell","sz":"1","px":"1","tradeId":"1",'
        b'"ts":"1"}]}'
    )
    with pytest.raises(OKXParseError, match="holds a trade of ETH-USDT"):
        parse_rest_trades(other, "BTC-USDT", RECEIVED)


# ---------------------------------------------------------------------------- malformed input


TRADE_FRAME = (
    '{"arg":{"channel":"trades","instId":"BTC-USDT"},"data":[{"instId":"BTC-USDT","tradeId":"1",'
    '"px":"42219.9","sz":"0.1","side":"buy","ts":"1630048897897"}]}'
)


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("not json", "not an OKX JSON frame (JSON is malformed"),
        ('{"arg":{"channel":"trades","instId":"BTC-USDT"},"data":[{"instId"', "not an OKX JSON frame"),
        ("[1, 2]", "not an OKX JSON frame (Expected `object`, got `array`)"),
        ('{"foo":1}', "frame has neither 'event' nor 'arg' and 'data'"),
        ('{"arg":{"channel":"books7","instId":"BTC-USDT"},"data":[]}', "unknown channel 'books7'"),
        ('{"arg":{"channel":"trades"},"data":[]}', "trades push without arg.instId"),
        ('{"event":"login","code":"0"}', "unsupported event 'login'"),
        ('{"event":"error","msg":"x"}', "error event without 'code'"),
        ('{"event":"subscribe"}', "subscribe acknowledgement without 'arg'"),
        (TRADE_FRAME.replace('"42219.9"', '"42,219.9"'), "trades BTC-USDT: px is not a decimal number"),
        (TRADE_FRAME.replace('"42219.9"', '"NaN"'), "trades BTC-USDT: trade 1 has a non-finite px/sz"),
        (TRADE_FRAME.replace('"px":"42219.9",', ""), "Object missing required field `px` - at `$[0]`"),
        (TRADE_FRAME.replace('"buy"', '"long"'), "Invalid enum value 'long' - at `$[0].side`"),
        (TRADE_FRAME.replace('"1630048897897"', '"yesterday"'), "Expected `int`, got `str` - at `$[0].ts`"),
        (DOC_BOOKS_UPDATE.replace('"0.692"', '"abc"'), "STX-USDT-SWAP: ask price is not a decimal number"),
        (DOC_BOOKS_UPDATE.replace('"463"', '"Inf"'), "level with a non-finite number: ['0.692', 'Infinity']"),
        (DOC_BOOKS_UPDATE.replace('["0.692","463","0","9"]', '["0.692"]'), "at least length 2"),
        (DOC_BOOKS_UPDATE.replace('"update"', '"delta"'), "'action' must be 'snapshot' or 'update', got"),
        (DOC_CANDLE.replace('"0"]]', '"2"]]'), "candle confirm must be '0' or '1', got '2'"),
        (DOC_CANDLE.replace('"8533.02"', '""'), "open is not a decimal number: ''"),
    ],
)
def test_malformed_frames_raise_parse_errors_naming_the_problem(raw: str, problem: str) -> None:
    with pytest.raises(OKXParseError) as caught:
        parse_frame(raw, RECEIVED)
    assert isinstance(caught.value, ValueError)
    assert problem in str(caught.value)
    assert "; frame: " + raw[:40] in str(caught.value)  # quotes the start of the frame


def test_parse_error_excerpt_is_short_for_huge_frames() -> None:
    raw = DOC_BOOKS_SNAPSHOT.replace('"8476.98"', '"x"') + " " * 10_000
    with pytest.raises(OKXParseError) as caught:
        parse_frame(raw, RECEIVED)
    assert len(str(caught.value)) < 400
    assert f"({len(raw)} chars)" in str(caught.value)


def test_ticker_with_empty_fields_keeps_none() -> None:
    raw = (
        '{"arg":{"channel":"tickers","instId":"NEW-USDT"},"data":[{"instType":"SPOT","instId":"NEW-USDT",'
        '"last":"","lastSz":"","askPx":"1.5","askSz":"10","bidPx":"","bidSz":"","open24h":"","high24h":"",'
        '"low24h":"","sodUtc0":"","sodUtc8":"","volCcy24h":"0","vol24h":"0","ts":"1652459224956"}]}'
    )
    [ticker] = records(raw)
    assert (ticker.last_price, ticker.best_bid, ticker.best_ask, ticker.quote_volume_24h) == (
        None, None, D("1.5"), D("0"),
    )  # fmt: skip


def test_parser_modules_import_no_io_clock_or_logging() -> None:
    """Habit 1: parsers are pure. Checked on the source, since the package root imports more."""
    forbidden = {"asyncio", "websockets", "logging", "time", "datetime", "redis", "asyncpg", "httpx"}
    for module in (parse_module, messages_module):
        imported: set[str] = set()
        for node in ast.walk(ast.parse(Path(module.__file__).read_text())):  # type: ignore[arg-type]
            if isinstance(node, ast.Import):
                imported.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module.split(".")[0])
        assert not imported & forbidden, module.__name__


def test_books_fast_path_equals_the_general_path_on_every_captured_frame(captured: list[bytes]) -> None:
    books = [raw for raw in captured if raw.startswith(b'{"arg":{"channel":"books",')]
    assert len(books) == 290
    for raw in books:
        # str input takes the one-pass decoder; bytes input takes the general path.
        assert parse_frame(raw.decode(), 1) == parse_frame(raw, 1)


@pytest.mark.parametrize(
    ("frame", "problem"),
    [
        ('{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"update","data":[{"asks":[["NaN","1","0","1"]],'
         '"bids":[],"ts":"1","checksum":0,"seqId":2,"prevSeqId":1}]}', "non-finite"),
        ('{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"update","data":[{"asks":[["1.5","x","0","1"]],'
         '"bids":[],"ts":"1","checksum":0,"seqId":2,"prevSeqId":1}]}', "not a decimal"),
        ('{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"replace","data":[{"asks":[],'
         '"bids":[],"ts":"1","checksum":0,"seqId":2,"prevSeqId":1}]}', "'action' must be"),
        ('{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"update","data":[{"asks":[]', "truncated"),
    ],
)  # fmt: skip
def test_books_fast_path_rejects_bad_frames_like_the_general_path(frame: str, problem: str) -> None:
    with pytest.raises(OKXParseError, match=problem):
        parse_frame(frame, 1)
    with pytest.raises(OKXParseError, match=problem):
        parse_frame(frame.encode(), 1)
