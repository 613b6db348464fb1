"""Run by tests/test_distribution.py under ``mpirun -n N``: one scenario per call
(``python tests/mpi_worker.py SCENARIO OUTDIR``). Every rank trains under DataParallel and
saves what it got to OUTDIR/rank<R>.npz; rank 0 also trains the same model in one process
(no distribution) and saves that as OUTDIR/single.npz, for the test to compare."""

from __future__ import annotations

import os
import sys
import time

import numpy as np

import faltung as keras
from faltung import distribution

SCENARIO, OUT = sys.argv[1], sys.argv[2]


def data(n: int, features: int = 6, seed: int = 1, dtype: str = "float32") -> tuple:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features)).astype(dtype)
    y = (x @ rng.normal(size=(features, 2)) + 0.1 * rng.normal(size=(n, 2))).astype(dtype)
    return x, y


def images(n: int, seed: int = 2) -> tuple:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 8, 8, 2)).astype("float32")
    y = (x.mean(axis=(1, 2, 3)) > 0).astype("int64")
    return x, y


def dense_model(dtype: str = "float32") -> keras.Model:
    return keras.Sequential([keras.Input((6,), dtype=dtype),
                             keras.layers.Dense(8, activation="tanh", dtype=dtype),
                             keras.layers.Dense(2, dtype=dtype)])


