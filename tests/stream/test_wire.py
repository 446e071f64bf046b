"""The C frame decoder (jonbu_stream/feeds/_wire.c): the Python fast path's answer or a fall back, never another.

Every frame is decoded three ways: by the feed with the C decoder disabled (today's
Python code, the reference), by :meth:`WireDecoder.decode` alone (a batch bit-identical
to the reference's, :data:`EMPTY` where the reference has nothing, or None: fall back),
and by the wired-in :meth:`AlpacaFeed._decode` (the reference's result and counters,
whatever the frame).
"""

from __future__ import annotations

import glob
import logging
import random
import struct
from dataclasses import dataclass
from typing import Any

import msgpack
import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from jonbu_core.aggregation import SymbolTable, TradeBatch
from jonbu_stream.feeds import wire
from jonbu_stream.feeds.alpaca import AlpacaFeed

pytestmark = pytest.mark.skipif(not wire.available(), reason="the C frame decoder _wire is not built")

NS = 1_000_000_000
T0 = 1_704_292_200 * NS
I64_MIN, I64_MAX, U64_MAX = -(2**63), 2**63 - 1, 2**64 - 1
SYMS: dict[bytes, int] = {b"AAPL": 0, b"MSFT": 1, b"BRK.B": 2, b"": 3, b"\x00\xff\x80": 4,
                          "é".encode(): 5, b"X" * 40: 6, b"NVDA": 7}
UNKNOWN = [b"TSLA", b"AAPLX", b"AAP", b"aapl", b"\x00\xff"]
DEEP: Any = 1
for _ in range(40):
    DEEP = [DEEP]


# ------------------------------------------------------------------------------ helpers
def make_feed(native: bool, symbols: dict[bytes, int] | None = None) -> AlpacaFeed:
    f = AlpacaFeed("ws://127.0.0.1:1/v2/iex", "k", "s", ["AAPL", "MSFT"], native_decode=native)
    f._sid_raw.update(SYMS if symbols is None else symbols)
    return f


def same_batch(a: Any, b: Any) -> None:
    assert type(a) is TradeBatch and type(b) is TradeBatch
    for col in ("sym", "ts", "price", "size", "trade_id"):
        x, y = getattr(a, col), getattr(b, col)
        assert x is not None and y is not None
        assert x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes(), col
        assert y.flags.c_contiguous and y.flags.owndata, col
    assert [str(getattr(a, c).dtype) for c in ("sym", "ts", "price", "size", "trade_id")] == [
        "int32", "int64", "float64", "float64", "int64"]


def check(raw: bytes, symbols: dict[bytes, int] | None = None) -> Any:
    """Decode ``raw`` the three ways and check the contract; the C decoder's answer."""
    ref = make_feed(False, symbols)
    expected = ref._decode(raw)
    fed = make_feed(True, symbols)
    assert fed._wire is not None
    got = fed._wire.decode(raw, fed._sid_raw)
    if got is wire.EMPTY:
        assert expected is None and ref.malformed == 0 and ref.messages == 0
    elif got is not None:
        same_batch(expected, got)
    wired = fed._decode(raw)
    if type(expected) is TradeBatch:
        same_batch(expected, wired)
    else:
        assert type(wired) is type(expected) and repr(wired) == repr(expected)
    assert (fed.messages, fed.malformed) == (ref.messages, ref.malformed)
    return got


# A msgpack encoder that picks any valid width (Go encoders, like Alpaca's, may use fixed ones).
@dataclass(frozen=True)
class Str:
    b: bytes


@dataclass(frozen=True)
class Bin:
    b: bytes


@dataclass(frozen=True)
class F32:
    bits: int


@dataclass(frozen=True)
class F64:
    bits: int


@dataclass(frozen=True)
class Ts:
    sec: int
    nsec: int


@dataclass(frozen=True)
class Ext:
    code: int
    data: bytes


@dataclass(frozen=True)
class Map:
    pairs: tuple[tuple[Any, Any], ...]


