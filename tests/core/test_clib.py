"""The loader of the optional C helpers: a stale or missing build falls back, with the reason logged."""

from __future__ import annotations

import logging

import pytest

from jonbu_core.aggregation import fast
from jonbu_core.clib import load_helper


@pytest.mark.skipif(not fast.available(), reason="the C helper _fastagg is not built")
def test_a_helper_of_another_layout_is_refused(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="jonbu_core.clib"):
        assert load_helper(fast.__file__, "_fastagg", 999, abi_symbol="ja_abi", what="test", fallback="Python") is None
    assert "expects 999" in caplog.text and "rebuild it" in caplog.text
    assert load_helper(fast.__file__, "_fastagg", fast._ABI, abi_symbol="ja_abi", what="test", fallback="x") is not None


def test_a_missing_helper_is_reported_not_fatal(caplog: pytest.LogCaptureFixture) -> None:
    def refuse(lib: object) -> None:
        raise AttributeError("not this one")

    with caplog.at_level(logging.INFO, logger="jonbu_core.clib"):
        assert load_helper(fast.__file__, "_nothing_here", 1, what="test", fallback="the Python path") is None
    assert "not built; the Python path" in caplog.text
    if fast.available():
        with caplog.at_level(logging.WARNING, logger="jonbu_core.clib"):
            assert load_helper(fast.__file__, "_fastagg", fast._ABI, abi_symbol="ja_abi", what="test",
                               fallback="x", check=refuse) is None
        assert "not this one" in caplog.text
