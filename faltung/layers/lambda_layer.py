"""Lambda: any function of the inputs as a layer, saved as Keras saves it.

Loading is where faltung differs on purpose: a Python lambda is stored in Keras files as
bytecode, and faltung never runs code that comes from a file, whatever ``safe_mode`` says
(Keras runs it with ``safe_mode=False``). A named function is stored by name and found only
among the objects the user hands over (``custom_objects``, ``custom_object_scope``,
``register_keras_serializable``) or among faltung's own ``keras.ops`` and activations."""

from __future__ import annotations

import base64
import inspect
import marshal
from typing import Any

from faltung.layers.layer import Layer, _flatten, _is_plain, _map


class LambdaLoadingError(ValueError):
    """A saved Lambda whose function faltung will not (or cannot) bring back."""


def _function_config(fn: Any, what: str) -> Any:
    """A function as Keras's Lambda writes it: a Python lambda as bytecode (``__lambda__``),
    a named function by its (registered) name."""
    if getattr(fn, "__name__", None) == "<lambda>":
        closure = None
        if fn.__closure__:
            closure = [cell.cell_contents for cell in fn.__closure__]
            if not _is_plain(closure):
                raise NotImplementedError(f"Lambda: the {what} lambda refers to outer values "
                                          "that cannot be written to a config; use a named "
                                          "function")
        code = base64.encodebytes(marshal.dumps(fn.__code__)).decode("ascii")
        defaults = list(fn.__defaults__) if fn.__defaults__ else None
        return {"class_name": "__lambda__",
                "config": {"code": code, "defaults": defaults, "closure": closure}}
    if callable(fn):
        from faltung.saving.object_registration import get_registered_name
        return {"module": "builtins", "class_name": "function",
                "config": get_registered_name(fn), "registered_name": "function"}
    raise ValueError(f"Invalid input type for serialization. Received: {fn} of type "
                     f"{type(fn)}.")


def _resolve_function(config: Any, what: str, layer: str, custom_objects: dict) -> Any:
    """The function a saved Lambda names: never from bytecode, only by name from the user's
    objects or faltung's ops and activations."""
    if isinstance(config, dict) and config.get("class_name") == "__lambda__":
        raise LambdaLoadingError(
            f"Lambda layer {layer!r}: its {what} is a Python lambda, stored in the file as "
            "bytecode. Requested the deserialization of a `Lambda` layer whose function is a "
            "Python lambda; faltung never loads code from a file, also not with "
            "safe_mode=False (where Keras would run it). Rebuild the model in code and load the "
            "weights with model.load_weights(path), or define the function with `def`, "
            "register it (keras.saving.register_keras_serializable) or pass it in "
            "custom_objects, and save the model again")
    if isinstance(config, str):
        name = config
    elif isinstance(config, dict) and config.get("class_name") == "function" and \
            isinstance(config.get("config"), str):
        name = config["config"]
    else:
        raise LambdaLoadingError(f"Lambda layer {layer!r}: its {what} entry {config!r} is not "
                                 "the name of a function (faltung never loads code from a "
                                 "file)")
    if name in custom_objects and callable(custom_objects[name]):
        return custom_objects[name]
    plain = name.split(">")[-1]
    from faltung import activations, ops
    for namespace in (ops, activations):
        found = getattr(namespace, plain, None)
        if inspect.isfunction(found) and not plain.startswith("_") and plain == name:
            return found
    raise LambdaLoadingError(f"Lambda layer {layer!r}: its {what} {name!r} is not known; "
                             f"pass it as custom_objects={{{name!r}: {plain}}} (faltung "
                             "never loads code from a file)")


