"""``StringLookup`` and ``IntegerLookup``: tokens to indices (or back), and the multi-hot,
count, one-hot and TF-IDF encodings, as Keras 3 computes them.

Inputs are NumPy arrays or (nested) lists of Python strings / integers (faltung has no
``tf.string`` tensors; byte strings are decoded as UTF-8). ``adapt`` orders the learned
vocabulary as Keras: most frequent first, ties broken by the token in descending order (byte
order of the UTF-8 text, numeric order of integers). A vocabulary given as a file path is read
when the layer is built in code; a saved model carries its vocabulary inline in its config or
in the ``.keras`` archive's ``vocabulary.txt`` asset, never as a path.
"""

from __future__ import annotations

import collections
import os
from collections.abc import Iterable
from typing import Any

import numpy as np

from faltung.layers.layer import Layer
from faltung.tensor import Tensor, floatx

OUTPUT_MODES = ("int", "one_hot", "multi_hot", "count", "tf_idf")
#: the largest vocabulary file read from a path (a vocabulary is words, not a data set)
MAX_VOCABULARY_FILE = 256 * 2**20


def _listify(value: Any) -> Any:
    """A vocabulary or idf weights as a plain list for a config (Keras's listify_tensors)."""
    if isinstance(value, Tensor):
        value = value.data
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return [v.item() if isinstance(v, np.generic) else v for v in value]
    return value


def read_vocabulary_file(path: str, what: str) -> list[str]:
    """The lines of a vocabulary file the user named in code (bounded in size)."""
    if not os.path.isfile(path):
        raise ValueError(f"{what}: Vocabulary file {path} does not exist.")
    if os.path.getsize(path) > MAX_VOCABULARY_FILE:
        raise ValueError(f"{what}: vocabulary file {path} is larger than "
                         f"{MAX_VOCABULARY_FILE} bytes")
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    while lines and lines[-1] == "":
        lines.pop()
    return lines


