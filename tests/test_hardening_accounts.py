"""Hardening of accounts after the outside review: sign-in limits that hold under parallel
requests, limits on registration that does not confirm who is registered, deletion that is
final, an audit log without free personal text, and the mentor role only through a
mentorship."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
import redis
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.auth import service as auth_service
from app.auth.service import create_user
from app.certificates import service as certificates_service
from app.certificates.service import new_serial
from app.config import Settings
from app.core.audit import OMITTED, record_audit
from app.core.ratelimit import MemoryRateLimiter, RedisRateLimiter
from app.db import make_engine
from app.main import create_app
from app.mentoring import review
from app.migrations import upgrade
from app.models import (
    AuditLog,
    AuthSession,
    Certificate,
    CertificateStatus,
    ImportJob,
    ImportKind,
    ImportStatus,
    LevelUnlock,
    Mentorship,
    MentorStatus,
    PasswordResetToken,
    ReviewItem,
    Role,
    Unit,
    UnitType,
    User,
    utcnow,
)
from app.orgs.service import create_unit
from app.privacy import service as privacy
from tests.browser import free_port
from tests.dbutil import TEST_REDIS_URL, scratch_database
from tests.factories import (
    PASSWORD,
    csrf_of,
    form_post,
    graded_submission,
    login,
    make_user,
    page_login,
)

L1 = "b1-01-ai-la-gi"
LOGIN = "/api/v1/auth/login"
REGISTER = "/api/v1/auth/register"
USERS = "/api/v1/admin/users"


# ---- 7. the sign-in limit holds under parallel requests --------------------------------------


@dataclass
class Live:
    app: FastAPI
    base: str
    identifier: str  # a learner's phone number (the password is PASSWORD)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, settings: Settings) -> Iterator[Live]:
    """A real server (uvicorn on a free port, its own database): requests run in its thread
    pool at the same time, as they do in production."""
    with scratch_database(tmp_path_factory.mktemp("race"), "race") as url:
        upgrade(url)
        engine = make_engine(url)
        with Session(engine) as session:
            unit = create_unit(
                session, code="RACE-1", name="Xã Song Song", type=UnitType.commune, parent=None
            )
            create_user(
                session,
                full_name="Nguyễn Văn Song",
                phone="+84912999001",
                email=None,
                password=PASSWORD,
                unit_id=unit.id,
                group_id=None,
            )
            session.commit()
        engine.dispose()
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        app = create_app(settings.model_copy(update={"database_url": url, "base_url": base}))
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 15
        while not server.started:
            assert time.monotonic() < deadline, "the live server did not start"
            time.sleep(0.05)
        try:
            yield Live(app, base, "0912999001")
        finally:
            server.should_exit = True
            thread.join(10)
            app.state.engine.dispose()


@pytest.fixture
def verifications(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every password check the sign-in makes, slowed a little so that parallel requests
    overlap the way they do under an attack."""
    seen: list[str] = []
    lock = threading.Lock()
    real = auth_service.verify_password

    def counting(password_hash: str | None, password: str) -> bool:
        with lock:
            seen.append(password)
        time.sleep(0.05)
        return real(password_hash, password)

    monkeypatch.setattr(auth_service, "verify_password", counting)
    return seen


def _in_parallel(base: str, bodies: list[dict[str, str]]) -> list[int]:
    barrier = threading.Barrier(len(bodies))
    statuses: list[int] = [0] * len(bodies)

    def one(i: int) -> None:
        with httpx.Client(base_url=base, timeout=60) as http:
            barrier.wait()
            statuses[i] = http.post(LOGIN, json=bodies[i]).status_code

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(bodies))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    return statuses


def _race(live: Live, settings: Settings, verifications: list[str]) -> None:
    wrong = [
        {"identifier": live.identifier, "password": f"sai-{i:02d}-mat-khau"} for i in range(40)
    ]
    statuses = _in_parallel(live.base, wrong)
    assert set(statuses) <= {401, 429}, statuses
    assert len(verifications) <= settings.login_max_per_account, len(verifications)
    assert statuses.count(401) == len(verifications)
    # and per address: 40 different accounts guessed at once from one address
    verifications.clear()
    spray = [{"identifier": f"03{i:08d}", "password": "sai-mat-khau"} for i in range(40)]
    statuses = _in_parallel(live.base, spray)
    assert set(statuses) <= {401, 429}, statuses
    assert len(verifications) <= settings.login_max_per_address, len(verifications)


