"""``keras.callbacks.TensorBoard``: event files for TensorBoard, as Keras 3 writes them.

``log_dir/train`` gets the epoch scalars (``epoch_loss``, ``epoch_accuracy``, ...,
``epoch_learning_rate``, ``epoch_steps_per_second`` with ``write_steps_per_second``), the batch
scalars (``batch_loss``, ...) when ``update_freq`` is ``"batch"`` or a number of batches, the
weight histograms (``dense/kernel/histogram``) every ``histogram_freq`` epochs (with
``write_images`` also the weights drawn as images, ``dense/kernel/image``, as Keras draws
them) and, with ``write_graph``, the model's Keras graph (the ``keras`` tag that TensorBoard's
graph page draws from the model's config: faltung has no TensorFlow op graph to add).
``log_dir/validation`` gets the validation scalars under the same names (``epoch_loss``) and
``evaluation_loss_vs_iterations`` after each evaluation. The files are written by the
``tensorboard`` package's own event writer (``pip install 'faltung[tensorboard]'``), imported
when the first file is opened.

One difference, on purpose: with ``update_freq=N`` Keras 3 also drops the epoch scalars,
histograms and evaluation scalars of an epoch whose last batch number is not a multiple of N (its
batch-level ``record_if`` is still in force then); faltung writes them for every epoch.

Refused (``NotImplementedError``): ``profile_batch`` (there is no TensorFlow profiler) and the
embedding projector (``embeddings_freq``, ``embeddings_metadata``).
"""

from __future__ import annotations

import os
import struct
import time
import zlib
from typing import Any

import numpy as np

from faltung.callbacks.callback import Callback

#: TensorFlow 2's default number of histogram buckets (tf.summary.histogram).
_BUCKETS = 30


def _tensorboard() -> Any:
    try:
        from tensorboard.compat.proto import event_pb2, summary_pb2
        from tensorboard.summary.writer.event_file_writer import EventFileWriter
    except ImportError:
        raise ImportError("TensorBoard: writing event files needs the tensorboard package "
                          "(`pip install tensorboard`, or faltung's extra "
                          "`pip install 'faltung[tensorboard]'`)") from None
    return event_pb2, summary_pb2, EventFileWriter


class _Writer:
    """One event file in one folder: scalars, histograms and tensors at a step."""

    def __init__(self, folder: str) -> None:
        self._event_pb2, self._summary_pb2, writer_class = _tensorboard()
        os.makedirs(folder, exist_ok=True)
        self._writer = writer_class(folder)

    def _add(self, value: Any, step: int) -> None:
        summary = self._summary_pb2.Summary(value=[value])
        self._writer.add_event(self._event_pb2.Event(wall_time=time.time(), step=int(step),
                                                     summary=summary))

    def scalar(self, tag: str, value: float, step: int) -> None:
        self._add(self._summary_pb2.Summary.Value(tag=tag, simple_value=float(value)), step)

    def histogram(self, tag: str, values: np.ndarray, step: int) -> None:
        values = np.asarray(values, dtype=np.float64).ravel()
        if values.size == 0:
            return
        low, high = float(values.min()), float(values.max())
        if low == high:  # one bucket around the single value, as TensorFlow
            low, high = low - 0.5, high + 0.5
        counts, edges = np.histogram(values, bins=_BUCKETS, range=(low, high))
        histogram = self._summary_pb2.HistogramProto(
            min=float(values.min()), max=float(values.max()), num=float(values.size),
            sum=float(values.sum()), sum_squares=float(np.dot(values, values)),
            bucket_limit=[float(e) for e in edges[1:]], bucket=[float(c) for c in counts])
        self._add(self._summary_pb2.Summary.Value(tag=tag, histo=histogram), step)

    def text_tensor(self, tag: str, text: str, plugin: str, step: int) -> None:
        from tensorboard.compat.proto import tensor_pb2, tensor_shape_pb2, types_pb2
        metadata = self._summary_pb2.SummaryMetadata(
            plugin_data=self._summary_pb2.SummaryMetadata.PluginData(plugin_name=plugin))
        tensor = tensor_pb2.TensorProto(dtype=types_pb2.DT_STRING,
                                        tensor_shape=tensor_shape_pb2.TensorShapeProto(),
                                        string_val=[text.encode("utf-8")])
        self._add(self._summary_pb2.Summary.Value(tag=tag, metadata=metadata, tensor=tensor),
                  step)

    def images(self, tag: str, images: np.ndarray, step: int, max_outputs: int = 3) -> None:
        """Up to ``max_outputs`` images (N, H, W, C floats, C 1/3/4) as tf.summary.image writes
        them: width, height and PNG files in one string tensor of the images plugin."""
        from tensorboard.compat.proto import tensor_pb2, tensor_shape_pb2, types_pb2
        from tensorboard.plugins.image import metadata as image_metadata
        pixels = np.clip(np.trunc(images.astype(np.float64) * 255.5), 0, 255).astype(np.uint8)
        pngs = [_png(image) for image in pixels[:max_outputs]]
        height, width = images.shape[1:3]
        strings = [str(width).encode(), str(height).encode(), *pngs]
        tensor = tensor_pb2.TensorProto(
            dtype=types_pb2.DT_STRING, string_val=strings,
            tensor_shape=tensor_shape_pb2.TensorShapeProto(
                dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=len(strings))]))
        metadata = image_metadata.create_summary_metadata(display_name=tag, description="")
        self._add(self._summary_pb2.Summary.Value(tag=tag, metadata=metadata, tensor=tensor),
                  step)

    def flush(self) -> None:
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()


