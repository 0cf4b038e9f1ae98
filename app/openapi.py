"""The OpenAPI description says what the API really answers.

FastAPI's generated schema documents a 422 in its own shape and nothing else that can go
wrong. Here every error answer is `ErrorOut` (`{detail, code, errors?}`, as `app.errors`
renders it), each operation lists the error statuses it can give, derived from how the
route is built:

- 401 on every `/api/` route (a malformed or expired bearer token is refused even where
  signing in is optional);
- 403 where an access rule restricts who may call, or a cookie-authenticated write needs
  its CSRF token;
- 404 where the path or an `…_id` query parameter names something;
- 400 where a body is parsed (bytes that are not UTF-8, a broken form); 413 where a body
  is read;
- 422 everywhere: a NUL in the path or the query string is refused before any route runs;
- 429 where the route counts requests against a rate limit;
- anything else (400, 409, a 404 without a path parameter) is declared on the route with
  `responses=errors(...)`.

Downloads declare their media types with `responses=files(...)` instead of JSON.
`tests/test_openapi.py` checks every API answer the suite receives against this
description, and runs a property-based tool over it."""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, params
from pydantic import BaseModel, ConfigDict, Field

from app.auth.dependencies import AccessRule, get_limiter
from app.core.routes import Route, calls, walk

ERROR_REF = "#/components/schemas/ErrorOut"
FILES_MARK = "x-bdhai-files"  # dropped from the served description
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
ERROR_TEXT = {
    400: "The request cannot be carried out as it is",
    401: "Not signed in, or the token is malformed or expired",
    403: "Not allowed for this account (role, unit scope, CSRF, password change pending)",
    404: "Not found, or outside the caller's scope",
    409: "Conflicts with what is stored",
    405: "The path names another resource, which does not take this method (see `Allow`)",
    413: "The body is larger than the service accepts",
    422: "The input is not valid (`errors` lists each field)",
    429: "Too many requests; wait for `Retry-After` seconds",
}


class FieldErrorOut(BaseModel):
    field: str = Field(description="The field's Vietnamese label, or its name")
    loc: list[str] = Field(description="Where the field is: body, query, path, then names")
    message: str = Field(description="What is wrong, in Vietnamese")


class ErrorOut(BaseModel):
    """Every error answer of the API."""

    model_config = ConfigDict(extra="allow")

    detail: str = Field(description="What went wrong, in Vietnamese, to show as it is")
    code: str = Field(description="A stable code for programs: validation, not_found, …")
    errors: list[FieldErrorOut] | None = Field(
        default=None, description="Each invalid field (422 validation answers only)"
    )


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for error statuses a route gives beyond those its shape implies."""
    return {status: {"description": ERROR_TEXT.get(status, "")} for status in statuses}


def files(*media_types: str, description: str = "A file") -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route that answers with a file in one of `media_types` (JSON
    ones are objects, the rest bytes) instead of FastAPI's default JSON."""
    content = {}
    for media_type in media_types:
        kind = media_type.split(";")[0].strip()
        json_like = kind.endswith(("/json", "+json"))
        schema = {"type": "object"} if json_like else {"type": "string", "format": "binary"}
        content[kind] = {"schema": schema}
    return {200: {"description": description, "content": content, FILES_MARK: list(content)}}


def _shape_statuses(route: Route, method: str) -> set[int]:
    """The error statuses a route can give by how it is built (see the module's notes)."""
    assert route.dependant is not None
    found = calls(route.dependant)
    rules = [c for c in found if isinstance(c, AccessRule)]
    public = all(r.describe() == "public" for r in rules)
    params = _params(route.dependant)
    kinds = {kind for kind, _ in params}
    # A NUL in the path or the query string is refused with 422 on every route
    # (app.core.http_limits), whatever the route reads.
    statuses = {422}
    if route.path.startswith("/api/"):
        statuses.add(401)
        if not public or method in WRITE_METHODS:
            statuses.add(403)
    elif not public:
        statuses.update((401, 403))
    if "path" in kinds or any(kind == "query" and name.endswith("_id") for kind, name in params):
        statuses.add(404)  # what the path or an id names may not exist, or be out of scope
    if method in WRITE_METHODS or "body" in kinds:
        statuses.add(413)
    if kinds & {"body", "form"}:
        statuses.add(400)  # a body that cannot be parsed (bytes that are not UTF-8, a broken form)
    if get_limiter in found:
        statuses.add(429)
    return statuses


def _params(dependant: Any) -> list[tuple[str, str]]:
    """(where, name) of every parameter a route reads: path, query, header, cookie, body
    (JSON) or form (urlencoded or multipart)."""
    found = [("path", f.name) for f in dependant.path_params]
    found += [("query", f.name) for f in dependant.query_params]
    found += [("header", f.name) for f in dependant.header_params]
    found += [("cookie", f.name) for f in dependant.cookie_params]
    for f in dependant.body_params:
        form = isinstance(f.field_info, params.Form)
        found.append(("form" if form else "body", f.name))
    for sub in dependant.dependencies:
        found.extend(_params(sub))
    return found


def _error_response(status: int, existing: dict[str, Any] | None) -> dict[str, Any]:
    description = (existing or {}).get("description") or ERROR_TEXT.get(
        status, HTTPStatus(status).phrase
    )
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": ERROR_REF}}},
    }


def _only_declared_files(responses: dict[str, Any]) -> None:
    """A download declared with `files()` lists only its own media types (FastAPI adds
    the route's default JSON beside them)."""
    for response in responses.values():
        declared = response.pop(FILES_MARK, None)
        if declared:
            response["content"] = {k: response["content"][k] for k in declared}


def describe(app: FastAPI, spec: dict[str, Any]) -> dict[str, Any]:
    """Rewrite FastAPI's generated `spec` in place to say what the routes really answer."""
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    error_schema = ErrorOut.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(error_schema.pop("$defs", {}))
    schemas["ErrorOut"] = error_schema
    for route in walk(app):
        operations = spec["paths"].get(route.path) if route.in_schema else None
        if not operations or route.dependant is None:
            continue
        for method in route.methods:
            operation = operations.get(method.lower())
            if operation is None:
                continue
            responses = operation.setdefault("responses", {})
            _only_declared_files(responses)
            declared = {int(s) for s in responses if s.isdigit() and int(s) >= 400}
            for status in sorted(declared | _shape_statuses(route, method)):
                responses[str(status)] = _error_response(status, responses.get(str(status)))
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    return spec


def install(app: FastAPI) -> None:
    """Serve the rewritten description at the app's OpenAPI address (built once)."""
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = describe(app, generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
