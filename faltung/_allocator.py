"""Keep freed memory in the process for the next training step (glibc only).

A training step allocates and frees the same few hundred arrays of megabytes again and again.
With glibc's defaults, arrays above its (adaptive) mmap threshold are mapped fresh from the
kernel and unmapped when freed, and a freed heap top is given back at once; every new array then
pays a page fault per 4 KiB page, zeroed by the kernel, before NumPy writes a single value. That
costs 12-20 % of a CIFAR-10 CNN step on 2 cores. PyTorch avoids it with a caching allocator;
faltung asks glibc for the same: arrays up to 32 MiB come from the heap, and up to 1 GiB of
freed heap stays in the process for reuse.

This changes the process's ``malloc`` settings once, at ``import faltung``; set the environment
variable ``FALTUNG_MALLOC_TUNING=0`` to keep glibc's defaults. Elsewhere than Linux/glibc it does
nothing.
"""

from __future__ import annotations

import ctypes
import os
import sys

# mallopt parameter numbers from glibc's <malloc.h>
_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
_M_MMAP_THRESHOLD = -3

MMAP_THRESHOLD = 32 * 2**20  # glibc's largest allowed value on 64-bit systems
TRIM_THRESHOLD = 2**30
TOP_PAD = 64 * 2**20

_tuned = False


def tune_malloc() -> bool:
    """Apply the settings above once; returns whether glibc accepted all of them."""
    global _tuned
    if _tuned:
        return True
    if not sys.platform.startswith("linux") or os.environ.get("FALTUNG_MALLOC_TUNING") == "0":
        return False
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    _tuned = all(mallopt(param, value) == 1 for param, value in (
        (_M_MMAP_THRESHOLD, MMAP_THRESHOLD), (_M_TRIM_THRESHOLD, TRIM_THRESHOLD),
        (_M_TOP_PAD, TOP_PAD)))
    return _tuned
