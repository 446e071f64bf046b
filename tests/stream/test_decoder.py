"""The Alpaca frame decoder: the columnar fast path, and the per-message path that quarantines bad input."""

from __future__ import annotations

from typing import Any

import msgpack
import numpy as np
import pyarrow as pa
import pytest

from jonbu_core.aggregation import SymbolTable, TradeBatch
from jonbu_stream.feeds.alpaca import AlpacaFeed

NS = 1_000_000_000
T = 1_704_292_200 * NS


class Sink:
    def __init__(self) -> None:
        self.symbols = SymbolTable(["AAPL", "MSFT"])
        self.batches: list[TradeBatch] = []
        self.corrections: list[tuple[Any, ...]] = []
        self.bars: list[pa.Table] = []

    def on_trades(self, batch: TradeBatch) -> None:
        self.batches.append(batch)

    def on_bars(self, bars: pa.Table) -> None:
        self.bars.append(bars)

    def on_correction(self, *args: Any) -> None:
        self.corrections.append(args)

    def on_connected(self) -> None:
        pass

    def on_disconnected(self, reason: str) -> None:
        pass


def trade(sym: str, i: int, p: Any = 10.5, s: Any = 100, t: Any = None) -> dict[str, Any]:
    return {"T": "t", "S": sym, "i": i, "x": "V", "p": p, "s": s,
            "t": msgpack.Timestamp.from_unix_nano(T + i) if t is None else t, "c": ["@"], "z": "C"}


def feed() -> AlpacaFeed:
    f = AlpacaFeed("ws://127.0.0.1:1/v2/iex", "k", "s", ["AAPL", "MSFT"])
    f._sid_raw.update({b"AAPL": 0, b"MSFT": 1})
    return f


def test_a_frame_of_trades_takes_the_fast_path() -> None:
    f, sink = feed(), Sink()
    f._dispatch(msgpack.packb([trade("AAPL", 1), trade("MSFT", 2, 11.25, 3.5)]), sink)
    (b,) = sink.batches
    assert b.sym.tolist() == [0, 1] and b.ts.tolist() == [T + 1, T + 2]
    assert b.price.tolist() == [10.5, 11.25] and b.size.tolist() == [100.0, 3.5]
    assert b.trade_id is not None and b.trade_id.tolist() == [1, 2]
    assert f.malformed == 0 and f.messages == 2


def test_bad_messages_are_quarantined_and_the_rest_of_the_frame_is_kept() -> None:
    f, sink = feed(), Sink()
    frame = [
        trade("AAPL", 1),
        trade("MSFT", 2, p="12.0"),  # price as a string
        {"T": "t", "S": "AAPL", "i": 3, "s": 1, "t": msgpack.Timestamp.from_unix_nano(T)},  # no price
        trade("AAPL", 4, s=True),  # bool size
        trade("NVDA", 5),  # a symbol not subscribed yet: added, kept
        trade("AAPL", 6, t="2024-01-03T14:30:00.000000123Z"),  # RFC 3339 time: parsed
        trade("bad symbol!", 7),  # invalid symbol
        trade("AAPL", 2**64 - 1),  # id out of int64
        42,  # not a map
        {"T": "x", "S": "AAPL", "i": 1, "x": "V", "p": 10.5, "s": 100, "a": "C", "z": "C",
         "t": msgpack.Timestamp.from_unix_nano(T + 1)},
        {"T": "c", "S": "AAPL", "x": "V", "oi": 1, "op": 10.5, "os": 100, "ci": 9, "cp": 10.6, "cs": 101,
         "z": "C", "t": msgpack.Timestamp.from_unix_nano(T + 1)},
        {"T": "c", "S": "AAPL"},  # correction without fields
        trade("MSFT", 8),
    ]
    f._dispatch(msgpack.packb(frame), sink)
    (b,) = sink.batches
    nvda = sink.symbols.id("NVDA")
    assert b.sym.tolist() == [0, nvda, 0, 1]
    assert b.ts.tolist() == [T + 1, T + 5, 1_704_292_200 * NS + 123, T + 8]
    assert f.malformed == 7
    reasons = [q["reason"] for q in f.quarantined]
    assert len(reasons) == 7 and all(reasons)
    assert sink.corrections == [(0, 1, T + 1, 10.5, 100.0, None, None), (0, 1, T + 1, 10.5, 100.0, 10.6, 101.0)]
    # The next clean frame goes through the fast path again, NVDA included.
    f._dispatch(msgpack.packb([trade("NVDA", 9)]), sink)
    assert sink.batches[-1].sym.tolist() == [nvda]