def _ext(code: int, data: bytes, r: random.Random) -> bytes:
    fix = {1: 0xD4, 2: 0xD5, 4: 0xD6, 8: 0xD7, 16: 0xD8}
    head = code.to_bytes(1, "big", signed=True)
    opts = []
    if len(data) in fix:
        opts.append(bytes([fix[len(data)]]) + head)
    if len(data) < 256:
        opts.append(b"\xc7" + struct.pack(">B", len(data)) + head)
    if len(data) < 65536:
        opts.append(b"\xc8" + struct.pack(">H", len(data)) + head)
    opts.append(b"\xc9" + struct.pack(">I", len(data)) + head)
    return r.choice(opts) + data


def _len(n: int, fix: int | None, fixmax: int, codes: tuple[int, ...], r: random.Random, w8: bool) -> bytes:
    opts = []
    if fix is not None and n <= fixmax:
        opts.append(bytes([fix | n]))
    c8, c16, c32 = codes
    if w8 and c8 and n < 256:
        opts.append(bytes([c8]) + struct.pack(">B", n))
    if n < 65536:
        opts.append(bytes([c16]) + struct.pack(">H", n))
    opts.append(bytes([c32]) + struct.pack(">I", n))
    return r.choice(opts)


def enc(v: Any, r: random.Random) -> bytes:
    """``v`` as msgpack, each length and number in a width chosen at random among the valid ones."""
    if v is None:
        return b"\xc0"
    if v is True or v is False:
        return b"\xc3" if v else b"\xc2"
    if isinstance(v, int):
        opts = []
        if 0 <= v <= 0x7F:
            opts.append(bytes([v]))
        if -32 <= v < 0:
            opts.append(struct.pack(">b", v))
        for code, fmt, lo, hi in ((0xCC, ">B", 0, 2**8), (0xCD, ">H", 0, 2**16), (0xCE, ">I", 0, 2**32),
                                  (0xCF, ">Q", 0, 2**64), (0xD0, ">b", -(2**7), 2**7), (0xD1, ">h", -(2**15), 2**15),
                                  (0xD2, ">i", -(2**31), 2**31), (0xD3, ">q", -(2**63), 2**63)):
            if lo <= v < hi:
                opts.append(bytes([code]) + struct.pack(fmt, v))
        return r.choice(opts)
    if isinstance(v, float):
        opts = [b"\xcb" + struct.pack(">d", v)]
        try:
            if v != v or struct.unpack(">f", struct.pack(">f", v))[0] == v:
                opts.append(b"\xca" + struct.pack(">f", v))
        except OverflowError:  # out of float32
            pass
        return r.choice(opts)
    if isinstance(v, F32):
        return b"\xca" + struct.pack(">I", v.bits)
    if isinstance(v, F64):
        return b"\xcb" + struct.pack(">Q", v.bits)
    if isinstance(v, Str):
        return _len(len(v.b), 0xA0, 31, (0xD9, 0xDA, 0xDB), r, True) + v.b
    if isinstance(v, Bin):
        return _len(len(v.b), None, 0, (0xC4, 0xC5, 0xC6), r, True) + v.b
    if isinstance(v, Ts):
        forms = [struct.pack(">Iq", v.nsec, v.sec)]
        if v.nsec == 0 and 0 <= v.sec < 2**32:
            forms.append(struct.pack(">I", v.sec))
        if 0 <= v.sec < 2**34 and v.nsec < 2**30:
            forms.append(struct.pack(">Q", (v.nsec << 34) | v.sec))
        return _ext(-1, r.choice(forms), r)
    if isinstance(v, Ext):
        return _ext(v.code, v.data, r)
    if isinstance(v, list | tuple):
        return _len(len(v), 0x90, 15, (0, 0xDC, 0xDD), r, False) + b"".join(enc(x, r) for x in v)
    if isinstance(v, Map):
        return (_len(len(v.pairs), 0x80, 15, (0, 0xDE, 0xDF), r, False)
                + b"".join(enc(k, r) + enc(x, r) for k, x in v.pairs))
    raise TypeError(v)


