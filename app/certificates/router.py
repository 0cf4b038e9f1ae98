"""JSON API: the learner's certificates, the credential and its status, verification,
the issuer's profile and keys, and the administrators' approvals, revocations,
re-issues and ZIP downloads."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from jose import jwt
from sqlalchemy.orm import Session

from app.auth.dependencies import (
    AdminOrUnitAdmin,
    LimiterDep,
    PublicDep,
    SettingsDep,
    SignedIn,
    client_ip,
)
from app.auth.service import Principal
from app.certificates import credential, keys, service
from app.certificates.schemas import (
    ApprovedOut,
    CertificateOut,
    ReissueIn,
    RevokeIn,
    VerifyIn,
    VerifyOut,
)
from app.config import Settings
from app.core.clock import local_day
from app.core.errors import NotFound
from app.core.ids import Id
from app.core.ratelimit import enforce
from app.db import SessionDep
from app.models import Certificate, Level, Unit, utcnow
from app.openapi import errors, files

router = APIRouter(tags=["certificates"])
well_known = APIRouter(tags=["certificates"])
Serial = Annotated[str, Path(max_length=32, pattern=r"^BDHAI-[1-5]-\d{4}-[2-9A-HJ-NP-Z]{8}$")]
VERIFY_PER_MINUTE = 60
STATUS_TEXT = {
    "valid": "Hợp lệ",
    "revoked": "Đã thu hồi",
    "expired": "Đã hết hạn",
    "tampered": "Bị sửa đổi",
    "withdrawn": "Đã rút theo yêu cầu xoá dữ liệu",
    "unknown_issuer": "Không rõ đơn vị cấp",
    "malformed": "Không đọc được",
    "unknown": "Không có trong sổ cấp",
}


def certificate_out(session: Session, cert: Certificate, settings: Settings) -> CertificateOut:
    level = session.get(Level, cert.level_number)
    unit = session.get(Unit, cert.unit_id)
    status = service.effective_status(cert, utcnow())
    base = settings.base_url.rstrip("/")
    return CertificateOut(
        serial=cert.serial,
        level=cert.level_number,
        level_title=level.title if level else "",
        holder_name=cert.holder_name,
        unit=unit.name if unit else "",
        status=status,
        status_text=service.STATUS_TEXT[status],
        issued_on=local_day(cert.issued_at, settings.tz) if cert.issued_at else None,
        revoke_reason=cert.revoke_reason,
        verify_url=service.verify_url(settings, cert.serial),
        pdf_url=f"{base}/certificates/{cert.serial}.pdf" if cert.issued_at else None,
        credential_url=credential.credential_id(base, cert.serial),
    )


def limit_public(request: Request, limiter: LimiterDep) -> None:
    enforce(
        limiter,
        f"verify:ip:{client_ip(request)}",
        limit=VERIFY_PER_MINUTE,
        window=60,
        message="Bạn kiểm tra quá nhiều chứng nhận trong thời gian ngắn. "
        "Vui lòng thử lại sau ít phút.",
    )


@router.get("/me/certificates", response_model=list[CertificateOut])
def my_certificates(
    principal: SignedIn, session: SessionDep, settings: SettingsDep
) -> list[CertificateOut]:
    return [certificate_out(session, c, settings) for c in service.mine(session, principal.user.id)]


@router.get(
    "/certificates/{serial}",
    responses=files("application/vc+ld+json", "application/vc+jwt", description="The credential"),
)
def get_credential(
    serial: Serial,
    _viewer: PublicDep,
    request: Request,
    limiter: LimiterDep,
    session: SessionDep,
    format: str = "json",
) -> Response:
    """The signed credential: the Open Badges 3.0 AchievementCredential as JSON, or with
    `format=jwt` the VC-JWT itself (what `/verify` takes)."""
    limit_public(request, limiter)
    cert = service.by_serial(session, serial)
    if cert.credential_jwt is None and cert.issued_at is not None:  # anonymised on request
        raise NotFound(
            "Người được cấp chứng nhận này đã yêu cầu xoá dữ liệu cá nhân, nên chứng nhận điện "
            "tử không còn được lưu.",
            code="credential_deleted",
        )
    if cert.credential_jwt is None:
        raise NotFound("Chứng nhận đang chờ phê duyệt, chưa được cấp.", code="pending")
    if format == "jwt":
        return Response(cert.credential_jwt, media_type="application/vc+jwt")
    vc = jwt.get_unverified_claims(cert.credential_jwt)["vc"]
    return JSONResponse(vc, media_type="application/vc+ld+json")


@router.get("/certificates/{serial}/status")
def credential_status(
    serial: Serial, _viewer: PublicDep, request: Request, limiter: LimiterDep, session: SessionDep
) -> dict[str, str]:
    limit_public(request, limiter)
    cert = service.by_serial(session, serial)
    status = service.effective_status(cert, utcnow())
    return {"serial": cert.serial, "status": status, "status_text": service.STATUS_TEXT[status]}


@router.post("/verify", response_model=VerifyOut)
def verify(
    body: VerifyIn,
    _viewer: PublicDep,
    request: Request,
    limiter: LimiterDep,
    session: SessionDep,
    settings: SettingsDep,
) -> VerifyOut:
    """Check a VC-JWT: valid, revoked, expired, tampered, unknown issuer, with reasons."""
    limit_public(request, limiter)
    verdict = service.verify_token(session, body.credential, settings)
    return VerifyOut(
        status=verdict.status,
        status_text=STATUS_TEXT[verdict.status],
        reasons=verdict.reasons,
        certificate=certificate_out(session, verdict.certificate, settings)
        if verdict.certificate
        else None,
    )


@router.get("/issuers/{unit_id}")
def issuer(unit_id: Id, _viewer: PublicDep, session: SessionDep, settings: SettingsDep) -> Any:
    """The issuing unit's Open Badges Profile."""
    unit = session.get(Unit, unit_id)
    if unit is None:
        raise NotFound("Không tìm thấy đơn vị cấp.")
    return credential.issuer_profile(settings.base_url.rstrip("/"), unit.id, unit.name)


