"""faltung.distribution: data-parallel training over MPI.

The MPI tests start ``mpirun -n 2`` (and ``-n 3``, oversubscribed on 2 cores) on
tests/mpi_worker.py, which trains under DataParallel on every rank and, on rank 0, the same
model in one process; they are skipped with a message when mpirun or mpi4py is missing
(.ci/run installs Open MPI and mpi4py). The other tests need no MPI."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import faltung as keras
from faltung import distribution
from faltung.distribution import _replica
from faltung.models.data import shard_batch

ROOT = Path(__file__).resolve().parent.parent
WORKER = Path(__file__).resolve().parent / "mpi_worker.py"
HAVE_MPI = shutil.which("mpirun") is not None and importlib.util.find_spec("mpi4py") is not None
needs_mpi = pytest.mark.skipif(not HAVE_MPI, reason="MPI tests need mpirun (Open MPI: apt-get "
                               "install openmpi-bin libopenmpi-dev) and mpi4py (pip install "
                               "'faltung[mpi]')")


def mpirun(ranks: int, *args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    command = ["mpirun", "--oversubscribe", "-n", str(ranks)]
    if os.geteuid() == 0:
        command.insert(1, "--allow-run-as-root")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "PYTHONPATH": str(ROOT)}
    return subprocess.run([*command, sys.executable, *args], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=ROOT)


def run_worker(ranks: int, scenario: str, out: Path) -> tuple[list[dict], dict]:
    result = mpirun(ranks, str(WORKER), scenario, str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    per_rank = [dict(np.load(out / f"rank{r}.npz")) for r in range(ranks)]
    return per_rank, dict(np.load(out / "single.npz"))


def weights(arrays: dict) -> list[np.ndarray]:
    return [arrays[f"w{i}"] for i in range(sum(k.startswith("w") for k in arrays))]


# -- without MPI ------------------------------------------------------------------------------
def test_shard_batch_splits_rows_as_evenly_as_array_split() -> None:
    x, y, sw = np.arange(10)[:, None], np.arange(10) * 2, np.arange(10) * 3.0
    pieces = [shard_batch([x], [y], sw, rank, 3) for rank in range(3)]
    assert [p[3] for p in pieces] == [0, 4, 7] and all(p[4] == 10 for p in pieces)
    for piece, expected in zip(pieces, np.array_split(np.arange(10), 3)):
        np.testing.assert_array_equal(piece[0][0][:, 0], expected)
        np.testing.assert_array_equal(piece[1][0], expected * 2)
        np.testing.assert_array_equal(piece[2], expected * 3.0)


def test_shard_batch_smaller_than_the_ranks_is_replicated() -> None:
    xs, ys, sw, offset, total = shard_batch([np.ones((1, 2))], [np.ones(1)], None, 1, 4)
    assert offset is None and total == 4 and xs[0].shape == (1, 2)


def test_dropout_draw_is_this_shards_rows_of_the_global_draw() -> None:
    _replica.current = _replica.Shard(offset=3, count=2, total=7, comm=None)
    try:
        mine = _replica.uniform(np.random.default_rng(5), (2, 4))
        shared = _replica.uniform(np.random.default_rng(5), (1, 4))  # noise_shape (1, 4)
    finally:
        _replica.current = None
    full = np.random.default_rng(5).random((7, 4), dtype=np.float32)
    np.testing.assert_array_equal(mine, full[3:5])
    np.testing.assert_array_equal(shared, np.random.default_rng(5).random((1, 4), np.float32))


def test_without_a_distribution_mpi4py_is_not_imported() -> None:
    code = ("import sys, numpy as np, faltung as keras\n"
            "m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2),"
            " keras.layers.BatchNormalization(synchronized=True), keras.layers.Dropout(0.5)])\n"
            "m.compile('sgd', 'mse'); m.fit(np.ones((8, 3)), np.ones((8, 2)), verbose=0)\n"
            "print(keras.distribution.distribution(), keras.distribution.list_devices(),"
            " 'mpi4py' in sys.modules)\n")
    env = {k: v for k, v in os.environ.items()
           if k not in ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, cwd=ROOT, timeout=120)
    assert out.stdout.strip() == "None ['cpu:0'] False", out.stderr


def test_keras_api_refusals() -> None:
    with pytest.raises(NotImplementedError, match="device_mesh"):
        distribution.DataParallel(device_mesh=object())
    with pytest.raises(NotImplementedError, match="ModelParallel is not supported"):
        distribution.ModelParallel()
    with pytest.raises(NotImplementedError, match="job_addresses"):
        distribution.initialize(job_addresses="a:1,b:1")
    with pytest.raises(ValueError, match="expects a DataParallel or None"):
        distribution.set_distribution("data_parallel")
    with pytest.raises(ValueError, match="device_type 'gpu'"):
        distribution.list_devices("gpu")
    with pytest.raises(ValueError, match="timeout must be positive"):
        distribution.DataParallel(timeout=0)
    assert distribution.distribution() is None and distribution.is_chief()
    assert keras.distribution is distribution


# -- over MPI ---------------------------------------------------------------------------------
EQUIVALENCE = [  # scenario, ranks, tolerance (rtol = atol) against one process
    ("dense64", 2, 1e-12), ("dense64", 3, 1e-12),
    ("uneven64", 2, 1e-12), ("uneven64", 3, 1e-12),    # shards of 7, 7, 6 rows...
    ("dense32", 2, 2e-6),
    ("cnn_sync", 2, 2e-6), ("cnn_sync", 3, 2e-6),       # BatchNormalization + Dropout
    ("pydataset", 2, 2e-6), ("pydataset", 3, 2e-6),     # PyDataset, then a generator
    ("custom_step", 2, 2e-6),                           # user's train_step
    ("preshard", 2, 1e-12),                             # auto_shard_dataset=False
]


@needs_mpi
@pytest.mark.slow
@pytest.mark.parametrize(("scenario", "ranks", "tolerance"), EQUIVALENCE)
def test_n_ranks_train_as_one_process_with_the_global_batch(
        tmp_path: Path, scenario: str, ranks: int, tolerance: float) -> None:
    per_rank, single = run_worker(ranks, scenario, tmp_path)
    for other in per_rank[1:]:  # bit-identical replicas
        for a, b in zip(weights(per_rank[0]), weights(other)):
            assert a.tobytes() == b.tobytes()
    for got, want in zip(weights(per_rank[0]), weights(single)):
        np.testing.assert_allclose(got, want, rtol=tolerance, atol=tolerance)
    allreduces, steps = per_rank[0].pop("h_calls")
    assert allreduces == steps > 0  # one fused Allreduce of the gradients per step
    for other in per_rank[1:]:
        other.pop("h_calls")
    history_keys = [k for k in single if k.startswith("h_")]
    assert sorted(history_keys) == sorted(k for k in per_rank[0] if k.startswith("h_"))
    for key in history_keys:  # global logs: the metrics of the whole batch
        np.testing.assert_allclose(per_rank[0][key], single[key], rtol=1e-6, atol=1e-6)
        for other in per_rank[1:]:
            np.testing.assert_array_equal(other[key], per_rank[0][key])


@needs_mpi
@pytest.mark.slow
def test_a_model_built_inside_fit_starts_from_rank_zeros_weights(tmp_path: Path) -> None:
    per_rank, _ = run_worker(2, "lazy", tmp_path)  # each rank seeded differently
    assert weights(per_rank[0])
    for a, b in zip(weights(per_rank[0]), weights(per_rank[1])):
        assert a.tobytes() == b.tobytes()


@needs_mpi
@pytest.mark.slow
def test_data_parallel_on_a_list_of_devices(tmp_path: Path) -> None:
    result = mpirun(3, str(WORKER), "subset", str(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "left out: DataParallel: this process (rank 2) is not among the devices " \
        "['cpu:0', 'cpu:1']" in result.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rank0.npz", "rank1.npz", "single.npz"]
    ranks = [dict(np.load(tmp_path / f"rank{r}.npz")) for r in (0, 1)]
    single = dict(np.load(tmp_path / "single.npz"))
    for a, b, want in zip(weights(ranks[0]), weights(ranks[1]), weights(single)):
        assert a.tobytes() == b.tobytes()
        np.testing.assert_allclose(a, want, rtol=1e-12, atol=1e-12)


@needs_mpi
@pytest.mark.slow
def test_local_batch_statistics_keep_the_moving_statistics_in_sync(tmp_path: Path) -> None:
    per_rank, single = run_worker(2, "cnn_local", tmp_path)
    moving = [w for w in weights(per_rank[0]) if w.ndim == 1 and w.shape == (4,)]
    assert moving  # gamma, beta, moving mean, moving variance of the BatchNormalization
    for a, b in zip(weights(per_rank[0]), weights(per_rank[1])):
        assert a.tobytes() == b.tobytes()
    # each rank normalised with its own shard's statistics: not the one-process weights
    assert not np.allclose(weights(per_rank[0])[0], weights(single)[0], atol=1e-4)


@needs_mpi
@pytest.mark.slow
def test_rank_zero_alone_writes_files_and_prints_progress(tmp_path: Path) -> None:
    result = mpirun(2, str(WORKER), "writers", str(tmp_path))
    assert result.returncode == 0, result.stderr
    rows = (tmp_path / "log.csv").read_text().splitlines()
    assert rows[0] == "epoch,loss" and [r.split(",")[0] for r in rows[1:]] == ["0", "1"]
    assert (tmp_path / "ck.weights.h5").exists()
    assert result.stdout.count("Epoch 1/2") == 1 and result.stdout.count("Epoch 2/2") == 1


@needs_mpi
@pytest.mark.slow
@pytest.mark.parametrize(("kind", "message"), [
    ("raise", "rank 1 failed with ValueError: rank 1 broke on purpose"),
    ("exit", "exited"),
    ("hang", "rank 0 waited 5 s in Allreduce (gradients) for the other ranks"),
    ("diverge", "the weights differ between ranks after step"),
    ("sum", "NotImplementedError: fit under DataParallel: loss 'mean_squared_error' has "
            "reduction='sum'"),
])
def test_a_failing_rank_stops_every_rank(tmp_path: Path, kind: str, message: str) -> None:
    start = time.monotonic()
    result = mpirun(2, str(WORKER), f"fail_{kind}", str(tmp_path), timeout=120)
    assert result.returncode != 0
    assert message in result.stdout + result.stderr
    assert "finished" not in result.stdout
    assert time.monotonic() - start < 90


@needs_mpi
@pytest.mark.slow
def test_lab_under_mpirun_writes_one_report(tmp_path: Path) -> None:
    result = mpirun(2, "-m", "faltung", "lab", "and-neuron", "--epochs", "2",
                    "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("Report:") == 1
    folder = tmp_path / "and-neuron"
    assert (folder / "report.html").exists() and (folder / "model.keras").exists()
    alone = subprocess.run([sys.executable, "-m", "faltung", "lab", "and-neuron", "--epochs",
                            "2", "--out", str(tmp_path / "alone")], cwd=ROOT,
                           capture_output=True, text=True, timeout=240)
    assert alone.returncode == 0, alone.stderr
    # rank 0 alone prints: the summaries, epochs and figures once, as one process does (the
    # progress bars' own lines depend on whether mpirun gives the ranks a terminal)
    def printed(text: str) -> list[str]:
        return [line for line in text.splitlines() if "━" not in line and line.strip()]

    assert len(printed(result.stdout)) == len(printed(alone.stdout))
    got = (folder / "history.csv").read_text().splitlines()
    want = (tmp_path / "alone" / "and-neuron" / "history.csv").read_text().splitlines()
    assert got[0] == want[0] and len(got) == len(want) == 5  # two runs of two epochs
    for row, expected in zip(got[1:], want[1:]):  # one sample per update: the same training
        assert row.split(",")[:2] == expected.split(",")[:2]
        np.testing.assert_allclose([float(v) for v in row.split(",")[2:]],
                                   [float(v) for v in expected.split(",")[2:]], rtol=1e-6)


class _OneRank:
    """A communicator of one rank: every sum is the rank's own buffer."""

    def allreduce_sum(self, buffer: np.ndarray, what: str = "") -> np.ndarray:
        return buffer


