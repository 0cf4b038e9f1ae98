"""Sign-in, registration, sign-out, password pages and the large-text switch."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from app.auth import service
from app.auth.dependencies import (
    CsrfProtected,
    LimiterDep,
    Public,
    PublicDep,
    SettingsDep,
    SignedInPendingPassword,
    client_ip,
)
from app.auth.schemas import LoginIn, RegisterIn
from app.core.errors import AppError, form_errors
from app.core.ids import Id, parse_id
from app.core.validation import check_password_strength
from app.db import SessionDep
from app.orgs import service as orgs
from app.templating import (
    TEXT_SIZE_COOKIE,
    clear_auth_cookies,
    forget_browser,
    redirect,
    render,
    safe_next,
    set_auth_cookies,
)

router = APIRouter(include_in_schema=False)
Text = Annotated[str, Form(max_length=300)]


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, principal: PublicDep, next: str | None = None) -> Response:
    if principal is not None:
        return redirect(safe_next(next))
    return render(request, "auth/login.html", {"next": safe_next(next), "values": {}, "errors": {}})


@router.post("/login", dependencies=[CsrfProtected, Depends(Public())])
def login_submit(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    limiter: LimiterDep,
    identifier: Text = "",
    password: Text = "",
    next: Text = "/",
) -> Response:
    values = {"identifier": identifier}
    try:
        body = LoginIn(identifier=identifier, password=password)
        user = service.authenticate(
            session,
            identifier=body.identifier,
            password=body.password,
            client_ip=client_ip(request),
            limiter=limiter,
            settings=settings,
        )
    except ValidationError as exc:
        return render(
            request,
            "auth/login.html",
            {"next": safe_next(next), "values": values, "errors": form_errors(exc)},
            422,
        )
    except AppError as exc:
        response = render(
            request,
            "auth/login.html",
            {"next": safe_next(next), "values": values, "errors": {"__all__": exc.message}},
            exc.status_code,
        )
        response.headers.update(exc.headers)
        return response
    tokens = service.start_session(
        session, user=user, settings=settings, user_agent=request.headers.get("user-agent", "")
    )
    response = redirect("/account/password" if user.must_change_password else safe_next(next))
    set_auth_cookies(response, tokens, settings)
    return response


@router.get("/register", response_class=HTMLResponse)
def register_form(
    request: Request, session: SessionDep, principal: PublicDep, unit: Id | None = None
) -> Response:
    if principal is not None:
        return redirect("/")
    return _register_page(request, session, unit_id=unit, values={}, errors={})


def _register_page(
    request: Request,
    session: SessionDep,
    *,
    unit_id: int | None,
    values: dict,
    errors: dict,
    status_code: int = 200,
) -> Response:
    chosen = None
    if unit_id is not None:
        chosen = session.get(orgs.Unit, unit_id)
        if chosen is None or not chosen.is_active:
            chosen = None
    breadcrumb = orgs.ancestors(session, chosen) if chosen else []
    children = orgs.list_units(
        session,
        parent_id=chosen.id if chosen else None,
        roots_only=chosen is None,
        active_only=True,
    )
    return render(
        request,
        "auth/register.html",
        {
            "chosen": chosen,
            "breadcrumb": breadcrumb,
            "children": children,
            "groups": orgs.list_groups(session),
            "values": values,
            "errors": errors,
        },
        status_code,
    )


@router.post("/register", dependencies=[CsrfProtected, Depends(Public())])
def register_submit(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    limiter: LimiterDep,
    full_name: Text = "",
    contact: Text = "",
    password: Text = "",
    password_again: Text = "",
    unit_id: Annotated[Id | None, Form()] = None,
    group_id: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    values = {"full_name": full_name, "contact": contact, "group_id": group_id}
    contact = contact.strip()
    data = {
        "full_name": full_name,
        "phone": None if "@" in contact else (contact or None),
        "email": contact if "@" in contact else None,
        "password": password,
        "unit_id": unit_id,
        "group_id": parse_id(group_id),
    }
    try:
        if unit_id is None:
            raise AppError("Hãy chọn đơn vị (xã/phường, thôn/tổ dân phố, cơ quan) của bạn.")
        body = RegisterIn.model_validate(data, strict=False)
        if password != password_again:
            raise AppError("Hai lần nhập mật khẩu không giống nhau.")
        user = service.register(
            session,
            full_name=body.full_name,
            phone=body.phone,
            email=body.email,
            password=body.password,
            unit_id=body.unit_id,
            group_id=body.group_id,
            client_ip=client_ip(request),
            limiter=limiter,
            settings=settings,
        )
    except ValidationError as exc:
        errors = form_errors(exc)
        if "phone" in errors or "email" in errors:
            errors["contact"] = errors.pop("phone", None) or errors.pop("email")
        return _register_page(
            request, session, unit_id=unit_id, values=values, errors=errors, status_code=422
        )
    except AppError as exc:
        response = _register_page(
            request,
            session,
            unit_id=unit_id,
            values=values,
            errors={"__all__": exc.message},
            status_code=exc.status_code,
        )
        response.headers.update(exc.headers)
        return response
    tokens = service.start_session(
        session, user=user, settings=settings, user_agent=request.headers.get("user-agent", "")
    )
    response = redirect("/?welcome=1")
    set_auth_cookies(response, tokens, settings)
    return response


@router.post("/logout", dependencies=[CsrfProtected])
def logout_submit(principal: SignedInPendingPassword, session: SessionDep) -> Response:
    service.logout(session, auth=principal.auth)
    response = redirect("/login")
    forget_browser(response)
    return response


@router.get("/account/password", response_class=HTMLResponse)
def password_form(request: Request, principal: SignedInPendingPassword) -> Response:
    return render(request, "auth/password.html", {"errors": {}, "done": False})


@router.post("/account/password", dependencies=[CsrfProtected])
def password_submit(
    request: Request,
    principal: SignedInPendingPassword,
    session: SessionDep,
    settings: SettingsDep,
    current_password: Text = "",
    new_password: Text = "",
    new_password_again: Text = "",
) -> Response:
    try:
        if new_password != new_password_again:
            raise AppError("Hai lần nhập mật khẩu mới không giống nhau.")
        service.change_password(
            session,
            user=principal.user,
            current_password=current_password,
            new_password=new_password,
        )
    except AppError as exc:
        return render(
            request,
            "auth/password.html",
            {"errors": {"__all__": exc.message}, "done": False},
            exc.status_code,
        )
    tokens = service.start_session(
        session,
        user=principal.user,
        settings=settings,
        user_agent=request.headers.get("user-agent", ""),
    )
    response = redirect("/?password_changed=1")
    set_auth_cookies(response, tokens, settings)
    return response


@router.get(
    "/reset-password/{token}", response_class=HTMLResponse, dependencies=[Depends(Public())]
)
def reset_form(request: Request, token: str, session: SessionDep) -> Response:
    try:
        service.find_reset_token(session, token)
    except AppError as exc:
        return render(
            request, "auth/reset.html", {"token": None, "errors": {"__all__": exc.message}}, 400
        )
    return render(request, "auth/reset.html", {"token": token, "errors": {}})


@router.post("/reset-password/{token}", dependencies=[CsrfProtected, Depends(Public())])
def reset_submit(
    request: Request,
    token: str,
    session: SessionDep,
    new_password: Text = "",
    new_password_again: Text = "",
) -> Response:
    try:
        if new_password != new_password_again:
            raise AppError("Hai lần nhập mật khẩu mới không giống nhau.")
        check_password_strength(new_password)
        service.reset_with_token(session, token=token, new_password=new_password)
    except ValueError as exc:
        return render(
            request, "auth/reset.html", {"token": token, "errors": {"__all__": str(exc)}}, 422
        )
    except AppError as exc:
        return render(
            request,
            "auth/reset.html",
            {"token": token, "errors": {"__all__": exc.message}},
            exc.status_code,
        )
    response = redirect("/login?reset=1")
    clear_auth_cookies(response)
    return response


@router.post("/preferences/text-size", dependencies=[CsrfProtected, Depends(Public())])
def text_size(
    size: Annotated[str, Form(pattern="^(normal|large)$")] = "normal",
    back: Annotated[str, Query(max_length=300)] = "/",
) -> Response:
    response = redirect(safe_next(back))
    response.set_cookie(TEXT_SIZE_COOKIE, size, max_age=365 * 86400, samesite="lax", path="/")
    return response
