"""Data-parallel training over MPI with Keras 3's ``keras.distribution`` names.

Start N processes with ``mpirun -n N python train.py``; in the script::

    keras.distribution.set_distribution(keras.distribution.DataParallel())
    model.fit(x, y, batch_size=64)      # 64 is the global batch: 64 / N rows per rank

Every rank then trains one replica: rank 0's initial weights (and random generator) are
broadcast, each rank runs ``train_step`` on its rows of every global batch, the optimizer
averages the gradients over the ranks (one fused Allreduce per step, inside
``optimizer.apply``, so custom ``train_step`` methods work unchanged, as with
``tf.distribute``), the logs are global, and only rank 0 prints progress and writes files.
mpi4py (``pip install 'faltung[mpi]'``) is imported only when a distribution is created.
"""

from __future__ import annotations

from typing import Any

from faltung.distribution._comm import launched_by_mpirun
from faltung.distribution.data_parallel import DataParallel

__all__ = ["DataParallel", "ModelParallel", "distribution", "initialize", "is_chief",
           "list_devices", "set_distribution"]

_distribution: Any = None


def set_distribution(value: Any) -> None:
    """Make ``value`` (a :class:`DataParallel`, or None to go back to one process) the
    distribution that ``fit`` uses."""
    global _distribution
    if value is not None and not isinstance(value, DataParallel):
        raise ValueError(f"set_distribution expects a DataParallel or None, got {value!r} "
                         f"(faltung has no ModelParallel)")
    _distribution = value


def distribution() -> Any:
    """The distribution set with :func:`set_distribution`, else None."""
    return _distribution


def is_chief() -> bool:
    """True unless a distribution is set and this process is not its rank 0: the process
    that prints progress and writes files (checkpoints, CSV logs, reports)."""
    return _distribution is None or _distribution.is_chief


def list_devices(device_type: str | None = None) -> list[str]:
    """The MPI ranks as devices, ``['cpu:0', ..., 'cpu:N-1']`` (one CPU process each);
    ``['cpu:0']`` in a process not started by mpirun. Only ``'cpu'`` devices exist."""
    if device_type is not None and device_type.lower() != "cpu":
        raise ValueError(f"list_devices: faltung runs on CPU processes only; device_type "
                         f"{device_type!r} has no devices (use 'cpu' or None)")
    size = launched_by_mpirun()
    if size > 1:
        from faltung.distribution._comm import mpi
        size = mpi().COMM_WORLD.Get_size()
    return [f"cpu:{rank}" for rank in range(size)]


def initialize(job_addresses: Any = None, num_processes: int | None = None,
               process_id: int | None = None) -> None:
    """Keras's multi-process start-up. MPI's launcher (``mpirun``, with ``--host`` or a
    hostfile for several machines) starts and connects the processes, so this only checks
    ``num_processes`` and ``process_id`` against MPI's world; ``job_addresses`` is refused
    (give the hosts to mpirun)."""
    if job_addresses is not None:
        raise NotImplementedError("initialize(job_addresses=...) is not supported: the MPI "
                                  "launcher connects the processes; pass the machines to "
                                  "`mpirun --host a,b` or `--hostfile FILE`")
    from faltung.distribution._comm import mpi
    world = mpi().COMM_WORLD
    if num_processes is not None and int(num_processes) != world.Get_size():
        raise ValueError(f"initialize: num_processes={num_processes} but mpirun started "
                         f"{world.Get_size()} process(es)")
    if process_id is not None and int(process_id) != world.Get_rank():
        raise ValueError(f"initialize: process_id={process_id} but this process is MPI rank "
                         f"{world.Get_rank()}")


_NOT_HERE = ("DeviceMesh", "TensorLayout", "LayoutMap", "distribute_tensor")


def __getattr__(name: str) -> Any:
    if name in _NOT_HERE:
        raise NotImplementedError(f"keras.distribution.{name} is not supported by faltung: it "
                                  "has no device meshes or layouts, only whole replicas on MPI "
                                  "ranks; use DataParallel()")
    raise AttributeError(f"module 'faltung.distribution' has no attribute {name!r}")


class ModelParallel:
    """Not supported: faltung replicates whole models (DataParallel) only."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError("keras.distribution.ModelParallel is not supported by "
                                  "faltung: it trains whole replicas over MPI ranks; use "
                                  "DataParallel()")