def test_parallel_wrong_passwords_are_checked_at_most_the_limit_in_memory(
    live, settings, verifications
):
    live.app.state.limiter = MemoryRateLimiter()
    _race(live, settings, verifications)


@pytest.mark.redis
def test_parallel_wrong_passwords_are_checked_at_most_the_limit_on_redis(
    live, settings, verifications
):
    client = redis.Redis.from_url(TEST_REDIS_URL)
    prefix = f"bdhai:test:{uuid.uuid4().hex}:"
    live.app.state.limiter = RedisRateLimiter(client, prefix)
    try:
        _race(live, settings, verifications)
    finally:
        live.app.state.limiter = MemoryRateLimiter()
        for key in client.scan_iter(prefix + "*"):
            client.delete(key)


@pytest.mark.parametrize("backend", ["memory", pytest.param("redis", marks=pytest.mark.redis)])
def test_the_limiter_takes_back_one_hit_and_never_goes_below_zero(backend):
    client = redis.Redis.from_url(TEST_REDIS_URL) if backend == "redis" else None
    prefix = f"bdhai:test:{uuid.uuid4().hex}:"
    limiter = RedisRateLimiter(client, prefix) if client else MemoryRateLimiter()
    try:
        assert limiter.hit("k", 2, 60).count == 1
        assert limiter.hit("k", 2, 60).count == 2
        limiter.undo("k")
        assert limiter.hit("k", 2, 60).count == 2
        limiter.undo("k")
        limiter.undo("k")
        limiter.undo("k")  # more than was counted: nothing below zero, no key left behind
        assert limiter.peek("k", 2, 60).count == 1
        limiter.undo("never-counted")
        assert limiter.peek("never-counted", 2, 60).count == 1
        if client is not None:
            assert client.get(prefix + "never-counted") is None
    finally:
        if client is not None:
            for key in client.scan_iter(prefix + "*"):
                client.delete(key)


def test_a_success_does_not_give_back_the_failures_before_it(client, db, tree, settings):
    """The wrong passwords of a window stay counted after a success (an attacker guessing
    beside the owner gets no fresh attempts when the owner signs in); the success itself is
    not counted."""
    user = make_user(db, tree.hamlet)
    wrong = {"identifier": user.login_name, "password": "sai-mat-khau"}
    for _ in range(settings.login_max_per_account - 1):
        assert client.post(LOGIN, json=wrong).status_code == 401
    login(client, user)
    login(client, user)
    assert client.post(LOGIN, json=wrong).status_code == 401  # the limit-th failure
    res = client.post(LOGIN, json={"identifier": user.login_name, "password": PASSWORD})
    assert res.status_code == 429
    assert "thử lại sau" in res.json()["detail"]


def test_successful_sign_ins_do_not_use_up_the_address(client, db, tree, settings):
    """Many people behind one address (a commune office, a mobile network) sign in."""
    people = [make_user(db, tree.hamlet) for _ in range(settings.login_max_per_address + 3)]
    for person in people:
        login(client, person)


# ---- 8. registration: limited, and it does not confirm who is registered ------------------


def _body(unit_id: int, phone: str, **more: object) -> dict[str, object]:
    return {
        "full_name": "Lò Văn Páo",
        "phone": phone,
        "password": "chè-Thái-Nguyên-2025",
        "unit_id": unit_id,
        **more,
    }


def _from(app: FastAPI, address: str) -> TestClient:
    return TestClient(
        app, base_url="http://testserver", raise_server_exceptions=False, client=(address, 50000)
    )


