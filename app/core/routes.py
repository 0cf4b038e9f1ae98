"""The app's route table as served: each route with its methods and its dependency tree
(router-level dependencies included), for the OpenAPI description and the route tests."""

from __future__ import annotations

import enum
import re
from collections.abc import Iterator
from dataclasses import dataclass

import fastapi.routing
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from starlette.convertors import Convertor, register_url_convertor


def calls(dependant: Dependant) -> list[object]:
    """Every callable in a route's dependency tree, the endpoint first."""
    found = [dependant.call]
    for sub in dependant.dependencies:
        found.extend(calls(sub))
    return found


@dataclass
class Route:
    pattern: str  # as routed, with convertors: /admin/imports/{import_id:int}
    methods: set[str]
    dependant: Dependant | None
    original: object
    in_schema: bool

    @property
    def path(self) -> str:
        """The path template as the OpenAPI description writes it: /admin/imports/{import_id}."""
        return _CONVERTOR.sub(r"{\1}", self.pattern)


_CONVERTOR = re.compile(r"\{(\w+):\w+\}")


def walk(app: FastAPI) -> Iterator[Route]:
    """Every route as served (newer FastAPI keeps included routers lazily; older ones list
    plain APIRoutes)."""
    iter_contexts = getattr(fastapi.routing, "iter_route_contexts", None)
    if iter_contexts is None:
        for r in app.routes:
            yield Route(
                getattr(r, "path", ""),
                set(getattr(r, "methods", None) or ()),
                getattr(r, "dependant", None),
                r,
                bool(getattr(r, "include_in_schema", False)),
            )
        return
    for ctx in iter_contexts(app.router.routes):
        effective = ctx._effective_route
        yield Route(
            ctx.path or "",
            set(getattr(effective, "methods", None) or ()),
            getattr(effective, "dependant", None),
            ctx.original_route,
            bool(getattr(effective, "include_in_schema", False)),
        )


class _ChoiceConvertor(Convertor[str]):
    def __init__(self, choices: type[enum.StrEnum]) -> None:
        self.regex = "|".join(re.escape(c.value) for c in choices)

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return str(value)


def path_choice(name: str, choices: type[enum.StrEnum]) -> None:
    """A path segment that matches only one of `choices` (`/imports/{kind:import_kind}`), so
    it never shadows another route's segment (`/imports/{import_id:int}`): a wrong method
    on such a path is a 405 naming the right methods, not the other route's 401 or 422.
    The OpenAPI description shows the plain `{kind}`."""
    register_url_convertor(name, _ChoiceConvertor(choices))
