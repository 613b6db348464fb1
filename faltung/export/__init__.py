"""Exporting models to other runtimes: ``to_onnx(model, path)`` (needs the optional ``onnx``
package: ``pip install faltung[onnx]``)."""

from __future__ import annotations

from typing import Any

__all__ = ["to_onnx"]


def to_onnx(model: Any, path: Any, opset: int = 18) -> Any:
    """Write ``model`` as an ONNX file at ``path`` (atomically) and return the ModelProto."""
    from faltung.export.onnx import to_onnx as _to_onnx
    return _to_onnx(model, path, opset=opset)
