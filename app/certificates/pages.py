"""Pages: the learner's certificates (with their PDF), and the public verification page
anyone reaches from the QR code, without signing in."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from sqlalchemy import select

from app.auth.dependencies import AdminOrUnitAdmin, LimiterDep, PublicDep, SettingsDep, SignedIn
from app.auth.scope import is_in_scope
from app.certificates import service
from app.certificates.router import certificate_out, limit_public, zip_response
from app.core.errors import NotFound
from app.core.ids import Id
from app.db import SessionDep
from app.models import Level, Role, Unit, utcnow
from app.templating import render

router = APIRouter(include_in_schema=False)
Serial = Annotated[str, Path(max_length=32, pattern=r"^BDHAI-[1-5]-\d{4}-[2-9A-HJ-NP-Z]{8}$")]


@router.get("/certificates", response_class=HTMLResponse)
def my_certificates(
    request: Request, principal: SignedIn, session: SessionDep, settings: SettingsDep
) -> Response:
    """Issued, waiting and revoked certificates, and what each remaining level still needs."""
    mine = service.mine(session, principal.user.id)
    held = {c.level_number for c in mine if c.status.value != "revoked"}
    levels = session.scalars(
        select(Level).where(Level.is_active.is_(True)).order_by(Level.number)
    ).all()
    ahead = [
        (level, service.eligibility(session, principal.user.id, level))
        for level in levels
        if level.number not in held
    ]
    # the levels under way, or else the next one
    next_steps = [(lv, e) for lv, e in ahead if e.lessons_passed > 0] or ahead[:1]
    return render(
        request,
        "certificates/mine.html",
        {
            "section": "leaderboard",
            "certificates": [certificate_out(session, c, settings) for c in mine],
            "next_steps": next_steps,
        },
    )


@router.get("/certificates/{serial}.pdf")
def certificate_pdf(
    serial: Serial, principal: SignedIn, session: SessionDep, settings: SettingsDep
) -> FileResponse:
    """The printable certificate: its holder, and administrators over the holder's unit."""
    cert = service.by_serial(session, serial)
    admin = principal.user.role in (Role.admin, Role.unit_admin)
    if cert.user_id != principal.user.id and not (admin and is_in_scope(principal, cert.unit_path)):
        raise NotFound("Không tìm thấy chứng nhận.")
    path = service.pdf_path(session, cert, settings)
    return FileResponse(
        path,
        media_type="application/pdf",
        filename=f"chung-nhan-{cert.serial}.pdf",
        headers={"Cache-Control": "private, max-age=3600"},
    )


@router.get("/verify/{serial}", response_class=HTMLResponse)
def verify_page(
    request: Request,
    serial: Serial,
    _viewer: PublicDep,
    limiter: LimiterDep,
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    """What the QR code opens: who holds it, which level, when, from which unit, and whether
    it is still valid."""
    limit_public(request, limiter)
    cert = service.by_serial(session, serial)
    if cert.issued_at is None:
        raise NotFound("Chứng nhận này chưa được cấp.", code="pending")
    unit = session.get(Unit, cert.unit_id)
    level = session.get(Level, cert.level_number)
    return render(
        request,
        "certificates/verify.html",
        {
            "cert": cert,
            "view": certificate_out(session, cert, settings),
            "status": service.effective_status(cert, utcnow()),
            # the holder asked to be deleted: no name, no signed credential (docs/privacy.md)
            "holder_deleted": cert.credential_jwt is None,
            "unit": unit,
            "level": level,
        },
    )


@router.get("/admin/units/{unit_id}/certificates.zip")
def unit_certificates_zip(
    unit_id: Id,
    principal: AdminOrUnitAdmin,
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    """The download link on the unit's administration page."""
    return zip_response(session, principal, unit_id, settings)