def test_registration_is_limited_per_address_for_the_api_and_the_page(
    app, client, db, tree, settings
):
    limit = settings.register_max_per_address
    for i in range(limit):
        res = client.post(REGISTER, json=_body(tree.village.id, f"09120{i:05d}"))
        assert res.status_code == 201, res.text
    res = client.post(REGISTER, json=_body(tree.village.id, "0912099999"))
    assert res.status_code == 429
    assert res.json()["detail"].startswith("Có quá nhiều lượt đăng ký từ cùng một mạng")
    assert 0 < int(res.headers["Retry-After"]) <= settings.register_window_seconds
    assert db.scalar(select(User).where(User.phone == "+84912099999")) is None
    # the page shares the counter
    token = csrf_of(client, f"/register?unit={tree.village.id}")
    page = client.post(
        "/register",
        data={
            "csrf_token": token,
            "full_name": "Lò Văn Páo",
            "contact": "0912099998",
            "password": "chè-Thái-Nguyên-2025",
            "password_again": "chè-Thái-Nguyên-2025",
            "unit_id": str(tree.village.id),
        },
        follow_redirects=False,
    )
    assert page.status_code == 429 and "quá nhiều lượt đăng ký" in page.text
    # another address is not held up
    with _from(app, "203.0.113.7") as other:
        assert other.post(REGISTER, json=_body(tree.village.id, "0912099997")).status_code == 201


def test_registration_is_limited_per_unit(app, db, tree, settings, monkeypatch):
    monkeypatch.setattr(settings, "register_max_per_unit", 3)
    for i in range(3):
        with _from(app, f"198.51.100.{i + 1}") as c:
            assert c.post(REGISTER, json=_body(tree.village.id, f"091300000{i}")).status_code == 201
    with _from(app, "198.51.100.50") as c:
        # a refused attempt (the phone is taken) does not use up the unit's registrations
        res = c.post(REGISTER, json=_body(tree.hamlet.id, "0913000000"))
        assert res.status_code == 409
        res = c.post(REGISTER, json=_body(tree.village.id, "0913000009"))
        assert res.status_code == 429
        assert res.json()["detail"].startswith("Đơn vị này vừa có quá nhiều tài khoản mới")
        assert "Retry-After" in res.headers
        assert c.post(REGISTER, json=_body(tree.hamlet.id, "0913000008")).status_code == 201
    assert db.scalar(select(User).where(User.phone == "+84913000009")) is None


def test_registration_does_not_confirm_that_a_phone_or_email_is_registered(client, db, tree):
    make_user(db, tree.hamlet, phone="+84912345678")
    make_user(db, tree.hamlet, email="hoa@example.vn")
    taken_phone = client.post(REGISTER, json=_body(tree.village.id, "0912 345 678"))
    taken_mail = client.post(REGISTER, json=_body(tree.village.id, None, email="Hoa@Example.vn"))
    assert taken_phone.status_code == taken_mail.status_code == 409
    message = taken_phone.json()["detail"]
    assert message == taken_mail.json()["detail"]
    assert "đã được dùng" not in message and "đã được đăng ký" not in message
    assert "đăng nhập" in message and "đặt lại" in message
    # a weak password is refused before the number is looked at: it tells nothing either
    weak = client.post(REGISTER, json=_body(tree.village.id, "0912345678", password="12345678"))
    free = client.post(REGISTER, json=_body(tree.village.id, "0912345670", password="12345678"))
    assert weak.status_code == free.status_code == 422
    assert weak.json()["detail"] == free.json()["detail"]
    # the page says the same
    token = csrf_of(client, f"/register?unit={tree.village.id}")
    page = client.post(
        "/register",
        data={
            "csrf_token": token,
            "full_name": "Lò Văn Páo",
            "contact": "0912345678",
            "password": "chè-Thái-Nguyên-2025",
            "password_again": "chè-Thái-Nguyên-2025",
            "unit_id": str(tree.village.id),
        },
    )
    assert page.status_code == 409
    assert "đã được dùng" not in page.text and "đặt lại" in page.text


# ---- 9. an anonymised account stays deleted -----------------------------------------------


def _certificate(
    db: Session, user: User, level: int, settings: Settings, *, pending: bool = False
) -> Certificate:
    cert = Certificate(
        serial=new_serial(level, 2026),
        user_id=user.id,
        level_number=level,
        status=CertificateStatus.pending,
        holder_name=user.full_name,
        unit_id=user.unit_id,
        unit_path=db.get(Unit, user.unit_id).path,
        lessons_passed=2,
        average=80.0,
        eligible_at=utcnow(),
    )
    db.add(cert)
    db.flush()
    if pending:
        return cert
    return certificates_service.issue(db, cert, settings=settings, actor_id=None, now=utcnow())


