"""Pages: "Dữ liệu của tôi" (download my data, delete my account) and the administrator's
anonymisation button on an account's page (docs/privacy.md)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from app.auth.dependencies import (
    AdminOrUnitAdmin,
    CsrfProtected,
    LimiterDep,
    SettingsDep,
    SignedIn,
)
from app.auth.service import Principal
from app.core.errors import AppError
from app.core.ids import Id
from app.db import SessionDep, savepoint
from app.privacy import service
from app.privacy.router import data_response, signed_out
from app.templating import forget_browser, redirect, render

router = APIRouter(include_in_schema=False)


def _data_page(
    request: Request,
    principal: Principal,
    *,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "privacy/data.html",
        {
            "errors": errors or {},
            "may_delete": principal.user.role in service.ANONYMISABLE_ROLES,
            "per_hour": service.EXPORTS_PER_HOUR,
            "section": "account",
        },
        status_code,
    )


@router.get("/account/data", response_class=HTMLResponse)
def data_page(request: Request, principal: SignedIn) -> Response:
    return _data_page(request, principal)


@router.get("/account/data/download")
def data_download(
    principal: SignedIn, session: SessionDep, settings: SettingsDep, limiter: LimiterDep
) -> Response:
    data = service.export_for(session, principal=principal, limiter=limiter, settings=settings)
    return data_response(data)


@router.post("/account/data/delete", dependencies=[CsrfProtected])
def data_delete(
    request: Request,
    principal: SignedIn,
    session: SessionDep,
    settings: SettingsDep,
    limiter: LimiterDep,
    password: Annotated[str, Form(max_length=200)] = "",
    confirm: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    try:
        if confirm != "1":
            raise AppError("Hãy đánh dấu ô xác nhận rằng bạn muốn xoá thông tin của mình.")
        if not password:
            raise AppError("Hãy nhập mật khẩu để xác nhận.")
        with savepoint(session):
            service.delete_own_account(
                session, principal=principal, password=password, limiter=limiter, settings=settings
            )
    except AppError as exc:
        return _data_page(
            request, principal, errors={"__all__": exc.message}, status_code=exc.status_code
        )
    signed_out(request)
    request.state.principal = None
    request.state.viewer = None  # the layout no longer shows the old name
    response = render(request, "privacy/deleted.html")
    forget_browser(response)
    return response


@router.post("/admin/accounts/{user_id}/anonymise", dependencies=[CsrfProtected])
def admin_anonymise(
    user_id: Id,
    principal: AdminOrUnitAdmin,
    session: SessionDep,
    settings: SettingsDep,
    confirm: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    if confirm != "1":
        raise AppError("Hãy đánh dấu ô xác nhận trước khi xoá thông tin cá nhân.", status_code=422)
    service.anonymise_by_admin(session, actor=principal, user_id=user_id, settings=settings)
    return redirect(f"/admin/accounts/{user_id}?anonymised=1")
