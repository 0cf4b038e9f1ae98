"""The administrators' oversight pages: certificate approvals and revocations, the audit log
(with its CSV export) and, for administrators only, the system's state.

The certificate actions call app/certificates/service.py inside a SAVEPOINT: a refused one
leaves nothing behind (not even its audit entry) and the page is shown again with the
Vietnamese message and the refusal's status code; a done one redirects back with a notice."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy import select

from app.admin import oversight
from app.admin.oversight_router import AuditFiltersDep, csv_download, grading_breaker
from app.auth.dependencies import AdminOnly, AdminOrUnitAdmin, CsrfProtected, SettingsDep
from app.auth.scope import scope_path
from app.auth.service import Principal
from app.certificates import service as certificates
from app.certificates.schemas import ReissueIn, RevokeIn
from app.config import Settings
from app.core.errors import AppError, form_errors
from app.core.ids import Id, parse_id
from app.db import SessionDep, savepoint
from app.models import Level, Unit, utcnow
from app.orgs import service as orgs
from app.templating import redirect, render

router = APIRouter(include_in_schema=False)
Serial = Annotated[str, Path(max_length=32, pattern=r"^BDHAI-[1-5]-\d{4}-[2-9A-HJ-NP-Z]{8}$")]
StatusFilter = Annotated[str, Query(pattern=r"^(pending|issued|revoked)$")]
IdText = Annotated[str, Form(max_length=20)]
CERTIFICATES_SHOWN = 200
AUDIT_PER_PAGE = 50
STATUS_TABS = {"pending": "Chờ phê duyệt", "issued": "Đã cấp", "revoked": "Đã thu hồi"}
DONE_TEXT = {
    "approve": "Đã phê duyệt và cấp chứng nhận {serial}.",
    "approve_unit": "Đã phê duyệt {n} chứng nhận của đơn vị.",
    "revoke": "Đã thu hồi chứng nhận {serial}.",
    "reissue": "Đã cấp lại chứng nhận với số hiệu mới {serial}.",
}


# ---- certificates ----------------------------------------------------------------------------


def _certificates_page(
    request: Request,
    session: SessionDep,
    principal: Principal,
    settings: Settings,
    *,
    status: str,
    unit_id: int | None,
    error: str | None = None,
    form_for: str = "",
    status_code: int = 200,
) -> Response:
    found = certificates.listing(
        session, principal, status=status, unit_id=unit_id, limit=CERTIFICATES_SHOWN
    )
    unit = session.get(Unit, unit_id) if unit_id is not None else None
    under = unit.path if unit is not None else scope_path(principal)
    learner_units = oversight.units_of_paths(session, {c.unit_path for c in found})
    now = utcnow()
    rows = [
        {
            "cert": c,
            "unit": learner_units.get(c.unit_path),
            "status": certificates.effective_status(c, now),
            "status_text": certificates.STATUS_TEXT[certificates.effective_status(c, now)],
        }
        for c in found
    ]
    done = request.query_params.get("done", "")
    notice = None
    if done in DONE_TEXT:
        notice = DONE_TEXT[done].format(
            serial=request.query_params.get("serial", "")[:32],
            n=parse_id(request.query_params.get("n", "")) or 0,
        )
    return render(
        request,
        "admin/certificates.html",
        {
            "rows": rows,
            "status": status,
            "tabs": STATUS_TABS,
            "counts": oversight.certificate_counts(session, under_path=under),
            "unit": unit,
            "units": orgs.list_units(
                session, scope_prefix=scope_path(principal), active_only=True, limit=2000
            ),
            "levels": {n: title for n, title in session.execute(select(Level.number, Level.title))},
            "shown": CERTIFICATES_SHOWN,
            "notice": notice,
            "error": error,
            "form_for": form_for,
            "section": "certificates",
        },
        status_code,
    )


def _back(status: str, unit_filter: str, **extra: Any) -> Response:
    query: dict[str, Any] = {"status": status}
    unit_id = parse_id(unit_filter)
    if unit_id is not None:
        query["unit_id"] = unit_id
    query.update(extra)
    return redirect("/admin/certificates?" + urlencode(query))


@router.get("/admin/certificates", response_class=HTMLResponse)
def certificates_page(
    request: Request,
    principal: AdminOrUnitAdmin,
    session: SessionDep,
    settings: SettingsDep,
    status: StatusFilter = "pending",
    unit_id: Id | None = None,
) -> Response:
    """Waiting certificates first (approve one, or all of a unit), then the issued ones
    (revoke with a reason, re-issue after a name correction) and the revoked ones."""
    return _certificates_page(request, session, principal, settings, status=status, unit_id=unit_id)


def _refusal(exc: ValidationError | AppError, field: str) -> tuple[str, int]:
    """A refused form's message and status: a field's validation error, or the service's."""
    if isinstance(exc, ValidationError):
        return field + next(iter(form_errors(exc).values())), 422
    return exc.message, exc.status_code


def _refused(
    request: Request,
    session: SessionDep,
    principal: Principal,
    settings: Settings,
    *,
    status: str,
    unit_filter: str,
    message: str,
    status_code: int,
    form_for: str = "",
) -> Response:
    return _certificates_page(
        request,
        session,
        principal,
        settings,
        status=status,
        unit_id=parse_id(unit_filter),
        error=message,
        form_for=form_for,
        status_code=status_code,
    )


