"""JSON API: the dashboard's figures, the quarterly report's files, and the targets."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.dependencies import AdminOnly, AdminOrUnitAdmin, SettingsDep
from app.auth.scope import ensure_in_scope
from app.auth.service import Principal
from app.config import Settings
from app.core.audit import record_audit
from app.core.clock import local_day
from app.core.errors import NotFound
from app.core.ids import Id
from app.core.schemas import JsonIn, Lax
from app.db import SessionDep
from app.models import LearnerGroup, Unit, utcnow
from app.openapi import files
from app.reports import figures, quarterly, targets

router = APIRouter(prefix="/admin", tags=["reports"])


def unit_in_scope(session: Session, principal: Principal, unit_id: int | None) -> Unit:
    """The unit asked for (within the admin's scope), or the admin's own unit: the root of
    what they administer."""
    if unit_id is None:
        unit = session.get(Unit, principal.user.unit_id)
        if unit is not None and principal.user.role.value == "admin":
            unit = session.get(Unit, unit.path_ids[0]) or unit
    else:
        unit = session.get(Unit, unit_id)
    if unit is None:
        raise NotFound("Không tìm thấy đơn vị.")
    ensure_in_scope(principal, unit.path)
    return unit


def default_range(settings: Settings) -> tuple[date, date]:
    today = local_day(utcnow(), settings.tz)
    return today - timedelta(days=29), today


def dashboard_json(d: figures.Dashboard) -> dict[str, Any]:
    def target(t: figures.Target | None) -> dict[str, Any] | None:
        if t is None:
            return None
        return {**asdict(t), "target": t.target, "gap": t.gap, "rate": t.rate}

    def measures(m: figures.Measures) -> dict[str, Any]:
        return {**asdict(m), "average": m.average}

    return {
        "unit": {"id": d.unit.id, "name": d.unit.name},
        "start": d.start,
        "end": d.end,
        "totals": measures(d.totals),
        "join": target(d.join),
        "basic": target(d.basic),
        "groups": [
            {
                "group_id": g.group_id,
                "name": g.name,
                "registered": g.registered,
                "join": target(g.join),
                "improve": target(g.improve),
                "improve_level": g.improve_level,
            }
            for g in d.groups
        ],
        "levels": [asdict(lv) for lv in d.levels],
        "children": [
            {
                "unit_id": c.unit_id,
                "name": c.name,
                "measures": measures(c.measures),
                "join": target(c.join),
                "basic": target(c.basic),
            }
            for c in d.children
        ],
        "weeks": [asdict(w) for w in d.weeks],
        "hamlets": d.leaves,
        "hamlets_with_mentor": d.leaves_with_mentor,
        "targets": d.settings_note,
        "built_through": d.built_through,
        "refreshed_at": d.refreshed_at,
    }


@router.get("/reports/dashboard")
def dashboard(
    principal: AdminOrUnitAdmin,
    session: SessionDep,
    settings: SettingsDep,
    unit_id: Id | None = None,
    start: Annotated[date | None, Query()] = None,
    end: Annotated[date | None, Query()] = None,
) -> dict[str, Any]:
    """A subtree's figures for a range of days (the last 30 by default)."""
    unit = unit_in_scope(session, principal, unit_id)
    first, last = default_range(settings)
    d = figures.dashboard(
        session, unit=unit, start=start or first, end=end or last, settings=settings
    )
    return dashboard_json(d)


def report_file(
    session: Session,
    principal: Principal,
    settings: Settings,
    *,
    unit: Unit,
    year: int,
    quarter: int,
    fmt: str,
) -> Response:
    """The quarterly report as a file; the download is written to the audit log."""
    report = quarterly.build(session, unit=unit, year=year, quarter=quarter, settings=settings)
    media_type, write = quarterly.FORMATS[fmt]
    content = write(report)
    record_audit(
        session,
        actor_id=principal.user.id,
        action="report.export",
        target_type="unit",
        target_id=unit.id,
        unit_path=unit.path,
        details={"year": year, "quarter": quarter, "format": fmt},
    )
    return Response(
        content,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{report.filename}.{fmt}"'},
    )


@router.get(
    "/reports/quarterly",
    responses=files(*(t for t, _ in quarterly.FORMATS.values()), description="The report"),
)
def quarterly_report(
    principal: AdminOrUnitAdmin,
    session: SessionDep,
    settings: SettingsDep,
    year: Annotated[int, Query(ge=2020, le=2100)],
    quarter: Annotated[int, Query(ge=1, le=4)],
    unit_id: Id | None = None,
    format: Annotated[Literal["xlsx", "pdf", "csv"], Query()] = "xlsx",
) -> Response:
    """The quarterly report (báo cáo quý) of a unit: XLSX, PDF or CSV."""
    unit = unit_in_scope(session, principal, unit_id)
    return report_file(
        session, principal, settings, unit=unit, year=year, quarter=quarter, fmt=format
    )


Population = Annotated[int, Field(ge=0, le=targets.MAX_POPULATION)]


class TargetsIn(JsonIn):
    model_config = ConfigDict(extra="forbid")

    working_age: int | None = Field(default=None, ge=0, le=targets.MAX_POPULATION)
    groups: dict[Annotated[Id, Lax], Population | None] = Field(default_factory=dict, max_length=50)


class TargetsOut(BaseModel):
    unit_id: int
    working_age: int | None
    groups: dict[int, int]
    subtree_working_age: int | None
    subtree_groups: dict[int, int | None]


def targets_out(session: Session, unit: Unit) -> TargetsOut:
    pops = targets.populations(session, targets.subtree(session, unit))
    return TargetsOut(
        unit_id=unit.id,
        working_age=unit.target_population,
        groups=targets.own_targets(session, unit),
        subtree_working_age=pops[None].get(unit.id),
        subtree_groups={g: v.get(unit.id) for g, v in pops.items() if g is not None},
    )


@router.get("/units/{unit_id}/targets", response_model=TargetsOut)
def get_targets(unit_id: Id, principal: AdminOrUnitAdmin, session: SessionDep) -> TargetsOut:
    """The populations entered on a unit, and what its subtree adds up to."""
    return targets_out(session, unit_in_scope(session, principal, unit_id))


@router.put("/units/{unit_id}/targets", response_model=TargetsOut)
def put_targets(
    unit_id: Id, body: TargetsIn, principal: AdminOrUnitAdmin, session: SessionDep
) -> TargetsOut:
    unit = unit_in_scope(session, principal, unit_id)
    targets.set_targets(
        session,
        unit=unit,
        working_age=body.working_age,
        groups=body.groups,
        actor_id=principal.user.id,
    )
    return targets_out(session, unit)


class GroupTargetsIn(JsonIn):
    model_config = ConfigDict(extra="forbid")

    join_target_pct: int | None = Field(default=None, ge=0, le=100)
    improve_target_pct: int | None = Field(default=None, ge=0, le=100)
    improve_level: int | None = Field(default=None, ge=1, le=5)


class GroupTargetsOut(GroupTargetsIn):
    group_id: int
    name: str


@router.put("/groups/{group_id}/targets", response_model=GroupTargetsOut)
def put_group_targets(
    group_id: Id, body: GroupTargetsIn, principal: AdminOnly, session: SessionDep
) -> GroupTargetsOut:
    """A learner group's target percentages (the program's, so admins only)."""
    group = session.get(LearnerGroup, group_id)
    if group is None:
        raise NotFound("Không tìm thấy nhóm học viên.")
    targets.set_group_targets(
        session,
        group=group,
        join=body.join_target_pct,
        improve=body.improve_target_pct,
        level=body.improve_level,
        actor_id=principal.user.id,
    )
    return GroupTargetsOut(
        group_id=group.id,
        name=group.name,
        join_target_pct=group.join_target_pct,
        improve_target_pct=group.improve_target_pct,
        improve_level=group.improve_level,
    )


def groups_of(session: Session) -> list[LearnerGroup]:
    return list(
        session.scalars(
            select(LearnerGroup)
            .where(LearnerGroup.is_active.is_(True))
            .order_by(LearnerGroup.sort_order)
        )
    )