@pytest.mark.parametrize("raw", [b"\xc1", b"\x93\x01", b""])
def test_unreadable_frames_are_counted_not_fatal(raw: bytes) -> None:
    f, sink = feed(), Sink()
    f._dispatch(raw, sink)
    assert f.malformed == 1 and not sink.batches


def test_minute_bars_go_to_the_sink() -> None:
    f, sink = feed(), Sink()
    bar = {"T": "b", "S": "AAPL", "o": 1.0, "h": 2.0, "l": 0.5, "c": 1.5, "v": 10, "n": 3, "vw": 1.2,
           "t": msgpack.Timestamp.from_unix_nano(T)}
    f._dispatch(msgpack.packb([bar, trade("AAPL", 1)]), sink)
    assert sink.bars[0].num_rows == 1 and sink.bars[0].column("symbol").to_pylist() == ["AAPL"]
    assert np.asarray(sink.batches[0].price).tolist() == [10.5]


def test_buffered_frames_are_aggregated_as_one_batch_in_order() -> None:
    f, sink = feed(), Sink()
    order: list[str] = []
    sink.on_trades = lambda b: (order.append("trades"), sink.batches.append(b))  # type: ignore[method-assign]
    sink.on_correction = lambda *a: (order.append("cancel"), sink.corrections.append(a))  # type: ignore[method-assign]
    cancel = {"T": "x", "S": "AAPL", "i": 2, "x": "V", "p": 10.5, "s": 100, "a": "C",
              "t": msgpack.Timestamp.from_unix_nano(T + 2)}
    frames = [msgpack.packb([trade("AAPL", 1), trade("MSFT", 2)]), msgpack.packb([trade("AAPL", 3)]),
              msgpack.packb([cancel]), msgpack.packb([trade("MSFT", 4)]), b"\xc1"]
    f._dispatch_many(frames, sink)
    # The two trade frames before the cancel as one batch, the cancel, then the last trade frame.
    assert order == ["trades", "cancel", "trades"]
    assert [b.trade_id.tolist() for b in sink.batches if b.trade_id is not None] == [[1, 2, 3], [4]]
    assert sink.batches[0].sym.tolist() == [0, 1, 0] and sink.corrections[0][1] == 2
    assert f.messages == 5 and f.malformed == 1


def test_unread_sees_bytes_the_kernel_holds() -> None:
    import socket

    from jonbu_stream.feeds.alpaca import _buffered, _unread

    a, b = socket.socketpair()
    with a, b:
        assert not _unread(b.fileno())
        a.sendall(b"x")
        assert _unread(b.fileno())
    assert not _buffered(object())  # no websockets frame queue: frames go one by one


async def test_frames_already_buffered_on_the_connection_are_aggregated_with_the_one_read() -> None:
    import collections
    from types import SimpleNamespace

    class Frame:
        fin = True

    class Conn:
        """What the feed reads of a ``websockets`` connection: ``recv()`` and the queue of received frames."""

        def __init__(self, raws: list[bytes]) -> None:
            self.raws = collections.deque(raws)
            self.frames: collections.deque[Frame] = collections.deque(Frame() for _ in raws)
            self.recv_messages = SimpleNamespace(frames=SimpleNamespace(queue=self.frames))

        async def recv(self) -> bytes:
            if not self.raws:
                raise ConnectionError("closed")
            self.frames.popleft()
            return self.raws.popleft()

    f, sink = feed(), Sink()
    conn = Conn([msgpack.packb([trade("AAPL", i)]) for i in range(1, 4)])
    with pytest.raises(ConnectionError):
        await f._receive_frames(conn, sink)
    (b,) = sink.batches  # three frames, one batch
    assert b.trade_id is not None and b.trade_id.tolist() == [1, 2, 3] and f.merged == 2
    conn = Conn([msgpack.packb([trade("AAPL", 4)])])
    conn.recv_messages = SimpleNamespace()  # no frame queue to look at: one frame at a time
    with pytest.raises(ConnectionError):
        await f._receive_frames(conn, sink)
    assert len(sink.batches) == 2 and f.merged == 2
