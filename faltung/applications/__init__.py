"""Keras's pretrained-network architectures with Keras's layer names, so that Keras's weight
files load into them. faltung never downloads: ``weights`` is a path to a file the user has."""

from faltung.applications import (
    densenet,
    efficientnet,
    imagenet_utils,
    inception_v3,
    mobilenet,
    mobilenet_v2,
    resnet,
    resnet50,
    resnet_v2,
    vgg16,
    vgg19,
    xception,
)
from faltung.applications.densenet import DenseNet121, DenseNet169, DenseNet201
from faltung.applications.efficientnet import (
    EfficientNetB0,
    EfficientNetB1,
    EfficientNetB2,
    EfficientNetB3,
    EfficientNetB4,
    EfficientNetB5,
    EfficientNetB6,
    EfficientNetB7,
)
from faltung.applications.inception_v3 import InceptionV3
from faltung.applications.mobilenet import MobileNet
from faltung.applications.mobilenet_v2 import MobileNetV2
from faltung.applications.resnet import ResNet50, ResNet101, ResNet152
from faltung.applications.resnet_v2 import ResNet50V2, ResNet101V2, ResNet152V2
from faltung.applications.vgg16 import VGG16
from faltung.applications.vgg19 import VGG19
from faltung.applications.xception import Xception

__all__ = [
    "DenseNet121", "DenseNet169", "DenseNet201", "EfficientNetB0", "EfficientNetB1",
    "EfficientNetB2", "EfficientNetB3", "EfficientNetB4", "EfficientNetB5", "EfficientNetB6",
    "EfficientNetB7", "InceptionV3", "MobileNet", "MobileNetV2", "ResNet50", "ResNet50V2",
    "ResNet101", "ResNet101V2", "ResNet152", "ResNet152V2", "VGG16", "VGG19", "Xception",
    "densenet", "efficientnet", "imagenet_utils", "inception_v3", "mobilenet", "mobilenet_v2",
    "resnet", "resnet50", "resnet_v2", "vgg16", "vgg19", "xception",
]
