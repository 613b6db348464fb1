"""``TextVectorization``: strings to token indices or to multi-hot / count / TF-IDF vectors,
with Keras 3's standardization, splitting, n-grams and vocabulary (kept in an inner
``StringLookup``, saved as Keras saves it).

Inputs are NumPy arrays or lists of Python strings, shape (batch,) or (batch, 1). A callable
``standardize`` receives a NumPy object array of str and returns one of the same shape; a
callable ``split`` receives the standardized 1-D array and returns one list of tokens per
string (TensorFlow hands Keras's callables ``tf.string`` tensors instead).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np

from faltung.layers.preprocessing.index_lookup import (
    StringLookup,
    _as_strings,
    _batches,
    _DataLayer,
)
from faltung.tensor import Tensor, floatx

STANDARDIZE = ("lower_and_strip_punctuation", "lower", "strip_punctuation")
SPLIT = ("whitespace", "character")
#: the ASCII punctuation Keras strips
_PUNCTUATION = re.compile(r'[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~\']')
#: TensorFlow's whitespace for tf.strings.split (ASCII spaces, tabs, newlines, form feeds)
_WHITESPACE = re.compile(r"[ \t\n\r\f\v]+")
#: tf.strings.lower without an encoding, as Keras calls it: ASCII letters only (É stays É)
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _serialize_callable(fn: Any) -> Any:
    if fn is None or isinstance(fn, str):
        return fn
    name = getattr(fn, "__name__", None)
    if not isinstance(name, str) or name == "<lambda>":
        raise NotImplementedError("TextVectorization: a lambda standardize/split cannot be "
                                  "saved; use a named function registered with "
                                  "keras.saving.register_keras_serializable()")
    from faltung.saving.object_registration import get_registered_name
    return {"module": getattr(fn, "__module__", None), "class_name": "function",
            "config": name, "registered_name": get_registered_name(fn)}


def _deserialize_callable(value: Any, what: str) -> Any:
    if value is None or isinstance(value, str):
        return value
    from faltung.saving.object_registration import active_custom_objects
    custom = active_custom_objects()
    if isinstance(value, dict):
        for key in (value.get("registered_name"), value.get("config")):
            if isinstance(key, str) and key in custom:
                return custom[key]
    raise ValueError(f"TextVectorization: the saved {what} function {value!r:.80} is not "
                     "known; pass it in custom_objects (faltung never imports code from a "
                     "file)")


class TextVectorization(_DataLayer):
    """Standardize, split and n-gram strings, then map the tokens to indices (``'int'``,
    padded with 0 to ``output_sequence_length`` or the longest text of the batch) or to
    per-text vectors (``'multi_hot'``, ``'count'``, ``'tf_idf'``, and ``'one_hot'`` for
    ``split=None``)."""

    def __init__(self, max_tokens: int | None = None,
                 standardize: str | Callable | None = "lower_and_strip_punctuation",
                 split: str | Callable | None = "whitespace", ngrams: Any = None,
                 output_mode: str = "int", output_sequence_length: int | None = None,
                 pad_to_max_tokens: bool = False, vocabulary: Any = None,
                 idf_weights: Any = None, sparse: bool = False, ragged: bool = False,
                 encoding: str = "utf-8", name: str | None = None, **kwargs: Any) -> None:
        where = "TextVectorization"
        if not (standardize is None or callable(standardize) or standardize in STANDARDIZE):
            raise ValueError(f"{where}: The value of the `standardize` argument should be one "
                             f"of {STANDARDIZE}, None or a callable. Received: {standardize}")
        if not (split is None or callable(split) or split in SPLIT):
            raise ValueError(f"{where}: The value of the `split` argument should be one of "
                             f"{SPLIT}, None or a callable. Received: {split}")
        if output_mode == "binary":
            output_mode = "multi_hot"
        if output_mode == "tf-idf":
            output_mode = "tf_idf"
        if output_mode not in ("int", "one_hot", "multi_hot", "count", "tf_idf"):
            raise ValueError(f"{where}: The value of the `output_mode` argument should be one "
                             "of ('int', 'one_hot', 'multi_hot', 'count', 'tf_idf'). "
                             f"Received: {output_mode}")
        if not (ngrams is None or (isinstance(ngrams, int) and not isinstance(ngrams, bool))
                or (isinstance(ngrams, tuple) and all(isinstance(n, int) for n in ngrams))):
            raise ValueError(f"{where}: `ngrams` must be None, an integer, or a tuple of "
                             f"integers. Received: ngrams={ngrams}")
        if output_mode == "int" and not (output_sequence_length is None or isinstance(
                output_sequence_length, int)):
            raise ValueError(f"{where}: `output_sequence_length` must be either None or an "
                             "integer when `output_mode` is 'int'. Received: "
                             f"output_sequence_length={output_sequence_length}")
        if output_mode != "int" and output_sequence_length is not None:
            raise ValueError(f"{where}: `output_sequence_length` must not be set if "
                             "`output_mode` is not 'int'. Received output_sequence_length="
                             f"{output_sequence_length}.")
        if ragged and output_mode != "int":
            raise ValueError(f"{where}: `ragged` must not be true if `output_mode` is "
                             f"`'int'`. Received: ragged={ragged} and output_mode={output_mode}")
        if ragged:
            raise NotImplementedError(f"{where}: ragged=True is not implemented in faltung (no "
                                      "ragged tensors); use output_sequence_length or the "
                                      "default padding to the longest text")
        if sparse:
            raise NotImplementedError(f"{where}: sparse=True is not implemented in faltung (no "
                                      "sparse tensors); use sparse=False")
        if output_mode == "one_hot" and split is not None:
            raise NotImplementedError(f"{where}: output_mode='one_hot' with split={split!r} is "
                                      "not implemented in faltung; use split=None (one token "
                                      "per string) or output_mode='multi_hot'/'count'")
        if encoding not in ("utf-8", "utf8", "UTF-8"):
            raise NotImplementedError(f"{where}: encoding={encoding!r} is not implemented in "
                                      "faltung (Python strings are Unicode); use 'utf-8'")
        has_input_vocabulary = kwargs.pop("has_input_vocabulary", vocabulary is not None)
        vocabulary_size = kwargs.pop("vocabulary_size", None)
        super().__init__(name=name, **kwargs)
        self._standardize = standardize
        self._split = split
        self._ngrams_arg = ngrams
        self._ngrams = tuple(range(1, ngrams + 1)) if isinstance(ngrams, int) else ngrams
        self._ragged = ragged
        self._output_mode = output_mode
        self._output_sequence_length = output_sequence_length
        self._encoding = encoding
        self._lookup_layer = StringLookup(
            max_tokens=max_tokens, vocabulary=vocabulary, idf_weights=idf_weights,
            pad_to_max_tokens=pad_to_max_tokens, mask_token="", output_mode=output_mode,
            sparse=sparse, has_input_vocabulary=has_input_vocabulary, encoding=encoding,
            vocabulary_size=vocabulary_size)

    # -- text processing ---------------------------------------------------------------------
    def _standardized(self, strings: np.ndarray) -> np.ndarray:
        out = strings
        if self._standardize in ("lower", "lower_and_strip_punctuation"):
            out = np.vectorize(lambda s: s.translate(_ASCII_LOWER), otypes=[object])(out) \
                if out.size else out
        if self._standardize in ("strip_punctuation", "lower_and_strip_punctuation"):
            out = np.vectorize(lambda s: _PUNCTUATION.sub("", s), otypes=[object])(out) \
                if out.size else out
        if callable(self._standardize):
            out = _as_strings(self._standardize(out), f"TextVectorization {self.name!r} "
                              "(the standardize function's result)")
        return out

    def _tokens(self, inputs: Any) -> list[list[str]] | np.ndarray:
        """One list of tokens per text (split), or the strings themselves (split=None)."""
        strings = self._standardized(_as_strings(inputs, f"TextVectorization {self.name!r}"))
        if self._split is None:
            return strings
        if strings.ndim > 1:
            if strings.shape[-1] != 1:
                raise ValueError("When using `TextVectorization` to tokenize strings, the "
                                 "input rank must be 1 or the last shape dimension must be 1. "
                                 f"Received: inputs.shape={strings.shape} with "
                                 f"rank={strings.ndim}")
            strings = strings[..., 0]
        if strings.ndim != 1:
            raise ValueError(f"TextVectorization {self.name!r}: expected a batch of strings "
                             f"of shape (batch,) or (batch, 1), received shape "
                             f"{strings.shape}")
        if self._split == "whitespace":
            rows = [[t for t in _WHITESPACE.split(s) if t] for s in strings.tolist()]
        elif self._split == "character":
            rows = [list(s) for s in strings.tolist()]
        else:
            rows = [[str(t) for t in row] for row in self._split(strings)]
            if len(rows) != len(strings):
                raise ValueError(f"TextVectorization {self.name!r}: the split function "
                                 f"returned {len(rows)} token lists for {len(strings)} texts")
        if self._ngrams is not None:
            rows = [self._with_ngrams(row) for row in rows]
        return rows

    def _with_ngrams(self, row: list[str]) -> list[str]:
        out: list[str] = []
        for width in self._ngrams:
            out.extend(" ".join(row[i:i + width]) for i in range(len(row) - width + 1))
        return out

    # -- adapt and vocabulary ------------------------------------------------------------------
    def adapt(self, data: Any, batch_size: Any = None, steps: int | None = None) -> None:
        """Learn the vocabulary from strings (an array or list: one batch) or from an
        iterable of batches (``x`` of ``(x, y)`` pairs)."""
        if batch_size is not None:
            raise NotImplementedError(f"TextVectorization {self.name!r}: adapt(batch_size=) "
                                      "is not implemented in faltung; pass the data only")
        documents: list[Any] = []
        for batch in _batches(data, steps):
            tokens = self._tokens(batch if np.ndim(batch) else [batch])
            if isinstance(tokens, np.ndarray):
                array = tokens.reshape(len(tokens), -1) if tokens.ndim else tokens.reshape(1, 1)
                documents.extend(list(row) for row in array.tolist())
            else:
                documents.extend(tokens)
        if self._lookup_layer._has_input_vocabulary:
            raise ValueError(f"Cannot adapt layer '{self._lookup_layer.name}' after setting a "
                             "static vocabulary via `vocabulary` argument or "
                             "`set_vocabulary()` method.")
        self._lookup_layer._learn(documents)

    def get_vocabulary(self, include_special_tokens: bool = True) -> list[str]:
        return self._lookup_layer.get_vocabulary(include_special_tokens)

    def vocabulary_size(self) -> int:
        return self._lookup_layer.vocabulary_size()

    def set_vocabulary(self, vocabulary: Any, idf_weights: Any = None) -> None:
        self._lookup_layer.set_vocabulary(vocabulary, idf_weights=idf_weights)

    # -- the call ------------------------------------------------------------------------------
    def _input_array(self, inputs: Any) -> Any:
        return inputs

    def _output_dtype(self) -> str:
        return "int64" if self._output_mode == "int" else floatx()

    def call(self, inputs: Any) -> Tensor:
        tokens = self._tokens(inputs)
        lookup = self._lookup_layer
        if isinstance(tokens, np.ndarray):  # split=None: each string is one token
            result = lookup.call(tokens)
            if self._output_mode == "int" and self._output_sequence_length is not None \
                    and result.ndim >= 1:
                data = result.data
                if data.ndim == 1:
                    data = data[:, None]
                data = _fit_length(list(data), self._output_sequence_length)
                return Tensor(data, dtype=np.int64)
            return result
        indices = [lookup._lookup(np.asarray(row, dtype=object)) for row in tokens]
        if self._output_mode == "int":
            length = self._output_sequence_length
            if length is None:
                length = max((len(r) for r in indices), default=0)
            return Tensor(_fit_length(indices, length), dtype=np.int64)
        depth = lookup._depth()
        counts = np.zeros((len(indices), depth), dtype=np.int64)
        for r, row in enumerate(indices):
            row = row[(row >= 0) & (row < depth)]
            np.add.at(counts[r], row, 1)
        if self._output_mode == "multi_hot":
            out = np.minimum(counts, 1)
        elif self._output_mode == "count":
            out = counts
        else:
            idf = lookup.idf_weights
            if idf is None:
                raise ValueError(f"TextVectorization {self.name!r}: When `output_mode` is "
                                 "`'tf_idf'`, `idf_weights` must be provided.")
            out = counts.astype(floatx()) * idf
        return Tensor(out, dtype=out.dtype)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        if self._output_mode == "int":
            return (input_shape[0], self._output_sequence_length)
        if self._split is None:
            if len(input_shape) <= 1:
                input_shape = tuple(input_shape) + (1,)
        else:
            input_shape = tuple(input_shape) + (None,)
        return self._lookup_layer.compute_output_shape(input_shape)

    # -- saving --------------------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        lookup = self._lookup_layer
        return {**super().get_config(), "max_tokens": lookup.max_tokens,
                "standardize": _serialize_callable(self._standardize),
                "split": _serialize_callable(self._split), "ngrams": self._ngrams_arg,
                "output_mode": self._output_mode,
                "output_sequence_length": self._output_sequence_length,
                "pad_to_max_tokens": lookup.pad_to_max_tokens, "sparse": lookup.sparse,
                "ragged": self._ragged, "vocabulary": lookup.get_config()["vocabulary"],
                "idf_weights": lookup.get_config()["idf_weights"], "encoding": self._encoding,
                "vocabulary_size": self.vocabulary_size()}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> TextVectorization:
        config = dict(config)
        if isinstance(config.get("vocabulary"), str):
            raise ValueError(f"TextVectorization: a saved config names the vocabulary file "
                             f"{config['vocabulary']!r}; faltung never reads files named in a "
                             "model's config (pass the vocabulary in code with "
                             "set_vocabulary())")
        for key in ("standardize", "split"):
            if key in config:
                config[key] = _deserialize_callable(config[key], key)
        if isinstance(config.get("ngrams"), list):
            config["ngrams"] = tuple(config["ngrams"])
        return super().from_config(config)

    def save_assets(self) -> dict[str, bytes]:
        return self._lookup_layer.save_assets()

    def load_assets(self, files: dict[str, bytes]) -> None:
        self._lookup_layer.load_assets(files)

    def save_own_variables(self, store: dict[str, Any]) -> None:
        self._lookup_layer.save_own_variables(store)

    def load_own_variables(self, store: dict[str, Any]) -> None:
        self._lookup_layer.load_own_variables(store)


def _fit_length(rows: list[np.ndarray], length: int) -> np.ndarray:
    """Rows of indices cut or padded with 0 to ``length``."""
    out = np.zeros((len(rows), length), dtype=np.int64)
    for r, row in enumerate(rows):
        row = np.asarray(row).reshape(-1)[:length]
        out[r, :row.size] = row
    return out
