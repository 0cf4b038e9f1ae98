"""Test data: a small unit tree, accounts and graded submissions, plus sign-in helpers."""

from __future__ import annotations

import hashlib
import itertools
import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.dependencies import ACCESS_COOKIE, CSRF_COOKIE, REFRESH_COOKIE, csrf_token_for
from app.auth.service import create_user
from app.config import Settings
from app.core.security import TokenError, read_token
from app.models import (
    Certificate,
    CertificateStatus,
    LearnerGroup,
    LessonProgress,
    LessonVersion,
    PointEvent,
    Role,
    Submission,
    SubmissionKind,
    SubmissionStatus,
    Unit,
    UnitType,
    User,
    utcnow,
)
from app.orgs.service import create_unit

PASSWORD = "hoc-AI-15-phut"
_seq = itertools.count(1)


@dataclass
class Tree:
    province: Unit
    ward: Unit  # Phường A
    hamlet: Unit  # a residential group inside Phường A
    commune: Unit  # Xã B, a sibling of Phường A
    village: Unit  # inside Xã B


def make_unit(session: Session, name: str, utype: UnitType, parent: Unit | None = None) -> Unit:
    return create_unit(session, code=f"U{next(_seq):05d}", name=name, type=utype, parent=parent)


def make_tree(session: Session) -> Tree:
    province = make_unit(session, "Tỉnh Thử Nghiệm", UnitType.province)
    ward = make_unit(session, "Phường An Bình", UnitType.ward, province)
    hamlet = make_unit(session, "Tổ dân phố số 1", UnitType.residential_group, ward)
    commune = make_unit(session, "Xã Đồng Tâm", UnitType.commune, province)
    village = make_unit(session, "Thôn Bản Lác", UnitType.hamlet, commune)
    return Tree(province, ward, hamlet, commune, village)


def group(session: Session, code: str = "can_bo") -> LearnerGroup:
    found = session.scalar(select(LearnerGroup).where(LearnerGroup.code == code))
    assert found is not None
    return found


def make_user(
    session: Session,
    unit: Unit,
    *,
    role: Role = Role.learner,
    name: str = "Nguyễn Thị Hồng Nhung",
    phone: str | None = None,
    email: str | None = None,
    password: str = PASSWORD,
    must_change_password: bool = False,
) -> User:
    n = next(_seq)
    if phone is None and email is None:
        phone = f"+8491{n:07d}"
    user = create_user(
        session,
        full_name=name,
        phone=phone,
        email=email,
        password=password,
        unit_id=unit.id,
        group_id=None,
        role=role,
        must_change_password=must_change_password,
    )
    session.flush()
    return user


def login(client: TestClient, user: User, password: str = PASSWORD) -> dict[str, str]:
    res = client.post(
        "/api/v1/auth/login", json={"identifier": user.login_name, "password": password}
    )
    assert res.status_code == 200, res.text
    return {"Authorization": f"Bearer {res.json()['access_token']}"}


def tokens(client: TestClient, user: User, password: str = PASSWORD) -> dict[str, str]:
    res = client.post(
        "/api/v1/auth/login", json={"identifier": user.login_name, "password": password}
    )
    assert res.status_code == 200, res.text
    return res.json()


def csrf_of(client: TestClient, path: str = "/login") -> str:
    """Open a page and return the CSRF token of its forms."""
    page = client.get(path)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token, page.text[:500]
    return token.group(1)


def csrf_token(client: TestClient) -> str:
    """The token the client's pages carry, without opening one: its CSRF cookie bound to
    the session its cookies name (app.auth.dependencies.csrf_token)."""
    secret = client.app.state.settings.secret_key
    session_id = None
    for name, kind in ((ACCESS_COOKIE, "access"), (REFRESH_COOKIE, "refresh")):
        value = client.cookies.get(name)
        if value:
            try:
                session_id = read_token(value, secret=secret, expected_type=kind).session_id
                break
            except TokenError:
                continue
    return csrf_token_for(secret, client.cookies.get(CSRF_COOKIE) or "", session_id)


def page_login(client: TestClient, user: User, password: str = PASSWORD, next_path: str = "/"):
    """Sign in through the page, leaving the session cookies in the client."""
    token = csrf_of(client)
    return client.post(
        "/login",
        data={
            "identifier": user.login_name,
            "password": password,
            "next": next_path,
            "csrf_token": token,
        },
        follow_redirects=False,
    )


