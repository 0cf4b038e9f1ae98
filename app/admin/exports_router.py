"""JSON API: learner lists as CSV or XLSX for administrators (their subtree only, audited)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from app.admin import exports
from app.auth.dependencies import AdminOrUnitAdmin, SettingsDep
from app.core.clock import local_day
from app.core.ids import Id
from app.db import SessionDep
from app.models import utcnow
from app.openapi import files

router = APIRouter(prefix="/admin/exports", tags=["admin"])

LevelNo = Annotated[int | None, Query(ge=1, le=20)]
Activity = Annotated[str, Query(pattern="^(|7d|30d|inactive30|never)$")]


def file_response(export: exports.Export) -> Response:
    return Response(
        export.content,
        media_type=export.media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{export.filename}"',
            "Cache-Control": "private, no-store",
            "X-Row-Count": str(export.rows),
        },
    )


def _download(
    principal: AdminOrUnitAdmin,
    session: SessionDep,
    settings: SettingsDep,
    filters: exports.Filters,
    fmt: exports.ExportFormat,
) -> Response:
    export = exports.export_learners(
        session,
        actor=principal,
        filters=filters,
        fmt=fmt,
        today=local_day(utcnow(), settings.tz),
    )
    return file_response(export)


@router.get(
    "/learners.{fmt}", responses=files(*exports.MEDIA_TYPES.values(), description="The list")
)
def learners_export(
    principal: AdminOrUnitAdmin,
    session: SessionDep,
    settings: SettingsDep,
    fmt: exports.ExportFormat,
    unit_id: Id | None = None,
    group_id: Id | None = None,
    level: LevelNo = None,
    activity: Activity = "",
) -> Response:
    """Active learners and mentors in the administrator's subtree (or the chosen unit's),
    filtered by learner group, level (the one being worked on) and activity (`7d`, `30d`,
    `inactive30`, `never`), as CSV (UTF-8 with BOM) or XLSX (`fmt`). At most 100,000 rows;
    audited."""
    filters = exports.Filters(unit_id, group_id, level, activity)
    return _download(principal, session, settings, filters, fmt)
