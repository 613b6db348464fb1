"""The MPI side of faltung.distribution: mpi4py imported on first use, collectives on
contiguous NumPy buffers with a deadline, and stopping every rank when one fails.

Every collective goes through a non-blocking MPI call that is polled against a deadline: a rank
that has died or hangs makes the others print a clear message and abort the whole MPI job,
instead of waiting for ever. An exception that escapes on one rank aborts the job too
(:func:`install_excepthook`), as ``python -m mpi4py`` does.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from typing import Any

import numpy as np

_MPI: Any = None


def mpi() -> Any:
    """mpi4py's MPI module; a clear error when mpi4py (faltung's ``mpi`` extra) is missing."""
    global _MPI
    if _MPI is None:
        try:
            from mpi4py import MPI
        except ImportError as error:
            raise ImportError(
                "faltung.distribution needs mpi4py and an MPI library (Open MPI): "
                "`apt-get install openmpi-bin libopenmpi-dev` and `pip install 'faltung[mpi]'`, "
                f"then start the ranks with `mpirun -n N python script.py` ({error})") from None
        _MPI = MPI
    return _MPI


def launched_by_mpirun() -> int:
    """The world size mpirun (Open MPI, or a PMI launcher such as MPICH's) announced in the
    environment, 1 when the process was not started by a launcher; MPI is not touched."""
    for name in ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"):
        value = os.environ.get(name)
        if value and value.isdigit():
            return int(value)
    return 1


class Communicator:
    """The ranks taking part (a sub-communicator of MPI's world when only some are named)."""

    def __init__(self, ranks: list[int] | None, timeout: float) -> None:
        MPI = mpi()
        world = MPI.COMM_WORLD
        self.world = world
        if ranks is None or sorted(ranks) == list(range(world.Get_size())):
            self.comm = world.Dup()
        else:
            colour = 0 if world.Get_rank() in ranks else MPI.UNDEFINED
            self.comm = world.Split(colour, ranks.index(world.Get_rank())
                                    if world.Get_rank() in ranks else 0)
        if self.comm == MPI.COMM_NULL:
            self.rank, self.size = -1, 0
        else:
            self.comm.Set_errhandler(MPI.ERRORS_ARE_FATAL)
            self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        self.timeout = float(timeout)
        # seconds and calls of Allreduce by purpose ('Allreduce (gradients)', ...): the
        # benchmark reads them
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}

    # -- collectives --------------------------------------------------------------------------
    def _wait(self, request: Any, what: str) -> None:
        deadline = time.monotonic() + self.timeout
        pause = 0.0
        while not request.Test():
            if time.monotonic() > deadline:
                abort(f"rank {self.rank} waited {self.timeout:g} s in {what} for the other "
                      f"ranks: one of the {self.size} ranks has died or hangs")
            time.sleep(pause)
            pause = min(pause * 2 or 1e-6, 1e-3)

    def allreduce_sum(self, buffer: np.ndarray, what: str = "Allreduce") -> np.ndarray:
        """Sum ``buffer`` (contiguous) over the ranks, in place."""
        if self.size == 1:
            return buffer
        MPI = mpi()
        start = time.perf_counter()
        self._wait(self.comm.Iallreduce(MPI.IN_PLACE, buffer, op=MPI.SUM), what)
        self.seconds[what] = self.seconds.get(what, 0.0) + time.perf_counter() - start
        self.calls[what] = self.calls.get(what, 0) + 1
        return buffer

    def bcast_buffer(self, buffer: np.ndarray, what: str = "Bcast") -> np.ndarray:
        """Rank 0's ``buffer`` on every rank, in place."""
        if self.size > 1:
            self._wait(self.comm.Ibcast(buffer, root=0), what)
        return buffer

    def bcast_object(self, value: Any, what: str = "Bcast") -> Any:
        """Rank 0's picklable ``value`` on every rank."""
        if self.size == 1:
            return value
        import pickle
        data = np.frombuffer(pickle.dumps(value), dtype=np.uint8) if self.rank == 0 \
            else np.empty(0, np.uint8)
        length = self.bcast_buffer(np.array([data.size], np.int64), what)
        if self.rank != 0:
            data = np.empty(int(length[0]), np.uint8)
        return pickle.loads(self.bcast_buffer(np.ascontiguousarray(data), what).tobytes())

    def allgather_int(self, value: int, what: str = "Allgather") -> list[int]:
        """Every rank's ``value``, in rank order."""
        if self.size == 1:
            return [int(value)]
        out = np.empty(self.size, np.int64)
        self._wait(self.comm.Iallgather(np.array([value], np.int64), out), what)
        return [int(v) for v in out]


def abort(message: str, code: int = 1) -> None:
    """Print ``message`` and stop every rank of the MPI job (MPI_Abort)."""
    sys.stdout.flush()
    print(f"faltung.distribution: {message}. Aborting all ranks.", file=sys.stderr, flush=True)
    mpi().COMM_WORLD.Abort(code)


_hook_installed = False


def install_excepthook() -> None:
    """An exception that escapes on any rank prints its traceback, then aborts the MPI job so
    that the other ranks do not wait for ever in their next collective."""
    global _hook_installed
    if _hook_installed:
        return
    _hook_installed = True

    def hook(kind: Any, value: Any, tb: Any) -> None:
        traceback.print_exception(kind, value, tb)
        abort(f"rank {mpi().COMM_WORLD.Get_rank()} failed with {kind.__name__}: {value}")

    sys.excepthook = hook