class _DataLayer(Layer):
    """A layer whose inputs are strings or integers, never cast to float: eager calls get a
    NumPy array, symbolic calls get outputs of the layer's output dtype."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if self.activity_regularizer is not None:
            raise NotImplementedError(f"{type(self).__name__} {self.name!r}: "
                                      "activity_regularizer is not implemented for a layer "
                                      "whose outputs are indices or counts; leave it None")

    def _output_dtype(self) -> str:
        raise NotImplementedError

    def __call__(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        from faltung.layers.input_layer import KerasTensor
        if isinstance(inputs, KerasTensor):
            out = super().__call__(inputs, *args, **kwargs)
            if isinstance(out, KerasTensor):
                out.dtype = self._output_dtype()
            return out
        kwargs.pop("training", None)
        if args or kwargs:
            raise TypeError(f"{type(self).__name__} {self.name!r}: call() takes only the "
                            f"inputs, got also {list(args) + sorted(kwargs)}")
        array = self._input_array(inputs)
        if not self.built:
            self._build_for((None,) + tuple(np.shape(array)[1:]))
        return self.call(array)

    def _input_array(self, inputs: Any) -> np.ndarray:
        raise NotImplementedError

    def build(self, input_shape: Any) -> None:
        self.built = True

    def _check_input(self, shape: Any) -> None:
        """Any batch of any length of tokens is fine (a text layer is built for none)."""


def _as_strings(inputs: Any, what: str) -> np.ndarray:
    """Strings of any nesting as an object array of Python str."""
    if isinstance(inputs, Tensor):
        raise TypeError(f"{what}: expected strings (a NumPy array or list of str), received a "
                        f"numeric tensor of dtype {inputs.dtype}")
    array = np.asarray(inputs, dtype=object)
    flat = array.reshape(-1)
    for i, item in enumerate(flat):
        if isinstance(item, (bytes, np.bytes_)):
            flat[i] = bytes(item).decode("utf-8")
        elif isinstance(item, np.str_):
            flat[i] = str(item)
        elif not isinstance(item, str):
            raise TypeError(f"{what}: expected strings, found {type(item).__name__} "
                            f"{item!r:.40} in the input")
    return flat.reshape(array.shape)


def _as_integers(inputs: Any, what: str) -> np.ndarray:
    array = np.asarray(inputs.data if isinstance(inputs, Tensor) else inputs)
    if array.dtype.kind == "f":
        if not np.all(np.isfinite(array)) or np.any(array != np.round(array)):
            raise TypeError(f"{what}: expected integers, received non-integral values of "
                            f"dtype {array.dtype}")
        return array.astype(np.int64)
    if array.dtype.kind not in "iub":
        raise TypeError(f"{what}: expected integers, received dtype {array.dtype}")
    return array.astype(np.int64)


class IndexLookup(_DataLayer):
    """The shared machinery of StringLookup and IntegerLookup (Keras's IndexLookup)."""

    _STRINGS = True

    def __init__(self, max_tokens: int | None, num_oov_indices: int, mask_token: Any,
                 oov_token: Any, vocabulary_dtype: str, vocabulary: Any = None,
                 idf_weights: Any = None, invert: bool = False, output_mode: str = "int",
                 sparse: bool = False, pad_to_max_tokens: bool = False,
                 oov_method: str = "floormod", salt: Any = None, **kwargs: Any) -> None:
        frozen_size = kwargs.pop("vocabulary_size", None)
        has_input_vocabulary = kwargs.pop("has_input_vocabulary", vocabulary is not None)
        super().__init__(**kwargs)
        where = f"{type(self).__name__} {self.name!r}"
        if max_tokens is not None and max_tokens <= 1:
            raise ValueError(f"{where}: If set, `max_tokens` must be greater than 1. "
                             f"Received: max_tokens={max_tokens}")
        if pad_to_max_tokens and max_tokens is None:
            raise ValueError(f"{where}: If pad_to_max_tokens is True, must set `max_tokens`. "
                             f"Received: max_tokens={max_tokens}")
        if num_oov_indices < 0:
            raise ValueError(f"{where}: `num_oov_indices` must be greater than or equal to 0. "
                             f"Received: num_oov_indices={num_oov_indices}")
        if oov_method not in ("floormod", "farmhash"):
            raise ValueError(f"{where}: The value of the `oov_method` argument should be one "
                             f"of ('floormod', 'farmhash'). Received: {oov_method}")
        if output_mode == "binary":
            output_mode = "multi_hot"
        if output_mode == "tf-idf":
            output_mode = "tf_idf"
        if output_mode not in OUTPUT_MODES:
            raise ValueError(f"{where}: The value of the `output_mode` argument should be one "
                             f"of {OUTPUT_MODES}. Received: {output_mode}")
        if invert and output_mode != "int":
            raise ValueError(f"{where}: `output_mode` must be `'int'` when `invert` is true. "
                             f"Received: output_mode={output_mode}")
        if sparse and output_mode == "int":
            raise ValueError(f"{where}: `sparse` may only be true if `output_mode` is "
                             "`'one_hot'`, `'multi_hot'`, `'count'` or `'tf_idf'`. Received: "
                             f"sparse={sparse} and output_mode={output_mode}")
        if idf_weights is not None and output_mode != "tf_idf":
            raise ValueError(f"{where}: `idf_weights` should only be set if `output_mode` is "
                             f"`'tf_idf'`. Received: idf_weights={idf_weights} and "
                             f"output_mode={output_mode}")
        if sparse:
            raise NotImplementedError(f"{where}: sparse=True is not implemented in faltung "
                                      "(no sparse tensors); use sparse=False for dense outputs")
        if salt is not None or (num_oov_indices > 1 and (
                self._STRINGS or oov_method == "farmhash")):
            raise NotImplementedError(
                f"{where}: hashing out-of-vocabulary tokens into {num_oov_indices} buckets "
                f"(oov_method={oov_method!r}, salt={salt!r}) uses TensorFlow's FarmHash/"
                "SipHash, which faltung does not implement; use num_oov_indices=0 or 1"
                + ("" if self._STRINGS else ", or oov_method='floormod' without salt"))
        self.invert = invert
        self.max_tokens = max_tokens
        self.num_oov_indices = num_oov_indices
        self.mask_token = mask_token
        self.oov_token = oov_token
        self.output_mode = output_mode
        self.sparse = sparse
        self.pad_to_max_tokens = pad_to_max_tokens
        self.vocabulary_dtype = vocabulary_dtype
        self.oov_method = oov_method
        self.salt = salt
        self._frozen_vocab_size = frozen_size
        self._has_input_vocabulary = has_input_vocabulary
        self.input_vocabulary = None if isinstance(vocabulary, str) else (
            tuple(_listify(vocabulary)) if vocabulary is not None else None)
        self.input_idf_weights = None if idf_weights is None else tuple(_listify(idf_weights))
        self._tokens: list[Any] = []
        self._index: dict[Any, int] = {}
        self._idf: np.ndarray | None = None
        if output_mode == "tf_idf" and has_input_vocabulary and idf_weights is None:
            raise ValueError(f"{where}: When specifying the `vocabulary` argument, in TF-IDF "
                             "output mode, the `idf_weights` argument must also be provided.")
        if vocabulary is not None:
            self.set_vocabulary(vocabulary, idf_weights)
        elif idf_weights is not None:
            self._idf = np.asarray(idf_weights, dtype=floatx())

    # -- vocabulary ---------------------------------------------------------------------------
    def _oov_start_index(self) -> int:
        return 1 if self.mask_token is not None and self.output_mode == "int" else 0

    def _token_start_index(self) -> int:
        return self._oov_start_index() + self.num_oov_indices

    def _convert_tokens(self, values: Any) -> list[Any]:
        where = f"{type(self).__name__} {self.name!r}"
        if self._STRINGS:
            return list(_as_strings(values, where).reshape(-1))
        return [int(v) for v in _as_integers(values, where).reshape(-1)]

    def vocabulary_size(self) -> int:
        """The number of indices: special tokens and learned or given tokens."""
        return len(self._tokens) + self._token_start_index()

    def get_vocabulary(self, include_special_tokens: bool = True) -> list[Any]:
        vocab = [self.oov_token] * self._token_start_index() + list(self._tokens)
        if self.mask_token is not None and self.output_mode == "int":
            vocab[0] = self.mask_token
        if not include_special_tokens:
            vocab = vocab[self._token_start_index():]
        return vocab

    def set_vocabulary(self, vocabulary: Any, idf_weights: Any = None) -> None:
        """Set the vocabulary (a list, array, or the path of a text file with one token per
        line) and, for tf_idf, the idf weights."""
        where = f"{type(self).__name__} {self.name!r}"
        if self.output_mode == "tf_idf":
            if idf_weights is None:
                raise ValueError(f"{where}: `idf_weights` must be set if output_mode is "
                                 "'tf_idf'.")
        elif idf_weights is not None:
            raise ValueError(f"{where}: `idf_weights` should only be set if output_mode is "
                             f"`'tf_idf'`. Received: output_mode={self.output_mode} and "
                             f"idf_weights={idf_weights}")
        if isinstance(vocabulary, str):
            if self.output_mode == "tf_idf":
                raise ValueError(f"{where}: output_mode `'tf_idf'` does not support loading "
                                 "a vocabulary from file.")
            lines = read_vocabulary_file(vocabulary, where)
            vocabulary = lines if self._STRINGS else [int(line) for line in lines]
        values = self._convert_tokens(vocabulary)
        if not values:
            raise ValueError(f"{where}: Cannot set an empty vocabulary. Received: "
                             f"vocabulary={vocabulary}")
        oov_start, token_start = self._oov_start_index(), self._token_start_index()
        special = [self.mask_token] * oov_start + [self.oov_token] * self.num_oov_indices
        found_special = values[:token_start] == special
        tokens = values[token_start:] if found_special else values
        repeated = [t for t, n in collections.Counter(tokens).items() if n > 1]
        if repeated:
            raise ValueError(f"{where}: The passed vocabulary has at least one repeated term. "
                             f"Please uniquify your dataset. The repeated terms are: "
                             f"{repeated}")
        if self.mask_token is not None and self.mask_token in tokens:
            raise ValueError(f"{where}: Found reserved mask token at unexpected location in "
                             "`vocabulary`. Note that passed `vocabulary` does not need to "
                             "include the OOV and mask tokens. Either remove all mask and OOV "
                             "tokens, or include them only at the start of the vocabulary in "
                             f"precisely this order: {special}. Received: mask_token="
                             f"{self.mask_token}")
        if self.oov_token is not None and self.invert and self.oov_token in tokens:
            raise ValueError(f"{where}: Found reserved OOV token at unexpected location in "
                             "`vocabulary`. Either remove all mask and OOV tokens, or include "
                             f"them only at the start of the vocabulary in precisely this "
                             f"order: {special}. Received: oov_token={self.oov_token}")
        size = token_start + len(tokens)
        if self.max_tokens is not None and size > self.max_tokens:
            raise ValueError(f"{where}: Attempted to set a vocabulary larger than the maximum "
                             f"vocab size. Received vocabulary size is {size}; `max_tokens` "
                             f"is {self.max_tokens}.")
        self._set_tokens(tokens)
        if self.output_mode == "tf_idf":
            weights = np.asarray(_listify(idf_weights), dtype=np.float64)
            if len(values) != len(weights):
                raise ValueError(f"{where}: `idf_weights` must be the same length as "
                                 f"vocabulary. len(idf_weights) is {len(weights)}; "
                                 f"len(vocabulary) is {len(values)}")
            if weights.ndim != 1:
                raise ValueError(f"{where}: TF-IDF data must be a 1-index array.")
            front = 0 if found_special else token_start
            front_value = 0 if found_special else np.average(weights)
            back = self.max_tokens - front - len(weights) \
                if self.pad_to_max_tokens and self.max_tokens is not None else 0
            self._idf = np.pad(weights, (front, back), "constant",
                               constant_values=(front_value, 0)).astype(floatx())

    def _set_tokens(self, tokens: list[Any]) -> None:
        self._tokens = list(tokens)
        start = self._token_start_index()
        self._index = {token: start + i for i, token in enumerate(self._tokens)}
        self._frozen_vocab_size = self.vocabulary_size()

    # -- adapt --------------------------------------------------------------------------------
    def adapt(self, data: Any, steps: int | None = None) -> None:
        """Learn the vocabulary (and document frequencies for tf_idf) from an array or list
        of tokens, or from an iterable of batches (at most ``steps`` of them)."""
        if self._has_input_vocabulary:
            raise ValueError(f"Cannot adapt layer '{self.name}' after setting a static "
                             "vocabulary via `vocabulary` argument or `set_vocabulary()` "
                             "method.")
        rows = (row for batch in _batches(data, steps) for row in self._document_rows(batch))
        self._learn(rows)

    def _learn(self, rows: Iterable[list[Any]]) -> None:
        """Count the tokens of documents (lists of tokens) and set the vocabulary and, for
        tf_idf, the idf weights."""
        counts: collections.Counter = collections.Counter()
        doc_counts: collections.Counter = collections.Counter()
        documents = 0
        for row in rows:
            counts.update(row)
            if self.output_mode == "tf_idf":
                doc_counts.update(set(row))
            documents += 1
        for special in (self.mask_token, self.oov_token):
            if special is not None:
                counts.pop(special, None)
        if not counts:
            self._frozen_vocab_size = self.vocabulary_size()
            return
        key = (lambda t: t.encode("utf-8")) if self._STRINGS else (lambda t: t)
        tokens = sorted(counts, key=lambda t: (counts[t], key(t)), reverse=True)
        if self.max_tokens:
            tokens = tokens[:self.max_tokens - self._token_start_index()]
        self._set_tokens(tokens)
        if self.output_mode == "tf_idf":
            df = np.array([doc_counts[t] for t in tokens], dtype=np.float64)
            idf = np.log(1 + documents / (1 + df)).astype(floatx())
            idf = np.pad(idf, (self._token_start_index(), 0), constant_values=np.mean(idf))
            if self.pad_to_max_tokens and self.max_tokens is not None:
                idf = np.pad(idf, (0, self.max_tokens - idf.size))
            self._idf = idf.astype(floatx())

    def _document_rows(self, batch: Any) -> list[list[Any]]:
        """A batch as documents (rows) of tokens, as Keras's update_state reads it."""
        array = np.asarray(batch, dtype=object) if self._STRINGS else \
            _as_integers(batch, self.name)
        if array.ndim <= 1:
            array = array.reshape(1, -1)
        return [self._convert_tokens(row) for row in array.reshape(array.shape[0], -1)]

    # -- the call ------------------------------------------------------------------------------
    def _input_array(self, inputs: Any) -> np.ndarray:
        where = f"{type(self).__name__} {self.name!r}"
        if self.invert:
            return _as_integers(inputs, where)
        if self._STRINGS:
            return _as_strings(inputs, where)
        return _as_integers(inputs, where)

    def _output_dtype(self) -> str:
        if self.invert:
            return "string" if self._STRINGS else "int64"
        return floatx() if self.output_mode == "tf_idf" else "int64"

    def _lookup(self, array: np.ndarray) -> np.ndarray:
        """Indices of the tokens: mask -> 0 (int mode), unknown -> an OOV index."""
        flat = array.reshape(-1)
        out = np.empty(flat.shape, dtype=np.int64)
        oov_start = self._oov_start_index()
        mask_value = 0 if self.output_mode == "int" else np.iinfo(np.int64).max
        unknown = []
        for i, token in enumerate(flat.tolist()):
            if self.mask_token is not None and token == self.mask_token:
                out[i] = mask_value
                continue
            index = self._index.get(token)
            if index is None:
                if self.num_oov_indices == 0:
                    unknown.append(token)
                    index = -1
                elif self.num_oov_indices == 1:
                    index = oov_start
                else:  # integers, floormod
                    index = oov_start + int(token) % self.num_oov_indices
            out[i] = index
        if unknown:
            raise ValueError(f"{type(self).__name__} {self.name!r}: When `num_oov_indices=0` "
                             f"all inputs should be in vocabulary, found OOV values "
                             f"{unknown[:10]}, consider setting `num_oov_indices=1`.")
        return out.reshape(array.shape)

    def _invert(self, array: np.ndarray) -> np.ndarray:
        vocab = self.get_vocabulary()
        flat = array.reshape(-1)
        out = np.empty(flat.shape, dtype=object if self._STRINGS else np.int64)
        start = self._token_start_index()
        for i, index in enumerate(flat.tolist()):
            if self.mask_token is not None and index == 0:
                out[i] = self.mask_token
            elif start <= index < len(vocab):
                out[i] = vocab[index]
            else:
                out[i] = self.oov_token
        return out.reshape(array.shape)

    def call(self, inputs: np.ndarray) -> Any:
        if self.invert:
            out = self._invert(inputs)
            return out if self._STRINGS else Tensor(out, dtype=out.dtype)
        indices = self._lookup(inputs)
        if self.output_mode == "int":
            return Tensor(indices, dtype=indices.dtype)
        encoded = self._encode(indices)
        return Tensor(encoded, dtype=encoded.dtype)

    def _depth(self) -> int:
        if self.pad_to_max_tokens:
            return int(self.max_tokens)
        if self._frozen_vocab_size is None:
            raise RuntimeError(f"{type(self).__name__} {self.name!r}: When using "
                               f"`output_mode={self.output_mode}` and `pad_to_max_tokens="
                               "False`, you must set the layer's vocabulary before calling "
                               "it. Either pass a `vocabulary` argument to the layer, or call "
                               "`adapt` with some sample data.")
        return int(self._frozen_vocab_size)

    def _encode(self, indices: np.ndarray) -> np.ndarray:
        """multi_hot / count / one_hot / tf_idf of an index array (Keras's shapes: a rank-0
        or rank-1 input is one sample; one_hot adds an axis, or replaces a last axis of 1)."""
        depth = self._depth()
        if indices.ndim == 0:
            indices = indices.reshape(1)
        if self.output_mode == "one_hot":
            if indices.ndim > 1 and indices.shape[-1] == 1:
                indices = indices[..., 0]
            valid = (indices >= 0) & (indices < depth)
            out = np.zeros(indices.shape + (depth,), dtype=np.int64)
            np.put_along_axis(out, np.where(valid, indices, 0)[..., None],
                              valid[..., None].astype(np.int64), axis=-1)
            return out
        rows = indices.reshape(-1, indices.shape[-1])
        counts = np.zeros((rows.shape[0], depth), dtype=np.int64)
        for r, row in enumerate(rows):
            row = row[(row >= 0) & (row < depth)]
            np.add.at(counts[r], row, 1)
        counts = counts.reshape(indices.shape[:-1] + (depth,))
        if self.output_mode == "multi_hot":
            return np.minimum(counts, 1)
        if self.output_mode == "count":
            return counts
        if self._idf is None:
            raise ValueError(f"{type(self).__name__} {self.name!r}: When `output_mode` is "
                             "`'tf_idf'`, `idf_weights` must be provided.")
        return counts.astype(floatx()) * self._idf

    @property
    def idf_weights(self) -> np.ndarray | None:
        """The TF-IDF weights per index (tf_idf mode), None otherwise."""
        return None if self._idf is None else self._idf.copy()

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        input_shape = tuple(input_shape)
        if self.output_mode == "int":
            return input_shape
        depth = self.max_tokens if self.pad_to_max_tokens else self._frozen_vocab_size
        if self.output_mode == "one_hot":
            if len(input_shape) > 1 and input_shape[-1] == 1:
                return input_shape[:-1] + (depth,)
            return input_shape + (depth,)
        return input_shape[:-1] + (depth,)

    # -- saving -------------------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "invert": self.invert, "max_tokens": self.max_tokens,
                "num_oov_indices": self.num_oov_indices, "oov_token": self.oov_token,
                "mask_token": self.mask_token, "output_mode": self.output_mode,
                "sparse": self.sparse, "pad_to_max_tokens": self.pad_to_max_tokens,
                "vocabulary_dtype": self.vocabulary_dtype,
                "idf_weights": _listify(self.input_idf_weights),
                "vocabulary": _listify(self.input_vocabulary),
                "vocabulary_size": self._frozen_vocab_size, "oov_method": self.oov_method,
                "salt": self.salt}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> IndexLookup:
        if isinstance(config.get("vocabulary"), str):
            raise ValueError(f"{cls.__name__}: a saved config names the vocabulary file "
                             f"{config['vocabulary']!r}; faltung never reads files named in a "
                             "model's config (pass the vocabulary in code with "
                             "set_vocabulary())")
        return super().from_config(config)

    def save_assets(self) -> dict[str, bytes]:
        """Files for the ``.keras`` archive: the vocabulary when it was learned (a given one
        is in the config), as Keras's ``vocabulary.txt``."""
        if self.input_vocabulary is not None:
            return {}
        text = "\n".join(str(w) for w in self.get_vocabulary(include_special_tokens=True))
        return {"vocabulary.txt": text.encode("utf-8")}

    def load_assets(self, files: dict[str, bytes]) -> None:
        """Restore a learned vocabulary from the archive's ``vocabulary.txt``."""
        if self.input_vocabulary is not None or "vocabulary.txt" not in files:
            return
        lines = files["vocabulary.txt"].decode("utf-8").splitlines()
        while lines and lines[-1] == "":
            lines.pop()
        values = lines if self._STRINGS else [int(line) for line in lines]
        if not values:
            return
        token_start = self._token_start_index()
        special = self.get_vocabulary()[:token_start]
        tokens = values[token_start:] if values[:token_start] == special else values
        self._set_tokens(tokens)

    def save_own_variables(self, store: dict[str, Any]) -> None:
        if self.output_mode == "tf_idf" and self._idf is not None:
            store["idf_weights"] = self._idf

    def load_own_variables(self, store: dict[str, Any]) -> None:
        if self.output_mode == "tf_idf" and "idf_weights" in store:
            self._idf = np.asarray(store["idf_weights"], dtype=floatx()).reshape(-1)