@router.get("/achievements/{number}")
def achievement(
    number: Annotated[int, Path(ge=1, le=5)],
    _viewer: PublicDep,
    session: SessionDep,
    settings: SettingsDep,
) -> Any:
    """A level as an Open Badges Achievement (what its certificate attests)."""
    level = session.get(Level, number)
    if level is None:
        raise NotFound("Không tìm thấy bậc học.")
    return credential.achievement(
        settings.base_url.rstrip("/"),
        level.number,
        level.title,
        level.description,
        service.criteria_text(level.certificate),
        list(level.outcomes),
    )


@well_known.get("/.well-known/jwks.json")
def jwks(_viewer: PublicDep, session: SessionDep) -> JSONResponse:
    """The public keys that sign certificates, retired ones included."""
    return JSONResponse(keys.jwks(session), headers={"Cache-Control": "public, max-age=300"})


# ---- administrators ------------------------------------------------------------------------
@router.get("/admin/certificates", response_model=list[CertificateOut])
def admin_list(
    principal: AdminOrUnitAdmin,
    session: SessionDep,
    settings: SettingsDep,
    status: Annotated[str, Query(pattern=r"^(pending|issued|revoked|all)$")] = "pending",
    unit_id: Id | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[CertificateOut]:
    """Certificates in the caller's subtree (or a unit's inside it), newest first."""
    found = service.listing(session, principal, status=status, unit_id=unit_id, limit=limit)
    return [certificate_out(session, c, settings) for c in found]


@router.post(
    "/admin/certificates/{serial}/approve", response_model=CertificateOut, responses=errors(409)
)
def approve(
    serial: Serial, principal: AdminOrUnitAdmin, session: SessionDep, settings: SettingsDep
) -> CertificateOut:
    return certificate_out(session, service.approve(session, principal, serial, settings), settings)


@router.post(
    "/admin/units/{unit_id}/certificates/approve", response_model=ApprovedOut, responses=errors(409)
)
def approve_unit(
    unit_id: Id, principal: AdminOrUnitAdmin, session: SessionDep, settings: SettingsDep
) -> ApprovedOut:
    """Approve every certificate waiting in the unit's subtree."""
    return ApprovedOut(approved=service.approve_unit(session, principal, unit_id, settings))


@router.post(
    "/admin/certificates/{serial}/revoke", response_model=CertificateOut, responses=errors(409)
)
def revoke(
    serial: Serial,
    body: RevokeIn,
    principal: AdminOrUnitAdmin,
    session: SessionDep,
    settings: SettingsDep,
) -> CertificateOut:
    cert = service.revoke(session, principal, serial, body.reason)
    return certificate_out(session, cert, settings)


@router.post(
    "/admin/certificates/{serial}/reissue", response_model=CertificateOut, responses=errors(409)
)
def reissue(
    serial: Serial,
    body: ReissueIn,
    principal: AdminOrUnitAdmin,
    session: SessionDep,
    settings: SettingsDep,
) -> CertificateOut:
    """Correct the holder's name: a new certificate under a new serial; the old one revoked."""
    cert = service.reissue(session, principal, serial, body.full_name, settings)
    return certificate_out(session, cert, settings)


def zip_response(
    session: Session, principal: Principal, unit_id: int, settings: Settings
) -> StreamingResponse:
    """A unit subtree's issued certificates as one ZIP, streamed from a temporary file."""
    archive = service.unit_zip(session, principal, unit_id, settings)

    def chunks() -> Iterator[bytes]:
        with archive:
            while block := archive.read(1 << 20):
                yield block

    return StreamingResponse(
        chunks(),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="chung-nhan-don-vi-{unit_id}.zip"'},
    )


@router.get(
    "/admin/units/{unit_id}/certificates.zip",
    responses={**files("application/zip", description="The unit's certificates"), **errors(409)},
)
def unit_zip(
    unit_id: Id, principal: AdminOrUnitAdmin, session: SessionDep, settings: SettingsDep
) -> StreamingResponse:
    return zip_response(session, principal, unit_id, settings)
