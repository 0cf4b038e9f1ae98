"""The app's route table as served, for tests that check every route."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import fastapi.routing
from fastapi.dependencies.models import Dependant

from app.auth.dependencies import AccessRule


def calls(dependant: Dependant) -> list[object]:
    found = [dependant.call]
    for sub in dependant.dependencies:
        found.extend(calls(sub))
    return found


@dataclass
class Route:
    path: str
    methods: set[str]
    dependant: Dependant | None
    original: object


def walk(app) -> Iterator[Route]:
    """Every route as served, with router-level dependencies included (newer FastAPI keeps
    included routers lazily; older ones list plain APIRoutes)."""
    iter_contexts = getattr(fastapi.routing, "iter_route_contexts", None)
    if iter_contexts is None:
        for r in app.routes:
            yield Route(
                r.path, set(getattr(r, "methods", None) or ()), getattr(r, "dependant", None), r
            )
        return
    for ctx in iter_contexts(app.router.routes):
        effective = ctx._effective_route
        yield Route(
            ctx.path or "",
            set(getattr(effective, "methods", None) or ()),
            getattr(effective, "dependant", None),
            ctx.original_route,
        )


def rules(route: Route) -> set[str]:
    assert route.dependant is not None
    return {c.describe() for c in calls(route.dependant) if isinstance(c, AccessRule)}
