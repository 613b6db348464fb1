"""Keras's pretrained-network architectures with Keras's layer names, so that Keras's weight
files load into them. faltung never downloads: ``weights`` is a path to a file the user has."""

from faltung.applications import vgg16
from faltung.applications.vgg16 import VGG16

__all__ = ["VGG16", "vgg16"]
