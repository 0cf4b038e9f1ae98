"""Exception handlers: JSON for the API, a Vietnamese page (or a redirect) for pages."""

from __future__ import annotations

import logging
import re

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path

from app.auth.dependencies import LoginRequired, PasswordChangeRequired, is_api_request
from app.core.errors import AppError, field_label, vietnamese_validation_message
from app.core.http_limits import RequestRefused
from app.core.routes import walk
from app.templating import clear_auth_cookies, login_url, redirect, render

log = logging.getLogger("bdhai")

_HTTP_MESSAGES = {
    400: "Yêu cầu không hợp lệ.",
    401: "Bạn cần đăng nhập để tiếp tục.",
    403: "Bạn không có quyền truy cập trang này.",
    404: "Không tìm thấy trang hoặc dữ liệu bạn cần.",
    405: "Phương thức này không được hỗ trợ ở địa chỉ này.",
    413: "Dữ liệu gửi lên quá lớn.",
    415: "Định dạng dữ liệu không được hỗ trợ.",
    429: "Bạn thao tác quá nhanh. Vui lòng thử lại sau.",
}


def _error_response(
    request: Request,
    status_code: int,
    message: str,
    code: str,
    extra: dict | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    if is_api_request(request):
        body = {"detail": message, "code": code, **(extra or {})}
        return JSONResponse(body, status_code=status_code, headers=headers)
    response = render(
        request,
        "error.html",
        {"message": message, "status_code": status_code},
        status_code=status_code,
    )
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def refusal_response(request: Request, exc: RequestRefused) -> Response:
    """A request refused at the edge (too large, NUL characters): app.core.http_limits."""
    return _error_response(request, exc.status_code, exc.detail, exc.code, headers=exc.headers)


async def refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestRefused)
    return refusal_response(request, exc)


async def app_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AppError)
    if not is_api_request(request):
        if isinstance(exc, LoginRequired):
            response = redirect(login_url(request.url.path))
            clear_auth_cookies(response, request.app.state.settings)
            return response
        if isinstance(exc, PasswordChangeRequired):
            return redirect("/account/password")
    return _error_response(request, exc.status_code, exc.message, exc.code, exc.extra, exc.headers)


async def validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {
            "field": field_label(e.get("loc", ())),
            "loc": [str(p) for p in e.get("loc", ())],
            "message": vietnamese_validation_message(e),
        }
        for e in exc.errors()
    ]
    first = errors[0] if errors else None
    summary = (
        f"{first['field']}: {first['message']}"
        if first and first["field"]
        else (first["message"] if first else "Dữ liệu gửi lên không hợp lệ.")
    )
    return _error_response(request, 422, summary, "validation", {"errors": errors})


def allowed_methods(request: Request) -> str:
    """Every method the path answers to (Starlette's 405 names only the first route that
    matched the path, though GET and PATCH of one resource are two routes)."""
    table: list[tuple[re.Pattern[str], set[str]]] | None = getattr(
        request.app.state, "method_table", None
    )
    if table is None:
        table = [
            (compile_path(route.pattern)[0], route.methods)
            for route in walk(request.app)
            if route.methods
        ]
        request.app.state.method_table = table
    path = request.url.path
    methods = set().union(*(m for regex, m in table if regex.match(path)))
    return ", ".join(sorted(methods))


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    message = _HTTP_MESSAGES.get(exc.status_code, "Yêu cầu không thực hiện được.")
    headers = dict(getattr(exc, "headers", None) or {})
    if exc.status_code == 405:
        headers["Allow"] = allowed_methods(request) or headers.get("Allow", "")
    return _error_response(
        request, exc.status_code, message, f"http_{exc.status_code}", headers=headers
    )


async def unhandled_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return _error_response(
        request, 500, "Hệ thống gặp sự cố. Vui lòng thử lại sau ít phút.", "server_error"
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(AppError, app_error)
    app.add_exception_handler(RequestRefused, refused)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unhandled_error)