def _anonymised(db: Session, tree, settings: Settings, **kw) -> User:
    person = make_user(db, tree.hamlet, name="Nguyễn Thị Hồng Nhung", phone="+84912000111", **kw)
    privacy.anonymise(db, user=person, settings=settings)
    db.flush()
    return person


def _refused(res, status: int = 409) -> None:
    assert res.status_code == status, res.text
    text = (
        res.json()["detail"]
        if res.headers["content-type"].startswith("application/json")
        else res.text
    )
    assert "đã bị xoá thông tin cá nhân" in text, text


@pytest.mark.parametrize("role", [Role.admin, Role.unit_admin])
def test_admin_api_refuses_an_anonymised_account(client, db, tree, settings, role):
    actor = make_user(db, tree.ward, role=role, name="Quản Trị Viên")
    gone = _anonymised(db, tree, settings)
    before = (gone.full_name, gone.phone, gone.email, gone.password_hash, gone.role, gone.is_active)
    headers = login(client, actor)
    _refused(client.post(f"{USERS}/{gone.id}/activate", headers=headers))
    _refused(client.post(f"{USERS}/{gone.id}/deactivate", headers=headers))
    for method in ("temporary", "link"):
        _refused(
            client.post(
                f"{USERS}/{gone.id}/reset-password", headers=headers, json={"method": method}
            )
        )
    _refused(client.patch(f"{USERS}/{gone.id}", headers=headers, json={"full_name": "Tên Mới"}))
    _refused(client.patch(f"{USERS}/{gone.id}", headers=headers, json={"phone": "0912000999"}))
    _refused(client.patch(f"{USERS}/{gone.id}", headers=headers, json={"role": "learner"}))
    _refused(client.post(f"{USERS}/{gone.id}/levels/2/unlock", headers=headers))
    db.expire_all()
    again = db.get(User, gone.id)
    after = (
        again.full_name,
        again.phone,
        again.email,
        again.password_hash,
        again.role,
        again.is_active,
    )
    assert after == before
    assert db.scalar(select(func.count()).where(PasswordResetToken.user_id == gone.id)) == 0
    assert db.scalar(select(func.count()).where(LevelUnlock.user_id == gone.id)) == 0
    # reading the account still works (it is part of the counts)
    assert client.get(f"{USERS}/{gone.id}", headers=headers).status_code == 200


def test_admin_pages_refuse_an_anonymised_account(client, db, tree, settings):
    actor = make_user(db, tree.ward, role=Role.unit_admin, name="Quản Trị Phường")
    gone = _anonymised(db, tree, settings)
    assert page_login(client, actor).status_code == 303
    page = client.get(f"/admin/accounts/{gone.id}")
    assert page.status_code == 200 and "đã bị xoá thông tin cá nhân" in page.text
    assert f'action="/admin/accounts/{gone.id}/reset"' not in page.text
    assert f'action="/admin/accounts/{gone.id}/active"' not in page.text
    res = form_post(client, f"/admin/accounts/{gone.id}/active", {"active": "1"})
    assert res.status_code == 409 and "đã bị xoá thông tin cá nhân" in res.text
    res = form_post(client, f"/admin/accounts/{gone.id}/reset", {"method": "temporary"})
    assert res.status_code == 409 and "Mật khẩu tạm thời" not in res.text
    res = form_post(
        client,
        f"/admin/accounts/{gone.id}",
        {
            "full_name": "Nguyễn Thị Hồng Nhung",
            "contact": "0912000111",
            "unit_id": str(tree.hamlet.id),
            "role": "learner",
        },
    )
    assert res.status_code == 409 and "đã bị xoá thông tin cá nhân" in res.text
    db.expire_all()
    again = db.get(User, gone.id)
    assert not again.is_active and again.phone is None
    assert again.password_hash == privacy.UNUSABLE_PASSWORD
    assert db.scalar(select(func.count()).where(AuthSession.user_id == gone.id)) == 0


