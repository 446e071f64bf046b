"""The Dagster code location of jonbu-ohlcv (``workspace.yaml`` points here).

Thin on purpose: every asset, check, job, schedule and sensor is defined in a domain folder
under :mod:`jonbu_pipelines.defs` and discovered automatically (a new module there is picked
up without editing this file); the resources are chosen from settings in
:mod:`jonbu_pipelines.resources`.
"""

from __future__ import annotations

import warnings
from typing import Any

import dagster as dg

import jonbu_pipelines.defs
from jonbu_pipelines.resources import resources_from_settings

#: Steps of a run execute in their own processes, started with ``spawn``: the deltalake
#: runtime panics in forked children.
EXECUTOR = dg.multiprocess_executor.configured({"max_concurrent": 2, "start_method": {"spawn": {}}})


def build_defs(executor: Any = EXECUTOR, resources: dict[str, Any] | None = None) -> dg.Definitions:
    """Every definition under :mod:`jonbu_pipelines.defs`, with resources from settings.

    Parameters
    ----------
    executor : ExecutorDefinition
        The default executor of every job (multiprocess with spawn).
    resources : dict, optional
        Resources to use instead of :func:`~jonbu_pipelines.resources.resources_from_settings`.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.PreviewWarning)
        return dg.load_definitions_from_package_module(
            jonbu_pipelines.defs,
            resources=resources if resources is not None else resources_from_settings(),
            executor=executor,
        )


defs = build_defs()