def cnn_model(synchronized: bool) -> keras.Model:
    return keras.Sequential([
        keras.Input((8, 8, 2)),
        keras.layers.Conv2D(4, 3, padding="same", use_bias=False),  # BN follows
        keras.layers.BatchNormalization(synchronized=synchronized),
        keras.layers.Activation("relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Flatten(),
        keras.layers.Dropout(0.3),
        keras.layers.Dense(2, activation="softmax")])


class Batches(keras.utils.PyDataset):
    def __init__(self, x: np.ndarray, y: np.ndarray, size: int) -> None:
        super().__init__()
        self.x, self.y, self.size = x, y, size

    def __len__(self) -> int:
        return -(-len(self.x) // self.size)

    def __getitem__(self, i: int) -> tuple:
        return self.x[i * self.size:(i + 1) * self.size], self.y[i * self.size:(i + 1) * self.size]


class CustomStep(keras.Model):
    """A user's train_step that calls optimizer.apply_gradients itself."""

    def __init__(self) -> None:
        super().__init__()
        self.hidden = keras.layers.Dense(8, activation="tanh")
        self.out = keras.layers.Dense(2)

    def call(self, x: object) -> object:
        return self.out(self.hidden(x))

    def train_step(self, batch: tuple) -> dict:
        x, y = batch
        for v in self.trainable_weights:
            v.grad = None
        with keras.enable_grad():
            loss = self.compute_loss(x=x, y=y, y_pred=self(x))
        loss.backward()
        self.optimizer.apply_gradients([(v.grad, v) for v in self.trainable_weights])
        return {"loss": float(loss.data)}


def train(scenario: str, rank: int = 0) -> tuple[keras.Model, dict]:
    """The scenario's model after training, and its history. In 'dense32' every rank starts
    from its own seed: fit must broadcast rank 0's weights and random generator."""
    keras.utils.set_random_seed(7 + rank if scenario in ("dense32", "lazy") else 7)
    if scenario in ("dense64", "uneven64"):
        x, y = data(96 if scenario == "dense64" else 50, dtype="float64")
        model = dense_model("float64")
        model.compile(keras.optimizers.SGD(0.05, momentum=0.9), "mse", metrics=["mae"])
        batch = 24 if scenario == "dense64" else 20
        history = model.fit(x, y, batch_size=batch, epochs=3, verbose=0)
    elif scenario == "dense32":
        x, y = data(96)
        model = dense_model()
        model.compile(keras.optimizers.Adam(0.01), "mse", metrics=["mae"])
        history = model.fit(x, y, batch_size=32, epochs=3, verbose=0,
                            validation_data=data(20, seed=3))
    elif scenario in ("cnn_sync", "cnn_local"):
        x, y = images(64)
        model = cnn_model(synchronized=scenario == "cnn_sync")
        model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        history = model.fit(x, y, batch_size=16, epochs=2, verbose=0)
    elif scenario == "pydataset":
        x, y = data(64)
        model = dense_model()
        model.compile(keras.optimizers.SGD(0.05), "mse")
        history = model.fit(Batches(x, y, 16), epochs=2, verbose=0)
        model.fit((b for b in [(x[:16], y[:16]), (x[16:32], y[16:32])]), epochs=1, verbose=0)
    elif scenario == "custom_step":
        x, y = data(64)
        model = CustomStep()
        model(x[:1])  # built before fit
        model.compile(keras.optimizers.SGD(0.05), "mse")
        history = model.fit(x, y, batch_size=16, epochs=2, verbose=0)
    elif scenario == "lazy":  # built by its first call, inside fit
        x, y = data(64)
        model = CustomStep()
        model.compile(keras.optimizers.SGD(0.05), "mse")
        history = model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    elif scenario == "preshard":  # each rank reads its own half of every global batch
        x, y = data(64, dtype="float64")
        model = dense_model("float64")
        model.compile(keras.optimizers.SGD(0.05, momentum=0.9), "mse")
        if distribution.distribution() is not None:
            rows = np.arange(64).reshape(4, 2, 8)[:, rank].ravel()
            history = model.fit(x[rows], y[rows], batch_size=8, epochs=2, verbose=0,
                                shuffle=False)
        else:
            history = model.fit(x, y, batch_size=16, epochs=2, verbose=0, shuffle=False)
    else:
        raise SystemExit(f"unknown scenario {scenario}")
    return model, history.history


def save(path: str, model: keras.Model, history: dict) -> None:
    arrays = {f"w{i}": w for i, w in enumerate(model.get_weights())}
    arrays.update({f"h_{k}": np.asarray(v) for k, v in history.items()})
    np.savez(path, **arrays)


def failing(kind: str) -> None:
    """A rank that fails (raises, exits, hangs) while the others train."""
    rank = int(os.environ.get("OMPI_COMM_WORLD_RANK", "0"))

    def on_batch(batch: int, logs: dict) -> None:
        if rank == 1 and batch == 2:
            if kind == "raise":
                raise ValueError("rank 1 broke on purpose")
            if kind == "exit":
                os._exit(3)
            if kind == "hang":
                time.sleep(600)
            if kind == "diverge":
                model.layers[0].kernel.data[0, 0] += 1.0

    distribution.set_distribution(distribution.DataParallel(timeout=5, check_every=1))
    x, y = data(256)
    model = dense_model()
    model.compile("sgd", keras.losses.MeanSquaredError(reduction="sum") if kind == "sum"
                  else "mse")
    model.fit(x, y, batch_size=16, epochs=1, verbose=0,
              callbacks=[keras.callbacks.LambdaCallback(on_train_batch_end=on_batch)])
    print("finished", flush=True)


def writers() -> None:
    """CSVLogger, ModelCheckpoint and the progress bar: rank 0 only."""
    distribution.set_distribution(distribution.DataParallel())
    x, y = data(64)
    model = dense_model()
    model.compile("sgd", "mse")
    csv_path = os.path.join(OUT, "log.csv")
    model.fit(x, y, batch_size=16, epochs=2, verbose=2, callbacks=[
        keras.callbacks.CSVLogger(csv_path, append=True),
        keras.callbacks.ModelCheckpoint(os.path.join(OUT, "ck.weights.h5"),
                                        save_weights_only=True, monitor="loss")])


def main() -> None:
    if SCENARIO.startswith("fail_"):
        failing(SCENARIO[5:])
        return
    if SCENARIO == "writers":
        writers()
        return
    scenario, devices = SCENARIO, None
    if SCENARIO == "subset":  # ranks 0 and 1 of 3 train; rank 2 is left out
        scenario, devices = "dense64", ["cpu:0", "cpu:1"]
    try:
        dist = distribution.DataParallel(check_every=1, devices=devices,
                                         auto_shard_dataset=SCENARIO != "preshard")
    except ValueError as error:
        print(f"left out: {error}", flush=True)
        return
    distribution.set_distribution(dist)
    model, history = train(scenario, dist.process_id)
    # one fused gradient Allreduce per optimizer step (not one per variable)
    history["calls"] = [dist.comm.calls.get("Allreduce (gradients)", 0),
                        int(model.optimizer.iterations.data)]
    save(os.path.join(OUT, f"rank{dist.process_id}.npz"), model, history)
    distribution.set_distribution(None)
    if dist.process_id == 0:
        model, history = train(scenario)
        save(os.path.join(OUT, "single.npz"), model, history)


if __name__ == "__main__":
    main()