def trade_pairs(sym: bytes, i: int, p: Any = 10.5, s: Any = 100, t: Any = None) -> list[tuple[Any, Any]]:
    return [(Str(b"T"), Str(b"t")), (Str(b"S"), Str(sym)), (Str(b"i"), i), (Str(b"x"), Str(b"V")), (Str(b"p"), p),
            (Str(b"s"), s), (Str(b"t"), Ts(T0 // NS, i % NS) if t is None else t), (Str(b"c"), [Str(b"@")]),
            (Str(b"z"), Str(b"C"))]


def fake_server_frame(n: int, names: list[str], seed: int = 7, k: int = 3) -> bytes:
    """A frame as the fake server's live mode builds it (tests/fakes/alpaca_stream.py ``_send_live``)."""
    rng = np.random.default_rng(seed)
    which = rng.integers(0, len(names), n).tolist()
    px = [round(100.0 * (j + 1) * (1 + 0.001 * k), 2) for j in range(len(names))]
    ts = msgpack.Timestamp.from_unix_nano(1_700_000_000_123_456_789)
    raw: bytes = msgpack.packb([{"T": "t", "S": names[w], "i": k * n + j, "x": "V", "p": px[w], "s": 100, "t": ts,
                                 "c": ["@"], "z": "C"} for j, w in enumerate(which)])
    return raw


# ------------------------------------------------------------------------- examples
def test_fake_server_frames_take_the_native_path_and_match_python() -> None:
    names = ["AAPL", "MSFT", "NVDA", "BRK.B"]
    for n in (1, 2, 250, 1000, 3000):  # 3000 > the initial capacity: the buffers grow
        got = check(fake_server_frame(n, names))
        assert type(got) is TradeBatch and len(got) == n


def test_replay_style_trades_with_every_field_kind() -> None:
    frame = [{"T": "t", "S": s, "i": i, "x": "V", "p": p, "s": z, "c": ["@", "F", "T"], "z": "C",
              "t": msgpack.Timestamp.from_unix_nano(t)}
             for i, (s, p, z, t) in enumerate([
                 ("AAPL", 10.5, 100, T0), ("MSFT", 11, 3.5, T0 + 1), ("AAPL", 1e30, 2**63 - 1, -1),
                 ("MSFT", -0.0, 2**64 - 1, 2**63 - 1), ("AAPL", float("nan"), -(2**63), -(2**63)),
                 ("MSFT", float("inf"), 2**53 + 1, 0), ("AAPL", 2**63 + 1025, -1.5, 2**33 * NS + 5)])]
    got = check(msgpack.packb(frame))
    assert type(got) is TradeBatch and len(got) == 7
    got = check(msgpack.packb(frame, use_single_float=True))
    assert type(got) is TradeBatch
    got = check(msgpack.packb(frame, use_bin_type=False))  # str as raw: the same bytes to Python
    assert type(got) is TradeBatch


def test_int_times_and_ids_and_str_or_bin_everywhere() -> None:
    frame = [{b"T": b"t", "S": b"AAPL", "i": 5, "p": 1, "s": 2, "t": T0},
             {"T": b"t", b"S": "MSFT", b"i": 2**63 - 1, "p": 1.25, "s": 2.5, b"t": -(2**63)}]
    got = check(msgpack.packb(frame, use_bin_type=True))
    assert type(got) is TradeBatch and got.sym.tolist() == [0, 1]


def test_empty_frame_is_nothing_and_empty_with_trailing_bytes_falls_back() -> None:
    for raw in (b"\x90", b"\xdc\x00\x00", b"\xdd\x00\x00\x00\x00"):
        assert check(raw) is wire.EMPTY
    assert check(b"\x90\x90") is None


@pytest.mark.parametrize("frame", [
    {"T": "t", "S": "AAPL", "i": 1, "p": 1.0, "s": 1, "t": T0},  # one map, not an array
    [{"T": "t", "S": "TSLA", "i": 1, "p": 1.0, "s": 1, "t": T0}],  # unknown symbol
    [{"T": "t", "S": "AAPL", "i": 1, "p": 1.0, "s": 1}],  # no time
    [{"T": "t", "S": "AAPL", "i": 1, "p": True, "s": 1, "t": T0}],  # bool price
    [{"T": "t", "S": "AAPL", "i": 1, "p": None, "s": 1, "t": T0}],  # nil price
    [{"T": "t", "S": "AAPL", "i": 1, "p": "1.0", "s": 1, "t": T0}],  # price as a string
    [{"T": "t", "S": "AAPL", "i": 1.0, "p": 1.0, "s": 1, "t": T0}],  # float id
    [{"T": "t", "S": "AAPL", "i": 2**63, "p": 1.0, "s": 1, "t": T0}],  # id out of int64
    [{"T": "t", "S": "AAPL", "i": 1, "p": 1.0, "s": 1, "t": 2**64 - 1}],  # time out of int64
    [{"T": "t", "S": "AAPL", "i": 1, "p": 1.0, "s": 1, "t": msgpack.Timestamp(2**62, 0)}],  # ns out of int64
    [{"T": "t", "S": "AAPL", "i": 1, "p": 1.0, "s": 1, "t": "2024-01-03T14:30:00Z"}],  # RFC 3339 time
    [{"T": "b", "S": "AAPL", "o": 1.0, "t": T0}],  # a bar
    [{"T": "t", "S": "AAPL", "i": 1, "p": 1.0, "s": 1, "t": T0}, 42],  # not a map
    [{"T": "t", "S": "AAPL", "i": 1, "p": 1.0, "s": 1, "t": T0, "c": [{1: 2}]}],  # int map key: unreadable
    [{"T": "t", "S": "AAPL", "i": 1, "p": 1.0, "s": 1, "t": T0, "x": DEEP}],  # nested too deep for C
])
def test_what_the_native_path_leaves_to_python(frame: Any) -> None:
    assert check(msgpack.packb(frame)) is None


def test_duplicate_keys_and_bad_timestamps_fall_back() -> None:
    r = random.Random(1)
    dup = Map((*trade_pairs(b"AAPL", 1), (Str(b"p"), 11.0)))
    assert check(enc([dup], r)) is None
    for data in (struct.pack(">IQ", 10**9, 5), b"\x00\x00\x00\x01\x00", struct.pack(">Q", (2**30 - 1) << 34)):
        bad = Map(tuple(trade_pairs(b"AAPL", 1, t=Ext(-1, data))))
        assert check(enc([bad], r)) is None
        nested = Map((*trade_pairs(b"AAPL", 1), (Str(b"q"), [Ext(-1, data)])))  # unpackb raises anyway
        assert check(enc([nested], r)) is None
    other_ext = Map((*trade_pairs(b"AAPL", 1), (Str(b"q"), Ext(5, b"abc"))))
    assert type(check(enc([other_ext], r))) is TradeBatch


def test_every_truncation_and_trailing_byte_of_a_valid_frame() -> None:
    raw = fake_server_frame(5, ["AAPL", "MSFT"])
    assert type(check(raw)) is TradeBatch
    for k in range(len(raw)):
        assert check(raw[:k]) is None
    for extra in (b"\x00", b"\x90", b"\xc1", raw):
        assert check(raw + extra) is None


def test_every_single_byte_flip_of_a_small_frame() -> None:
    raw = bytearray(fake_server_frame(2, ["AAPL", "MSFT"]))
    rng = random.Random(3)
    for pos in range(len(raw)):
        for value in {raw[pos] ^ 0xFF, raw[pos] ^ 1, rng.randrange(256), 0xC1, 0xC0, 0xDF}:
            flipped = bytearray(raw)
            flipped[pos] = value
            check(bytes(flipped))


def test_random_valid_encodings_are_all_taken_natively() -> None:
    rng = random.Random(11)
    for _ in range(300):
        trades = []
        for j in range(rng.randrange(1, 30)):
            sym = rng.choice(list(SYMS))
            p = rng.choice([rng.uniform(-1e6, 1e6), rng.randrange(I64_MIN, U64_MAX + 1), F32(rng.getrandbits(32)),
                            F64(rng.getrandbits(64)), rng.randrange(-40, 200)])
            s = rng.choice([float(rng.randrange(1, 1000)), rng.randrange(0, 2**rng.randrange(1, 65))])
            t = rng.choice([rng.randrange(I64_MIN, I64_MAX + 1), Ts(rng.randrange(0, 2**32), 0),
                            Ts(rng.randrange(0, 2**33), rng.randrange(NS)),
                            Ts(rng.randrange(-(2**33), 2**33), rng.randrange(NS))])
            pairs = trade_pairs(sym, rng.randrange(I64_MIN, I64_MAX + 1), p, s, t)
            if rng.random() < 0.5:
                pairs = [(Bin(k.b) if rng.random() < 0.5 else k, Bin(v.b) if isinstance(v, Str) and rng.random() < 0.5
                          else v) for k, v in pairs]
            rng.shuffle(pairs)
            pairs.append((Str(b"extra%d" % j), Map(((Str(b"k"), [None, True, 1.5, Bin(b"\x00"), Ext(3, b"")]),))))
            trades.append(Map(tuple(pairs)))
        got = check(enc(trades, rng))
        assert type(got) is TradeBatch and len(got) == len(trades)


def test_many_symbols_of_any_bytes() -> None:
    rng = random.Random(5)
    names = {bytes(rng.randrange(256) for _ in range(rng.randrange(0, 12))) for _ in range(3000)}
    table = {n: i for i, n in enumerate(sorted(names))}
    order = sorted(names)
    rng.shuffle(order)
    trades = [Map(tuple(trade_pairs(n, i))) for i, n in enumerate(order)]
    got = check(enc(trades, rng), table)
    assert type(got) is TradeBatch and got.sym.tolist() == [table[n] for n in order]
    assert check(enc([Map(tuple(trade_pairs(b"\xfe" * 13, 1)))], rng), table) is None


def test_the_c_table_learns_symbols_the_slow_path_registers() -> None:
    class Sink:
        def __init__(self) -> None:
            self.symbols = SymbolTable(["AAPL", "MSFT"])
            self.batches: list[TradeBatch] = []

        def on_trades(self, batch: TradeBatch) -> None:
            self.batches.append(batch)

    f, sink = make_feed(True, {b"AAPL": 0, b"MSFT": 1}), Sink()
    assert f._wire is not None
    raw = msgpack.packb([{"T": "t", "S": "NVDA", "i": 1, "p": 1.0, "s": 1, "t": T0}])
    assert f._wire.decode(raw, f._sid_raw) is None  # unknown: Python registers it
    f._dispatch(raw, sink)  # type: ignore[arg-type]
    assert type(f._wire.decode(raw, f._sid_raw)) is TradeBatch  # now known to C as well
    assert sink.batches[0].sym.tolist() == [2] and f.messages == 1
    f._sid_raw = {b"NVDA": 9}  # another dict altogether
    got = f._wire.decode(raw, f._sid_raw)
    assert type(got) is TradeBatch and got.sym.tolist() == [9]
    f._sid_raw[b"NVDA"] = 4  # same length, new id: sync() (the feed calls it where it changes ids)
    f._wire.sync(f._sid_raw)
    got = f._wire.decode(raw, f._sid_raw)
    assert type(got) is TradeBatch and got.sym.tolist() == [4]


def test_batches_own_their_arrays() -> None:
    f = make_feed(True)
    a = f._decode(fake_server_frame(10, ["AAPL", "MSFT"], seed=1))
    b = f._decode(fake_server_frame(10, ["MSFT", "AAPL"], seed=2, k=9))
    assert type(a) is TradeBatch and type(b) is TradeBatch and a.trade_id is not None
    assert a.trade_id.tolist() == list(range(30, 40)) and not np.shares_memory(a.ts, b.ts)


def test_the_wired_decode_uses_the_c_decoder(monkeypatch: pytest.MonkeyPatch) -> None:
    f = make_feed(True)
    raw = fake_server_frame(20, ["AAPL", "MSFT"])

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("msgpack.unpackb was called")

    monkeypatch.setattr(msgpack, "unpackb", boom)
    got = f._decode(raw)
    assert type(got) is TradeBatch and len(got) == 20 and f.messages == 20
    assert f._decode(b"\x90") is None and f.messages == 20


def test_without_the_shared_library_the_feed_decodes_in_python(monkeypatch: pytest.MonkeyPatch,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(glob, "glob", lambda pattern: [])
    with caplog.at_level(logging.INFO, logger="jonbu_core.clib"):
        assert wire._load() is None
    assert "not built" in caplog.text
    monkeypatch.setattr(wire, "_NATIVE", None)
    assert not wire.available() and wire.decoder() is None
    with pytest.raises(RuntimeError):
        wire.WireDecoder()
    f = make_feed(True)
    assert f._wire is None
    got = f._decode(fake_server_frame(5, ["AAPL", "MSFT"]))
    assert type(got) is TradeBatch and len(got) == 5 and f.messages == 5
    assert f._decode(b"\xc1") is None and f.malformed == 1


# ----------------------------------------------------------------------- properties
_known = st.sampled_from(list(SYMS))
_names = st.sampled_from([*SYMS, *UNKNOWN])
_text = st.binary(max_size=6)
_i64 = st.one_of(st.sampled_from([0, 1, -1, 127, 128, -32, -33, 255, 256, 2**31 - 1, -(2**31), 2**32, 2**53 + 1,
                                  I64_MAX, I64_MIN]), st.integers(I64_MIN, I64_MAX))
_int = st.one_of(_i64, st.sampled_from([I64_MAX + 1, U64_MAX, 2**63 + 1024, 2**63 + 1025]),
                 st.integers(I64_MIN, U64_MAX))
_float = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.builds(F32, st.integers(0, 2**32 - 1)),
                   st.builds(F64, st.integers(0, 2**64 - 1)))
_sec = st.one_of(st.integers(I64_MIN // NS + 1, I64_MAX // NS - 1), st.sampled_from([I64_MAX // NS - 1, I64_MIN // NS + 1]))
_ts_ok = st.one_of(st.builds(Ts, st.integers(0, 2**32 - 1), st.just(0)),
                   st.builds(Ts, st.integers(0, 2**33), st.integers(0, NS - 1)), st.builds(Ts, _sec, st.integers(0, NS - 1)),
                   st.builds(Ts, st.just(I64_MAX // NS), st.integers(0, I64_MAX % NS)),  # up to int64's max ns
                   st.builds(Ts, st.just(I64_MIN // NS), st.integers(I64_MIN % NS, NS - 1)))  # down to its min
_ts = st.one_of(_ts_ok, st.builds(Ts, st.integers(0, 2**34 - 1), st.integers(0, NS - 1)),
                st.builds(Ts, st.integers(I64_MIN, I64_MAX), st.integers(0, NS - 1)),
                st.builds(Ext, st.just(-1), st.binary(max_size=13)))
_safe_leaf = st.one_of(st.none(), st.booleans(), _int, _float, st.builds(Str, _text), st.builds(Bin, _text),
                       _ts_ok, st.builds(Ext, st.integers(0, 127), st.binary(max_size=17)))
_leaf = st.one_of(_safe_leaf, _ts, st.builds(Ext, st.integers(-128, 127), st.binary(max_size=17)))
_REQUIRED = {b"T", b"S", b"t", b"p", b"s", b"i"}
_key = st.one_of(st.builds(Str, st.sampled_from([b"T", b"S", b"t", b"p", b"s", b"i", b"x", b"c", b"z"])),
                 st.builds(Str, _text), st.builds(Bin, _text))
_other_key = st.one_of(st.builds(Str, _text), st.builds(Bin, _text)).filter(lambda k: k.b not in _REQUIRED)


def _tree(leaf: st.SearchStrategy[Any], key: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(leaf, lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.builds(Map, st.lists(st.tuples(key, inner), max_size=3).map(tuple))), max_leaves=8)


_safe = _tree(_safe_leaf, st.one_of(st.builds(Str, _text), st.builds(Bin, _text)))
"""Values msgpack decodes (what a valid trade carries in its other keys)."""
_any = _tree(_leaf, st.one_of(_key, _key, _key, _int))
"""Anything, including what msgpack rejects (int map keys, bad Timestamps)."""


def _str_or_bin(b: bytes) -> st.SearchStrategy[Any]:
    return st.one_of(st.just(Str(b)), st.just(Str(b)), st.just(Str(b)), st.just(Bin(b)))


@st.composite
def _trade(draw: st.DrawFn, chaos: bool) -> Any:
    def field(valid: st.SearchStrategy[Any], wrong: st.SearchStrategy[Any]) -> Any:
        return draw(wrong) if chaos and draw(st.integers(0, 7)) == 0 else draw(valid)

    num = st.one_of(_i64, _float, st.integers(I64_MIN, U64_MAX))
    pairs: list[tuple[Any, Any]] = [(Str(b"T"), field(_str_or_bin(b"t"), st.one_of(_any, _str_or_bin(b"b")))),
             (Str(b"S"), field(_known.flatmap(_str_or_bin), st.one_of(_any, _names.flatmap(_str_or_bin)))),
             (Str(b"i"), field(_i64, st.one_of(_int, _any))),
             (Str(b"p"), field(num, st.one_of(st.booleans(), st.none(), _any))),
             (Str(b"s"), field(num, st.one_of(st.booleans(), st.none(), _any))),
             (Str(b"t"), field(st.one_of(_ts_ok, _i64), st.one_of(_ts, _int, _any)))]
    extra = _any if chaos and draw(st.integers(0, 3)) == 0 else _safe
    pairs += [(Str(b"x"), Str(b"V")), (Str(b"c"), draw(st.lists(extra, max_size=3))), (Str(b"z"), draw(extra))]
    pairs += draw(st.lists(st.tuples(_key if chaos else _other_key, extra), max_size=2))
    if chaos and draw(st.integers(0, 9)) == 0:
        del pairs[draw(st.integers(0, len(pairs) - 1))]
    if chaos and draw(st.integers(0, 9)) == 0:
        pairs.append(draw(st.sampled_from(pairs)))
    if draw(st.booleans()):
        pairs = [(Bin(k.b) if isinstance(k, Str) and draw(st.booleans()) else k, v) for k, v in pairs]
    pairs = draw(st.permutations(pairs))
    return Map(tuple(pairs))


@st.composite
def _frame(draw: st.DrawFn) -> bytes:
    chaos = draw(st.booleans())
    msg = st.one_of(_trade(chaos), _trade(chaos), _trade(chaos), _any) if chaos else _trade(False)
    msgs = draw(st.lists(msg, max_size=8))
    r = draw(st.randoms(use_true_random=False))
    top: Any = msgs[0] if msgs and draw(st.sampled_from([False] * 9 + [True])) else msgs
    raw = enc(top, r)
    how = draw(st.sampled_from(["keep"] * 7 + ["truncate", "append", "flip"]))  # (integers favour 0)
    if how == "truncate" and raw:
        raw = raw[:draw(st.integers(0, len(raw) - 1))]
    elif how == "append":
        raw += draw(st.binary(min_size=1, max_size=4))
    elif how == "flip" and raw:
        pos = draw(st.integers(0, len(raw) - 1))
        raw = raw[:pos] + bytes([draw(st.integers(0, 255))]) + raw[pos + 1:]
    return raw


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_frame())
def test_property_native_is_python_or_falls_back(raw: bytes) -> None:
    got = check(raw)
    event("native" if type(got) is TradeBatch else "empty" if got is wire.EMPTY else "fallback")


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=64))
def test_property_garbage_bytes(raw: bytes) -> None:
    check(raw)
    check(b"\x91" + raw)
    check(b"\x91\x86" + raw)


def test_a_reserved_ext_type_in_a_skipped_value_falls_back() -> None:
    """msgpack refuses ext types below -1 anywhere (the frame is unreadable): the C decoder must not
    read past them in a value it skips (found by the property test)."""
    raw = (b"\x91\x88\xa1T\xa1t\xa1S\xa4AAPL\xa1i\x00\xa1p\x00\xa1s\x00\xa1t\xc7\x0c\xff" + bytes(12)
           + b"\xa1c\x91\x91\xc7\x00\xfe\xa1z\xc0")
    with pytest.raises(ValueError):
        msgpack.unpackb(raw, timestamp=2, raw=True, use_list=False)
    assert check(raw) is None
