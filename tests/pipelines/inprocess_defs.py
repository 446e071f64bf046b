"""The real definitions with the in-process executor (for tests that run many runs in-process).

A ``@dg.definitions`` function: built on every load, so resources follow the test's settings.
"""

from __future__ import annotations

import dagster as dg


@dg.definitions
def defs() -> dg.Definitions:
    from jonbu_pipelines.definitions import build_defs

    return build_defs(executor=dg.in_process_executor)
