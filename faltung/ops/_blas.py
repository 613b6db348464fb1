"""One BLAS thread for a stretch of small matrix products (OpenBLAS, as NumPy's wheels bundle it).

A recurrent layer multiplies a (batch, units) state by its recurrent kernel once per time step:
80 GEMMs of 32 x 128 x 512 for the IMDB LSTM, each a few tens of microseconds of work. OpenBLAS
splits even these over its threads, and its threads spin and wait on each other; on a busy 2-core
machine that made those products 3-8 times slower than on one thread (and whole LSTM training
steps 7 times slower). :func:`single_threaded` sets OpenBLAS to one thread for the duration of
such a loop and restores the previous count afterwards; large GEMMs elsewhere keep their
threads. Where the BLAS is not an OpenBLAS found in the process (another BLAS, another system),
it does nothing.
"""

from __future__ import annotations

import contextlib
import ctypes
from collections.abc import Iterator
from typing import Any

_functions: tuple[Any, Any] | tuple[()] | None = None


def _openblas() -> tuple[Any, Any] | tuple[()]:
    """OpenBLAS's (set_num_threads, get_num_threads), looked up once; () when there is none."""
    global _functions
    if _functions is not None:
        return _functions
    _functions = ()
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            paths = sorted({line.split()[-1] for line in maps
                            if "openblas" in line.lower() and "/" in line})
    except OSError:  # not Linux
        return _functions
    for path in paths:
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix in ("scipy_openblas_", "openblas_"):
            for suffix in ("64_", ""):
                set_threads = getattr(library, f"{prefix}set_num_threads{suffix}", None)
                get_threads = getattr(library, f"{prefix}get_num_threads{suffix}", None)
                if set_threads is not None and get_threads is not None:
                    set_threads.argtypes, set_threads.restype = [ctypes.c_int], None
                    get_threads.argtypes, get_threads.restype = [], ctypes.c_int
                    _functions = (set_threads, get_threads)
                    return _functions
    return _functions


@contextlib.contextmanager
def single_threaded() -> Iterator[None]:
    """OpenBLAS on one thread inside the block, its previous thread count after it."""
    functions = _openblas()
    if not functions:
        yield
        return
    set_threads, get_threads = functions
    previous = get_threads()
    if previous <= 1:
        yield
        return
    set_threads(1)
    try:
        yield
    finally:
        set_threads(previous)