def _refuse(argument: str, value: Any, why: str) -> None:
    raise NotImplementedError(f"TensorBoard: {argument}={value!r} is not supported ({why}); "
                              f"leave {argument} at its default")


class TensorBoard(Callback):
    """Write TensorBoard logs to ``log_dir`` (see the module docstring for what is written)."""

    _chief_only = True  # under faltung.distribution only rank 0 writes the event files

    _chief_only = True  # under a faltung.distribution, rank 0 alone writes the logs

    def __init__(self, log_dir: str | os.PathLike = "logs", histogram_freq: int = 0,
                 write_graph: bool = True, write_images: bool = False,
                 write_steps_per_second: bool = False, update_freq: str | int = "epoch",
                 profile_batch: int | str | tuple = 0, embeddings_freq: int = 0,
                 embeddings_metadata: Any = None) -> None:
        super().__init__()
        if profile_batch not in (0, None, "0", "", (0, 0)):
            _refuse("profile_batch", profile_batch, "faltung has no TensorFlow profiler; time "
                    "steps with write_steps_per_second=True or benchmarks/train.py")
        if embeddings_freq:
            _refuse("embeddings_freq", embeddings_freq, "the embedding projector needs "
                    "TensorFlow checkpoints")
        if embeddings_metadata is not None:
            _refuse("embeddings_metadata", embeddings_metadata, "the embedding projector needs "
                    "TensorFlow checkpoints")
        if update_freq != "epoch" and update_freq != "batch" and \
                not (isinstance(update_freq, int) and update_freq > 0):
            raise ValueError(f"TensorBoard: update_freq must be 'epoch', 'batch' or a positive "
                             f"number of batches, got {update_freq!r}")
        if not isinstance(histogram_freq, int) or histogram_freq < 0:
            raise ValueError(f"TensorBoard: histogram_freq must be a non-negative int, got "
                             f"{histogram_freq!r}")
        self.log_dir = str(log_dir)
        self.histogram_freq = histogram_freq
        self.write_graph = write_graph
        self.write_images = write_images
        self.write_steps_per_second = write_steps_per_second
        self.update_freq = 1 if update_freq == "batch" else update_freq
        self.profile_batch = profile_batch
        self.embeddings_freq = embeddings_freq
        self.embeddings_metadata = embeddings_metadata
        self._writers: dict[str, _Writer] = {}
        self._global_train_batch = 0
        self._batch_start = 0.0
        self._epoch_start = 0.0
        self._epoch_iterations = 0

    # -- writers ------------------------------------------------------------------------------
    def _writer(self, kind: str) -> _Writer:
        if kind not in self._writers:
            folder = "train" if kind == "train" else "validation"
            self._writers[kind] = _Writer(os.path.join(self.log_dir, folder))
        return self._writers[kind]

    def _close_writers(self) -> None:
        for writer in self._writers.values():
            writer.close()
        self._writers = {}

    def set_model(self, model: Any) -> None:
        super().set_model(model)
        self._close_writers()
        if self.write_graph:
            self._write_keras_graph()

    def _write_keras_graph(self) -> None:
        """The ``keras`` tag of the graph page: the model's config as JSON, for Functional and
        Sequential models (as Keras; a subclassed model has no graph to show)."""
        from faltung.models.functional import graph_of
        from faltung.saving.serialization import model_config, to_json
        if graph_of(self.model) is None or type(self.model).__name__ not in ("Model",
                                                                              "Sequential"):
            return
        text = to_json(model_config(self.model))  # what Keras's model.to_json() holds
        writer = self._writer("train")
        writer.text_tensor("keras", text, "graph_keras_model", step=0)
        writer.flush()

    # -- values ------------------------------------------------------------------------------
    def _iterations(self) -> int:
        optimizer = getattr(self.model, "optimizer", None)
        return int(np.asarray(optimizer.iterations)) if optimizer is not None else 0

    def _learning_rate(self) -> float | None:
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is None or not hasattr(optimizer, "learning_rate"):
            return None
        return float(np.asarray(optimizer.learning_rate))

    # -- hooks -------------------------------------------------------------------------------
    def on_train_begin(self, logs: dict | None = None) -> None:
        self._global_train_batch = 0
        self._epoch_iterations = 0

    def on_train_end(self, logs: dict | None = None) -> None:
        self._close_writers()

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        if self.write_steps_per_second:
            self._epoch_iterations = self._iterations()
            self._epoch_start = time.time()

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        self._global_train_batch += 1
        if self.write_steps_per_second:
            self._batch_start = time.time()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self.update_freq == "epoch" or self._global_train_batch % self.update_freq:
            return
        writer = self._writer("train")
        step = self._global_train_batch
        if self.write_steps_per_second:
            elapsed = max(time.time() - self._batch_start, 1e-9)
            writer.scalar("batch_steps_per_second", 1.0 / elapsed, step)
        for name, value in (logs or {}).items():
            writer.scalar(f"batch_{name}", _number(value), step)

    def on_test_end(self, logs: dict | None = None) -> None:
        if getattr(self.model, "optimizer", None) is None or not logs:
            return
        writer = self._writer("val")
        step = self._iterations()
        for name, value in logs.items():
            writer.scalar(f"evaluation_{name}_vs_iterations", _number(value), step)
        writer.flush()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs:
            self._log_epoch_metrics(epoch, logs)
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            self._log_weights(epoch)

    def _log_epoch_metrics(self, epoch: int, logs: dict) -> None:
        train = {k: v for k, v in logs.items() if not k.startswith("val_")}
        val = {k[4:]: v for k, v in logs.items() if k.startswith("val_")}
        rate = self._learning_rate()
        if rate is not None:
            train["learning_rate"] = rate
        if self.write_steps_per_second:
            elapsed = max(time.time() - self._epoch_start, 1e-9)
            train["steps_per_second"] = (self._iterations() - self._epoch_iterations) / elapsed
        for kind, values in (("train", train), ("val", val)):
            if values:
                writer = self._writer(kind)
                for name, value in values.items():
                    writer.scalar(f"epoch_{name}", _number(value), epoch)
                writer.flush()

    def _log_weights(self, epoch: int) -> None:
        from faltung.models.sequential import Sequential
        writer = self._writer("train")
        # Keras's weight paths: a Sequential model builds its layers inside its own name scope
        prefix = f"{self.model.name}/" if isinstance(self.model, Sequential) else ""
        for layer in self.model.layers:
            for weight in layer.weights:
                name = getattr(weight, "path", weight.name).replace(":", "_")
                if prefix and not name.startswith(prefix):
                    name = prefix + name
                writer.histogram(f"{name}/histogram", np.asarray(weight), epoch)
                if self.write_images:
                    image = _weight_image(np.asarray(weight))
                    if image is not None:
                        writer.images(f"{name}/image", image, epoch)
        writer.flush()


