"""The administrators' oversight: the certificates page (approve, approve a unit, revoke,
re-issue, all audited), the audit log (filters, scope, CSV export that is itself audited),
the system page (curriculum versions, the grader's figures; administrators only) and the
accounts list's filters by learner group, level and activity."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from app.certificates import service as certificates
from app.core.audit import record_audit
from app.core.clock import local_day
from app.models import (
    AuditLog,
    Certificate,
    CertificateStatus,
    GradeRecord,
    LearnerStats,
    Lesson,
    Role,
    StudyDay,
    SubmissionStatus,
    User,
    utcnow,
)
from tests.factories import (
    form_post,
    graded_submission,
    group,
    login,
    make_user,
    page_login,
    pass_lesson,
)

LESSONS = ("b1-01-ai-la-gi", "b1-02-hoi-tiep")
INSIDE = "Trần Văn Trong"
OUTSIDE = "Lò Thị Ngoài"


def pass_level_1(db, settings, user, *, approval: bool) -> Certificate:
    """The learner passes both lessons of level 1; the certificate waits for approval when
    `approval`, else it is issued at once."""
    rules = settings.model_copy(update={"certificate_approval_levels": "1" if approval else ""})
    for lesson_id in LESSONS:
        pass_lesson(db, rules, user, lesson_id, 85)
    cert = certificates.live_certificate(db, user.id, 1)
    assert cert is not None
    assert cert.status == (CertificateStatus.pending if approval else CertificateStatus.issued)
    return cert


@dataclass
class People:
    admin: User  # the province's administrator
    ward_admin: User  # a unit administrator of Phường An Bình
    inside: User  # a learner in the ward's residential group
    outside: User  # a learner in another commune


@pytest.fixture
def people(db, tree, lessons) -> People:
    return People(
        admin=make_user(db, tree.province, role=Role.admin, name="Quản Trị Tỉnh"),
        ward_admin=make_user(db, tree.ward, role=Role.unit_admin, name="Quản Trị Phường"),
        inside=make_user(db, tree.hamlet, name=INSIDE, phone="+84912300001"),
        outside=make_user(db, tree.village, name=OUTSIDE, phone="+84912300002"),
    )


def actions_on(db, target_id: str) -> list[str]:
    return list(
        db.scalars(
            select(AuditLog.action).where(AuditLog.target_id == target_id).order_by(AuditLog.id)
        )
    )


# ---- certificates --------------------------------------------------------------------------


def test_the_certificates_page_lists_each_status_in_scope(db, client, settings, tree, people):
    admin = people.admin
    ward_admin = people.ward_admin
    inside = people.inside
    outside = people.outside
    waiting_in = pass_level_1(db, settings, inside, approval=True)
    waiting_out = pass_level_1(db, settings, outside, approval=True)
    other = make_user(db, tree.hamlet, name="Phạm Thị Cấp", phone="+84912300003")
    issued = pass_level_1(db, settings, other, approval=False)
    gone = make_user(db, tree.hamlet, name="Đỗ Văn Thu", phone="+84912300004")
    revoked = pass_level_1(db, settings, gone, approval=False)
    res = client.post(
        f"/api/v1/admin/certificates/{revoked.serial}/revoke",
        json={"reason": "Cấp nhầm người học."},
        headers=login(client, admin),
    )
    assert res.status_code == 200, res.text

    page_login(client, ward_admin)
    page = client.get("/admin/certificates")
    assert page.status_code == 200
    assert 'aria-current="page">Chứng nhận' in page.text
    assert waiting_in.serial in page.text and INSIDE in page.text
    assert waiting_out.serial not in page.text and OUTSIDE not in page.text
    assert "Chờ phê duyệt (1)" in page.text and "Đã cấp (1)" in page.text
    assert "Phê duyệt tất cả của đơn vị" in page.text
    assert f'action="/admin/certificates/{waiting_in.serial}/approve"' in page.text
    issued_page = client.get("/admin/certificates?status=issued")
    assert issued.serial in issued_page.text and waiting_in.serial not in issued_page.text
    assert f'action="/admin/certificates/{issued.serial}/revoke"' in issued_page.text
    assert f'action="/admin/certificates/{issued.serial}/reissue"' in issued_page.text
    revoked_page = client.get("/admin/certificates?status=revoked")
    assert revoked.serial in revoked_page.text and "Cấp nhầm người học." in revoked_page.text
    by_unit = client.get(f"/admin/certificates?unit_id={tree.hamlet.id}")
    assert by_unit.status_code == 200 and waiting_in.serial in by_unit.text
    assert client.get(f"/admin/certificates?unit_id={tree.village.id}").status_code == 403
    bad = client.get("/admin/certificates?status=everything")
    assert bad.status_code == 422 and "<html" in bad.text.lower()

    client.cookies.clear()
    page_login(client, admin)
    page = client.get("/admin/certificates")
    assert waiting_in.serial in page.text and waiting_out.serial in page.text
    assert "Chờ phê duyệt (2)" in page.text


def test_approving_one_and_a_whole_unit_through_the_page(db, client, settings, tree, people):
    ward_admin = people.ward_admin
    inside = people.inside
    outside = people.outside
    first = pass_level_1(db, settings, inside, approval=True)
    second_user = make_user(db, tree.hamlet, name="Hoàng Thị Hai", phone="+84912300005")
    second = pass_level_1(db, settings, second_user, approval=True)
    third_user = make_user(db, tree.ward, name="Vũ Văn Ba", phone="+84912300006")
    third = pass_level_1(db, settings, third_user, approval=True)
    away = pass_level_1(db, settings, outside, approval=True)
    page_login(client, ward_admin)

    assert client.post(f"/admin/certificates/{first.serial}/approve").status_code == 403  # CSRF
    res = form_post(client, f"/admin/certificates/{first.serial}/approve", follow_redirects=False)
    assert res.status_code == 303
    assert res.headers["location"].startswith("/admin/certificates?status=pending&done=approve")
    db.refresh(first)
    assert first.status == CertificateStatus.issued and first.approved_by == ward_admin.id
    assert actions_on(db, first.serial)[-2:] == ["certificate.approve", "certificate.issue"]
    shown = client.get(res.headers["location"])
    assert f"Đã phê duyệt và cấp chứng nhận {first.serial}." in shown.text

    again = form_post(client, f"/admin/certificates/{first.serial}/approve")
    assert again.status_code == 409 and "không chờ phê duyệt" in again.text
    assert actions_on(db, first.serial).count("certificate.approve") == 1

    refused = form_post(client, "/admin/certificates/approve-unit", {"unit_id": ""})
    assert refused.status_code == 422 and "Hãy chọn một đơn vị." in refused.text
    res = form_post(
        client,
        "/admin/certificates/approve-unit",
        {"unit_id": str(tree.ward.id), "unit_filter": str(tree.hamlet.id)},
        follow_redirects=False,
    )
    assert res.status_code == 303
    assert f"unit_id={tree.hamlet.id}" in res.headers["location"]
    assert "Đã phê duyệt 2 chứng nhận của đơn vị." in client.get(res.headers["location"]).text
    for cert in (second, third):
        db.refresh(cert)
        assert cert.status == CertificateStatus.issued
    outside_try = form_post(
        client, "/admin/certificates/approve-unit", {"unit_id": str(tree.commune.id)}
    )
    assert outside_try.status_code == 403
    db.refresh(away)
    assert away.status == CertificateStatus.pending


def test_revoking_and_reissuing_through_the_page(db, client, settings, tree, people):
    ward_admin = people.ward_admin
    inside = people.inside
    cert = pass_level_1(db, settings, inside, approval=False)
    other_user = make_user(db, tree.hamlet, name="Nguyễn Thị Hồng Nhug", phone="+84912300007")
    misspelt = pass_level_1(db, settings, other_user, approval=False)
    page_login(client, ward_admin)

    short = form_post(client, f"/admin/certificates/{cert.serial}/revoke", {"reason": " ab "})
    assert short.status_code == 422 and "Lý do thu hồi" in short.text
    assert "ít nhất 5 ký tự" in short.text or "tối thiểu 5 ký tự" in short.text
    db.refresh(cert)
    assert cert.status == CertificateStatus.issued
    long = form_post(client, f"/admin/certificates/{cert.serial}/revoke", {"reason": "x" * 301})
    assert long.status_code == 422 and "tối đa 300 ký tự" in long.text

    res = form_post(
        client,
        f"/admin/certificates/{cert.serial}/revoke",
        {"reason": "Học viên   gian lận bài kiểm tra."},
        follow_redirects=False,
    )
    assert res.status_code == 303 and "done=revoke" in res.headers["location"]
    db.refresh(cert)
    assert cert.status == CertificateStatus.revoked
    assert cert.revoke_reason == "Học viên gian lận bài kiểm tra."
    assert cert.revoked_by == ward_admin.id
    entry = db.scalar(select(AuditLog).where(AuditLog.action == "certificate.revoke"))
    assert entry.actor_id == ward_admin.id and entry.details["reason"] == cert.revoke_reason
    revoked_page = client.get("/admin/certificates?status=revoked")
    assert "Học viên gian lận bài kiểm tra." in revoked_page.text
    twice = form_post(
        client, f"/admin/certificates/{cert.serial}/revoke", {"reason": "Thu hồi lần hai."}
    )
    assert twice.status_code == 409 and "đã bị thu hồi" in twice.text

    same = form_post(
        client,
        f"/admin/certificates/{misspelt.serial}/reissue",
        {"full_name": misspelt.holder_name},
    )
    assert same.status_code == 422 and "trùng với họ tên" in same.text
    res = form_post(
        client,
        f"/admin/certificates/{misspelt.serial}/reissue",
        {"full_name": "Nguyễn Thị Hồng Nhung"},
        follow_redirects=False,
    )
    assert res.status_code == 303 and "done=reissue" in res.headers["location"]
    db.refresh(misspelt)
    assert misspelt.status == CertificateStatus.revoked
    new = certificates.live_certificate(db, other_user.id, 1)
    assert new.serial != misspelt.serial and new.holder_name == "Nguyễn Thị Hồng Nhung"
    assert new.status == CertificateStatus.issued and new.replaces_id == misspelt.id
    assert (
        f"Đã cấp lại chứng nhận với số hiệu mới {new.serial}."
        in client.get(res.headers["location"]).text
    )
    assert actions_on(db, misspelt.serial)[-1] == "certificate.revoke"
    assert actions_on(db, new.serial)[-1] == "certificate.issue"
    db.refresh(other_user)
    assert other_user.full_name == "Nguyễn Thị Hồng Nhung"


# ---- the audit log -------------------------------------------------------------------------


def entry(db, *, actor, action, path, when, target="certificate", target_id="X", details=None):
    row = record_audit(
        db,
        actor_id=actor.id if actor else None,
        action=action,
        target_type=target,
        target_id=target_id,
        unit_path=path,
        details=details,
    )
    row.created_at = when
    db.flush()
    return row


@pytest.fixture
def log(db, tree, people):
    admin = people.admin
    ward_admin = people.ward_admin
    inside = people.inside
    now = utcnow()
    # 2026-03-01 17:30 UTC is 00:30 on 2 March in Asia/Ho_Chi_Minh
    night = datetime(2026, 3, 1, 17, 30, tzinfo=UTC)
    return {
        "revoke": entry(
            db,
            actor=ward_admin,
            action="certificate.revoke",
            path=tree.hamlet.path,
            when=now - timedelta(minutes=5),
            target_id="BDHAI-1-2026-ABCDEFGH",
            details={"reason": "Cấp nhầm người học."},
        ),
        "grade": entry(
            db,
            actor=inside,
            action="grade.change",
            path=tree.hamlet.path,
            when=now - timedelta(minutes=4),
            target="submission",
            target_id="17",
        ),
        "outside": entry(
            db,
            actor=admin,
            action="grade.change",
            path=tree.village.path,
            when=now - timedelta(minutes=3),
            target="submission",
            target_id="18",
        ),
        "global": entry(db, actor=admin, action="group.update", path="", when=now, target="group"),
        "night": entry(
            db,
            actor=ward_admin,
            action="mystery.thing",
            path=tree.ward.path,
            when=night,
            target="widget",
        ),
    }


def ids_of(res) -> list[int]:
    assert res.status_code == 200, res.text
    return [item["id"] for item in res.json()["items"]]


def test_the_audit_api_filters_pages_and_keeps_to_the_scope(db, client, tree, people, log):
    admin = people.admin
    ward_admin = people.ward_admin
    inside = people.inside
    for_admin = login(client, admin)
    for_ward = login(client, ward_admin)
    every = ids_of(client.get("/api/v1/admin/audit?per_page=200", headers=for_admin))
    ours = [log[k].id for k in ("global", "outside", "grade", "revoke", "night")]
    assert [i for i in every if i in ours] == ours  # newest first
    seen = ids_of(client.get("/api/v1/admin/audit?per_page=200", headers=for_ward))
    assert log["outside"].id not in seen and log["global"].id not in seen
    assert [i for i in seen if i in ours] == [log["grade"].id, log["revoke"].id, log["night"].id]

    res = client.get("/api/v1/admin/audit?action=grade.", headers=for_admin)
    assert set(ids_of(res)) == {log["grade"].id, log["outside"].id}
    res = client.get("/api/v1/admin/audit?action=grade.", headers=for_ward)
    assert ids_of(res) == [log["grade"].id]
    item = client.get("/api/v1/admin/audit?action=certificate.revoke", headers=for_ward).json()[
        "items"
    ][0]
    assert item["action_label"] == "Thu hồi chứng nhận"
    assert item["actor"] == {"id": ward_admin.id, "full_name": "Quản Trị Phường"}
    assert item["unit"] == tree.hamlet.name and item["details"]["reason"] == "Cấp nhầm người học."
    res = client.get("/api/v1/admin/audit?actor=tran van", headers=for_admin)  # no diacritics
    assert ids_of(res) == [log["grade"].id]
    res = client.get(f"/api/v1/admin/audit?actor={inside.phone[3:]}", headers=for_admin)
    assert ids_of(res) == [log["grade"].id]
    res = client.get("/api/v1/admin/audit?target_type=submission", headers=for_ward)
    assert ids_of(res) == [log["grade"].id]
    res = client.get(
        "/api/v1/admin/audit?date_from=2026-03-02&date_to=2026-03-02", headers=for_ward
    )
    assert ids_of(res) == [log["night"].id]
    res = client.get("/api/v1/admin/audit?date_to=2026-03-01", headers=for_ward)
    assert log["night"].id not in ids_of(res)
    unknown = client.get("/api/v1/admin/audit?action=mystery.", headers=for_ward).json()
    assert unknown["items"][0]["action_label"] == "mystery.thing"  # shown as it is
    page = client.get("/api/v1/admin/audit?per_page=2&page=2", headers=for_ward).json()
    assert page["total"] == 3 + len([i for i in seen if i not in ours])
    assert page["page"] == 2 and len(page["items"]) == 1

    bad = client.get("/api/v1/admin/audit?date_from=2026-02-30", headers=for_admin)
    assert bad.status_code == 422 and "Ngày bắt đầu không hợp lệ" in bad.json()["detail"]
    bad = client.get(
        "/api/v1/admin/audit?date_from=2026-03-05&date_to=2026-03-01", headers=for_admin
    )
    assert bad.status_code == 422 and "Ngày bắt đầu phải trước" in bad.json()["detail"]
    assert client.get("/api/v1/admin/audit?per_page=0", headers=for_admin).status_code == 422
    learner = login(client, inside)
    assert client.get("/api/v1/admin/audit", headers=learner).status_code == 403


def test_the_audit_page_shows_labels_and_keeps_the_filters(db, client, tree, people, log):
    admin = people.admin
    ward_admin = people.ward_admin
    page_login(client, ward_admin)
    page = client.get("/admin/audit")
    assert page.status_code == 200 and 'aria-current="page">Nhật ký' in page.text
    assert "<strong>Thu hồi chứng nhận</strong>" in page.text
    assert "<strong>Đổi điểm bài làm</strong>" in page.text
    assert "Cấp nhầm người học." in page.text and "mystery.thing" in page.text
    assert "<strong>Sửa nhóm học viên</strong>" not in page.text  # no unit: admins only
    assert "BDHAI-1-2026-ABCDEFGH" in page.text and "18</code>" not in page.text
    page = client.get("/admin/audit?action=certificate.&actor=&date_from=&date_to=")
    assert page.status_code == 200
    assert "<strong>Thu hồi chứng nhận</strong>" in page.text
    assert "<strong>Đổi điểm bài làm</strong>" not in page.text
    assert 'href="/admin/audit.csv?action=certificate."' in page.text
    bad = client.get("/admin/audit?date_to=03/02/2026")
    assert bad.status_code == 422 and "Ngày kết thúc không hợp lệ" in bad.text
    client.cookies.clear()
    page_login(client, admin)
    page = client.get("/admin/audit")
    assert "<strong>Sửa nhóm học viên</strong>" in page.text and "18</code>" in page.text


def read_csv(res) -> list[list[str]]:
    assert res.status_code == 200, res.text
    assert res.headers["content-type"].startswith("text/csv")
    assert "attachment" in res.headers["content-disposition"]
    assert res.content.startswith(b"\xef\xbb\xbf")  # the BOM: Excel reads UTF-8
    return list(csv.reader(io.StringIO(res.content.decode("utf-8-sig"))))


def test_the_audit_csv_export_is_filtered_scoped_and_audited(db, client, tree, people, log):
    admin = people.admin
    ward_admin = people.ward_admin
    headers = login(client, ward_admin)
    rows = read_csv(client.get("/api/v1/admin/audit.csv?action=grade.", headers=headers))
    assert rows[0] == [
        "Thời gian",
        "Người thực hiện",
        "Hành động",
        "Mã hành động",
        "Đối tượng",
        "Mã đối tượng",
        "Đơn vị",
        "Chi tiết",
    ]
    assert len(rows) == 2
    assert rows[1][1:7] == [
        INSIDE,
        "Đổi điểm bài làm",
        "grade.change",
        "Bài làm",
        "17",
        tree.hamlet.name,
    ]
    exported = db.scalar(select(AuditLog).where(AuditLog.action == "audit.export"))
    assert exported.actor_id == ward_admin.id and exported.unit_path == tree.ward.path
    assert exported.details == {"filters": {"action": "grade."}, "rows": 1}

    page_login(client, ward_admin)
    rows = read_csv(client.get("/admin/audit.csv"))
    body = [r[3] for r in rows[1:]]
    assert "certificate.revoke" in body and "audit.export" in body  # the first export shows
    assert "group.update" not in body and len([b for b in body if b == "grade.change"]) == 1
    revoke = next(r for r in rows if r[3] == "certificate.revoke")
    assert revoke[2] == "Thu hồi chứng nhận" and "Cấp nhầm người học." in revoke[7]
    assert len(db.scalars(select(AuditLog).where(AuditLog.action == "audit.export")).all()) == 2
    bad = client.get("/admin/audit.csv?date_from=hôm-nay")
    assert bad.status_code == 422

    client.cookies.clear()
    admin_rows = read_csv(client.get("/api/v1/admin/audit.csv", headers=login(client, admin)))
    assert "group.update" in [r[3] for r in admin_rows]
    last = db.scalars(select(AuditLog).where(AuditLog.action == "audit.export")).all()[-1]
    assert last.unit_path == ""  # an administrator's export: seen by administrators only


# ---- the system ----------------------------------------------------------------------------


def test_the_system_page_is_for_administrators_only(db, client, people):
    ward_admin = people.ward_admin
    for_ward = login(client, ward_admin)
    assert client.get("/api/v1/admin/system/curriculum", headers=for_ward).status_code == 403
    assert client.get("/api/v1/admin/system/grader", headers=for_ward).status_code == 403
    page_login(client, ward_admin)
    assert client.get("/admin/system").status_code == 403


def test_the_system_shows_the_loaded_curriculum_versions(db, client, people):
    admin = people.admin
    retired = (
        db.get(Lesson, "b2-01-anh-dau-tien")
        or db.scalars(select(Lesson).where(Lesson.level_number == 2)).first()
    )
    retired.is_active = False
    db.flush()
    levels = client.get("/api/v1/admin/system/curriculum", headers=login(client, admin)).json()
    assert [lv["number"] for lv in levels] == [1, 2]
    first = levels[0]
    assert first["active"] is True and len(first["content_hash"]) == 64
    assert [ls["id"] for ls in first["lessons"]] == list(LESSONS)
    assert all(ls["version"] == 1 and ls["active"] for ls in first["lessons"])
    assert all(len(ls["content_hash"]) == 64 and ls["loaded_at"] for ls in first["lessons"])
    gone = next(ls for ls in levels[1]["lessons"] if ls["id"] == retired.id)
    assert gone["active"] is False

    page_login(client, admin)
    page = client.get("/admin/system")
    assert page.status_code == 200 and 'aria-current="page">Hệ thống' in page.text
    assert "b1-01-ai-la-gi" in page.text and first["lessons"][0]["content_hash"][:10] in page.text
    assert "Ngừng dùng" in page.text and "Chấm theo tiêu chí (offline)" in page.text


def test_the_grader_figures_come_from_the_queue_and_the_grade_records(db, client, settings, people):
    admin = people.admin
    inside = people.inside
    now = utcnow()
    today_start = datetime.combine(local_day(now, settings.tz), datetime.min.time(), settings.tz)

    def submission(status, *, failed_at=None):
        row = graded_submission(db, inside, LESSONS[0], status=status)
        if failed_at is not None:
            row.updated_at = failed_at
            row.last_error = "Máy chấm không trả lời"
            db.flush()
        return row

    for _ in range(2):
        submission(SubmissionStatus.queued)
    submission(SubmissionStatus.grading)
    graded = submission(SubmissionStatus.graded)
    submission(SubmissionStatus.failed, failed_at=now)
    submission(SubmissionStatus.failed, failed_at=today_start - timedelta(days=3))
    submission(SubmissionStatus.failed, failed_at=today_start - timedelta(days=10))

    def record(grader, when, *, tokens=(0, 0), cost=0.0, provisional=False):
        db.add(
            GradeRecord(
                submission_id=graded.id,
                grader=grader,
                model="gpt-4o-mini" if grader == "llm" else None,
                score=70,
                passed=True,
                result={},
                tokens_in=tokens[0],
                tokens_out=tokens[1],
                cost_usd=cost,
                provisional=provisional,
                created_at=when,
            )
        )

    record("rubric", now)
    record("rubric", now, provisional=True)
    record("llm", now, tokens=(1200, 300), cost=0.0125)
    record("llm", now - timedelta(minutes=1), tokens=(800, 200), cost=0.0075)
    record("llm", today_start - timedelta(hours=2), tokens=(5000, 5000), cost=3.0)
    record("rubric", today_start - timedelta(days=2), provisional=True)
    db.flush()

    state = client.get("/api/v1/admin/system/grader", headers=login(client, admin)).json()
    assert state["grader"] == "rubric" and state["model"] is None
    assert state["worker_mode"] == "off"
    assert state["queue"] == {"queued": 2, "grading": 1, "graded": 1, "failed": 3}
    assert (state["failed_today"], state["failed_7_days"]) == (1, 2)
    assert (state["provisional_today"], state["provisional_7_days"]) == (1, 2)
    assert state["grades_today"] == {"llm": 2, "rubric": 2}
    assert (state["tokens_in_today"], state["tokens_out_today"]) == (2000, 500)
    assert state["cost_today_usd"] == pytest.approx(0.02)
    assert state["daily_budget_usd"] is None and state["budget_left_usd"] is None
    assert state["breaker"] is None
    assert state["recent_failures"][0]["error"] == "Máy chấm không trả lời"
    assert len(state["recent_failures"]) == 3

    page_login(client, admin)
    page = client.get("/admin/system").text
    assert "Đang chờ chấm</dt><dd>2" in page and "Chấm lỗi</dt><dd>3" in page
    assert "Token vào / ra</dt><dd>2.000 / 500" in page and "0.0200 USD" in page
    assert "Không giới hạn" in page


def test_the_budget_and_the_breaker_are_reported(db, settings):
    from app.admin import oversight
    from app.grading.breaker import CircuitBreaker

    budget = settings.model_copy(update={"grader_daily_budget_usd": 1.5, "grader": "llm"})
    clock = [100.0]
    breaker = CircuitBreaker(failures=2, cooldown=30, clock=lambda: clock[0])
    breaker.failure()
    breaker.failure()
    state = oversight.grader_state(db, settings=budget, now=utcnow(), breaker=breaker)
    assert state.daily_budget_usd == 1.5 and state.budget_left_usd == 1.5
    assert state.model == budget.grader_model
    assert state.breaker == {
        "state": "open",
        "label": "Mở (tạm chấm bằng máy chấm offline)",
        "failures": 2,
        "trips": 1,
    }


# ---- the accounts list's new filters -------------------------------------------------------


def test_accounts_filter_by_group_level_and_activity(db, client, settings, tree, people):
    ward_admin = people.ward_admin
    today = local_day(utcnow(), settings.tz)
    week = make_user(db, tree.hamlet, name="Học Tuần Này", phone="+84912300011")
    month = make_user(db, tree.hamlet, name="Học Tháng Này", phone="+84912300012")
    lapsed = make_user(db, tree.hamlet, name="Lâu Không Học", phone="+84912300013")
    never = make_user(db, tree.hamlet, name="Chưa Học Bao Giờ", phone="+84912300014")
    far = make_user(db, tree.village, name="Học Xa Tuần Này", phone="+84912300015")
    for user, ago in ((week, 6), (month, 20), (lapsed, 45), (far, 0)):
        db.add(StudyDay(user_id=user.id, day=today - timedelta(days=ago), active_seconds=600))
    db.add(StudyDay(user_id=never.id, day=today - timedelta(days=1), frozen=True))
    db.add(StudyDay(user_id=lapsed.id, day=today - timedelta(days=2), frozen=True))
    cadres = group(db, "can_bo")
    week.group_id = cadres.id
    lapsed.group_id = cadres.id
    db.add(LearnerStats(user_id=month.id, level=2))
    db.add(LearnerStats(user_id=far.id, level=2))
    db.flush()

    headers = login(client, ward_admin)

    def names(query: str) -> set[str]:
        res = client.get(f"/api/v1/admin/users?per_page=200&{query}", headers=headers)
        assert res.status_code == 200, res.text
        return {u["full_name"] for u in res.json()["items"]}

    assert names("activity=7d") == {"Học Tuần Này"}
    assert names("activity=30d") == {"Học Tuần Này", "Học Tháng Này"}
    assert names("activity=inactive30") == {"Lâu Không Học"}
    assert "Chưa Học Bao Giờ" in names("activity=never")
    assert names("activity=never") & {"Học Tuần Này", "Học Tháng Này", "Lâu Không Học"} == set()
    assert names(f"group_id={cadres.id}") == {"Học Tuần Này", "Lâu Không Học"}
    assert names("level=2") == {"Học Tháng Này"}  # the one in another commune stays out
    assert "Học Tuần Này" in names("level=1")  # not started: on level 1
    assert names(f"level=1&group_id={cadres.id}&activity=7d") == {"Học Tuần Này"}
    bad = client.get("/api/v1/admin/users?activity=sometimes", headers=headers)
    assert bad.status_code == 422
    assert client.get("/api/v1/admin/users?level=0", headers=headers).status_code == 422

    page_login(client, ward_admin)
    page = client.get("/admin/accounts?activity=inactive30")
    assert page.status_code == 200 and "1 tài khoản" in page.text
    assert "Lâu Không Học" in page.text and "Học Tuần Này" not in page.text
    assert '<option value="inactive30" selected>' in page.text
    page = client.get(f"/admin/accounts?q=&role=&active=&group_id={cadres.id}&level=&activity=")
    assert "2 tài khoản" in page.text
    page = client.get("/admin/accounts?level=2&group_id=&activity=")
    assert "Học Tháng Này" in page.text and "Học Xa Tuần Này" not in page.text
    assert client.get("/admin/accounts?activity=x").status_code == 422
