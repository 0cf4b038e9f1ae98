"""Every API answer a test receives is checked against the served OpenAPI description:
its status is documented for the operation, and its media type, headers and JSON body are
the documented ones (Schemathesis's own response validation). The whole suite is the
corpus: a new error status, a changed body or an undeclared download fails the test that
meets it, so the description cannot drift from what the service answers."""

from __future__ import annotations

from typing import Any, ClassVar

import httpx
import schemathesis
from fastapi import FastAPI

OPENAPI_PATH = "/api/openapi.json"


class ApiContract:
    instances: ClassVar[list[ApiContract]] = []

    def __init__(self, app: FastAPI) -> None:
        ApiContract.instances.append(self)
        self.spec = app.openapi()
        self.schema = schemathesis.openapi.from_dict(self.spec)
        self.checked = 0

    def operation(self, method: str, path: str) -> Any:
        if not path.startswith("/api/") or path == OPENAPI_PATH:
            return None
        return self.schema.find_operation_by_path(method, path)

    def check(self, response: httpx.Response) -> None:
        """An httpx response hook: raises when the answer is not the documented one."""
        request = response.request
        operation = self.operation(request.method, request.url.path)
        if operation is None:  # pages, static files, unknown paths and methods
            return
        response.read()
        documented = self.spec["paths"][operation.path][operation.method.lower()]["responses"]
        if str(response.status_code) not in documented:
            raise AssertionError(
                f"{request.method} {operation.path} answered {response.status_code}, which its "
                f"OpenAPI description does not list ({', '.join(sorted(documented))}): "
                f"{response.text[:300]}"
            )
        operation.validate_response(response)
        self.checked += 1
