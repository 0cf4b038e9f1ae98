"""The "Xuất danh sách" page: choose a unit, a learner group, a level and an activity, see
how many people match, and download the list as CSV or XLSX (docs/privacy.md)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from app.admin import exports
from app.admin.exports_router import file_response
from app.admin.service import ACTIVITY_LABELS, learning_levels
from app.auth.dependencies import AdminOrUnitAdmin, SettingsDep
from app.auth.scope import scope_path
from app.auth.service import Principal
from app.core.clock import local_day
from app.core.errors import AppError
from app.core.ids import parse_id
from app.db import SessionDep
from app.models import utcnow
from app.orgs import service as orgs
from app.templating import render

router = APIRouter(prefix="/admin/exports", include_in_schema=False)
Choice = Annotated[str, Query(max_length=20)]


def _filters(unit_id: str, group_id: str, level: str, activity: str) -> exports.Filters:
    return exports.Filters(
        unit_id=parse_id(unit_id),
        group_id=parse_id(group_id),
        level=parse_id(level),
        activity=activity if activity in ACTIVITY_LABELS else "",
    )


def _page(
    request: Request,
    session: SessionDep,
    principal: Principal,
    filters: exports.Filters,
    today: date,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    count = None
    if error is None:
        try:
            count = exports.count_learners(session, actor=principal, filters=filters, today=today)
        except AppError as exc:
            error, status_code = exc.message, exc.status_code
    return render(
        request,
        "admin/exports.html",
        {
            "units": orgs.list_units(
                session, scope_prefix=scope_path(principal), active_only=True, limit=2000
            ),
            "groups": orgs.list_groups(session),
            "levels": learning_levels(session),
            "activities": ACTIVITY_LABELS,
            "filters": filters,
            "count": count,
            "max_rows": exports.MAX_ROWS,
            "error": error,
            "section": "exports",
        },
        status_code,
    )


@router.get("", response_class=HTMLResponse)
def exports_page(
    request: Request,
    principal: AdminOrUnitAdmin,
    session: SessionDep,
    settings: SettingsDep,
    unit_id: Choice = "",
    group_id: Choice = "",
    level: Choice = "",
    activity: Choice = "",
) -> Response:
    filters = _filters(unit_id, group_id, level, activity)
    return _page(request, session, principal, filters, local_day(utcnow(), settings.tz))


def _download(
    request: Request,
    principal: Principal,
    session: SessionDep,
    settings: SettingsDep,
    filters: exports.Filters,
    fmt: exports.ExportFormat,
) -> Response:
    today = local_day(utcnow(), settings.tz)
    try:
        export = exports.export_learners(
            session, actor=principal, filters=filters, fmt=fmt, today=today
        )
    except AppError as exc:
        return _page(
            request,
            session,
            principal,
            filters,
            today,
            error=exc.message,
            status_code=exc.status_code,
        )
    return file_response(export)


@router.get("/learners.{fmt}")
def exports_download(
    request: Request,
    principal: AdminOrUnitAdmin,
    session: SessionDep,
    settings: SettingsDep,
    fmt: exports.ExportFormat,
    unit_id: Choice = "",
    group_id: Choice = "",
    level: Choice = "",
    activity: Choice = "",
) -> Response:
    """The filtered list as CSV or XLSX (the page's two download buttons)."""
    filters = _filters(unit_id, group_id, level, activity)
    return _download(request, principal, session, settings, filters, fmt)