def test_an_import_does_not_bring_back_an_anonymised_account(client, db, tree, settings):
    admin = make_user(db, tree.province, role=Role.admin, name="Quản Trị Tỉnh")
    gone = _anonymised(db, tree, settings)
    text = (
        "ho_ten,so_dien_thoai,email,ma_don_vi\n"
        f"Nguyễn Thị Hồng Nhung,0912000111,{gone.email},{tree.hamlet.code}\n"
    )
    res = client.post(
        "/api/v1/admin/imports/learners",
        headers=login(client, admin),
        files={"file": ("ds.csv", text.encode(), "text/csv")},
    )
    assert res.status_code == 422, res.text
    [error] = res.json()["import"]["errors"]
    # the placeholder's reserved `.invalid` domain is no contact at all; were it taken, the
    # anonymised account would still be refused
    assert (
        error["message"] in ("Địa chỉ thư điện tử không hợp lệ.",)
        or "đã bị xoá thông tin cá nhân" in error["message"]
    )
    db.expire_all()
    again = db.get(User, gone.id)
    assert again.full_name == privacy.anonymous_name(gone.id) and again.phone is None


def test_certificates_of_an_anonymised_account_are_not_reissued_or_approved(
    client, db, tree, lessons, settings
):
    admin = make_user(db, tree.province, role=Role.admin, name="Quản Trị Tỉnh")
    person = make_user(db, tree.hamlet, name="Nguyễn Thị Hồng Nhung", phone="+84912000111")
    issued = _certificate(db, person, 1, settings)
    waiting = _certificate(db, person, 2, settings, pending=True)
    neighbour = make_user(db, tree.hamlet, name="Trần Văn Bình")
    theirs = _certificate(db, neighbour, 2, settings, pending=True)
    privacy.anonymise(db, user=person, settings=settings)
    db.flush()
    headers = login(client, admin)
    res = client.post(
        f"/api/v1/admin/certificates/{issued.serial}/reissue",
        headers=headers,
        json={"full_name": "Nguyễn Thị Hồng Nhung"},
    )
    _refused(res)
    _refused(client.post(f"/api/v1/admin/certificates/{waiting.serial}/approve", headers=headers))
    res = client.post(f"/api/v1/admin/units/{tree.ward.id}/certificates/approve", headers=headers)
    assert res.status_code == 200 and res.json()["approved"] == 1  # the neighbour's only
    db.expire_all()
    assert db.get(Certificate, theirs.id).status == CertificateStatus.issued
    assert db.get(Certificate, waiting.id).status == CertificateStatus.pending
    assert db.get(Certificate, waiting.id).credential_jwt is None
    names = db.scalars(
        select(Certificate.holder_name).where(Certificate.user_id == person.id)
    ).all()
    assert set(names) == {privacy.anonymous_name(person.id)}
    assert db.get(User, person.id).full_name == privacy.anonymous_name(person.id)


# ---- 3. the audit log keeps references and codes, not free personal text ------------------


def test_an_appeal_leaves_its_words_out_of_the_audit_log(db, tree, lessons, settings):
    learner = make_user(db, tree.hamlet, name="Lò Văn Páo")
    submission = graded_submission(db, learner, L1, score=55.0, passed=False)
    words = "Tôi là Lò Văn Páo, SĐT 0912345678, bài của tôi đủ ý mà."
    item = review.appeal(
        db, user=learner, submission_id=submission.id, reason=words, settings=settings, now=utcnow()
    )
    row = db.scalar(select(AuditLog).where(AuditLog.action == "grade.appeal"))
    assert row.details == {"item": item.id, "score": 55.0}
    assert db.get(ReviewItem, item.id).reason == words  # the appeal itself keeps them