@router.post("/admin/certificates/{serial}/approve", dependencies=[CsrfProtected])
def certificate_approve(
    request: Request,
    serial: Serial,
    principal: AdminOrUnitAdmin,
    session: SessionDep,
    settings: SettingsDep,
    unit_filter: IdText = "",
) -> Response:
    try:
        with savepoint(session):
            cert = certificates.approve(session, principal, serial, settings)
    except AppError as exc:
        return _refused(
            request,
            session,
            principal,
            settings,
            status="pending",
            unit_filter=unit_filter,
            message=exc.message,
            status_code=exc.status_code,
        )
    return _back("pending", unit_filter, done="approve", serial=cert.serial)


@router.post("/admin/certificates/approve-unit", dependencies=[CsrfProtected])
def certificates_approve_unit(
    request: Request,
    principal: AdminOrUnitAdmin,
    session: SessionDep,
    settings: SettingsDep,
    unit_id: IdText = "",
    unit_filter: IdText = "",
) -> Response:
    """Approve every waiting certificate in the chosen unit's subtree."""
    target = parse_id(unit_id)
    try:
        if target is None:
            raise AppError("Hãy chọn một đơn vị.", status_code=422)
        with savepoint(session):
            n = certificates.approve_unit(session, principal, target, settings)
    except AppError as exc:
        return _refused(
            request,
            session,
            principal,
            settings,
            status="pending",
            unit_filter=unit_filter,
            message=exc.message,
            status_code=exc.status_code,
        )
    return _back("pending", unit_filter, done="approve_unit", n=n)


@router.post("/admin/certificates/{serial}/revoke", dependencies=[CsrfProtected])
def certificate_revoke(
    request: Request,
    serial: Serial,
    principal: AdminOrUnitAdmin,
    session: SessionDep,
    settings: SettingsDep,
    reason: Annotated[str, Form(max_length=2000)] = "",
    unit_filter: IdText = "",
) -> Response:
    try:
        body = RevokeIn.model_validate({"reason": reason}, strict=False)
        with savepoint(session):
            cert = certificates.revoke(session, principal, serial, body.reason)
    except (ValidationError, AppError) as exc:
        message, code = _refusal(exc, "Lý do thu hồi: ")
        return _refused(
            request,
            session,
            principal,
            settings,
            status="issued",
            unit_filter=unit_filter,
            message=message,
            status_code=code,
            form_for=serial,
        )
    return _back("issued", unit_filter, done="revoke", serial=cert.serial)


@router.post("/admin/certificates/{serial}/reissue", dependencies=[CsrfProtected])
def certificate_reissue(
    request: Request,
    serial: Serial,
    principal: AdminOrUnitAdmin,
    session: SessionDep,
    settings: SettingsDep,
    full_name: Annotated[str, Form(max_length=300)] = "",
    unit_filter: IdText = "",
) -> Response:
    """A name correction: the old certificate is revoked, a new one issued (new serial)."""
    try:
        body = ReissueIn.model_validate({"full_name": full_name}, strict=False)
        with savepoint(session):
            cert = certificates.reissue(session, principal, serial, body.full_name, settings)
    except (ValidationError, AppError) as exc:
        message, code = _refusal(exc, "Họ tên: ")
        return _refused(
            request,
            session,
            principal,
            settings,
            status="issued",
            unit_filter=unit_filter,
            message=message,
            status_code=code,
            form_for=serial,
        )
    return _back("issued", unit_filter, done="reissue", serial=cert.serial)


# ---- the audit log ---------------------------------------------------------------------------


@router.get("/admin/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    principal: AdminOrUnitAdmin,
    session: SessionDep,
    settings: SettingsDep,
    filters: AuditFiltersDep,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    rows, total = oversight.audit_page(
        session,
        actor=principal,
        filters=filters,
        settings=settings,
        page=page,
        per_page=AUDIT_PER_PAGE,
    )
    query = filters.as_dict()
    return render(
        request,
        "admin/audit.html",
        {
            "rows": rows,
            "total": total,
            "page": page,
            "pages": max(1, -(-total // AUDIT_PER_PAGE)),
            "filters": filters,
            "query": urlencode(query),
            "prefixes": oversight.ACTION_PREFIXES,
            "actions": oversight.ACTION_LABELS,
            "targets": oversight.TARGET_LABELS,
            "section": "audit",
        },
    )


@router.get("/admin/audit.csv")
def audit_csv_page(
    principal: AdminOrUnitAdmin,
    session: SessionDep,
    settings: SettingsDep,
    filters: AuditFiltersDep,
) -> Response:
    """The download link on the audit page: the filtered entries as CSV (audited)."""
    body, _ = oversight.export_audit(session, actor=principal, filters=filters, settings=settings)
    return csv_download(body, "nhat-ky-quan-tri.csv")


# ---- the system (administrators only) --------------------------------------------------------


@router.get("/admin/system", response_class=HTMLResponse)
def system_page(
    request: Request, principal: AdminOnly, session: SessionDep, settings: SettingsDep
) -> Response:
    now = utcnow()
    return render(
        request,
        "admin/system.html",
        {
            "levels": oversight.curriculum_state(session),
            "grader": oversight.grader_state(
                session, settings=settings, now=now, breaker=grading_breaker(request)
            ),
            "today": now.astimezone(settings.tz).date(),
            "section": "system",
        },
    )