def _batches(data: Any, steps: int | None) -> Iterable[Any]:
    """Keras's adapt input: a list, tuple or array is one batch; another iterable yields
    batches (``x`` of ``(x, y)`` pairs)."""
    if isinstance(data, (list, tuple, np.ndarray, Tensor, str)):
        yield data.data if isinstance(data, Tensor) else data
        return
    if not hasattr(data, "__iter__"):
        raise TypeError(f"adapt() takes an array, a list or an iterable of batches; received "
                        f"{type(data).__name__}")
    for i, batch in enumerate(data):
        if steps is not None and i >= steps:
            break
        if isinstance(batch, tuple) and len(batch) in (2, 3):
            batch = batch[0]
        yield batch.data if isinstance(batch, Tensor) else batch


class StringLookup(IndexLookup):
    """Strings to integer indices (``invert=True``: indices to strings), or their multi-hot,
    count, one-hot or TF-IDF encoding."""

    _STRINGS = True

    def __init__(self, max_tokens: int | None = None, num_oov_indices: int = 1,
                 mask_token: str | None = None, oov_token: str = "[UNK]",
                 vocabulary: Any = None, idf_weights: Any = None, invert: bool = False,
                 output_mode: str = "int", pad_to_max_tokens: bool = False,
                 sparse: bool = False, encoding: str = "utf-8", name: str | None = None,
                 salt: Any = None, **kwargs: Any) -> None:
        if encoding not in ("utf-8", "utf8", "UTF-8"):
            raise NotImplementedError(f"StringLookup: encoding={encoding!r} is not implemented "
                                      "in faltung (Python strings are Unicode); use 'utf-8'")
        kwargs.pop("vocabulary_dtype", None)
        self.encoding = encoding
        super().__init__(max_tokens=max_tokens, num_oov_indices=num_oov_indices,
                         mask_token=mask_token, oov_token=oov_token, vocabulary=vocabulary,
                         vocabulary_dtype="string", idf_weights=idf_weights, invert=invert,
                         output_mode=output_mode, sparse=sparse,
                         pad_to_max_tokens=pad_to_max_tokens, salt=salt, name=name, **kwargs)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        del config["vocabulary_dtype"]
        config["encoding"] = self.encoding
        return config


