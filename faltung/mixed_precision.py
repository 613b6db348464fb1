"""``keras.mixed_precision``: dtype policies, for the float types a CPU computes in.

A policy names the type that layers compute in and keep their variables in. faltung runs on
NumPy on the CPU, where half precision is slower than float32 and has no fast kernels, so only
the full-precision policies are accepted: ``"float32"`` (the default) and ``"float64"``. New
layers follow the global policy (``set_global_policy``); layers that exist keep their type, as in
Keras. ``"mixed_float16"``, ``"mixed_bfloat16"``, ``"float16"`` and ``"bfloat16"`` raise
``NotImplementedError`` naming what to use instead.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from faltung import backend

__all__ = ["DTypePolicy", "LossScaleOptimizer", "Policy", "dtype_policy", "global_policy",
           "set_dtype_policy", "set_global_policy"]

_HALF = ("mixed_float16", "mixed_bfloat16", "float16", "bfloat16", "half")
_global: DTypePolicy | None = None


def _refuse_half(name: str) -> None:
    raise NotImplementedError(
        f"DTypePolicy: the policy {name!r} is not supported: faltung computes on the CPU with "
        "NumPy, which has no fast half-precision kernels (bfloat16 does not exist there). Use "
        "the 'float32' policy (the default; halve the batch size if memory is short) or "
        "'float64'.")


class DTypePolicy:
    """A dtype policy: ``DTypePolicy("float64")``; ``name``, ``compute_dtype`` and
    ``variable_dtype`` (the same type for the full-precision policies faltung accepts)."""

    def __init__(self, name: str | None = None) -> None:
        if name is None:
            name = dtype_policy().name
        if not isinstance(name, str):
            raise TypeError("'name' must be a string, such as 'mixed_float16'. "
                            f"Received: name={name} (of type {type(name)})")
        if name in _HALF:
            _refuse_half(name)
        try:
            dtype = backend.standardize_dtype(name)
        except (ValueError, TypeError):
            raise ValueError(f"Cannot convert '{name}' to a mixed precision DTypePolicy. Valid "
                             "policies include 'mixed_float16', 'mixed_bfloat16', and the name "
                             "of any float dtype such as 'float32'.") from None
        if dtype in _HALF:
            _refuse_half(name)
        self._name = name
        self._dtype = dtype

    @property
    def name(self) -> str:
        return self._name

    @property
    def compute_dtype(self) -> str:
        return self._dtype

    @property
    def variable_dtype(self) -> str:
        return self._dtype

    @property
    def dtype(self) -> np.dtype:
        """The NumPy type, so that ``np.dtype(policy)`` and ``Layer(dtype=policy)`` work."""
        return np.dtype(self._dtype)

    @property
    def quantization_mode(self) -> None:
        return None

    def get_config(self) -> dict[str, Any]:
        return {"name": self._name}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> DTypePolicy:
        return cls(**config)

    def __repr__(self) -> str:
        return f'<DTypePolicy "{self._name}">'

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other._name == self._name  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(self._name)


Policy = DTypePolicy


def set_dtype_policy(policy: str | DTypePolicy | None) -> None:
    """Make new layers use ``policy`` (a name or a DTypePolicy); None goes back to the default
    (the policy named by ``keras.backend.floatx()``)."""
    global _global
    if policy is None or isinstance(policy, DTypePolicy):
        _global = policy
    elif isinstance(policy, str):
        _global = DTypePolicy(policy)
    else:
        raise ValueError("Invalid `policy` argument. Expected the string name of a policy "
                         "(such as 'mixed_float16') or a `DTypePolicy` instance. Received: "
                         f"policy={policy} (of type {type(policy)})")


def dtype_policy() -> DTypePolicy:
    """The global policy: the one set, else the one named by ``keras.backend.floatx()``."""
    return _global if _global is not None else DTypePolicy(backend.floatx())


set_global_policy = set_dtype_policy
global_policy = dtype_policy


def default_dtype() -> str:
    """The dtype of a layer made without ``dtype=``: the global policy's variable type."""
    return _global.variable_dtype if _global is not None else backend.floatx()


class LossScaleOptimizer:
    """Refused: loss scaling only serves float16 training, which faltung does not do."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError(
            "LossScaleOptimizer: loss scaling is only needed for 'mixed_float16' training, "
            "which faltung does not support on the CPU; use the optimizer itself with the "
            "'float32' policy.")
