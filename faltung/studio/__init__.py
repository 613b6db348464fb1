"""faltung studio: look inside a network in the browser (``faltung studio [MODEL]``).

Draw a digit and watch every layer react, inspect any saved model with images from the test
set, browse the lab reports. Needs the optional ``studio`` group (Starlette, uvicorn, Pillow):
``pip install 'faltung[studio]'``; everything is imported lazily."""

from __future__ import annotations

from typing import Any

__all__ = ["create_app", "serve"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from faltung.studio.app import create_app
        return create_app
    if name == "serve":
        from faltung.studio.server import serve
        return serve
    raise AttributeError(f"module 'faltung.studio' has no attribute {name!r}")
