"""Pages: the dashboard (figures against targets, charts, child units, weeks), the
quarterly report's downloads, and the targets a unit enters or imports."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from app.auth.dependencies import AdminOrUnitAdmin, CsrfProtected, SettingsDep
from app.auth.scope import scope_path
from app.config import Settings
from app.core.clock import local_day
from app.core.errors import AppError, Forbidden, Invalid
from app.core.ids import Id, parse_id
from app.db import SessionDep, savepoint
from app.models import Role, Unit, utcnow
from app.reports import charts, figures, quarterly, targets
from app.reports.router import default_range, groups_of, report_file, unit_in_scope
from app.templating import redirect, render

router = APIRouter(prefix="/admin", include_in_schema=False)
PRESETS = {
    "7": "7 ngày qua",
    "30": "30 ngày qua",
    "quarter": "Quý này",
    "last_quarter": "Quý trước",
}


def _units_for(session: SessionDep, principal: AdminOrUnitAdmin, limit: int = 400) -> list[Unit]:
    """Units to choose from: the admin's scope, shallow ones first (a province has a few
    hundred communes; deeper units are reached from their commune's row)."""
    prefix = scope_path(principal)
    return list(
        session.scalars(
            select(Unit)
            .where(Unit.path.startswith(prefix, autoescape=True), Unit.is_active.is_(True))
            .order_by(Unit.depth, Unit.name)
            .limit(limit)
        )
    )


def _range(
    preset: str | None, start: date | None, end: date | None, settings: Settings
) -> tuple[date, date]:
    today = local_day(utcnow(), settings.tz)
    if preset == "7":
        return today - timedelta(days=6), today
    if preset in ("quarter", "last_quarter"):
        year, q = quarterly.current_quarter(today)
        if preset == "last_quarter":
            year, q = (year - 1, 4) if q == 1 else (year, q - 1)
        first, last = quarterly.quarter_days(year, q)
        return first, min(last, today)
    first, last = default_range(settings)
    return start or first, end or last


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard_page(
    request: Request,
    principal: AdminOrUnitAdmin,
    session: SessionDep,
    settings: SettingsDep,
    unit_id: Id | None = None,
    preset: Annotated[str | None, Query(max_length=20)] = None,
    start: Annotated[date | None, Query()] = None,
    end: Annotated[date | None, Query()] = None,
) -> Response:
    unit = unit_in_scope(session, principal, unit_id)
    first, last = _range(preset, start, end, settings)
    error = None
    try:
        d = figures.dashboard(session, unit=unit, start=first, end=last, settings=settings)
    except Invalid as exc:
        error = exc.message
        first, last = default_range(settings)
        d = figures.dashboard(session, unit=unit, start=first, end=last, settings=settings)
    child_chart = charts.bars(
        "Học viên đăng ký theo đơn vị trực thuộc (vạch xanh: chỉ tiêu tham gia)",
        [
            charts.Bar(c.name, c.measures.registered, c.join.target if c.join else None)
            for c in d.children
        ],
    )
    week_chart = charts.columns(
        "Học viên có học theo tuần",
        [w.key.split("-W")[1] for w in d.weeks],
        [w.active for w in d.weeks],
    )
    parent = session.get(Unit, unit.parent_id) if unit.parent_id else None
    return render(
        request,
        "reports/dashboard.html",
        {
            "d": d,
            "unit": unit,
            "parent": parent if parent and parent.path.startswith(scope_path(principal)) else None,
            "units": _units_for(session, principal),
            "presets": PRESETS,
            "preset": preset,
            "error": error,
            "child_chart": child_chart,
            "week_chart": week_chart,
            "section": "dashboard",
        },
        422 if error else 200,
    )


@router.get("/reports", response_class=HTMLResponse)
def reports_page(
    request: Request,
    principal: AdminOrUnitAdmin,
    session: SessionDep,
    settings: SettingsDep,
    unit_id: Id | None = None,
) -> Response:
    """Which quarter, for which unit: the three files."""
    unit = unit_in_scope(session, principal, unit_id)
    year, q = quarterly.current_quarter(local_day(utcnow(), settings.tz))
    quarters = []
    for _ in range(4):
        first, last = quarterly.quarter_days(year, q)
        quarters.append(
            {
                "year": year,
                "quarter": q,
                "label": f"Quý {quarterly.ROMAN[q]}/{year}",
                "first": first,
                "last": last,
            }
        )
        year, q = (year - 1, 4) if q == 1 else (year, q - 1)
    return render(
        request,
        "reports/reports.html",
        {
            "unit": unit,
            "units": _units_for(session, principal),
            "quarters": quarters,
            "section": "reports",
        },
    )


@router.get("/reports/download")
def report_download(
    principal: AdminOrUnitAdmin,
    session: SessionDep,
    settings: SettingsDep,
    year: Annotated[int, Query(ge=2020, le=2100)],
    quarter: Annotated[int, Query(ge=1, le=4)],
    format: Annotated[str, Query(pattern="^(xlsx|pdf|csv)$")],
    unit_id: Id | None = None,
) -> Response:
    unit = unit_in_scope(session, principal, unit_id)
    return report_file(
        session, principal, settings, unit=unit, year=year, quarter=quarter, fmt=format
    )


