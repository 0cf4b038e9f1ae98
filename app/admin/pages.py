"""Administration pages: accounts, units, learner groups and imports (scoped like the API).

Every form post runs its service call inside a SAVEPOINT, so a refused change leaves
nothing behind while the page re-shows the form with the Vietnamese message."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from app.admin import service
from app.admin.schemas import UserCreateIn, UserPatch
from app.admin.service import learning_levels, unlocked_levels
from app.auth.dependencies import AdminOnly, AdminOrUnitAdmin, CsrfProtected, SettingsDep
from app.auth.scope import is_in_scope, scope_path
from app.auth.service import Principal
from app.core.clock import local_day
from app.core.errors import AppError, form_errors
from app.core.ids import Id, parse_id
from app.db import SessionDep, savepoint
from app.models import ImportKind, Role, Unit, UnitType, User, utcnow
from app.orgs import imports
from app.orgs import service as orgs
from app.orgs.imports import LEARNER_TEMPLATE, UNIT_TEMPLATE
from app.orgs.schemas import GroupIn, GroupPatch, UnitIn, UnitPatch
from app.privacy.anonymous import is_anonymised
from app.templating import redirect, render

router = APIRouter(prefix="/admin", include_in_schema=False)
Text = Annotated[str, Form(max_length=300)]
IdText = Annotated[str, Form(max_length=20)]
PER_PAGE = 30


def _roles_for(principal: Principal, user: User | None = None) -> list[Role]:
    """The roles the form offers: what the principal may grant, plus the account's own
    (`mentor` only as an account's own: it comes from a mentorship, never from the form)."""
    if principal.user.role == Role.admin:
        offered = [r for r in Role if r != Role.mentor]
    else:
        offered = [Role.learner]
    if user is not None and user.role not in offered:
        offered.append(user.role)
    return offered


def _account_data(values: dict[str, str]) -> dict[str, str | None]:
    """The account form as the API's body: one contact box is a phone or an e-mail."""
    contact = values["contact"].strip()
    return {
        "full_name": values["full_name"],
        "phone": None if "@" in contact else (contact or None),
        "email": contact if "@" in contact else None,
        "unit_id": values["unit_id"] or None,
        "group_id": values["group_id"] or None,
        "role": values["role"],
    }


def _contact_errors(exc: ValidationError) -> dict[str, str]:
    errors = form_errors(exc)
    if "phone" in errors or "email" in errors:
        errors["contact"] = errors.pop("phone", None) or errors.pop("email")
    return errors


@router.get("", response_class=HTMLResponse)
def admin_home(principal: AdminOrUnitAdmin) -> Response:
    return redirect("/admin/accounts")


# ---- accounts -------------------------------------------------------------------------


@router.get("/accounts", response_class=HTMLResponse)
def accounts(
    request: Request,
    principal: AdminOrUnitAdmin,
    session: SessionDep,
    settings: SettingsDep,
    q: Annotated[str | None, Query(max_length=100)] = None,
    role: Annotated[str | None, Query(pattern="^(|" + "|".join(Role) + ")$")] = None,
    active: Annotated[str | None, Query(pattern="^(|0|1)$")] = None,
    unit_id: Id | None = None,
    group_id: Annotated[str | None, Query(pattern=r"^\d{0,9}$")] = None,
    level: Annotated[str | None, Query(pattern=r"^\d{0,2}$")] = None,
    activity: Annotated[str | None, Query(pattern="^(|7d|30d|inactive30|never)$")] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    active_filter = {"1": True, "0": False}.get(active or "")
    unit = orgs.get_unit_in_scope(session, principal, unit_id) if unit_id else None
    rows, total = service.list_users(
        session,
        actor=principal,
        q=q,
        unit_id=unit.id if unit else None,
        group_id=parse_id(group_id or ""),
        role=Role(role) if role else None,  # the form sends '' for every role
        active=active_filter,
        level=parse_id(level or ""),
        activity=activity or None,
        today=local_day(utcnow(), settings.tz),
        page=page,
        per_page=PER_PAGE,
    )
    return render(
        request,
        "admin/accounts.html",
        {
            "rows": rows,
            "total": total,
            "page": page,
            "pages": max(1, -(-total // PER_PAGE)),
            "q": q or "",
            "role": role or "",
            "active": active or "",
            "group_id": group_id or "",
            "level": level or "",
            "activity": activity or "",
            "groups": orgs.list_groups(session, active_only=False),
            "levels": learning_levels(session),
            "activities": service.ACTIVITY_LABELS,
            "unit": unit,
            "roles": list(Role),
            "section": "accounts",
        },
    )


def _account_form(
    request: Request,
    session: SessionDep,
    principal: Principal,
    *,
    user: User | None = None,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    notice: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    units = orgs.list_units(
        session, scope_prefix=scope_path(principal), active_only=True, limit=2000
    )
    return render(
        request,
        "admin/account_form.html",
        {
            "user": user,
            "values": values or {},
            "errors": errors or {},
            "notice": notice,
            "units": units,
            "groups": orgs.list_groups(session),
            "roles": _roles_for(principal, user),
            "anonymised": user is not None and is_anonymised(user),
            "levels": learning_levels(session) if user is not None else [],
            "unlocked": unlocked_levels(session, user.id) if user is not None else set(),
            "section": "accounts",
        },
        status_code,
    )


def _values_of(user: User) -> dict[str, str]:
    return {
        "full_name": user.full_name,
        "contact": user.phone or user.email or "",
        "unit_id": str(user.unit_id),
        "group_id": str(user.group_id or ""),
        "role": user.role.value,
    }


@router.get("/accounts/new", response_class=HTMLResponse)
def account_new(request: Request, principal: AdminOrUnitAdmin, session: SessionDep) -> Response:
    return _account_form(request, session, principal, values={"role": "learner"})


@router.post("/accounts/new", dependencies=[CsrfProtected])
def account_create(
    request: Request,
    principal: AdminOrUnitAdmin,
    session: SessionDep,
    full_name: Text = "",
    contact: Text = "",
    unit_id: IdText = "",
    group_id: IdText = "",
    role: IdText = "learner",
) -> Response:
    values = {
        "full_name": full_name,
        "contact": contact,
        "unit_id": unit_id,
        "group_id": group_id,
        "role": role,
    }
    try:
        body = UserCreateIn.model_validate(_account_data(values), strict=False)
        with savepoint(session):
            user, password = service.create_account(
                session,
                actor=principal,
                full_name=body.full_name,
                phone=body.phone,
                email=body.email,
                unit_id=body.unit_id,
                group_id=body.group_id,
                role=body.role,
            )
    except ValidationError as exc:
        return _account_form(
            request, session, principal, values=values, errors=_contact_errors(exc), status_code=422
        )
    except AppError as exc:
        return _account_form(
            request,
            session,
            principal,
            values=values,
            errors={"__all__": exc.message},
            status_code=exc.status_code,
        )
    notice = {"title": "Đã tạo tài khoản", "login": user.login_name, "temporary_password": password}
    return _account_form(
        request, session, principal, user=user, values=_values_of(user), notice=notice
    )


@router.get("/accounts/{user_id}", response_class=HTMLResponse)
def account_edit(
    request: Request, user_id: Id, principal: AdminOrUnitAdmin, session: SessionDep
) -> Response:
    user, _ = service.get_user_in_scope(session, principal, user_id)
    return _account_form(request, session, principal, user=user, values=_values_of(user))


@router.post("/accounts/{user_id}", dependencies=[CsrfProtected])
def account_update(
    request: Request,
    user_id: Id,
    principal: AdminOrUnitAdmin,
    session: SessionDep,
    full_name: Text = "",
    contact: Text = "",
    unit_id: IdText = "",
    group_id: IdText = "",
    role: IdText = "learner",
) -> Response:
    user, _ = service.get_user_in_scope(session, principal, user_id)
    values = {
        "full_name": full_name,
        "contact": contact,
        "unit_id": unit_id,
        "group_id": group_id,
        "role": role,
    }
    try:
        body = UserPatch.model_validate(_account_data(values), strict=False)
        changes = body.model_dump()
        changes.pop("phone" if "@" in contact else "email")
        with savepoint(session):
            service.update_account(session, actor=principal, user_id=user_id, changes=changes)
    except ValidationError as exc:
        errors = _contact_errors(exc)
        return _account_form(
            request, session, principal, user=user, values=values, errors=errors, status_code=422
        )
    except AppError as exc:
        return _account_form(
            request,
            session,
            principal,
            user=user,
            values=values,
            errors={"__all__": exc.message},
            status_code=exc.status_code,
        )
    return redirect(f"/admin/accounts/{user_id}?saved=1")


@router.post("/accounts/{user_id}/reset", dependencies=[CsrfProtected])
def account_reset(
    request: Request,
    user_id: Id,
    principal: AdminOrUnitAdmin,
    session: SessionDep,
    settings: SettingsDep,
    method: Annotated[str, Form(pattern="^(link|temporary)$")] = "link",
) -> Response:
    try:
        with savepoint(session):
            result = service.reset_password(
                session, actor=principal, user_id=user_id, method=method, settings=settings
            )
    except AppError as exc:
        return _refused(request, session, principal, user_id, exc)
    user, _ = service.get_user_in_scope(session, principal, user_id)
    notice = {"title": "Đã đặt lại mật khẩu", "login": user.login_name, **result}
    return _account_form(
        request, session, principal, user=user, values=_values_of(user), notice=notice
    )


def _refused(
    request: Request, session: SessionDep, principal: Principal, user_id: int, exc: AppError
) -> Response:
    """The account's page again, with why the change was refused."""
    user, _ = service.get_user_in_scope(session, principal, user_id)
    return _account_form(
        request,
        session,
        principal,
        user=user,
        values=_values_of(user),
        errors={"__all__": exc.message},
        status_code=exc.status_code,
    )


@router.post("/accounts/{user_id}/unlock", dependencies=[CsrfProtected])
def account_unlock(
    request: Request,
    user_id: Id,
    principal: AdminOrUnitAdmin,
    session: SessionDep,
    level: Annotated[int, Form(ge=1, le=20)],
) -> Response:
    try:
        with savepoint(session):
            service.unlock_level(session, actor=principal, user_id=user_id, level_number=level)
    except AppError as exc:
        return _refused(request, session, principal, user_id, exc)
    return redirect(f"/admin/accounts/{user_id}?unlocked={level}")


@router.post("/accounts/{user_id}/active", dependencies=[CsrfProtected])
def account_active(
    request: Request,
    user_id: Id,
    principal: AdminOrUnitAdmin,
    session: SessionDep,
    active: Annotated[str, Form(pattern="^(0|1)$")] = "0",
) -> Response:
    try:
        with savepoint(session):
            service.set_active(session, actor=principal, user_id=user_id, active=active == "1")
    except AppError as exc:
        return _refused(request, session, principal, user_id, exc)
    return redirect(f"/admin/accounts/{user_id}?saved=1")


# ---- units ----------------------------------------------------------------------------


def _scope_root(session: SessionDep, principal: Principal) -> Unit | None:
    return session.get(Unit, principal.user.unit_id) if scope_path(principal) else None


def _units_page(
    request: Request,
    session: SessionDep,
    principal: Principal,
    *,
    parent_id: int | None,
    values: dict[str, Any],
    errors: dict[str, str],
    status_code: int = 200,
) -> Response:
    scope_root = _scope_root(session, principal)
    current = session.get(Unit, parent_id) if parent_id is not None else scope_root
    if current is not None and not is_in_scope(principal, current.path):
        current = scope_root
    children = orgs.list_units(
        session,
        scope_prefix=scope_path(principal),
        parent_id=current.id if current else None,
        roots_only=current is None,
    )
    breadcrumb = orgs.ancestors(session, current) if current else []
    if scope_root is not None:
        breadcrumb = [u for u in breadcrumb if u.path.startswith(scope_root.path)]
    return render(
        request,
        "admin/units.html",
        {
            "current": current,
            "children": children,
            "breadcrumb": breadcrumb,
            "types": list(UnitType),
            "values": values,
            "errors": errors,
            "section": "units",
            "can_add_top": not scope_path(principal),
        },
        status_code,
    )


@router.get("/units", response_class=HTMLResponse)
def units(
    request: Request, principal: AdminOrUnitAdmin, session: SessionDep, parent: Id | None = None
) -> Response:
    return _units_page(request, session, principal, parent_id=parent, values={}, errors={})


@router.post("/units", dependencies=[CsrfProtected])
def unit_create(
    request: Request,
    principal: AdminOrUnitAdmin,
    session: SessionDep,
    code: Text = "",
    name: Text = "",
    type: IdText = "",
    parent_id: IdText = "",
) -> Response:
    pid = parse_id(parent_id)
    values = {"code": code, "name": name, "type": type}
    try:
        body = UnitIn.model_validate(
            {"code": code, "name": name, "type": type, "parent_id": pid}, strict=False
        )
        with savepoint(session):
            orgs.add_unit(
                session,
                actor=principal,
                code=body.code,
                name=body.name,
                type=body.type,
                parent_id=body.parent_id,
            )
    except ValidationError as exc:
        errors = form_errors(exc)
        return _units_page(
            request,
            session,
            principal,
            parent_id=pid,
            values=values,
            errors=errors,
            status_code=422,
        )
    except AppError as exc:
        return _units_page(
            request,
            session,
            principal,
            parent_id=pid,
            values=values,
            errors={"__all__": exc.message},
            status_code=exc.status_code,
        )
    return redirect(f"/admin/units?parent={pid}" if pid else "/admin/units")


def _unit_form(
    request: Request,
    session: SessionDep,
    principal: Principal,
    unit: Unit,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    parent = session.get(Unit, unit.parent_id) if unit.parent_id else None
    own_root = bool(scope_path(principal)) and unit.path == principal.unit_path
    return render(
        request,
        "admin/unit_form.html",
        {
            "unit": unit,
            "values": values
            or {
                "name": unit.name,
                "type": unit.type.value,
                "parent_code": parent.code if parent else "",
            },
            "errors": errors or {},
            "types": list(UnitType),
            "can_move": not own_root,
            "section": "units",
        },
        status_code,
    )


@router.get("/units/{unit_id}", response_class=HTMLResponse)
def unit_edit(
    request: Request, unit_id: Id, principal: AdminOrUnitAdmin, session: SessionDep
) -> Response:
    unit = orgs.get_unit_in_scope(session, principal, unit_id)
    return _unit_form(request, session, principal, unit)


@router.post("/units/{unit_id}", dependencies=[CsrfProtected])
def unit_update(
    request: Request,
    unit_id: Id,
    principal: AdminOrUnitAdmin,
    session: SessionDep,
    name: Text = "",
    type: IdText = "",
    parent_code: Annotated[str, Form(max_length=60)] = "",
    is_active: Annotated[str, Form(pattern="^(|0|1)$")] = "",
) -> Response:
    unit = orgs.get_unit_in_scope(session, principal, unit_id)
    values = {"name": name, "type": type, "parent_code": parent_code}
    own_root = bool(scope_path(principal)) and unit.path == principal.unit_path
    try:
        changes: dict[str, Any] = {"name": name, "type": type}
        if is_active:
            changes = {"is_active": is_active == "1"}
        elif not own_root:
            code = parent_code.strip()
            parent = orgs.get_unit_by_code(session, code) if code else None
            if code and parent is None:
                raise AppError(f"Không tìm thấy đơn vị cấp trên có mã “{code}”.")
            changes["parent_id"] = parent.id if parent else None
        body = UnitPatch.model_validate(changes, strict=False)
        with savepoint(session):
            orgs.change_unit(
                session,
                actor=principal,
                unit_id=unit.id,
                changes=body.model_dump(exclude_unset=True),
            )
    except ValidationError as exc:
        errors = form_errors(exc)
        return _unit_form(
            request, session, principal, unit, values=values, errors=errors, status_code=422
        )
    except AppError as exc:
        session.refresh(unit)
        return _unit_form(
            request,
            session,
            principal,
            unit,
            values=values,
            errors={"__all__": exc.message},
            status_code=exc.status_code,
        )
    return redirect(f"/admin/units/{unit.id}?saved=1")


# ---- learner groups (admins only) ------------------------------------------------------


def _groups_page(
    request: Request,
    session: SessionDep,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "admin/groups.html",
        {
            "groups": orgs.list_groups(session, active_only=False),
            "values": values or {},
            "errors": errors or {},
            "section": "groups",
        },
        status_code,
    )


@router.get("/groups", response_class=HTMLResponse)
def groups(request: Request, principal: AdminOnly, session: SessionDep) -> Response:
    return _groups_page(request, session)


@router.post("/groups", dependencies=[CsrfProtected])
def group_create(
    request: Request,
    principal: AdminOnly,
    session: SessionDep,
    code: Text = "",
    name: Text = "",
    description: Annotated[str, Form(max_length=600)] = "",
) -> Response:
    values = {"code": code, "name": name, "description": description}
    try:
        body = GroupIn.model_validate(
            {"code": code, "name": name, "description": description, "sort_order": 1000},
            strict=False,
        )
        with savepoint(session):
            orgs.add_group(
                session,
                actor=principal,
                code=body.code,
                name=body.name,
                description=body.description,
                sort_order=body.sort_order,
            )
    except ValidationError as exc:
        return _groups_page(
            request, session, values=values, errors=form_errors(exc), status_code=422
        )
    except AppError as exc:
        errors = {"__all__": exc.message}
        return _groups_page(
            request, session, values=values, errors=errors, status_code=exc.status_code
        )
    return redirect("/admin/groups?saved=1")


@router.post("/groups/{group_id}", dependencies=[CsrfProtected])
def group_update(
    request: Request,
    group_id: Id,
    principal: AdminOnly,
    session: SessionDep,
    name: Text = "",
    is_active: Annotated[str, Form(pattern="^(0|1)$")] = "1",
) -> Response:
    try:
        body = GroupPatch.model_validate(
            {"name": name, "is_active": is_active == "1"}, strict=False
        )
        with savepoint(session):
            orgs.change_group(
                session,
                actor=principal,
                group_id=group_id,
                changes=body.model_dump(exclude_unset=True),
            )
    except ValidationError as exc:
        return _groups_page(request, session, errors=form_errors(exc), status_code=422)
    except AppError as exc:
        return _groups_page(
            request, session, errors={"__all__": exc.message}, status_code=exc.status_code
        )
    return redirect("/admin/groups?saved=1")


# ---- imports --------------------------------------------------------------------------


def _imports_page(
    request: Request,
    session: SessionDep,
    principal: Principal,
    *,
    result: dict[str, Any] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "admin/imports.html",
        {
            "jobs": imports.list_jobs(session, actor=principal, limit=20),
            "result": result,
            "error": error,
            "section": "imports",
        },
        status_code,
    )


@router.get("/imports", response_class=HTMLResponse)
def imports_page(request: Request, principal: AdminOrUnitAdmin, session: SessionDep) -> Response:
    return _imports_page(request, session, principal)


@router.get("/imports/template/{kind}")
def import_template(kind: ImportKind, principal: AdminOrUnitAdmin) -> Response:
    """A CSV to fill in, with the column names and one example row (UTF-8 with a BOM so
    Excel opens the Vietnamese text correctly)."""
    body = LEARNER_TEMPLATE if kind == ImportKind.learners else UNIT_TEMPLATE
    filename = "mau-hoc-vien.csv" if kind == ImportKind.learners else "mau-don-vi.csv"
    return Response(
        ("\ufeff" + body).encode(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.post("/imports", dependencies=[CsrfProtected])
async def imports_submit(
    request: Request,
    principal: AdminOrUnitAdmin,
    session: SessionDep,
    settings: SettingsDep,
    file: Annotated[UploadFile | None, File()] = None,
    kind: Annotated[str, Form(pattern="^(units|learners)$")] = "learners",
    mode: Annotated[str, Form(pattern="^(check|strict|valid_rows)$")] = "strict",
) -> Response:
    if file is None or not file.filename:
        return await run_in_threadpool(
            _imports_page,
            request,
            session,
            principal,
            error="Hãy chọn một tệp .csv hoặc .xlsx.",
            status_code=422,
        )
    data = await file.read(settings.import_max_bytes + 1)
    filename = file.filename

    def work() -> Response:
        try:
            with savepoint(session):
                result = imports.run_import(
                    session,
                    actor=principal,
                    kind=ImportKind(kind),
                    filename=filename,
                    data=data,
                    settings=settings,
                    import_valid_rows=mode == "valid_rows",
                    dry_run=mode == "check",
                )
        except AppError as exc:
            return _imports_page(
                request, session, principal, error=exc.message, status_code=exc.status_code
            )
        report = result.out().model_dump(mode="json")
        if result.rejected:
            return _imports_page(
                request,
                session,
                principal,
                result=report,
                error=result.rejection().message,
                status_code=422,
            )
        return _imports_page(request, session, principal, result=report)

    return await run_in_threadpool(work)
