"""Sequential: a plain stack of layers, each feeding the next."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from faltung.layers.input_layer import Input, InputLayer, KerasTensor
from faltung.layers.layer import Layer, unique_name
from faltung.models.functional import Graph
from faltung.models.model import Model


class Sequential(Model):
    """``Sequential([Dense(64, input_shape=(784,)), Dense(10)])`` or ``.add(layer)``.

    As soon as the input shape is known (an ``Input``, ``input_shape=`` / ``input_dim=`` on the
    first layer, or the first batch of data) the stack is wired as a Functional graph, so that
    ``layer.output`` and feature-extraction models work. ``model.layers`` leaves the input layer
    out, as Keras."""

    def __init__(self, layers: Sequence[Layer] | None = None, trainable: bool = True,
                 name: str | None = None) -> None:
        super().__init__(name=name or unique_name("sequential"), trainable=trainable)
        self._stack: list[Layer] = []
        self._input_layer: InputLayer | None = None
        self.built = False
        self._defer_wire = True  # wire once, after all the layers: linear in their number
        try:
            for layer in layers or []:
                self.add(layer)
        finally:
            self._defer_wire = False
        if self._input_layer is not None:
            self._wire()

    def add(self, layer: Layer | KerasTensor) -> None:
        if isinstance(layer, KerasTensor):
            layer = layer.keras_history.operation
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add takes a layer, got {layer!r}")
        if isinstance(layer, InputLayer):
            if self._stack or self._input_layer is not None:
                raise ValueError("Sequential: an Input can only come first")
            self._input_layer = layer
        else:
            known = self.__dict__.get("_stack_ids")  # O(1) duplicate check
            if known is None or known[0] is not self._stack or len(known[1]) != len(
                    self._stack):
                known = (self._stack, {id(existing) for existing in self._stack})
                object.__setattr__(self, "_stack_ids", known)
            ids = known[1]
            if id(layer) in ids:
                raise ValueError(f"Sequential: layer {layer.name!r} was already added")
            self._stack.append(layer)
            ids.add(id(layer))
            if self._input_layer is None and len(self._stack) == 1 and \
                    layer._input_shape_arg is not None:
                self._input_layer = Input(shape=layer._input_shape_arg,
                                          batch_size=layer._batch_size_arg).keras_history.operation
        if self._input_layer is not None and not getattr(self, "_defer_wire", False):
            self._wire()

    def pop(self) -> Layer:
        if not self._stack:
            raise IndexError("Sequential.pop: there are no layers")
        layer = self._stack.pop()
        if self._input_layer is not None:
            self._wire()
        return layer

    def _wire(self) -> None:
        """(Re)build the Functional graph Input -> layers."""
        assert self._input_layer is not None
        x = self._input_layer.output
        for layer in self._stack:
            layer._inbound_nodes = []  # forget an earlier wiring (after add / pop)
        for layer in self._stack:
            x = layer(x)
        self._set_graph(Graph(self._input_layer.output, x))

    def build(self, input_shape: Any = None) -> None:
        if self._graph is not None:
            return
        if input_shape is None:
            raise ValueError(f"Sequential {self.name!r}: the input shape is unknown; give "
                             "input_shape= to the first layer, start with keras.Input, or call "
                             "the model on data")
        self._input_layer = Input(batch_shape=tuple(input_shape)).keras_history.operation
        self._wire()

    def _build_from_data(self, x: list[Any]) -> None:
        if self._graph is None:
            if not self._stack:
                raise ValueError(f"Sequential {self.name!r} has no layers")
            self.build((None,) + tuple(x[0].shape[1:]))

    def __call__(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        if self._graph is None and not isinstance(inputs, KerasTensor):
            self.build((None,) + tuple(getattr(inputs, "shape", (0,))[1:]))
        elif self._graph is None:
            self.build(inputs.shape)
        return super().__call__(inputs, *args, **kwargs)

    @property
    def layers(self) -> list[Layer]:
        return list(self._stack)

    def _tracked_layers(self) -> list[Layer]:
        return list(self._stack)

    def get_config(self) -> dict[str, Any]:
        from faltung.models.config import layer_config
        layers = []
        if self._input_layer is not None:
            layers.append(layer_config(self._input_layer))
        layers.extend(layer_config(layer) for layer in self._stack)
        return {"name": self.name, "trainable": self.trainable, "layers": layers}

    @classmethod
    def from_config(cls, config: dict[str, Any], custom_objects: dict | None = None) \
            -> Sequential:
        from faltung.models.config import ConfigError, layer_from_config
        if isinstance(config, list):  # Keras 2.0-2.3 wrote the bare list of layers
            config = {"layers": config}
        if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
            raise ConfigError("Sequential config: expected an object with a list of 'layers'")
        name = config.get("name")
        model = cls(name=name if isinstance(name, str) else None,
                    trainable=bool(config.get("trainable", True)))
        model._defer_wire = True  # wire once at the end: loading is linear in the layers
        try:
            for layer_config in config["layers"]:
                model.add(layer_from_config(layer_config, custom_objects))
        finally:
            model._defer_wire = False
        if model._input_layer is not None:
            model._wire()
        shape = config.get("build_input_shape")
        if model._graph is None and isinstance(shape, list) and model._stack:
            model.build(tuple(shape))
        return model

