"""Issuing, approving, revoking and re-issuing certificates, their PDF, and verification.

A level's rule comes from the curriculum (`levels.certificate`): lessons completed, a
minimum average of the best challenge grades on them, and an optional final test. When a
learner meets it (checked as their grades arrive), a certificate is issued at once, or
waits for approval on the levels listed in CERTIFICATE_APPROVAL_LEVELS. Every issue,
approval, revocation and re-issue is written to the audit log with who and when."""

from __future__ import annotations

import secrets
import tempfile
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.scope import ensure_in_scope, scope_path
from app.auth.service import Principal
from app.certificates import credential, keys
from app.certificates.pdf import CertificateView, render_certificate
from app.config import Settings
from app.core.audit import record_audit
from app.core.clock import local_day
from app.core.errors import Conflict, Invalid, NotFound
from app.models import (
    CERTIFICATE_STATUS_LABELS,
    Certificate,
    CertificateStatus,
    Level,
    Unit,
    UnitType,
    User,
    utcnow,
)
from app.orgs.service import ancestors
from app.privacy.anonymous import anonymised_condition, is_anonymised, refuse_anonymised

SERIAL_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I: read aloud and typed
LOCAL_UNITS = (UnitType.hamlet, UnitType.residential_group)  # they do not issue
GOVERNMENT = (UnitType.province, UnitType.commune, UnitType.ward, UnitType.special_zone)
NAME_PREFIXES = ("Thành phố ", "Tỉnh ", "Xã ", "Phường ", "Đặc khu ")
PDF_FOLDER = "certificates"


# ---- the rule ------------------------------------------------------------------------------
@dataclass
class Eligibility:
    met: bool
    lessons_passed: int
    lessons_needed: int
    average: float
    min_average: int
    missing: list[str] = field(default_factory=list)


def criteria_text(rule: dict[str, Any]) -> str:
    text = (
        f"Hoàn thành ít nhất {rule.get('lessons_passed')} bài học của bậc, với điểm trung bình "
        f"các bài thử thách từ {rule.get('min_average')}/100 trở lên"
    )
    test = rule.get("final_test")
    if test:
        text += (
            f", và đạt từ {test['pass_mark']}% bài kiểm tra cuối bậc "
            f"({test['questions']} câu, {test.get('minutes', 15)} phút)"
        )
    return text + "."


def eligibility(session: Session, user_id: int, level: Level) -> Eligibility:
    from app.learning import final_test  # (progress and the final test call this module)
    from app.learning.progress import level_standing

    passed, average = level_standing(session, user_id, level.number)
    rule = level.certificate
    needed = int(rule.get("lessons_passed", 1))
    min_average = int(rule.get("min_average", 0))
    missing = []
    if passed < needed:
        missing.append(f"Còn {needed - passed} bài học cần hoàn thành.")
    if float(average) < min_average:
        missing.append(
            f"Điểm trung bình thử thách {float(average):.0f}/100, cần từ {min_average} trở lên: "
            "làm lại thử thách của các bài để nâng điểm."
        )
    test = final_test.rule_of(level)
    if test is not None and not final_test.passed(session, user_id, level.number):
        missing.append(f"Cần vượt qua bài kiểm tra cuối bậc (đạt từ {test.pass_mark}% số câu).")
    return Eligibility(
        not missing, int(passed), needed, round(float(average), 1), min_average, missing
    )


# ---- issuing -------------------------------------------------------------------------------
def new_serial(level_number: int, year: int) -> str:
    code = "".join(secrets.choice(SERIAL_ALPHABET) for _ in range(8))
    return f"BDHAI-{level_number}-{year}-{code}"


def issuing_unit(session: Session, unit: Unit) -> Unit:
    """The learner's nearest unit that issues certificates (a commune, a ward, an agency:
    not a hamlet or residential group)."""
    return next((u for u in reversed(ancestors(session, unit)) if u.type not in LOCAL_UNITS), unit)


def live_certificate(session: Session, user_id: int, level_number: int) -> Certificate | None:
    return session.scalar(
        select(Certificate).where(
            Certificate.user_id == user_id,
            Certificate.level_number == level_number,
            Certificate.status != CertificateStatus.revoked,
        )
    )