def _number(value: Any) -> float:
    return float(np.asarray(value))


def _weight_image(weight: np.ndarray) -> np.ndarray | None:
    """A weight as Keras draws it: a bias as a column, a Dense kernel as one image (wider than
    tall), a 3-D kernel as one image per output channel; None when it cannot be drawn."""
    from faltung.backend import image_data_format
    w = np.squeeze(weight)
    if w.ndim == 1:
        w = w.reshape(1, w.shape[0], 1, 1)
    elif w.ndim == 2:
        if w.shape[0] > w.shape[1]:
            w = w.T
        w = w.reshape(1, w.shape[0], w.shape[1], 1)
    elif w.ndim == 3:
        if image_data_format() == "channels_last":
            w = np.transpose(w, (2, 0, 1))
        w = w.reshape(w.shape[0], w.shape[1], w.shape[2], 1)
    if w.ndim == 4 and w.shape[-1] in (1, 3, 4):
        return w
    return None


def _png(pixels: np.ndarray) -> bytes:
    """One 8-bit image (H, W, 1/3/4 channels) as a PNG file (zlib from the standard library)."""
    height, width, channels = pixels.shape
    color_type = {1: 0, 3: 2, 4: 6}[channels]
    raw = b"".join(b"\x00" + pixels[row].tobytes() for row in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data +
                struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw))
            + chunk(b"IEND", b""))
