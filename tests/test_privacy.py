"""A learner's own data: the download, deletion by anonymisation (by the learner or an
administrator on request), and no national ID numbers in imports."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.auth.dependencies import ACCESS_COOKIE
from app.auth.service import start_session
from app.certificates import service as certificates_service
from app.certificates.service import PDF_FOLDER, new_serial
from app.config import Settings
from app.core.errors import Invalid
from app.gamification.ledger import award
from app.learning.submissions import MEDIA_FOLDER
from app.models import (
    Answer,
    AuditLog,
    AuthSession,
    Certificate,
    CertificateStatus,
    ImportJob,
    LessonProgress,
    Notification,
    PointEvent,
    Question,
    Role,
    Submission,
    SubmissionKind,
    User,
    utcnow,
)
from app.orgs.imports import refuse_id_columns
from app.orgs.tabular import header_key
from app.privacy.service import REDACTED, UNUSABLE_PASSWORD
from tests.factories import (
    PASSWORD,
    form_post,
    graded_submission,
    login,
    make_user,
    page_login,
)

L1 = "b1-01-ai-la-gi"
SECRET_TEXT = "Bài làm riêng của Nhung về soạn giấy mời họp tổ dân phố số 7."
OTHER_TEXT = "Bài làm của người khác, không được lộ ra."
IMAGE_NAME = "AbCdEfGhIjKlMnOpQrStUv.jpg"


def _certificate(db: Session, user: User, level: int, settings: Settings) -> Certificate:
    """An issued certificate, its credential signed (it carries the holder's name)."""
    cert = Certificate(
        serial=new_serial(level, 2026),
        user_id=user.id,
        level_number=level,
        status=CertificateStatus.issued,
        holder_name=user.full_name,
        unit_id=user.unit_id,
        unit_path="",
        lessons_passed=2,
        average=80.0,
        eligible_at=utcnow(),
    )
    db.add(cert)
    db.flush()
    return certificates_service.issue(db, cert, settings=settings, actor_id=None, now=utcnow())


@pytest.fixture
def person(db: Session, tree, lessons, settings: Settings, media_dir: Path):
    """A learner with something of everything, and a neighbour with their own data."""
    me = make_user(db, tree.hamlet, name="Nguyễn Thị Hồng Nhung", phone="+84912000111")
    other = make_user(db, tree.hamlet, name="Trần Văn Bình", phone="+84912000222")
    mine = graded_submission(db, me, L1, text=SECRET_TEXT)
    graded_submission(db, other, L1, text=OTHER_TEXT)
    teach = graded_submission(
        db, me, L1, kind=SubmissionKind.teach_back, text=SECRET_TEXT + " (giảng lại)"
    )
    folder = media_dir / MEDIA_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    (folder / IMAGE_NAME).write_bytes(b"\xff\xd8 not really a jpeg")
    teach.image_name = IMAGE_NAME
    db.add(
        LessonProgress(
            user_id=me.id, lesson_id=L1, completed_at=utcnow(), last_activity_at=utcnow()
        )
    )
    today = utcnow().date()
    award(
        db,
        user_id=me.id,
        kind="lesson_complete",
        points=50,
        key=f"t:{me.id}:1",
        day=today,
        settings=settings,
        lesson_id=L1,
    )
    award(
        db,
        user_id=other.id,
        kind="lesson_complete",
        points=30,
        key=f"t:{other.id}:1",
        day=today,
        settings=settings,
        lesson_id=L1,
    )
    question = Question(
        lesson_id=L1,
        user_id=me.id,
        unit_path=tree.hamlet.path,
        body="Câu hỏi của Nhung về bài 1?",
    )
    theirs = Question(
        lesson_id=L1,
        user_id=other.id,
        unit_path=tree.hamlet.path,
        body="Câu hỏi của Bình về bài 1?",
    )
    db.add_all([question, theirs])
    db.flush()
    answer = Answer(question_id=theirs.id, user_id=me.id, body="Câu trả lời riêng của Nhung.")
    db.add(answer)
    db.flush()
    db.add_all(
        [
            Notification(user_id=me.id, kind="review", title="Bài của bạn đã được xem lại"),
            Notification(
                user_id=other.id,
                kind="answer",
                title="Câu hỏi của bạn có câu trả lời mới",
                body="Câu trả lời riêng của Nhung.",
                link=f"/questions/{theirs.id}#answer-{answer.id}",
            ),
        ]
    )
    cert = _certificate(db, me, 1, settings)
    pdf = media_dir / PDF_FOLDER / f"{cert.serial}.pdf"
    pdf.parent.mkdir(parents=True, exist_ok=True)
    pdf.write_bytes(b"%PDF-1.4 cached")
    db.flush()
    return {
        "me": me,
        "other": other,
        "mine": mine,
        "teach": teach,
        "cert": cert,
        "pdf": pdf,
        "question": question,
        "answer": answer,
        "image": folder / IMAGE_NAME,
    }


# ---- the download --------------------------------------------------------------------------


def test_download_has_my_data_and_nothing_of_others(client, db, person):
    me = person["me"]
    headers = login(client, me)
    res = client.get("/api/v1/me/data", headers=headers)
    assert res.status_code == 200, res.text
    assert 'filename="bdhai-du-lieu-cua-toi.json"' in res.headers["content-disposition"]
    assert res.headers["cache-control"] == "private, no-store"
    data = res.json()
    assert data["account"]["full_name"] == "Nguyễn Thị Hồng Nhung"
    assert data["account"]["phone"] == "+84912000111"
    assert data["account"]["unit"]["name"] == "Tổ dân phố số 1"
    texts = {s["text"] for s in data["learning"]["submissions"]}
    assert SECRET_TEXT in texts
    graded = data["learning"]["submissions"][0]
    assert graded["score"] == 60.0 and "Máy chấm" in graded["grade"]["feedback"]
    assert [p["lesson_id"] for p in data["learning"]["lessons"]] == [L1]
    assert data["points"]["total"] == 50
    assert [e["points"] for e in data["points"]["events"]] == [50]
    assert [c["serial"] for c in data["certificates"]] == [person["cert"].serial]
    assert data["certificates"][0]["status"] == "issued"
    assert [q["body"] for q in data["questions"]] == ["Câu hỏi của Nhung về bài 1?"]
    assert [a["body"] for a in data["answers"]] == ["Câu trả lời riêng của Nhung."]
    assert [n["title"] for n in data["notifications"]] == ["Bài của bạn đã được xem lại"]
    for key in ("badges", "streak", "mentoring", "leagues"):
        assert key in data
    raw = res.text
    for absent in (
        OTHER_TEXT,
        "Trần Văn Bình",
        "+84912000222",
        "Câu hỏi của Bình",
        "$argon2",
        me.password_hash,
        "password_hash",
        "refresh",
    ):
        assert absent not in raw, absent
    session_ids = db.scalars(select(AuthSession.id).where(AuthSession.user_id == me.id)).all()
    assert session_ids and not any(s in raw for s in session_ids)
    audit = db.scalars(select(AuditLog).where(AuditLog.action == "privacy.export")).all()
    assert [(a.actor_id, a.target_id, a.details) for a in audit] == [(me.id, str(me.id), {})]


def test_download_is_rate_limited(client, db, person):
    headers = login(client, person["me"])
    for _ in range(5):
        assert client.get("/api/v1/me/data", headers=headers).status_code == 200
    res = client.get("/api/v1/me/data", headers=headers)
    assert res.status_code == 429
    assert "một giờ" in res.json()["detail"] and "Retry-After" in res.headers
    assert (
        db.scalar(
            select(func.count()).select_from(AuditLog).where(AuditLog.action == "privacy.export")
        )
        == 5
    )


def test_download_needs_sign_in(client, db, tree):
    assert client.get("/api/v1/me/data").status_code == 401
    res = client.get("/account/data", follow_redirects=False)
    assert res.status_code == 303 and res.headers["location"].startswith("/login")


def test_data_page_links_and_downloads(client, db, person):
    me = person["me"]
    assert page_login(client, me).status_code == 303
    assert 'href="/account/data"' in client.get("/account/password").text
    page = client.get("/account/data")
    assert page.status_code == 200
    assert "Tải dữ liệu của tôi" in page.text and "Xoá thông tin của tôi" in page.text
    res = client.get("/account/data/download")
    assert res.status_code == 200
    assert json.loads(res.content)["account"]["id"] == me.id


# ---- deletion by anonymisation -------------------------------------------------------------


def _counts(db: Session) -> dict[str, object]:
    db.expire_all()
    return {
        "users": db.scalar(select(func.count()).select_from(User)),
        "progress": db.scalar(select(func.count()).select_from(LessonProgress)),
        "completed": db.scalar(
            select(func.count()).where(LessonProgress.completed_at.is_not(None))
        ),
        "points": db.scalar(select(func.sum(PointEvent.points))),
        "events": db.scalar(select(func.count()).select_from(PointEvent)),
        "submissions": db.scalar(select(func.count()).select_from(Submission)),
        "certificates": db.execute(
            select(Certificate.unit_id, Certificate.level_number, Certificate.status, func.count())
            .group_by(Certificate.unit_id, Certificate.level_number, Certificate.status)
            .order_by(Certificate.unit_id, Certificate.level_number)
        ).all(),
    }


def _assert_anonymised(db: Session, person: dict, media_dir: Path, settings: Settings) -> None:
    db.expire_all()
    me = db.get(User, person["me"].id)
    assert me.full_name == f"Học viên đã xoá #{me.id}"
    assert me.search_key == "" and me.phone is None
    assert me.email == f"da-xoa-{me.id}@an-danh.invalid"
    assert me.password_hash == UNUSABLE_PASSWORD and not me.is_active
    assert (
        db.scalar(
            select(func.count()).where(
                AuthSession.user_id == me.id, AuthSession.revoked_at.is_(None)
            )
        )
        == 0
    )
    subs = db.scalars(select(Submission).where(Submission.user_id == me.id)).all()
    assert subs and all(s.text == REDACTED and s.image_name is None for s in subs)
    assert all(s.score is not None for s in subs)  # the grades stay
    assert not person["image"].exists() and not person["pdf"].exists()
    assert db.get(Question, person["question"].id).body == REDACTED
    assert db.get(Answer, person["answer"].id).body == REDACTED
    cert = db.get(Certificate, person["cert"].id)
    assert cert.status == CertificateStatus.issued and cert.serial == person["cert"].serial
    assert cert.holder_name == me.full_name
    # the signed credential carried the name: it is cleared, nothing is signed again for the
    # person (docs/privacy.md; the verify page: tests/test_hardening_accounts.py)
    assert cert.credential_jwt is None
    assert db.scalar(select(func.count()).where(Notification.user_id == me.id)) == 0
    told = db.scalar(select(Notification).where(Notification.user_id == person["other"].id))
    assert told.body == REDACTED  # the asker's excerpt of the answer
    # the neighbour's data is untouched
    other = db.get(User, person["other"].id)
    assert other.full_name == "Trần Văn Bình" and other.is_active
    assert db.scalar(select(Submission.text).where(Submission.user_id == other.id)) == OTHER_TEXT


def test_learner_deletes_own_account_keeping_the_counts(client, db, person, media_dir, settings):
    me = person["me"]
    headers = login(client, me)
    before = _counts(db)
    res = client.post("/api/v1/me/deletion", headers=headers, json={"password": PASSWORD})
    assert res.status_code == 200, res.text
    body = res.json()
    assert body["full_name"] == f"Học viên đã xoá #{me.id}"
    assert body["images_deleted"] == 1 and body["pdfs_deleted"] == 1
    assert body["submissions"] == 2 and body["certificates"] == 1
    assert _counts(db) == before
    _assert_anonymised(db, person, media_dir, settings)
    # signed out everywhere, and the old password opens nothing
    assert client.get("/api/v1/me", headers=headers).status_code == 401
    res = client.post(
        "/api/v1/auth/login", json={"identifier": "+84912000111", "password": PASSWORD}
    )
    assert res.status_code == 401
    audit = db.scalar(select(AuditLog).where(AuditLog.action == "privacy.anonymise"))
    assert audit.actor_id == me.id and audit.target_id == str(me.id)
    assert audit.details["by"] == "self" and audit.details["submissions"] == 2
    dumped = json.dumps(audit.details, ensure_ascii=False)
    assert "Nhung" not in dumped and "0912" not in dumped and "+84" not in dumped


def test_wrong_password_changes_nothing(client, db, person):
    me = person["me"]
    headers = login(client, me)
    before = _counts(db)
    res = client.post("/api/v1/me/deletion", headers=headers, json={"password": "sai-mat-khau"})
    assert res.status_code == 422
    assert "Mật khẩu không đúng" in res.json()["detail"]
    db.expire_all()
    again = db.get(User, me.id)
    assert again.full_name == "Nguyễn Thị Hồng Nhung" and again.phone == "+84912000111"
    assert again.is_active and again.password_hash != UNUSABLE_PASSWORD
    assert db.get(Submission, person["mine"].id).text == SECRET_TEXT
    assert person["image"].exists() and person["pdf"].exists()
    assert _counts(db) == before
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    assert db.scalar(select(AuditLog).where(AuditLog.action == "privacy.anonymise")) is None
    res = client.post("/api/v1/me/deletion", headers=headers, json={})
    assert res.status_code == 422  # no password at all


def test_password_attempts_are_limited(client, db, person):
    headers = login(client, person["me"])
    for _ in range(5):
        res = client.post("/api/v1/me/deletion", headers=headers, json={"password": "sai"})
        assert res.status_code == 422
    res = client.post("/api/v1/me/deletion", headers=headers, json={"password": PASSWORD})
    assert res.status_code == 429
    db.expire_all()
    assert db.get(User, person["me"].id).is_active


@pytest.mark.parametrize("role", [Role.admin, Role.unit_admin])
def test_an_admin_account_is_refused(client, db, tree, role):
    admin = make_user(db, tree.ward, role=role, name="Quản Trị Viên")
    res = client.post(
        "/api/v1/me/deletion", headers=login(client, admin), json={"password": PASSWORD}
    )
    assert res.status_code == 403
    db.expire_all()
    assert db.get(User, admin.id).full_name == "Quản Trị Viên"


def test_deletion_from_the_page_signs_out(client, db, person, media_dir, settings):
    me = person["me"]
    assert page_login(client, me).status_code == 303
    assert client.get("/account/data").status_code == 200
    res = form_post(client, "/account/data/delete", {"password": "sai", "confirm": "1"})
    assert res.status_code == 422 and "Mật khẩu không đúng" in res.text
    res = form_post(client, "/account/data/delete", {"password": PASSWORD})
    assert res.status_code == 400 and "ô xác nhận" in res.text
    db.expire_all()
    assert db.get(User, me.id).is_active
    res = form_post(client, "/account/data/delete", {"password": PASSWORD, "confirm": "1"})
    assert res.status_code == 200, res.text
    assert "Đã xoá thông tin của bạn" in res.text
    assert "Nguyễn Thị Hồng Nhung" not in res.text
    assert ACCESS_COOKIE not in client.cookies
    _assert_anonymised(db, person, media_dir, settings)
    res = client.get("/account/data", follow_redirects=False)
    assert res.status_code == 303 and res.headers["location"].startswith("/login")


def test_admin_anonymises_on_request(client, db, tree, person, media_dir, settings):
    unit_admin = make_user(db, tree.ward, role=Role.unit_admin, name="Quản Trị Phường")
    me = person["me"]
    start_session(db, user=me, settings=settings)
    before = _counts(db)
    res = client.post(f"/api/v1/admin/users/{me.id}/anonymise", headers=login(client, unit_admin))
    assert res.status_code == 200, res.text
    assert _counts(db) == before
    _assert_anonymised(db, person, media_dir, settings)
    audit = db.scalar(select(AuditLog).where(AuditLog.action == "privacy.anonymise"))
    assert audit.actor_id == unit_admin.id and audit.details["by"] == "admin"
    assert audit.details["sessions_revoked"] == 1
    # done once; a second time is refused
    res = client.post(f"/api/v1/admin/users/{me.id}/anonymise", headers=login(client, unit_admin))
    assert res.status_code == 422


def test_admin_anonymise_from_the_account_page(client, db, tree, person):
    unit_admin = make_user(db, tree.ward, role=Role.unit_admin, name="Quản Trị Phường")
    other_admin = make_user(db, tree.hamlet, role=Role.unit_admin, name="Quản Trị Tổ")
    me = person["me"]
    assert page_login(client, unit_admin).status_code == 303
    page = client.get(f"/admin/accounts/{me.id}")
    assert f'action="/admin/accounts/{me.id}/anonymise"' in page.text
    assert form_post(client, f"/admin/accounts/{me.id}/anonymise").status_code == 422
    db.expire_all()
    assert db.get(User, me.id).is_active
    res = form_post(
        client, f"/admin/accounts/{me.id}/anonymise", {"confirm": "1"}, follow_redirects=False
    )
    assert res.status_code == 303
    assert res.headers["location"] == f"/admin/accounts/{me.id}?anonymised=1"
    page = client.get(res.headers["location"])
    assert "Đã xoá thông tin cá nhân" in page.text and "Nguyễn Thị Hồng Nhung" not in page.text
    # an administrator's account is not anonymised this way
    res = form_post(client, f"/admin/accounts/{other_admin.id}/anonymise", {"confirm": "1"})
    assert res.status_code == 403
    db.expire_all()
    assert db.get(User, other_admin.id).full_name == "Quản Trị Tổ"


def test_admin_cannot_anonymise_self(client, db, tree):
    admin = make_user(db, tree.province, role=Role.admin)
    res = client.post(f"/api/v1/admin/users/{admin.id}/anonymise", headers=login(client, admin))
    assert res.status_code == 403


# ---- no national ID numbers ----------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        "CCCD",
        "cmnd",
        "so_cccd",
        "Căn cước",
        "Số định danh",
        "ID number",
        "Số CCCD/CMND",
        "Căn cước công dân",
        "Mã định danh cá nhân",
        "Số CMT",
    ],
)
def test_id_number_columns_are_refused(header):
    with pytest.raises(Invalid) as exc:
        refuse_id_columns(["ho_ten", "so_dien_thoai", header_key(header)])
    assert "không thu thập" in exc.value.message and exc.value.code == "id_column"


def test_ordinary_columns_pass():
    refuse_id_columns(
        [
            header_key(h)
            for h in ("Họ tên", "Số điện thoại", "email", "Mã đơn vị", "Nhóm", "Vai trò", "Ghi chú")
        ]
    )


def test_import_with_an_id_column_is_refused(client, db, tree):
    admin = make_user(db, tree.province, role=Role.admin)
    data = (
        "ho_ten,so_dien_thoai,ma_don_vi,Số CCCD\n"
        f"Lò Văn Páo,0987000222,{tree.village.code},001203004567\n"
    ).encode()
    res = client.post(
        "/api/v1/admin/imports/learners",
        headers=login(client, admin),
        files={"file": ("danh-sach.csv", io.BytesIO(data), "text/csv")},
    )
    assert res.status_code == 422
    assert "không thu thập số định danh" in res.json()["detail"]
    assert db.scalar(select(User).where(User.phone == "+84987000222")) is None
    assert db.scalar(select(func.count()).select_from(ImportJob)) == 0