def consider(
    session: Session, *, user_id: int, level_number: int, settings: Settings, now: datetime
) -> Certificate | None:
    """Called when a learner's grades change: issue (or queue for approval) the level's
    certificate once its rule is met. Returns the new certificate, if any."""
    if live_certificate(session, user_id, level_number) is not None:
        return None
    level = session.get(Level, level_number)
    if level is None:
        return None
    user = session.get(User, user_id)
    assert user is not None
    if is_anonymised(user):  # deleted on request: nothing is issued in their name again
        return None
    found = eligibility(session, user_id, level)
    if not found.met:
        return None
    unit = session.get(Unit, user.unit_id)
    assert unit is not None
    cert = Certificate(
        serial=new_serial(level_number, local_day(now, settings.tz).year),
        user_id=user_id,
        level_number=level_number,
        status=CertificateStatus.pending,
        holder_name=user.full_name,
        unit_id=issuing_unit(session, unit).id,
        unit_path=unit.path,
        lessons_passed=found.lessons_passed,
        average=found.average,
        eligible_at=now,
    )
    with session.begin_nested():  # a parallel grading may have issued it a moment ago
        session.add(cert)
    record_audit(
        session,
        actor_id=None,
        action="certificate.eligible",
        target_type="certificate",
        target_id=cert.serial,
        unit_path=unit.path,
        details={"level": level_number, "lessons": found.lessons_passed, "average": found.average},
    )
    if level_number not in settings.approval_levels:
        issue(session, cert, settings=settings, actor_id=None, now=now)
    return cert


def facts_for(
    session: Session, cert: Certificate, settings: Settings
) -> credential.CredentialFacts:
    level = session.get(Level, cert.level_number)
    unit = session.get(Unit, cert.unit_id)
    assert level is not None and unit is not None and cert.issued_at is not None
    return credential.CredentialFacts(
        base_url=settings.base_url.rstrip("/"),
        serial=cert.serial,
        holder_name=cert.holder_name,
        level_number=level.number,
        level_title=level.title,
        level_description=level.description,
        outcomes=list(level.outcomes),
        criteria=criteria_text(level.certificate),
        unit_id=unit.id,
        unit_name=unit.name,
        issued_at=cert.issued_at,
        expires_at=cert.expires_at,
    )


def sign(session: Session, cert: Certificate, *, settings: Settings) -> None:
    """Sign the credential from the row as it is now, with the active key."""
    key = keys.active_key(session, settings)
    cert.credential_jwt = credential.sign(credential.build(facts_for(session, cert, settings)), key)
    cert.key_id = key.kid


def issue(
    session: Session,
    cert: Certificate,
    *,
    settings: Settings,
    actor_id: int | None,
    now: datetime,
) -> Certificate:
    """Sign the credential and mark the certificate issued."""
    cert.issued_at = now.replace(microsecond=0)
    if settings.certificate_valid_years:
        cert.expires_at = cert.issued_at + timedelta(days=365 * settings.certificate_valid_years)
    sign(session, cert, settings=settings)
    cert.status = CertificateStatus.issued
    cert.approved_by = actor_id
    session.flush()
    record_audit(
        session,
        actor_id=actor_id,
        action="certificate.issue",
        target_type="certificate",
        target_id=cert.serial,
        unit_path=cert.unit_path,
        details={"level": cert.level_number, "key": cert.key_id, "holder": cert.holder_name},
    )
    return cert


def in_scope(session: Session, actor: Principal, serial: str) -> Certificate:
    """A certificate the admin may act on (404 outside their subtree, as for accounts)."""
    cert = session.scalar(
        select(Certificate).where(
            Certificate.serial == serial, Certificate.unit_path.startswith(scope_path(actor))
        )
    )
    if cert is None:
        raise NotFound("Không tìm thấy chứng nhận.")
    return cert


def _refuse_anonymised_holder(session: Session, cert: Certificate) -> None:
    """409 for the certificate of an account anonymised on request (deletion is final)."""
    holder = session.get(User, cert.user_id)
    assert holder is not None
    refuse_anonymised(holder)


def approve(session: Session, actor: Principal, serial: str, settings: Settings) -> Certificate:
    cert = in_scope(session, actor, serial)
    _refuse_anonymised_holder(session, cert)
    if cert.status != CertificateStatus.pending:
        raise Conflict(
            f"Chứng nhận {serial} đang ở trạng thái “{CERTIFICATE_STATUS_LABELS[cert.status]}”,"
            " không chờ phê duyệt.",
            code="not_pending",
        )
    record_audit(
        session,
        actor_id=actor.user.id,
        action="certificate.approve",
        target_type="certificate",
        target_id=cert.serial,
        unit_path=cert.unit_path,
    )
    return issue(session, cert, settings=settings, actor_id=actor.user.id, now=utcnow())


def approve_unit(session: Session, actor: Principal, unit_id: int, settings: Settings) -> int:
    """Approve every waiting certificate in a unit's subtree (not those of accounts
    anonymised on request); returns how many."""
    unit = session.get(Unit, unit_id)
    if unit is None:
        raise NotFound("Không tìm thấy đơn vị.")
    ensure_in_scope(actor, unit.path)
    waiting = session.scalars(
        select(Certificate)
        .join(User, User.id == Certificate.user_id)
        .where(
            Certificate.status == CertificateStatus.pending,
            Certificate.unit_path.startswith(unit.path),
            ~anonymised_condition(),
        )
        .order_by(Certificate.id)
    ).all()
    for cert in waiting:
        approve(session, actor, cert.serial, settings)
    return len(waiting)