def test_the_audit_helper_keeps_codes_and_drops_free_text(db):
    row = record_audit(
        db,
        actor_id=None,
        action="example.action",
        target_type="user",
        target_id=1,
        details={
            "method": "temporary",
            "count": 3,
            "share": 0.5,
            "done": True,
            "nothing": None,
            "serial": "BDHAI-1-2026-ABCDEFGH",
            "when": "2026-01-02T03:04:05+00:00",
            "note": "Tôi là Nguyễn Văn A",
            "phone": "+84912345678",
            "digits": "0912345678",
            "email": "a@example.vn",
            "nested": {"ok": "csv", "bad": ["Nhà số 5 đường Láng"]},
        },
    )
    db.expire_all()
    stored = db.get(AuditLog, row.id).details
    assert stored["method"] == "temporary" and stored["count"] == 3 and stored["done"] is True
    assert stored["share"] == 0.5 and stored["nothing"] is None
    assert stored["serial"] == "BDHAI-1-2026-ABCDEFGH"
    assert stored["when"] == "2026-01-02T03:04:05+00:00"
    assert stored["nested"]["ok"] == "csv"
    dumped = json.dumps(stored, ensure_ascii=False)
    for absent in ("Nguyễn", "+8491", "0912345678", "example.vn", "Láng"):
        assert absent not in dumped, absent
    # an administrator's reason for an action is kept: it is what makes the action accountable
    kept = record_audit(
        db,
        actor_id=None,
        action="certificate.revoke",
        target_type="certificate",
        target_id="BDHAI-1-2026-ABCDEFGH",
        details={"reason": "Cấp nhầm bậc"},
    )
    assert kept.details == {"reason": "Cấp nhầm bậc"}
    # a mentor's own words when stepping down stay on the mentorship, not in the log
    mine = record_audit(
        db,
        actor_id=None,
        action="mentor.step_down",
        target_type="mentorship",
        target_id=1,
        details={"level": 1, "reason": "Tôi bận chăm con nhỏ"},
    )
    assert mine.details == {"level": 1, "reason": OMITTED}


def test_anonymisation_scrubs_names_and_numbers_from_the_audit_log_and_import_reports(
    client, db, tree, lessons, settings
):
    admin = make_user(db, tree.province, role=Role.admin, name="Quản Trị Tỉnh")
    person = make_user(db, tree.hamlet, name="Nguyễn Thị Nhung", phone="+84912000111")
    headers = login(client, admin)
    cert = _certificate(db, person, 1, settings)  # certificate.issue names the holder
    res = client.patch(
        f"{USERS}/{person.id}",
        headers=headers,
        json={"full_name": "Nguyễn Thị Hồng Nhung", "phone": "0912000112"},
    )
    assert res.status_code == 200, res.text
    res = client.post(
        f"/api/v1/admin/certificates/{cert.serial}/reissue",
        headers=headers,
        json={"full_name": "Nguyễn Thị Hồng Nhung Anh"},
    )
    assert res.status_code == 200, res.text
    # what older versions wrote: an appeal's words, a step-down reason, a report naming a phone
    submission = graded_submission(db, person, L1, score=55.0, passed=False)
    db.add(
        AuditLog(
            actor_id=person.id,
            action="grade.appeal",
            target_type="submission",
            target_id=str(submission.id),
            unit_path=tree.hamlet.path,
            details={"item": 1, "score": 55.0, "reason": "Tôi là Nhung, SĐT 0912000112"},
        )
    )
    mentorship = Mentorship(
        user_id=person.id,
        level_number=1,
        status=MentorStatus.stepped_down,
        unit_path=tree.hamlet.path,
        decided_by_id=person.id,
        decided_at=utcnow(),
        reason="Nhung bận chăm con nhỏ",
    )
    db.add(mentorship)
    db.flush()
    db.add(
        AuditLog(
            actor_id=person.id,
            action="mentor.step_down",
            target_type="mentorship",
            target_id=str(mentorship.id),
            details={"level": 1, "reason": "Nhung bận chăm con nhỏ"},
        )
    )
    job = ImportJob(
        kind=ImportKind.learners,
        status=ImportStatus.rejected,
        filename="ds.csv",
        file_sha256="0" * 64,
        created_by_id=admin.id,
        unit_path="",
        total_rows=3,
        error_count=1,
        errors=[
            {"line": 3, "message": "“+84912000112” bị lặp (đã có ở dòng 2)."},
            {"line": 4, "message": "Nguyễn Thị Hồng Nhung Anh: thiếu đơn vị."},
        ],
    )
    other_job = ImportJob(
        kind=ImportKind.learners,
        status=ImportStatus.rejected,
        filename="khac.csv",
        file_sha256="1" * 64,
        created_by_id=admin.id,
        unit_path="",
        total_rows=2,
        error_count=1,
        errors=[{"line": 2, "message": "“+84912000999” bị lặp (đã có ở dòng 1)."}],
    )
    db.add_all([job, other_job])
    db.flush()
    names = ("Nguyễn Thị Nhung", "Hồng Nhung", "Nhung Anh", "Nhung")
    numbers = ("0912000111", "+84912000111", "0912000112", "+84912000112", "912000112")

    res = client.post(f"{USERS}/{person.id}/anonymise", headers=headers)
    assert res.status_code == 200, res.text
    db.expire_all()
    for row in db.scalars(select(AuditLog)):
        dumped = json.dumps(row.details, ensure_ascii=False)
        for absent in (*names, *numbers, "chăm con"):
            assert absent not in dumped, (row.action, dumped)
    appeal_row = db.scalar(select(AuditLog).where(AuditLog.action == "grade.appeal"))
    assert appeal_row.details["item"] == 1 and appeal_row.details["score"] == 55.0
    changed = db.scalar(
        select(AuditLog)
        .where(AuditLog.action == "account.update", AuditLog.actor_id == admin.id)
        .order_by(AuditLog.id)
    )
    assert changed.details["full_name"][1] == privacy.anonymous_name(person.id)
    assert db.get(Mentorship, mentorship.id).reason == privacy.REDACTED
    report = json.dumps(db.get(ImportJob, job.id).errors, ensure_ascii=False)
    for absent in (*names, *numbers):
        assert absent not in report, report
    assert "dòng 2" in report
    assert db.get(ImportJob, other_job.id).errors[0]["message"].startswith("“+84912000999”")