class Lambda(Layer):
    """``function(inputs, **arguments)`` as a layer (also given ``mask`` and ``training`` when
    the function takes them). ``output_shape`` (a shape without the batch axis, or a function
    of the input shape) is needed only where running the function on trial inputs cannot tell
    it; ``mask`` is a function ``(inputs, mask) -> mask`` or a fixed mask."""

    def __init__(self, function: Any, output_shape: Any = None, mask: Any = None,
                 arguments: dict | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not callable(function):
            raise TypeError(f"Lambda {self.name!r}: function must be callable, got "
                            f"{type(function).__name__}")
        self.arguments = arguments or {}
        self.function = function
        self.supports_masking = mask is not None
        self.mask = mask
        self._output_shape = output_shape
        try:
            names = inspect.getfullargspec(function).args
        except TypeError:
            names = []
        self._fn_expects_training_arg = "training" in names
        self._fn_expects_mask_arg = "mask" in names

    def call(self, inputs: Any, mask: Any = None, training: bool | None = None) -> Any:
        kwargs = dict(self.arguments)
        if self._fn_expects_mask_arg:
            kwargs["mask"] = mask
        if self._fn_expects_training_arg:
            kwargs["training"] = training
        return self.function(inputs, **kwargs)

    def compute_mask(self, inputs: Any, previous_mask: Any = None) -> Any:
        if callable(self.mask):
            return self.mask(inputs, previous_mask)
        return self.mask

    def compute_output_shape(self, input_shape: Any) -> Any:
        if self._output_shape is None:
            from faltung.layers.input_layer import KerasTensor
            from faltung.layers.layer import _map_shapes
            from faltung.layers.operation import infer_outputs
            symbolic = _map_shapes(input_shape, lambda s: KerasTensor(s, self.dtype))
            try:
                out = infer_outputs(self.call, (symbolic,), {}, f"Lambda {self.name!r}")
            except (ValueError, TypeError, IndexError) as error:
                raise NotImplementedError(
                    f"Lambda {self.name!r}: could not infer the output shape automatically "
                    f"({error}); please specify the `output_shape` argument") from None
            return _map(out, lambda t: t.shape)
        if callable(self._output_shape):
            return self._output_shape(input_shape)
        batch = _flatten(input_shape)[0]
        shape = tuple(self._output_shape)
        if all(isinstance(d, tuple) for d in shape):  # several outputs
            return [(batch,) + tuple(s) for s in shape]
        return (batch,) + shape

    def get_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {"function": _function_config(self.function, "function")}
        if self._output_shape is not None:
            config["output_shape"] = _function_config(self._output_shape, "output_shape") \
                if callable(self._output_shape) else self._output_shape
        if self.mask is not None:
            if not callable(self.mask):
                raise NotImplementedError(f"Lambda {self.name!r}: a fixed mask cannot be "
                                          "written to a config in faltung; give mask as a "
                                          "function")
            config["mask"] = _function_config(self.mask, "mask")
        if not _is_plain(self.arguments):
            raise NotImplementedError(f"Lambda {self.name!r}: arguments {self.arguments!r} "
                                      "must be plain values (numbers, strings, lists, dicts) "
                                      "to be written to a config")
        config["arguments"] = dict(self.arguments)
        return {**super().get_config(), **config}

    @classmethod
    def from_config(cls, config: dict[str, Any], custom_objects: dict | None = None) -> Lambda:
        """Refuses a stored Python lambda always (see the module's docstring); a named function
        comes from ``custom_objects`` (and the registered / scoped objects) or faltung's ops
        and activations."""
        from faltung.saving.object_registration import active_custom_objects
        config = dict(config)
        objects = {**active_custom_objects(), **(custom_objects or {})}
        layer = str(config.get("name", "lambda"))
        config["function"] = _resolve_function(config.get("function"), "function", layer,
                                               objects)
        shape = config.get("output_shape")
        if isinstance(shape, (dict, str)):
            config["output_shape"] = _resolve_function(shape, "output_shape", layer, objects)
        elif isinstance(shape, list):
            config["output_shape"] = tuple(tuple(s) if isinstance(s, list) else s
                                           for s in shape)
        if config.get("mask") is not None:
            config["mask"] = _resolve_function(config["mask"], "mask", layer, objects)
        return super().from_config(config)