def revoke(session: Session, actor: Principal, serial: str, reason: str) -> Certificate:
    cert = in_scope(session, actor, serial)
    if cert.status == CertificateStatus.revoked:
        raise Conflict(f"Chứng nhận {serial} đã bị thu hồi trước đó.", code="already_revoked")
    _revoke(session, cert, actor_id=actor.user.id, reason=reason)
    return cert


def _revoke(session: Session, cert: Certificate, *, actor_id: int, reason: str) -> None:
    cert.status = CertificateStatus.revoked
    cert.revoked_at = utcnow()
    cert.revoked_by = actor_id
    cert.revoke_reason = reason
    session.flush()
    record_audit(
        session,
        actor_id=actor_id,
        action="certificate.revoke",
        target_type="certificate",
        target_id=cert.serial,
        unit_path=cert.unit_path,
        details={"reason": reason},
    )


def reissue(
    session: Session, actor: Principal, serial: str, full_name: str, settings: Settings
) -> Certificate:
    """A name correction: the account's name is corrected, the old certificate revoked and
    a new one issued under a new serial."""
    old = in_scope(session, actor, serial)
    _refuse_anonymised_holder(session, old)
    if old.status != CertificateStatus.issued:
        raise Conflict("Chỉ cấp lại được chứng nhận đang có hiệu lực.", code="not_issued")
    if full_name == old.holder_name:
        raise Invalid("Họ tên mới trùng với họ tên trên chứng nhận.", code="same_name")
    user = session.get(User, old.user_id)
    assert user is not None
    _revoke(
        session,
        old,
        actor_id=actor.user.id,
        reason=f"Cấp lại do sửa họ tên: “{old.holder_name}” → “{full_name}”.",
    )
    if user.full_name != full_name:
        record_audit(
            session,
            actor_id=actor.user.id,
            action="account.update",
            target_type="user",
            target_id=user.id,
            unit_path=old.unit_path,
            details={"full_name": [user.full_name, full_name]},
        )
        user.full_name = full_name
    new = Certificate(
        serial=new_serial(old.level_number, utcnow().year),
        user_id=old.user_id,
        level_number=old.level_number,
        status=CertificateStatus.pending,
        holder_name=full_name,
        unit_id=old.unit_id,
        unit_path=old.unit_path,
        lessons_passed=old.lessons_passed,
        average=old.average,
        eligible_at=old.eligible_at,
        replaces_id=old.id,
    )
    session.add(new)
    session.flush()
    return issue(session, new, settings=settings, actor_id=actor.user.id, now=utcnow())


# ---- reading -------------------------------------------------------------------------------
def by_serial(session: Session, serial: str) -> Certificate:
    cert = session.scalar(select(Certificate).where(Certificate.serial == serial))
    if cert is None:
        raise NotFound("Không tìm thấy chứng nhận với số hiệu này.", code="unknown_certificate")
    return cert


def mine(session: Session, user_id: int) -> list[Certificate]:
    return list(
        session.scalars(
            select(Certificate)
            .where(Certificate.user_id == user_id)
            .order_by(Certificate.level_number, Certificate.id.desc())
        )
    )


def listing(
    session: Session, actor: Principal, *, status: str, unit_id: int | None, limit: int
) -> list[Certificate]:
    prefix = scope_path(actor)
    if unit_id is not None:
        unit = session.get(Unit, unit_id)
        if unit is None:
            raise NotFound("Không tìm thấy đơn vị.")
        ensure_in_scope(actor, unit.path)
        prefix = unit.path
    q = select(Certificate).where(Certificate.unit_path.startswith(prefix))
    if status != "all":
        q = q.where(Certificate.status == CertificateStatus(status))
    return list(session.scalars(q.order_by(Certificate.id.desc()).limit(limit)))


def effective_status(cert: Certificate, now: datetime) -> str:
    """issued | pending | revoked | expired"""
    if cert.status == CertificateStatus.issued and cert.expires_at and cert.expires_at <= now:
        return "expired"
    return cert.status.value


STATUS_TEXT = {
    "issued": "Còn hiệu lực",
    "pending": "Chờ phê duyệt",
    "revoked": "Đã thu hồi",
    "expired": "Đã hết hạn",
}


def place_name(unit: Unit) -> str:
    for prefix in NAME_PREFIXES:
        if unit.name.startswith(prefix):
            return unit.name[len(prefix) :]
    return unit.name


def authority_line(unit: Unit, settings: Settings) -> str:
    if settings.certificate_authority:
        return settings.certificate_authority
    if unit.type in GOVERNMENT:
        return f"ỦY BAN NHÂN DÂN {unit.name.upper()}"
    return unit.name.upper()