def test_a_duplicate_in_an_import_is_reported_without_the_number(client, db, tree):
    admin = make_user(db, tree.province, role=Role.admin, name="Quản Trị Tỉnh")
    text = (
        "ho_ten,so_dien_thoai,email,ma_don_vi\n"
        f"Lò Văn Páo,0912000301,,{tree.hamlet.code}\n"
        f"Lò Văn Pá,0912000301,,{tree.hamlet.code}\n"
        f"Hà Thị Lan,,lan@example.vn,{tree.hamlet.code}\n"
        f"Hà Thị La,,lan@example.vn,{tree.hamlet.code}\n"
    )
    res = client.post(
        "/api/v1/admin/imports/learners",
        headers=login(client, admin),
        files={"file": ("ds.csv", text.encode(), "text/csv")},
    )
    assert res.status_code == 422
    stored = json.dumps(db.scalar(select(ImportJob.errors)), ensure_ascii=False)
    assert "0912000301" not in stored and "+84912000301" not in stored
    assert "lan@example.vn" not in stored
    messages = {e["line"]: e["message"] for e in res.json()["import"]["errors"]}
    assert messages == {
        3: "Số điện thoại bị lặp (đã có ở dòng 2).",
        5: "Thư điện tử bị lặp (đã có ở dòng 4).",
    }


def test_anonymisation_clears_the_credential_and_the_name_on_the_verify_page(
    client, db, tree, lessons, settings
):
    person = make_user(db, tree.hamlet, name="Nguyễn Thị Hồng Nhung", phone="+84912000111")
    cert = _certificate(db, person, 1, settings)
    kept_copy = cert.credential_jwt
    assert kept_copy
    privacy.anonymise(db, user=person, settings=settings)
    db.flush()
    db.expire_all()
    cert = db.get(Certificate, cert.id)
    assert cert.credential_jwt is None
    assert cert.status == CertificateStatus.issued  # the counts stay
    page = client.get(f"/verify/{cert.serial}")
    assert page.status_code == 200
    assert "Nhung" not in page.text and privacy.anonymous_name(person.id) in page.text
    # not "valid" with a link to a credential that is gone: the page says what happened
    assert "Chứng nhận hợp lệ" not in page.text and "yêu cầu xoá thông tin" in page.text
    assert "format=jwt" not in page.text
    res = client.get(f"/api/v1/certificates/{cert.serial}")
    assert res.status_code == 404 and "xoá" in res.json()["detail"]
    verdict = client.post("/api/v1/verify", json={"credential": kept_copy}).json()
    assert verdict["status"] == "withdrawn"  # neither valid nor "tampered"
    assert "xoá thông tin" in verdict["reasons"][0]


# ---- 17b. the mentor role comes only from a mentorship ------------------------------------


