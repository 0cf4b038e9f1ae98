"""JSON API of the administrators' oversight: the audit log (scoped, filtered, paged, CSV)
and the system's state (curriculum versions, the grader; administrators only). The
certificate approvals and revocations have their API in app/certificates/router.py."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel

from app.admin import oversight
from app.admin.oversight import AuditFilters
from app.auth.dependencies import AdminOnly, AdminOrUnitAdmin, SettingsDep
from app.db import SessionDep
from app.grading.breaker import CircuitBreaker
from app.models import utcnow
from app.openapi import files

router = APIRouter(prefix="/admin", tags=["admin"])


def audit_filters(
    action: Annotated[str, Query(max_length=60)] = "",
    actor: Annotated[str, Query(max_length=100)] = "",
    target_type: Annotated[str, Query(max_length=40)] = "",
    date_from: Annotated[str, Query(max_length=10, description="YYYY-MM-DD, local day")] = "",
    date_to: Annotated[str, Query(max_length=10, description="YYYY-MM-DD, included")] = "",
) -> AuditFilters:
    """The audit filters of a page or API query ('' leaves a filter off)."""
    return oversight.make_filters(
        action=action,
        actor=actor,
        target_type=target_type,
        date_from=date_from,
        date_to=date_to,
    )


AuditFiltersDep = Annotated[AuditFilters, Depends(audit_filters)]


def grading_breaker(request: Request) -> CircuitBreaker | None:
    """This process's LLM breaker, when it grades here with the LLM grader (in the
    external mode the breakers live in the `bdhai worker` processes)."""
    engine = getattr(request.app.state, "grading", None)
    llm = getattr(getattr(engine, "graders", None), "llm", None)
    return getattr(llm, "breaker", None)


def csv_download(body: bytes, filename: str) -> Response:
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


# ---- the audit log -------------------------------------------------------------------------
class ActorOut(BaseModel):
    id: int
    full_name: str


class AuditEntryOut(BaseModel):
    id: int
    created_at: datetime
    actor: ActorOut | None
    action: str
    action_label: str
    target_type: str
    target_id: str
    unit_path: str
    unit: str | None
    details: dict[str, Any]


class AuditPageOut(BaseModel):
    items: list[AuditEntryOut]
    total: int
    page: int
    per_page: int


def entry_out(row: oversight.AuditRow) -> AuditEntryOut:
    return AuditEntryOut(
        id=row.entry.id,
        created_at=row.entry.created_at,
        actor=ActorOut(id=row.actor.id, full_name=row.actor.full_name) if row.actor else None,
        action=row.entry.action,
        action_label=row.action_label,
        target_type=row.entry.target_type,
        target_id=row.entry.target_id,
        unit_path=row.entry.unit_path,
        unit=row.unit.name if row.unit else None,
        details=row.entry.details or {},
    )


@router.get("/audit", response_model=AuditPageOut)
def audit_log(
    principal: AdminOrUnitAdmin,
    session: SessionDep,
    settings: SettingsDep,
    filters: AuditFiltersDep,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=200)] = 50,
) -> AuditPageOut:
    """Audit entries in the caller's scope, newest first. `action` is a prefix
    (`certificate.`) or a whole action; `actor` part of a name, phone or e-mail; the dates
    are days in the configured time zone, both included."""
    rows, total = oversight.audit_page(
        session, actor=principal, filters=filters, settings=settings, page=page, per_page=per_page
    )
    return AuditPageOut(
        items=[entry_out(r) for r in rows], total=total, page=page, per_page=per_page
    )


@router.get("/audit.csv", responses=files("text/csv", description="The audit log"))
def audit_csv(
    principal: AdminOrUnitAdmin,
    session: SessionDep,
    settings: SettingsDep,
    filters: AuditFiltersDep,
) -> Response:
    """The filtered entries as CSV (UTF-8 with a BOM); the export is itself audited."""
    body, _ = oversight.export_audit(session, actor=principal, filters=filters, settings=settings)
    return csv_download(body, "nhat-ky-quan-tri.csv")


# ---- the system (administrators only) ------------------------------------------------------
class LessonStateOut(BaseModel):
    id: str
    position: int
    title: str
    version: int
    content_hash: str
    loaded_at: datetime | None
    active: bool


class LevelStateOut(BaseModel):
    number: int
    title: str
    content_hash: str
    loaded_at: datetime
    active: bool
    lessons: list[LessonStateOut]


class FailedJobOut(BaseModel):
    submission_id: int
    lesson_id: str
    error: str
    at: datetime


class GraderStateOut(BaseModel):
    grader: str
    model: str | None
    worker_mode: str
    queue: dict[str, int]
    failed_today: int
    failed_7_days: int
    provisional_today: int
    provisional_7_days: int
    grades_today: dict[str, int]
    tokens_in_today: int
    tokens_out_today: int
    cost_today_usd: float
    daily_budget_usd: float | None
    budget_left_usd: float | None
    breaker: dict[str, Any] | None
    recent_failures: list[FailedJobOut]
    day: date


@router.get("/system/curriculum", response_model=list[LevelStateOut])
def system_curriculum(principal: AdminOnly, session: SessionDep) -> list[LevelStateOut]:
    """Every level and lesson loaded, retired ones included, with the current version."""
    return [
        LevelStateOut(
            number=level.number,
            title=level.title,
            content_hash=level.content_hash,
            loaded_at=level.loaded_at,
            active=level.active,
            lessons=[
                LessonStateOut(
                    id=lesson.id,
                    position=lesson.position,
                    title=lesson.title,
                    version=lesson.version,
                    content_hash=lesson.content_hash,
                    loaded_at=lesson.loaded_at,
                    active=lesson.active,
                )
                for lesson in level.lessons
            ],
        )
        for level in oversight.curriculum_state(session)
    ]


@router.get("/system/grader", response_model=GraderStateOut)
def system_grader(
    request: Request, principal: AdminOnly, session: SessionDep, settings: SettingsDep
) -> GraderStateOut:
    """The grader configured, the queue by status, failures, today's grades and costs."""
    now = utcnow()
    state = oversight.grader_state(
        session, settings=settings, now=now, breaker=grading_breaker(request)
    )
    return GraderStateOut(
        **{k: v for k, v in vars(state).items() if k != "recent_failures"},
        recent_failures=[FailedJobOut(**vars(f)) for f in state.recent_failures],
        day=now.astimezone(settings.tz).date(),
    )