def verify_url(settings: Settings, serial: str) -> str:
    return f"{settings.base_url.rstrip('/')}/verify/{serial}"


def view_of(session: Session, cert: Certificate, settings: Settings) -> CertificateView:
    level = session.get(Level, cert.level_number)
    unit = session.get(Unit, cert.unit_id)
    assert level is not None and unit is not None and cert.issued_at is not None
    return CertificateView(
        serial=cert.serial,
        holder_name=cert.holder_name,
        level_number=level.number,
        level_title=level.title,
        outcomes=list(level.outcomes),
        unit_name=unit.name,
        authority=authority_line(unit, settings),
        place=place_name(unit),
        issued_on=local_day(cert.issued_at, settings.tz),
        verify_url=verify_url(settings, cert.serial),
    )


def pdf_path(session: Session, cert: Certificate, settings: Settings) -> Path:
    """The certificate's PDF, rendered on first use and kept under MEDIA_DIR (a new serial,
    after a re-issue, renders anew)."""
    if cert.status == CertificateStatus.pending or cert.issued_at is None:
        raise Conflict("Chứng nhận đang chờ phê duyệt, chưa tải được.", code="pending")
    folder = settings.media_dir / PDF_FOLDER
    path = folder / f"{cert.serial}.pdf"
    if not path.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{cert.serial}.{secrets.token_hex(4)}.tmp"
        tmp.write_bytes(render_certificate(view_of(session, cert, settings)))
        tmp.replace(path)
    return path


def unit_zip(session: Session, actor: Principal, unit_id: int, settings: Settings) -> IO[bytes]:
    """The issued certificates of a unit's subtree as one ZIP, in a temporary file."""
    unit = session.get(Unit, unit_id)
    if unit is None:
        raise NotFound("Không tìm thấy đơn vị.")
    ensure_in_scope(actor, unit.path)
    certs = session.scalars(
        select(Certificate)
        .where(
            Certificate.status == CertificateStatus.issued,
            Certificate.unit_path.startswith(unit.path),
        )
        .order_by(Certificate.level_number, Certificate.holder_name)
    ).all()
    if not certs:
        raise NotFound("Đơn vị chưa có chứng nhận nào đã cấp.", code="no_certificates")
    out = tempfile.TemporaryFile()  # noqa: SIM115 (the caller streams and closes it)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as archive:
        for cert in certs:
            archive.write(
                pdf_path(session, cert, settings), f"Bac-{cert.level_number}/{cert.serial}.pdf"
            )
    record_audit(
        session,
        actor_id=actor.user.id,
        action="certificate.export",
        target_type="unit",
        target_id=unit.id,
        unit_path=unit.path,
        details={"certificates": len(certs)},
    )
    out.seek(0)
    return out


# ---- verification --------------------------------------------------------------------------
@dataclass
class Verdict:
    # valid | revoked | expired | tampered | withdrawn | unknown_issuer | malformed | unknown
    status: str
    reasons: list[str]
    certificate: Certificate | None = None


def verify_token(session: Session, token: str, settings: Settings) -> Verdict:
    checked = credential.check(
        token.strip(), keys.public_keys(session), settings.base_url.rstrip("/")
    )
    if checked.outcome in ("malformed", "tampered", "unknown_issuer"):
        return Verdict(checked.outcome, checked.reasons)
    vc = checked.credential or {}
    serial = str(vc.get("id", "")).rsplit("/", 1)[-1]
    cert = session.scalar(select(Certificate).where(Certificate.serial == serial))
    if cert is None:
        return Verdict(
            "unknown", ["Không có chứng nhận nào với số hiệu này trong sổ cấp."], None, vc
        )
    if cert.credential_jwt is None and cert.issued_at is not None:
        # the holder asked to be deleted: the credential named them, so it is withdrawn
        return Verdict(
            "withdrawn",
            [
                "Người được cấp đã yêu cầu xoá thông tin cá nhân nên bản chứng nhận điện tử "
                "này không còn được xác nhận."
            ],
            cert,
        )
    if cert.credential_jwt != token.strip():
        # signed by us, yet not the credential on record (an older signing of a re-issue)
        return Verdict("tampered", ["Chứng nhận không khớp với bản đã cấp trong sổ."], cert)
    if cert.status == CertificateStatus.revoked:
        reason = cert.revoke_reason or ""
        return Verdict("revoked", [f"Chứng nhận đã bị thu hồi. Lý do: {reason}"], cert)
    if checked.outcome == "expired":
        return Verdict("expired", checked.reasons, cert)
    return Verdict("valid", ["Chữ ký hợp lệ, chứng nhận còn hiệu lực."], cert)
