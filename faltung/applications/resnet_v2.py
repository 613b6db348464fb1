"""ResNet50V2/101V2/152V2 (He et al. 2016, pre-activation) as ``keras.applications.resnet_v2``,
with Keras's layer names so Keras's weight files load.

Where faltung differs: ``weights`` is None or a path; 'imagenet' is not downloaded."""

from __future__ import annotations

from typing import Any

from faltung.applications import _base, imagenet_utils
from faltung.applications.imagenet_utils import decode_predictions
from faltung.applications.resnet import build_resnet

__all__ = ["ResNet50V2", "ResNet101V2", "ResNet152V2", "decode_predictions",
           "preprocess_input"]


def _resnet_v2(model: str, depths: tuple[int, int, int, int], default_name: str) -> Any:
    return _base.builder(model, default_name,
                         lambda *args: build_resnet(model, depths, True, *args),
                         f"The {model} network (Keras's layer names; weights None or a path).")


ResNet50V2 = _resnet_v2("ResNet50V2", (3, 4, 6, 3), "resnet50v2")
ResNet101V2 = _resnet_v2("ResNet101V2", (3, 4, 23, 3), "resnet101v2")
ResNet152V2 = _resnet_v2("ResNet152V2", (3, 8, 36, 3), "resnet152v2")


def preprocess_input(x: Any, data_format: str | None = None) -> Any:
    """'tf' preprocessing (scaled to [-1, 1]), as Keras's ResNetV2."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="tf")