# ---- targets --------------------------------------------------------------------------------
def _targets_page(
    request: Request,
    session: SessionDep,
    principal: AdminOrUnitAdmin,
    settings: SettingsDep,
    unit: Unit,
    *,
    notice: str | None = None,
    errors: list[str] | None = None,
    status_code: int = 200,
) -> Response:
    units = targets.subtree(session, unit)
    pops = targets.populations(session, units)
    groups = groups_of(session)
    children = sorted((u for u in units if u.parent_id == unit.id), key=lambda u: u.name)
    return render(
        request,
        "reports/targets.html",
        {
            "unit": unit,
            "units": _units_for(session, principal),
            "groups": groups,
            "own": targets.own_targets(session, unit),
            "pops": pops,
            "children": children,
            "is_admin": principal.user.role == Role.admin,
            "settings": settings,
            "notice": notice,
            "errors": errors or [],
            "section": "targets",
        },
        status_code,
    )


@router.get("/targets", response_class=HTMLResponse)
def targets_page(
    request: Request,
    principal: AdminOrUnitAdmin,
    session: SessionDep,
    settings: SettingsDep,
    unit_id: Id | None = None,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    unit = unit_in_scope(session, principal, unit_id)
    notice = {"saved": "Đã lưu chỉ tiêu.", "imported": "Đã nhập chỉ tiêu từ tệp."}.get(done or "")
    return _targets_page(request, session, principal, settings, unit, notice=notice)


@router.post("/targets", dependencies=[CsrfProtected])
async def targets_save(
    request: Request,
    principal: AdminOrUnitAdmin,
    session: SessionDep,
    settings: SettingsDep,
    unit_id: Id | None = None,
) -> Response:
    """The unit's populations: working_age, and group_<id> for each group (empty clears).
    The form is read on the event loop; the database work runs in a thread."""
    form = await request.form()

    def work() -> Response:
        unit = unit_in_scope(session, principal, unit_id)
        try:
            working_age = targets.parse_population(
                str(form.get("working_age", ""))[:20], "working_age"
            )
            group_ids = {g.id for g in groups_of(session)}
            values = {
                gid: targets.parse_population(
                    str(form.get(f"group_{gid}", ""))[:20], f"group_{gid}"
                )
                for gid in group_ids
            }
            with savepoint(session):
                targets.set_targets(
                    session,
                    unit=unit,
                    working_age=working_age,
                    groups=values,
                    actor_id=principal.user.id,
                )
        except AppError as exc:
            return _targets_page(
                request,
                session,
                principal,
                settings,
                unit,
                errors=[exc.message],
                status_code=exc.status_code,
            )
        return redirect(f"/admin/targets?unit_id={unit.id}&done=saved")

    return await run_in_threadpool(work)


@router.post("/targets/groups", dependencies=[CsrfProtected])
async def group_targets_save(
    request: Request, principal: AdminOrUnitAdmin, session: SessionDep, settings: SettingsDep
) -> Response:
    """The groups' target percentages: the program's, so admins only. The form is read on
    the event loop; the database work runs in a thread."""
    if principal.user.role != Role.admin:
        raise Forbidden("Chỉ quản trị hệ thống được đổi tỷ lệ chỉ tiêu của các nhóm.")
    form = await request.form()

    def work() -> Response:
        unit = unit_in_scope(session, principal, None)
        try:
            with savepoint(session):
                for group in groups_of(session):
                    parsed = []
                    for name, high in (("join", 100), ("improve", 100), ("level", 5)):
                        raw = str(form.get(f"{name}_{group.id}", "")).strip()[:5]
                        low = 1 if name == "level" else 0
                        if raw and (not raw.isdigit() or not low <= int(raw) <= high):
                            raise Invalid(f"“{raw}” không hợp lệ cho nhóm {group.name}.")
                        parsed.append(int(raw) if raw else None)
                    targets.set_group_targets(
                        session,
                        group=group,
                        join=parsed[0],
                        improve=parsed[1],
                        level=parsed[2],
                        actor_id=principal.user.id,
                    )
        except AppError as exc:
            return _targets_page(
                request,
                session,
                principal,
                settings,
                unit,
                errors=[exc.message],
                status_code=exc.status_code,
            )
        return redirect("/admin/targets?done=saved")

    return await run_in_threadpool(work)


@router.post("/targets/import", dependencies=[CsrfProtected])
def targets_import(
    request: Request,
    principal: AdminOrUnitAdmin,
    session: SessionDep,
    settings: SettingsDep,
    file: Annotated[UploadFile, File()],
    unit_id: Annotated[str, Form(max_length=12)] = "",
) -> Response:
    unit = unit_in_scope(session, principal, parse_id(unit_id))
    data = file.file.read(settings.import_max_bytes + 1)
    result: targets.ImportResult | None = None
    try:
        with savepoint(session):
            result = targets.import_targets(
                session,
                filename=file.filename or "",
                data=data,
                scope_prefix=scope_path(principal),
                actor_id=principal.user.id,
                max_bytes=settings.import_max_bytes,
                max_rows=settings.import_max_rows,
            )
            if result.errors:
                raise Invalid("Tệp có dòng chưa đúng; chưa lưu gì.")
    except AppError as exc:
        errors = [exc.message, *(result.errors if result else [])]
        return _targets_page(
            request, session, principal, settings, unit, errors=errors, status_code=exc.status_code
        )
    return redirect(f"/admin/targets?unit_id={unit.id}&done=imported")
