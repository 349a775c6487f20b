"""One module per resource; :func:`all_routers` lists them for the app."""

from __future__ import annotations

import importlib
import pkgutil

from fastapi import APIRouter


def all_routers() -> list[APIRouter]:
    """Every module's ``router`` (and ``api`` for the REST API), in module-name order."""
    out: list[APIRouter] = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        for attr in ("router", "api"):
            router = getattr(module, attr, None)
            if isinstance(router, APIRouter):
                out.append(router)
    return out