@pytest.mark.parametrize("role", [Role.admin, Role.unit_admin])
def test_admins_cannot_give_the_mentor_role_through_the_api(client, db, tree, role):
    actor = make_user(db, tree.ward, role=role, name="Quản Trị Viên")
    headers = login(client, actor)
    res = client.post(
        USERS,
        headers=headers,
        json={
            "full_name": "Lý Thị Thu",
            "phone": "0912000334",
            "unit_id": tree.hamlet.id,
            "role": "mentor",
        },
    )
    assert res.status_code == 422, res.text
    assert "hướng dẫn" in res.json()["detail"]
    assert db.scalar(select(User).where(User.phone == "+84912000334")) is None
    learner = make_user(db, tree.hamlet, name="Lò Văn Páo")
    res = client.patch(f"{USERS}/{learner.id}", headers=headers, json={"role": "mentor"})
    assert res.status_code == 422 and "hướng dẫn" in res.json()["detail"]
    db.expire_all()
    assert db.get(User, learner.id).role == Role.learner
    # a mentor (through a mentorship) keeps the role when other fields are edited
    mentor = make_user(db, tree.hamlet, name="Giàng A Tủa", role=Role.mentor)
    res = client.patch(
        f"{USERS}/{mentor.id}", headers=headers, json={"full_name": "Giàng A Tủa", "role": "mentor"}
    )
    assert res.status_code == 200, res.text


def test_the_account_form_does_not_offer_the_mentor_role(client, db, tree):
    actor = make_user(db, tree.ward, role=Role.unit_admin, name="Quản Trị Phường")
    learner = make_user(db, tree.hamlet, name="Lò Văn Páo")
    mentor = make_user(db, tree.hamlet, name="Giàng A Tủa", role=Role.mentor)
    assert page_login(client, actor).status_code == 303
    assert 'value="mentor"' not in client.get("/admin/accounts/new").text
    assert 'value="mentor"' not in client.get(f"/admin/accounts/{learner.id}").text
    assert 'value="mentor" selected' in client.get(f"/admin/accounts/{mentor.id}").text
    res = form_post(
        client,
        "/admin/accounts/new",
        {
            "full_name": "Lý Thị Thu",
            "contact": "0912000334",
            "unit_id": str(tree.hamlet.id),
            "role": "mentor",
        },
    )
    assert res.status_code == 422 and "hướng dẫn" in res.text
    res = form_post(
        client,
        f"/admin/accounts/{learner.id}",
        {
            "full_name": "Lò Văn Páo",
            "contact": learner.login_name,
            "unit_id": str(tree.hamlet.id),
            "role": "mentor",
        },
    )
    assert res.status_code == 422 and "hướng dẫn" in res.text
    db.expire_all()
    assert db.get(User, learner.id).role == Role.learner
    assert db.scalar(select(User).where(User.phone == "+84912000334")) is None


def test_an_import_does_not_give_the_mentor_role(client, db, tree):
    admin = make_user(db, tree.province, role=Role.admin, name="Quản Trị Tỉnh")
    mentor = make_user(db, tree.hamlet, name="Giàng A Tủa", role=Role.mentor, phone="+84912000401")
    learner = make_user(db, tree.hamlet, name="Lò Văn Páo", phone="+84912000402")
    text = (
        "ho_ten,so_dien_thoai,ma_don_vi,vai_tro\n"
        f"Lý Thị Thu,0912000403,{tree.hamlet.code},Người hướng dẫn\n"
        f"Lò Văn Páo,0912000402,{tree.hamlet.code},mentor\n"
        f"Giàng A Tủa,0912000401,{tree.hamlet.code},người hướng dẫn\n"
    )
    res = client.post(
        "/api/v1/admin/imports/learners",
        headers=login(client, admin),
        files={"file": ("ds.csv", text.encode(), "text/csv")},
        data={"import_valid_rows": "true"},
    )
    assert res.status_code == 200, res.text
    errors = {e["line"]: e["message"] for e in res.json()["errors"]}
    assert set(errors) == {2, 3}
    assert all("hướng dẫn" in m for m in errors.values())
    db.expire_all()
    assert db.scalar(select(User).where(User.phone == "+84912000403")) is None
    assert db.get(User, learner.id).role == Role.learner
    assert db.get(User, mentor.id).role == Role.mentor  # unchanged rows are fine