def form_post(client: TestClient, path: str, data: dict[str, str] | None = None, **kw):
    """POST a page form with the client's CSRF token."""
    token = csrf_token(client)
    return client.post(path, data={"csrf_token": token, **(data or {})}, **kw)


def graded_submission(
    session: Session,
    user: User,
    lesson_id: str,
    *,
    kind: SubmissionKind = SubmissionKind.challenge,
    score: float = 60.0,
    passed: bool | None = None,
    text: str = "Câu hỏi 1: Tôi là cán bộ xã, hãy giúp tôi soạn giấy mời họp tổ dân phố.",
    status: SubmissionStatus = SubmissionStatus.graded,
    flags: tuple[str, ...] = (),
    share_consent: bool = False,
    day: date | None = None,
) -> Submission:
    """A submission as the grading worker leaves it (pass mark 60 unless `passed` says)."""
    version = session.scalar(select(LessonVersion).where(LessonVersion.lesson_id == lesson_id))
    assert version is not None, lesson_id
    graded = status == SubmissionStatus.graded
    row = Submission(
        user_id=user.id,
        lesson_id=lesson_id,
        lesson_version_id=version.id,
        kind=kind,
        status=status,
        client_id=uuid.uuid4().hex,
        day=day or utcnow().date(),
        text=text,
        text_sha256=hashlib.sha256(text.encode()).hexdigest(),
        score=score if graded else None,
        passed=(score >= 60 if passed is None else passed) if graded else None,
        result={"criteria": [], "feedback": "Máy chấm: còn thiếu phần nhận xét."}
        if graded
        else None,
        grader="rubric" if graded else None,
        graded_at=utcnow() if graded else None,
        flags=list(flags),
        needs_review=bool(flags),
        share_consent=share_consent,
    )
    session.add(row)
    session.flush()
    return row


def level_completed(session: Session, user: User, level: int, day: date) -> PointEvent:
    """The ledger's one level_complete event, as app.learning.progress writes it."""
    row = PointEvent(
        user_id=user.id,
        kind="level_complete",
        points=200,
        requested=200,
        idempotency_key=f"level_complete:{user.id}:{level}",
        day=day,
        details={"level": level},
    )
    session.add(row)
    return row


def issued_certificate(
    session: Session,
    user: User,
    level: int,
    issued_at: datetime,
    *,
    revoked_at: datetime | None = None,
) -> Certificate:
    """A level's certificate issued at `issued_at` (revoked at `revoked_at`, if given)."""
    unit = session.get(Unit, user.unit_id)
    row = Certificate(
        serial=f"BDHAI-{level}-{issued_at.year}-T{user.id:06d}{level}",
        user_id=user.id,
        level_number=level,
        status=CertificateStatus.revoked if revoked_at else CertificateStatus.issued,
        revoked_at=revoked_at,
        holder_name=user.full_name,
        unit_id=user.unit_id,
        unit_path=unit.path if unit else "",
        lessons_passed=2,
        average=85.0,
        eligible_at=issued_at,
        issued_at=issued_at,
    )
    session.add(row)
    return row


def at(settings: Settings, day: date, hour: int = 10) -> datetime:
    """An instant on a local (Asia/Ho_Chi_Minh) day."""
    return datetime(day.year, day.month, day.day, hour, tzinfo=settings.tz)


def pass_lesson(
    session: Session, settings: Settings, user: User, lesson_id: str, score: float
) -> None:
    """The quiz passed earlier; now the challenge is graded (what the grading worker does)."""
    from app.learning import progress

    row = session.get(LessonProgress, (user.id, lesson_id))
    if row is None:
        row = LessonProgress(
            user_id=user.id, lesson_id=lesson_id, last_activity_at=utcnow(), quiz_passed_at=utcnow()
        )
        session.add(row)
        session.flush()
    progress.record_grade(
        session,
        user_id=user.id,
        lesson_id=lesson_id,
        kind=SubmissionKind.challenge,
        score=score,
        passed=score >= 60,
        submission_id=0,
        ref=f"t:{user.id}:{lesson_id}:{score}",
        settings=settings,
        now=utcnow(),
    )
    session.flush()
