"""Model: a Layer made of layers. Built from ``Model(inputs, outputs)`` (Functional API) or by
subclassing and writing ``call`` (then its layers are the attributes that are layers)."""

from __future__ import annotations

from typing import Any

import numpy as np

from faltung.layers.input_layer import InputLayer
from faltung.layers.layer import Layer, _flatten, _map
from faltung.models.functional import Graph
from faltung.models.trainer import Trainer
from faltung.tensor import Tensor


class Model(Trainer, Layer):
    """``Model(inputs, outputs)`` wires a Functional model; a subclass with ``call`` is a
    subclassed model. Both train with compile / fit / evaluate / predict."""

    def __init__(self, inputs: Any = None, outputs: Any = None, name: str | None = None,
                 trainable: bool = True, **kwargs: Any) -> None:
        if name is None and inputs is not None:
            from faltung.layers.layer import unique_name
            name = unique_name("functional")
        Layer.__init__(self, name=name, trainable=trainable, **kwargs)
        Trainer.__init__(self)
        self._graph: Graph | None = None
        if inputs is not None or outputs is not None:
            if inputs is None or outputs is None:
                raise ValueError("Model: give both inputs and outputs (Functional API), or "
                                 "neither and subclass Model with a call() method")
            self._set_graph(Graph(inputs, outputs))

    def _set_graph(self, graph: Graph) -> None:
        self._graph = graph
        self.built = True
        self._build_shape = _map(graph.inputs, lambda t: t.shape)

    # -- structure --------------------------------------------------------------------------
    @property
    def layers(self) -> list[Layer]:
        if self._graph is not None:
            return list(self._graph.layers)
        return list(self._layers)

    @property
    def operations(self) -> list[Any]:
        """The layers and operation nodes (``x + y``, ``keras.ops.*``) of a Functional model
        in run order; a subclassed model's tracked layers (Keras's ``model.operations``)."""
        if self._graph is not None:
            return list(self._graph.operations)
        return list(self._layers)

    def _tracked_layers(self) -> list[Layer]:
        if self._graph is not None:
            return [layer for layer in self._graph.layers if layer is not self]
        return self._layers

    def get_layer(self, name: str | None = None, index: int | None = None) -> Layer:
        """A layer by name (e.g. 'block1_conv1') or position."""
        layers = self.layers
        if index is not None:
            if not -len(layers) <= index < len(layers):
                raise ValueError(f"Model {self.name!r} has {len(layers)} layers, no index "
                                 f"{index}")
            return layers[index]
        for layer in layers:
            if layer.name == name:
                return layer
        raise ValueError(f"No such layer: {name!r}. Model {self.name!r} has the layers "
                         f"{[layer.name for layer in layers]}")

    @property
    def inputs(self) -> list[Any]:
        return list(self._graph.input_tensors) if self._graph is not None else []

    @property
    def outputs(self) -> list[Any]:
        return list(self._graph.output_tensors) if self._graph is not None else []

    @property
    def input(self) -> Any:
        if self._graph is None:
            return super().input
        return self._graph.inputs

    @property
    def output(self) -> Any:
        if self._graph is None:
            return super().output
        return self._graph.outputs

    @property
    def input_shape(self) -> Any:
        return _map(self.input, lambda t: t.shape)

    @property
    def output_shape(self) -> Any:
        return _map(self.output, lambda t: t.shape)

    # -- running ----------------------------------------------------------------------------
    def call(self, inputs: Any, training: bool | None = None, mask: Any = None) -> Any:
        if self._graph is None:
            raise NotImplementedError(f"Model {self.name!r} has no graph: subclasses of Model "
                                      "must implement call()")
        tensors = self._graph.check_inputs(_flatten(inputs) if isinstance(
            inputs, (list, tuple, dict)) else [inputs])
        outputs = self._graph.run(tensors, training=training)
        return self._pack(outputs)

    def _pack(self, flat: list[Tensor]) -> Any:
        structure = self._graph.outputs
        if isinstance(structure, (list, tuple)):
            return list(flat)
        if isinstance(structure, dict):
            return dict(zip(structure, flat))
        return flat[0]

    def compute_output_shape(self, input_shape: Any) -> Any:
        if self._graph is not None:
            return _map(self._graph.outputs, lambda t: t.shape)
        return super().compute_output_shape(input_shape)

    def build(self, input_shape: Any) -> None:
        self.built = True

    def __call__(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        if self._graph is None and not self.built:
            # a subclassed model builds its layers by running call once
            self.built = True
            self._build_shape = _map(inputs, lambda t: (None,) + tuple(np.shape(t)[1:]))
        return super().__call__(inputs, *args, **kwargs)

    def _check_input(self, shape: Any) -> None:
        """Functional models check shapes per input in Graph.check_inputs."""

    # -- configuration ----------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        """A Functional model's layers and wiring; for a subclassed model without its own
        ``get_config``, its constructor arguments (Keras 3's automatic config)."""
        if self._graph is None:
            from faltung.layers.layer import _uses_automatic_config
            if _uses_automatic_config(type(self)):
                return {**self._automatic_config(), "trainable": self.trainable,
                        "dtype": self.dtype}
            return {"name": self.name, "trainable": self.trainable}
        from faltung.models.config import functional_config
        return functional_config(self)

    @classmethod
    def from_config(cls, config: dict[str, Any], custom_objects: dict | None = None) -> Model:
        """A Functional model from its layers and wiring, or a subclassed model from its
        constructor arguments (``cls(**config)``, as Keras)."""
        from faltung.models.config import functional_from_config
        functional = isinstance(config, dict) and "layers" in config
        if cls is Model or (functional and cls.__init__ is Model.__init__):
            return functional_from_config(config, custom_objects)
        if not isinstance(config, dict):
            raise TypeError(f"{cls.__name__}.from_config takes a dict, got "
                            f"{type(config).__name__}")
        try:
            return cls(**config)
        except TypeError as error:
            raise TypeError(
                f"Unable to revive model {cls.__name__} from config. When overriding "
                "get_config(), make sure that the returned config contains all items used as "
                f"arguments in the constructor of {cls.__name__}, or define a from_config(cls, "
                f"config) class method. Received config={config}. Error: {error}") from None

    # -- files ------------------------------------------------------------------------------
    def save(self, filepath: Any, overwrite: bool = True, include_optimizer: bool = True,
             **kwargs: Any) -> None:
        """Write the model to '.keras' (Keras 3 format) or '.h5' (legacy HDF5), atomically."""
        from faltung.saving import save_model
        save_model(self, filepath, overwrite=overwrite, include_optimizer=include_optimizer)

    def save_weights(self, filepath: Any, overwrite: bool = True) -> None:
        """Write the weights to '.weights.h5' (Keras 3 layout), atomically."""
        from faltung.saving import save_weights
        save_weights(self, filepath, overwrite=overwrite)

    def load_weights(self, filepath: Any, skip_mismatch: bool = False) -> None:
        """Load weights from '.weights.h5', '.keras' or legacy '.h5' (by layer position)."""
        from faltung.saving import load_weights
        load_weights(self, filepath, skip_mismatch=skip_mismatch)

    def summary(self, line_length: int | None = None, positions: Any = None,
                print_fn: Any = None, expand_nested: bool = False,
                show_trainable: bool = False, layer_range: Any = None) -> None:
        """Print Keras's table of layers, output shapes and parameter counts."""
        from faltung.models.summary import print_summary
        print_summary(self, line_length=line_length, positions=positions, print_fn=print_fn,
                      expand_nested=expand_nested, show_trainable=show_trainable,
                      layer_range=layer_range)


def is_input_layer(layer: Layer) -> bool:
    return isinstance(layer, InputLayer)
