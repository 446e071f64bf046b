"""Loading the package's optional C helpers (the extensions of ``setup.py``).

Each helper is plain C (no Python API) built next to the module that uses it and
loaded with ctypes; each reports a layout version that must match the module's, and
each is optional: when it is not built (no C compiler at install time), stale or
unloadable, :func:`load_helper` logs why and returns ``None``, and the module runs
its Python path (same results, slower).
"""

from __future__ import annotations

import ctypes
import glob
import logging
import os
from collections.abc import Callable
from importlib.machinery import EXTENSION_SUFFIXES

logger = logging.getLogger(__name__)


def load_helper(module_file: str, name: str, abi: int, *, what: str, fallback: str, abi_symbol: str = "jb_abi",
                keep_gil: bool = False, check: Callable[[ctypes.CDLL], None] | None = None) -> ctypes.CDLL | None:
    """The C helper ``name`` built next to ``module_file``, or ``None`` (the reason is logged).

    Parameters
    ----------
    module_file : str
        ``__file__`` of the module using it (the helper sits in the same folder).
    name : str
        The extension's file name without its suffix (``_fastagg``).
    abi : int
        The layout version the module expects from ``abi_symbol()``.
    what, fallback : str
        For the log: what the helper does, and what runs without it.
    abi_symbol : str
        The helper's function returning its layout version.
    keep_gil : bool
        Load with :class:`ctypes.PyDLL`: calls keep the GIL (cheaper for calls of a few
        µs, and nothing else runs while the C code changes NumPy arrays in place).
    check : callable, optional
        More checks of the loaded library; raises ``AttributeError`` with the reason.
    """
    here = os.path.dirname(module_file)
    paths = [p for suffix in EXTENSION_SUFFIXES for p in glob.glob(os.path.join(here, f"{name}{suffix}"))]
    if not paths:
        logger.info("%s: the C helper %s is not built; %s", what, name, fallback)
        return None
    try:
        lib = (ctypes.PyDLL if keep_gil else ctypes.CDLL)(paths[0])
        got = getattr(lib, abi_symbol)()
        if got != abi:
            raise AttributeError(f"{name} is layout {got}, this module expects {abi} (rebuild it: pip install -e .)")
        if check is not None:
            check(lib)
    except (OSError, AttributeError) as exc:  # pragma: no cover - depends on the install
        logger.warning("%s: the C helper %s is unusable (%s); %s", what, name, exc, fallback)
        return None
    return lib


__all__ = ["load_helper"]
