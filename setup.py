"""Build hook for the package's C files (everything else is in pyproject.toml).

Each is plain C (no Python API) loaded with ctypes, and each is optional: without a
C compiler the install still succeeds and the Python code falls back to its own
path (same results, slower).

* ``jonbu_core/enrich/_tastep.c``: advances TA-Lib's streaming handles in one call
  per bar (the incremental enrichment path).
* ``jonbu_core/aggregation/_fastagg.c``: the aggregator's live-stream fast path
  (trades into the open bars of their current minute, every timeframe at once).
* ``jonbu_stream/feeds/_wire.c``: Alpaca's msgpack trade frames decoded straight
  into columns.
"""

from setuptools import Extension, setup

_FLAGS = ["-O2", "-ffp-contract=off"]
_SOURCES = {
    "jonbu_core.enrich._tastep": "jonbu_core/enrich/_tastep.c",
    "jonbu_core.aggregation._fastagg": "jonbu_core/aggregation/_fastagg.c",
    "jonbu_stream.feeds._wire": "jonbu_stream/feeds/_wire.c",
}

setup(ext_modules=[Extension(name, [src], extra_compile_args=_FLAGS, optional=True) for name, src in _SOURCES.items()])
