"""Reports: the dashboard's figures on a small seeded world checked against hand-computed
values; targets rolled up a tree; the quarterly report equal to the dashboard, its files
read back; scope for unit admins."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from app.gamification.ledger import rebuild_tallies
from app.models import (
    Certificate,
    CertificateStatus,
    LessonProgress,
    Mentorship,
    MentorStatus,
    Role,
    StudyDay,
    SubmissionKind,
    UnitTarget,
)
from app.reports import figures, rollups, targets
from tests.factories import (
    at,
    graded_submission,
    group,
    issued_certificate,
    level_completed,
    make_user,
)

L1 = "b1-01-ai-la-gi"
START, END = date(2026, 11, 1), date(2026, 11, 30)
BUILT_THROUGH = date(2026, 12, 31)  # the rollups are built as if today were the year's end


@pytest.fixture
def world(db, settings, tree, lessons):
    """A (civil servant, hamlet): active 1 and 20 Nov, a lesson and level 1 completed,
    certificates of levels 1 and 2. B (business owner, village): registered 10 Nov, active
    2 Nov, a frozen day 15 Nov. C registered after the range. D, a mentor in the hamlet.
    An admin, who is no learner. Populations: ward 100 and commune 50 (working age); civil
    servants 10 in the ward (its hamlet's own 4 is overruled), business owners 5 in the
    commune."""
    can_bo, business = group(db, "can_bo"), group(db, "doanh_nghiep")
    a = make_user(db, tree.hamlet, name="Người A")
    b = make_user(db, tree.village, name="Người B")
    c = make_user(db, tree.hamlet, name="Người C")
    d = make_user(db, tree.hamlet, role=Role.mentor, name="Người D")
    admin = make_user(db, tree.province, role=Role.admin, name="Quản Trị")
    a.group_id, b.group_id, c.group_id = can_bo.id, business.id, can_bo.id
    a.created_at = at(settings, date(2026, 10, 1))
    b.created_at = at(settings, date(2026, 11, 10))
    c.created_at = at(settings, date(2026, 12, 1))
    d.created_at = at(settings, date(2026, 11, 5))
    admin.created_at = at(settings, date(2026, 11, 5))
    for user, day, seconds, frozen in (
        (a, date(2026, 11, 1), 300, False),
        (a, date(2026, 11, 20), 600, False),
        (b, date(2026, 11, 2), 120, False),
        (b, date(2026, 11, 15), 0, True),
        (c, date(2026, 12, 2), 900, False),
    ):
        db.add(StudyDay(user_id=user.id, day=day, active_seconds=seconds, frozen=frozen))
    db.add(
        LessonProgress(
            user_id=a.id,
            lesson_id=L1,
            last_activity_at=at(settings, date(2026, 11, 20)),
            completed_at=at(settings, date(2026, 11, 20)),
        )
    )
    for user, score, day in ((a, 80.0, date(2026, 11, 20)), (b, 60.0, date(2026, 11, 2))):
        s = graded_submission(db, user, L1, score=score, kind=SubmissionKind.challenge)
        s.graded_at = at(settings, day)
    level_completed(db, a, 1, date(2026, 11, 20))
    for level, day in ((1, date(2026, 11, 20)), (2, date(2026, 11, 21))):
        issued_certificate(db, a, level, at(settings, day))
    db.add(
        Mentorship(
            user_id=d.id, level_number=1, status=MentorStatus.active, unit_path=tree.hamlet.path
        )
    )
    tree.ward.target_population, tree.commune.target_population = 100, 50
    db.add_all(
        [
            UnitTarget(unit_id=tree.ward.id, group_id=can_bo.id, population=10),
            UnitTarget(unit_id=tree.hamlet.id, group_id=can_bo.id, population=4),
            UnitTarget(unit_id=tree.commune.id, group_id=business.id, population=5),
        ]
    )
    db.flush()
    rebuild_tallies(db, ["2026-10", "2026-11", "2026-12"])  # the ledger's rows were added raw
    rollups.refresh(db, settings, today=BUILT_THROUGH)
    return {"a": a, "b": b, "c": c, "d": d, "admin": admin, "can_bo": can_bo, "business": business}


def test_the_dashboard_figures_match_the_hand_count(db, settings, tree, world):
    dash = figures.dashboard(db, unit=tree.province, start=START, end=END, settings=settings)
    t = dash.totals
    assert (t.registered, t.new) == (3, 2)  # A, B, D; C came after; the admin is no learner
    assert (t.active_7, t.active_30, t.active) == (0, 2, 2)  # the frozen day is no activity
    assert (t.lessons, t.average, t.certificates, t.basic, t.mentors) == (1, 70.0, 2, 1, 1)
    assert (dash.join.population, dash.join.target, dash.join.actual, dash.join.gap) == (
        150,
        120,
        3,
        117,
    )
    assert (dash.basic.target, dash.basic.actual, dash.basic.gap) == (75, 1, 74)
    rows = {g.name: g for g in dash.groups}
    civil = rows[world["can_bo"].name]
    assert (civil.registered, civil.join.population, civil.join.target, civil.join.gap) == (
        1,
        10,
        10,
        9,
    )
    assert (civil.improve.target, civil.improve.actual, civil.improve_level) == (5, 1, 2)
    owners = rows[world["business"].name]
    assert (owners.registered, owners.join.target, owners.improve.target) == (1, 4, 3)
    assert owners.improve.actual == 0
    levels = {lv.level: lv for lv in dash.levels}
    assert (levels[1].completed, levels[1].certificates, levels[1].certificates_by_end) == (
        1,
        1,
        1,
    )
    assert (levels[2].completed, levels[2].certificates) == (0, 1)
    children = {c.name: c.measures for c in dash.children}
    assert children[tree.ward.name].registered == 2 and children[tree.commune.name].registered == 1
    assert children[tree.ward.name].average == 80.0 and children[tree.commune.name].average == 60.0
    assert (dash.leaves, dash.leaves_with_mentor) == (2, 1)
    weeks = [(w.key, w.new, w.active, w.lessons, w.certificates) for w in dash.weeks]
    assert weeks == [
        ("2026-W44", 0, 1, 0, 0),
        ("2026-W45", 1, 1, 0, 0),
        ("2026-W46", 1, 0, 0, 0),
        ("2026-W47", 0, 1, 1, 2),
        ("2026-W48", 0, 0, 0, 0),
        ("2026-W49", 0, 0, 0, 0),
    ]


def test_a_subtree_counts_only_its_own(db, settings, tree, world):
    dash = figures.dashboard(db, unit=tree.commune, start=START, end=END, settings=settings)
    assert (dash.totals.registered, dash.totals.lessons, dash.totals.average) == (1, 0, 60.0)
    assert dash.join.population == 50 and dash.join.target == 40


def test_a_revoked_certificate_counts_until_its_revocation(db, settings, tree, world):
    row = db.scalar(select(Certificate).where(Certificate.level_number == 2))
    row.status = CertificateStatus.revoked
    row.revoked_at = at(settings, date(2026, 12, 5))
    db.flush()
    rollups.refresh(db, settings, today=BUILT_THROUGH)  # the revocation marked 21 Nov stale
    november = figures.dashboard(db, unit=tree.province, start=START, end=END, settings=settings)
    assert {lv.level: lv.certificates_by_end for lv in november.levels}[2] == 1
    assert november.totals.certificates == 1  # issued in the range and still valid: level 1
    civil = next(g for g in november.groups if g.group_id == world["can_bo"].id)
    assert civil.improve.actual == 1  # held it at the end of November
    december = figures.dashboard(
        db, unit=tree.province, start=date(2026, 12, 1), end=date(2026, 12, 31), settings=settings
    )
    assert {lv.level: lv.certificates_by_end for lv in december.levels}[2] == 0
    civil = next(g for g in december.groups if g.group_id == world["can_bo"].id)
    assert (civil.improve.actual, december.totals.basic) == (0, 1)  # level 1 is still held


def test_targets_roll_up_own_figures_first(db, tree):
    units = targets.subtree(db, tree.province)
    own = {tree.hamlet.id: 4, tree.ward.id: 10, tree.village.id: 7}
    rolled = targets.rolled_up(units, own)
    assert rolled[tree.ward.id] == 10  # its own figure, not its hamlet's
    assert rolled[tree.commune.id] == 7  # its village's
    assert rolled[tree.province.id] == 17
    assert targets.rolled_up(units, {})[tree.province.id] is None


def test_a_range_is_checked(db, settings, tree):
    from app.core.errors import Invalid

    with pytest.raises(Invalid):
        figures.dashboard(db, unit=tree.province, start=END, end=START, settings=settings)
    with pytest.raises(Invalid):
        figures.dashboard(
            db, unit=tree.province, start=date(2025, 1, 1), end=END, settings=settings
        )


# ---- the quarterly report, the pages, the API ------------------------------------------------
def test_the_quarterly_report_equals_the_dashboard_and_reads_back(db, settings, tree, world):
    import csv
    import io

    from openpyxl import load_workbook
    from pypdf import PdfReader

    from app.reports import quarterly

    report = quarterly.build(db, unit=tree.province, year=2026, quarter=4, settings=settings)
    dash = figures.dashboard(
        db, unit=tree.province, start=date(2026, 10, 1), end=date(2026, 12, 31), settings=settings
    )
    assert (report.start, report.end) == (date(2026, 10, 1), date(2026, 12, 31))
    assert report.dashboard.totals == dash.totals
    book = load_workbook(io.BytesIO(quarterly.to_xlsx(report)))
    cells = {
        row[0]: row[1:]
        for row in book.active.iter_rows(values_only=True)
        if row and isinstance(row[0], str)
    }
    assert cells["Học viên đã đăng ký (đến cuối quý)"][0] == dash.totals.registered == 4
    assert cells["Bài học đã hoàn thành trong quý"][0] == dash.totals.lessons == 1
    assert cells["Chứng nhận cấp trong quý"][0] == dash.totals.certificates == 2
    civil = cells["Cán bộ, công chức, viên chức: tham gia học"]
    assert civil[:5] == (10, "100%", 10, 2, 8)  # A, and C (registered in December)
    ward = cells[tree.ward.name]
    assert ward[:3] == (3, 2, 1)  # registered (A, C, D), active in the quarter (A, C), lessons
    honoured = [r for r in book.active.iter_rows(values_only=True) if r[1] == "Người A"]
    assert honoured and honoured[0][0] == 1  # the honour roll: first by points in the quarter
    rows = list(csv.reader(io.StringIO(quarterly.to_csv(report).decode("utf-8-sig"))))
    assert rows[0][0].startswith("BÁO CÁO KẾT QUẢ PHONG TRÀO")
    assert ["Học viên đã đăng ký (đến cuối quý)", "4"] in rows
    text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(quarterly.to_pdf(report))).pages)
    import unicodedata

    text = unicodedata.normalize("NFC", text)
    assert "QUÝ IV NĂM 2026" in text and "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" in text
    assert tree.province.name.upper() in text


def test_the_pages_and_the_api_for_a_unit_admin(client, db, settings, tree, world):
    from app.models import AuditLog
    from tests.factories import form_post, login, page_login

    ward_admin = make_user(db, tree.ward, role=Role.unit_admin, name="Quản Trị Phường")
    headers = login(client, ward_admin)
    res = client.get(
        "/api/v1/admin/reports/dashboard?start=2026-11-01&end=2026-11-30", headers=headers
    )
    assert res.status_code == 200 and res.json()["unit"]["id"] == tree.ward.id
    assert res.json()["totals"]["registered"] == 2  # A and D, not B in the commune
    outside = client.get(
        f"/api/v1/admin/reports/dashboard?unit_id={tree.commune.id}", headers=headers
    )
    assert outside.status_code == 403
    bad = client.get(
        "/api/v1/admin/reports/dashboard?start=2026-11-30&end=2026-11-01", headers=headers
    )
    assert bad.status_code == 422 and "Ngày kết thúc" in bad.json()["detail"]
    res = client.get(
        "/api/v1/admin/reports/quarterly?year=2026&quarter=4&format=csv", headers=headers
    )
    assert res.status_code == 200 and res.headers["content-type"].startswith("text/csv")
    assert db.scalar(select(AuditLog.action).where(AuditLog.action == "report.export"))
    res = client.put(
        f"/api/v1/admin/units/{tree.hamlet.id}/targets",
        json={"working_age": 40, "groups": {str(world["can_bo"].id): 6}},
        headers=headers,
    )
    assert res.status_code == 200 and res.json()["groups"] == {str(world["can_bo"].id): 6}
    assert res.json()["subtree_working_age"] == 40
    assert (
        client.put(
            f"/api/v1/admin/units/{tree.village.id}/targets", json={}, headers=headers
        ).status_code
        == 403
    )
    assert (
        client.put(
            f"/api/v1/admin/groups/{world['can_bo'].id}/targets",
            json={"join_target_pct": 90},
            headers=headers,
        ).status_code
        == 403
    )
    page_login(client, ward_admin)
    page = client.get("/admin/dashboard?preset=quarter")
    assert page.status_code == 200 and "<svg" in page.text and tree.hamlet.name in page.text
    assert client.get("/admin/reports").status_code == 200
    pdf = client.get("/admin/reports/download?year=2026&quarter=4&format=pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    res = form_post(
        client,
        f"/admin/targets?unit_id={tree.ward.id}",
        {"working_age": "1.200", f"group_{world['can_bo'].id}": "abc"},
    )
    assert res.status_code == 422 and "không hợp lệ" in res.text
    res = form_post(
        client,
        f"/admin/targets?unit_id={tree.ward.id}",
        {"working_age": "1.200"},
        follow_redirects=False,
    )
    assert res.status_code == 303
    db.refresh(tree.ward)
    assert tree.ward.target_population == 1200
    data = f"ma_don_vi,ma_nhom,so_nguoi\n{tree.hamlet.code},can_bo,7\n{tree.village.code},,9\n"
    res = form_post(
        client,
        "/admin/targets/import",
        {"unit_id": str(tree.ward.id)},
        files={"file": ("chi-tieu.csv", data.encode(), "text/csv")},
    )
    assert res.status_code == 422 and "dòng 3" in res.text  # the village is outside
    assert targets.own_targets(db, tree.hamlet)[world["can_bo"].id] == 6  # nothing saved
    data = f"ma_don_vi,ma_nhom,so_nguoi\n{tree.hamlet.code},can_bo,7\n{tree.hamlet.code},,30\n"
    res = form_post(
        client,
        "/admin/targets/import",
        {"unit_id": str(tree.ward.id)},
        files={"file": ("chi-tieu.csv", data.encode(), "text/csv")},
        follow_redirects=False,
    )
    assert res.status_code == 303
    db.refresh(tree.hamlet)
    assert targets.own_targets(db, tree.hamlet)[world["can_bo"].id] == 7
    assert tree.hamlet.target_population == 30


def test_a_mentor_counts_once_at_their_own_unit(db, settings, tree, world):
    """Mentors are people with an active mentorship, counted where they are now: after D
    moves to the village, the dashboard and the units' mentors API both count D there."""
    from app.mentoring import credit

    world["d"].unit_id = tree.village.id
    db.flush()
    rollups.refresh(db, settings, today=BUILT_THROUGH)
    dash = figures.dashboard(db, unit=tree.province, start=START, end=END, settings=settings)
    by_child = {c.name: c.measures.mentors for c in dash.children}
    assert (by_child[tree.ward.name], by_child[tree.commune.name]) == (0, 1)
    assert (dash.leaves, dash.leaves_with_mentor) == (2, 1)  # the village now
    api = credit.unit_mentors(db, tree.province)
    assert api["active_mentors"] == dash.totals.mentors == 1
    assert {c["name"]: c["active_mentors"] for c in api["by_child"]} == by_child