class _Threads:
    """Ranks simulated by threads: ``allreduce_sum`` sums the buffers of every thread."""

    def __init__(self, size: int) -> None:
        import threading
        self.barrier = threading.Barrier(size)
        self.slots: dict[int, np.ndarray] = {}
        self.size = size

    def for_rank(self, rank: int) -> object:
        outer = self

        class Comm:
            def allreduce_sum(self, buffer: np.ndarray, what: str = "") -> np.ndarray:
                outer.slots[rank] = buffer.copy()
                outer.barrier.wait()
                buffer[...] = sum(outer.slots[r] for r in range(outer.size))
                outer.barrier.wait()
                return buffer

        return Comm()


def test_synchronized_batch_norm_backward_matches_finite_differences() -> None:
    from faltung.gradcheck import gradient_error
    rng = np.random.default_rng(0)
    x, gamma, beta = rng.normal(size=(6, 3)), rng.normal(size=3), rng.normal(size=3)
    shard = _replica.Shard(0, 6, 6, _OneRank())

    def f(x: object, gamma: object, beta: object) -> object:
        return _replica.sync_batch_norm(x, gamma, beta, 1e-3, shard)[0]

    assert gradient_error(f, [x, gamma, beta]) < 1e-8


def test_synchronized_batch_norm_over_two_ranks_is_the_whole_batchs() -> None:
    import threading

    from faltung import ops
    from faltung.tensor import Tensor
    rng = np.random.default_rng(1)
    x = rng.normal(size=(7, 2, 3))
    gamma, beta, upstream = rng.normal(size=3), rng.normal(size=3), rng.normal(size=(7, 2, 3))
    tx, tg, tb = (Tensor(a, requires_grad=True) for a in (x, gamma, beta))
    want, want_mean, want_var = ops.batch_norm(tx, tg, tb, 1e-3)
    want.backward(upstream)
    comms, results = _Threads(2), {}
    rows = {0: slice(0, 4), 1: slice(4, 7)}

    def rank(r: int) -> None:
        share = (rows[r].stop - rows[r].start) / 7
        px, pg, pb = (Tensor(a.copy(), requires_grad=True) for a in (x[rows[r]], gamma, beta))
        out, mean, var = _replica.sync_batch_norm(
            px, pg, pb, 1e-3, _replica.Shard(rows[r].start, rows[r].stop - rows[r].start, 7,
                                             comms.for_rank(r)))
        out.backward(upstream[rows[r]] / share)  # the gradient of this rank's own mean loss
        results[r] = (out.data, mean, var, px.grad * share, pg.grad * share, pb.grad * share)

    threads = [threading.Thread(target=rank, args=(r,)) for r in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    np.testing.assert_allclose(np.concatenate([results[0][0], results[1][0]]), want.data,
                               rtol=1e-12, atol=1e-12)
    for r in (0, 1):
        np.testing.assert_allclose(results[r][1], want_mean, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(results[r][2], want_var, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(np.concatenate([results[0][3], results[1][3]]), tx.grad,
                               rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(results[0][4] + results[1][4], tg.grad, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(results[0][5] + results[1][5], tb.grad, rtol=1e-10, atol=1e-12)


def test_keras_names_faltung_does_not_have_are_refused() -> None:
    with pytest.raises(NotImplementedError, match="DeviceMesh is not supported"):
        _ = distribution.DeviceMesh
