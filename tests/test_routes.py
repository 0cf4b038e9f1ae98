"""Every route declares who may call it; every page form post is CSRF-protected."""

from __future__ import annotations

from fastapi.routing import APIRoute
from starlette.routing import Mount

from app.auth.dependencies import csrf_protect
from tests.routetable import calls as _calls
from tests.routetable import rules as _rules
from tests.routetable import walk


def test_every_route_declares_an_access_rule(app):
    missing, ambiguous, seen = [], [], 0
    for route in walk(app):
        if isinstance(route.original, Mount):
            assert route.path == "/static", f"unexpected mount {route.path}"
            continue
        if not isinstance(route.original, APIRoute):
            # FastAPI's own OpenAPI schema route: public by design.
            assert route.path == "/api/openapi.json", f"{route.path} is not an APIRoute"
            continue
        seen += 1
        rules = _rules(route)
        if not rules:
            missing.append(f"{sorted(route.methods)} {route.path}")
        elif len(rules) > 1:
            ambiguous.append(f"{sorted(route.methods)} {route.path}: {sorted(rules)}")
    assert seen > 30
    assert missing == [], f"routes without an access rule: {missing}"
    assert ambiguous == [], f"routes with several access rules: {ambiguous}"


def test_admin_routes_require_admin_roles(app):
    for route in walk(app):
        if isinstance(route.original, APIRoute) and route.path.startswith(
            ("/api/v1/admin", "/admin")
        ):
            rules = _rules(route)
            assert rules in ({"roles:admin,unit_admin"}, {"roles:admin"}), (route.path, rules)


def test_every_page_form_post_checks_csrf(app):
    unprotected = []
    for route in walk(app):
        if not isinstance(route.original, APIRoute) or route.path.startswith("/api/"):
            continue
        if route.methods & {"POST", "PUT", "PATCH", "DELETE"} and csrf_protect not in _calls(
            route.dependant
        ):
            unprotected.append(route.path)
    assert unprotected == []


def test_openapi_schema_documents_the_api(client):
    schema = client.get("/api/openapi.json").json()
    for path in (
        "/api/v1/auth/register",
        "/api/v1/auth/login",
        "/api/v1/auth/refresh",
        "/api/v1/auth/logout",
        "/api/v1/me",
        "/api/v1/units",
        "/api/v1/groups",
        "/api/v1/admin/users",
        "/api/v1/admin/units",
        "/api/v1/admin/imports/{kind}",
    ):
        assert path in schema["paths"], path
    assert not any(p.startswith("/admin") or p == "/login" for p in schema["paths"])


def _unbounded_integers(schema: object, where: str) -> list[str]:
    """Integers in a JSON schema without an upper bound (Literal choices are bounded)."""
    found: list[str] = []
    if isinstance(schema, dict):
        if (
            schema.get("type") == "integer"
            and "enum" not in schema
            and "const" not in schema
            and "maximum" not in schema
            and "exclusiveMaximum" not in schema
        ):
            found.append(where)
        for key, value in schema.items():
            found.extend(_unbounded_integers(value, f"{where}.{key}"))
    elif isinstance(schema, list):
        for i, value in enumerate(schema):
            found.extend(_unbounded_integers(value, f"{where}[{i}]"))
    return found


def test_every_integer_that_comes_in_is_bounded(app):
    """Ids and numbers from outside are bounded at the edge (app.core.ids.Id): an
    out-of-range value is a 422, never a database error (PostgreSQL's integer is 32-bit).
    Walks every route, pages included, and every field of every body model."""
    from pydantic import TypeAdapter

    def fields(dependant):
        yield from (
            dependant.path_params
            + dependant.query_params
            + dependant.header_params
            + dependant.cookie_params
            + dependant.body_params
        )
        for sub in dependant.dependencies:
            yield from fields(sub)

    unbounded, seen = [], 0
    for route in walk(app):
        if route.dependant is None:
            continue
        for field in fields(route.dependant):
            info = field.field_info
            annotation = info.annotation
            if info.metadata:
                from typing import Annotated

                annotation = Annotated[(annotation, *info.metadata)]
            schema = TypeAdapter(annotation).json_schema(mode="validation")
            seen += 1
            unbounded += _unbounded_integers(
                schema, f"{sorted(route.methods)} {route.path} {field.name}"
            )
    assert seen > 100
    assert unbounded == [], "integers without an upper bound:\n" + "\n".join(unbounded)
