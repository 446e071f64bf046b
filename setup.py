"""Build hook for the one C file of the package (everything else is in pyproject.toml).

``jonbu_core/enrich/_tastep.c`` is plain C (no Python API) that the incremental
enrichment path loads with ctypes to advance TA-Lib's streaming handles in one
call per bar. It is optional: without a C compiler the install still succeeds and
the path falls back to TA-Lib's Python handles (same numbers, slower).
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("jonbu_core.enrich._tastep", ["jonbu_core/enrich/_tastep.c"],
                             extra_compile_args=["-O2", "-ffp-contract=off"], optional=True)])