class IntegerLookup(IndexLookup):
    """Integers to contiguous indices (``invert=True``: back), or their multi-hot, count,
    one-hot or TF-IDF encoding; ``num_oov_indices > 1`` spreads unknown values by
    ``value mod num_oov_indices`` as Keras's 'floormod'."""

    _STRINGS = False

    def __init__(self, max_tokens: int | None = None, num_oov_indices: int = 1,
                 mask_token: int | None = None, oov_token: int = -1, vocabulary: Any = None,
                 vocabulary_dtype: str = "int64", idf_weights: Any = None,
                 invert: bool = False, output_mode: str = "int", sparse: bool = False,
                 pad_to_max_tokens: bool = False, oov_method: str = "floormod",
                 salt: Any = None, name: str | None = None, **kwargs: Any) -> None:
        if max_tokens is not None and max_tokens <= 1:
            raise ValueError("If `max_tokens` is set for `IntegerLookup`, it must be greater "
                             f"than 1. Received: max_tokens={max_tokens}")
        if num_oov_indices < 0:
            raise ValueError("The value of `num_oov_indices` argument for `IntegerLookup` "
                             f"must >= 0. Received: num_oov_indices={num_oov_indices}")
        if vocabulary_dtype != "int64":
            raise ValueError("Only `vocabulary_dtype='int64'` is supported at this time. "
                             f"Received: vocabulary_dtype={vocabulary_dtype}")
        super().__init__(max_tokens=max_tokens, num_oov_indices=num_oov_indices,
                         mask_token=mask_token, oov_token=oov_token, vocabulary=vocabulary,
                         vocabulary_dtype=vocabulary_dtype, idf_weights=idf_weights,
                         invert=invert, output_mode=output_mode, sparse=sparse,
                         pad_to_max_tokens=pad_to_max_tokens, oov_method=oov_method,
                         salt=salt, name=name, **kwargs)
