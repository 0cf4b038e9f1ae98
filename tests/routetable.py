"""The app's route table as served (app.core.routes), and the access rules of a route."""

from __future__ import annotations

from app.auth.dependencies import AccessRule
from app.core.routes import Route, calls, walk

__all__ = ["Route", "calls", "rules", "walk"]


def rules(route: Route) -> set[str]:
    assert route.dependant is not None
    return {c.describe() for c in calls(route.dependant) if isinstance(c, AccessRule)}
