"""Every route of the app is guarded: a new route without a scope check fails here.

A page or API route must depend on a guard of :mod:`doudi.web.deps` (the signed-in actor
with a permission, or an API token), unless it is marked public (sign-in, health); every
state-changing page route must also check the CSRF token. Guards carry ``__doudi_guard__``,
the CSRF check ``__doudi_csrf__``, public endpoints ``__doudi_public__``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from doudi.auth.roles import PERMISSIONS
from doudi.settings import Settings
from doudi.web.app import create_app
from doudi.web.routes import all_routers

# The one state-changing public route: it checks its own double-submit CSRF token.
OWN_CSRF = {("POST", "/login")}


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for dep in dependant.dependencies:
        if dep.call is not None:
            yield dep.call
        yield from _calls(dep)


def _routes(settings: Settings) -> list[APIRoute]:
    """Every API route the app serves (the routers it includes, as FastAPI builds them)."""
    create_app(settings)  # the app builds from exactly these routers
    return [r for router in all_routers() for r in router.routes if isinstance(r, APIRoute)]


def test_every_route_has_a_guard_or_is_public(tmp_path: Any) -> None:
    routes = _routes(Settings(data_dir=tmp_path))
    assert len(routes) >= 5
    unguarded = []
    for route in routes:
        if getattr(route.endpoint, "__doudi_public__", False):
            continue
        guards = [getattr(c, "__doudi_guard__", None) for c in _calls(route.dependant)]
        guards = [g for g in guards if g]
        if not guards:
            unguarded.append(f"{sorted(route.methods)} {route.path}")
        for g in guards:
            assert g in PERMISSIONS or g.startswith("api:"), f"{route.path}: unknown guard {g}"
    assert not unguarded, f"routes without a scope/permission guard: {unguarded}"


def test_every_state_changing_page_checks_csrf(tmp_path: Any) -> None:
    missing = []
    for route in _routes(Settings(data_dir=tmp_path)):
        if route.path.startswith("/api/"):
            continue
        for method in route.methods - {"GET", "HEAD"}:
            if (method, route.path) in OWN_CSRF:
                continue
            if not any(getattr(c, "__doudi_csrf__", False) for c in _calls(route.dependant)):
                missing.append(f"{method} {route.path}")
    assert not missing, f"state-changing routes without a CSRF check: {missing}"


def test_public_routes_are_only_sign_in_and_health(tmp_path: Any) -> None:
    public = sorted(
        (sorted(r.methods)[0], r.path)
        for r in _routes(Settings(data_dir=tmp_path))
        if getattr(r.endpoint, "__doudi_public__", False)
    )
    assert public == [("GET", "/healthz"), ("GET", "/login"), ("POST", "/login"), ("POST", "/logout")]
