"""Learner lists for administrators: filters, the subtree, CSV and XLSX read back, audit."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.admin import exports
from app.core.clock import local_day
from app.core.spreadsheet import safe_cell
from app.models import (
    AuditLog,
    Certificate,
    CertificateStatus,
    LearnerStats,
    LessonProgress,
    PointTally,
    Role,
    StudyDay,
    User,
    utcnow,
)
from tests.factories import group, login, make_user, page_login

L1, L2 = "b1-01-ai-la-gi", "b1-02-hoi-tiep"
CSV = "/api/v1/admin/exports/learners.csv"
XLSX = "/api/v1/admin/exports/learners.xlsx"


def _studied(db: Session, user: User, days_ago: int, today, frozen: bool = False) -> None:
    db.add(
        StudyDay(
            user_id=user.id,
            day=today - timedelta(days=days_ago),
            active_seconds=0 if frozen else 600,
            lessons_completed=0,
            frozen=frozen,
        )
    )


@pytest.fixture
def people(db: Session, tree, lessons, settings):
    today = local_day(utcnow(), settings.tz)
    unit_admin = make_user(db, tree.ward, role=Role.unit_admin, name="Quản Trị Phường")
    busy = make_user(db, tree.ward, name="Nguyễn Thị Chăm", phone="+84912345678")
    busy.group_id = group(db, "can_bo").id
    db.add(LearnerStats(user_id=busy.id, level=2))
    db.add(PointTally(period="all", user_id=busy.id, points=120))
    for lesson in (L1, L2):
        db.add(
            LessonProgress(
                user_id=busy.id, lesson_id=lesson, completed_at=utcnow(), last_activity_at=utcnow()
            )
        )
    _studied(db, busy, 40, today)
    _studied(db, busy, 2, today)
    db.add(
        Certificate(
            serial="B1-2026-TEST0001",
            user_id=busy.id,
            level_number=1,
            status=CertificateStatus.issued,
            holder_name=busy.full_name,
            unit_id=tree.ward.id,
            unit_path=tree.ward.path,
            lessons_passed=2,
            average=80.0,
            eligible_at=utcnow(),
            issued_at=utcnow(),
        )
    )
    lapsed = make_user(db, tree.hamlet, name="Lê Văn Nghỉ")
    _studied(db, lapsed, 45, today)
    _studied(db, lapsed, 3, today, frozen=True)  # kept by a freeze: not studying
    month = make_user(db, tree.hamlet, name="Phạm Thị Tháng", role=Role.mentor)
    _studied(db, month, 20, today)
    never = make_user(db, tree.hamlet, name="Đỗ Văn Mới")
    gone = make_user(db, tree.hamlet, name="Người Đã Khóa")
    gone.is_active = False
    outside = make_user(db, tree.village, name="Người Xã Bên")
    _studied(db, outside, 1, today)
    db.flush()
    return {
        "today": today,
        "unit_admin": unit_admin,
        "busy": busy,
        "lapsed": lapsed,
        "month": month,
        "never": never,
        "gone": gone,
        "outside": outside,
    }


def _read_csv(res) -> list[list[str]]:
    assert res.status_code == 200, res.text
    assert res.content.startswith("\ufeff".encode())
    return list(csv.reader(io.StringIO(res.content.decode("utf-8-sig"))))


def _names(rows: list[list[str]]) -> set[str]:
    return {r[0] for r in rows[1:]}


def _audits(db: Session) -> list[AuditLog]:
    return db.scalars(
        select(AuditLog).where(AuditLog.action == "learners.export").order_by(AuditLog.id)
    ).all()


def test_csv_lists_the_subtree_with_the_figures(client, db, tree, people):
    headers = login(client, people["unit_admin"])
    res = client.get(CSV, headers=headers)
    rows = _read_csv(res)
    assert rows[0] == list(exports.HEADER)
    assert _names(rows) == {"Nguyễn Thị Chăm", "Lê Văn Nghỉ", "Phạm Thị Tháng", "Đỗ Văn Mới"}
    busy = next(r for r in rows if r[0] == "Nguyễn Thị Chăm")
    last = (people["today"] - timedelta(days=2)).strftime("%d/%m/%Y")
    assert busy == [
        "Nguyễn Thị Chăm",
        "0912 345 678",
        "Phường An Bình",
        group(db, "can_bo").name,
        "2",
        "2",
        "120",
        last,
        "1",
    ]
    never = next(r for r in rows if r[0] == "Đỗ Văn Mới")
    assert never[3:] == ["", "1", "0", "0", "", "0"]
    assert 'filename="hoc-vien-tat-ca-' in res.headers["content-disposition"]
    assert res.headers["x-row-count"] == "4"
    [audit] = _audits(db)
    assert audit.actor_id == people["unit_admin"].id
    assert audit.unit_path == tree.ward.path
    assert audit.details == {
        "format": "csv",
        "unit_id": None,
        "group_id": None,
        "level": None,
        "activity": None,
        "rows": 4,
    }
    dumped = json.dumps(audit.details, ensure_ascii=False)
    assert "Chăm" not in dumped and "0912" not in dumped


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("activity=7d", {"Nguyễn Thị Chăm"}),
        ("activity=30d", {"Nguyễn Thị Chăm", "Phạm Thị Tháng"}),
        ("activity=inactive30", {"Lê Văn Nghỉ"}),
        ("activity=never", {"Đỗ Văn Mới"}),
        ("level=2", {"Nguyễn Thị Chăm"}),
        ("level=1", {"Lê Văn Nghỉ", "Phạm Thị Tháng", "Đỗ Văn Mới"}),
        ("group_id={group}", {"Nguyễn Thị Chăm"}),
        ("unit_id={hamlet}", {"Lê Văn Nghỉ", "Phạm Thị Tháng", "Đỗ Văn Mới"}),
        ("unit_id={hamlet}&activity=30d", {"Phạm Thị Tháng"}),
    ],
)
def test_filters(client, db, tree, people, query, expected):
    query = query.format(group=group(db, "can_bo").id, hamlet=tree.hamlet.id)
    rows = _read_csv(client.get(f"{CSV}?{query}", headers=login(client, people["unit_admin"])))
    assert _names(rows) == expected
    [audit] = _audits(db)
    assert audit.details["rows"] == len(expected)


def test_xlsx_reads_back(client, db, tree, people):
    headers = login(client, people["unit_admin"])
    res = client.get(f"{XLSX}?unit_id={tree.ward.id}&level=2", headers=headers)
    assert res.status_code == 200
    assert res.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    assert f'filename="hoc-vien-{tree.ward.code}-' in res.headers["content-disposition"]
    sheet = load_workbook(io.BytesIO(res.content), read_only=True).active
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert rows[0] == list(exports.HEADER)
    assert rows[1][:8] == [
        "Nguyễn Thị Chăm",
        "0912 345 678",
        "Phường An Bình",
        group(db, "can_bo").name,
        2,
        2,
        120,
        (people["today"] - timedelta(days=2)).strftime("%d/%m/%Y"),
    ]
    assert len(rows) == 2
    [audit] = _audits(db)
    assert audit.details["format"] == "xlsx" and audit.details["unit_id"] == tree.ward.id
    assert audit.target_id == str(tree.ward.id)


def test_admin_sees_everyone_and_outside_units_are_refused(client, db, tree, people):
    admin = make_user(db, tree.province, role=Role.admin)
    rows = _read_csv(client.get(CSV, headers=login(client, admin)))
    assert {"Người Xã Bên", "Nguyễn Thị Chăm"} <= _names(rows)
    assert "Người Đã Khóa" not in _names(rows)  # deactivated (or anonymised) accounts
    assert not {"Quản Trị Phường"} & _names(rows)  # administrators are not learners
    headers = login(client, people["unit_admin"])
    before = len(_audits(db))
    for url in (f"{CSV}?unit_id={tree.village.id}", f"{XLSX}?unit_id={tree.province.id}"):
        res = client.get(url, headers=headers)
        assert res.status_code == 404
        assert res.json()["detail"] == "Không tìm thấy đơn vị."
    assert len(_audits(db)) == before


@pytest.mark.parametrize(
    "query", ["activity=sometimes", "level=0", "unit_id=abc", "group_id=999999", "level=99"]
)
def test_bad_filters_are_a_vietnamese_4xx(client, db, people, query):
    res = client.get(f"{CSV}?{query}", headers=login(client, people["unit_admin"]))
    assert res.status_code == 422
    assert res.json()["detail"]
    assert _audits(db) == []


def test_learners_cannot_export(client, db, people):
    res = client.get(CSV, headers=login(client, people["busy"]))
    assert res.status_code == 403


def test_exports_are_bounded(client, db, people, monkeypatch):
    monkeypatch.setattr(exports, "MAX_ROWS", 3)
    res = client.get(CSV, headers=login(client, people["unit_admin"]))
    assert res.status_code == 422
    assert "quá lớn cho một lần tải" in res.json()["detail"]
    assert _audits(db) == []


def test_a_name_that_looks_like_a_formula_stays_text():
    assert safe_cell('=HYPERLINK("http://x")') == '\'=HYPERLINK("http://x")'
    assert safe_cell("+84912") == "'+84912"
    assert safe_cell("Nguyễn") == "Nguyễn" and safe_cell(3) == 3
    assert exports.local_phone("+842438251234") == "024 3825 1234"
    assert exports.local_phone(None) == ""


def test_the_page(client, db, tree, people):
    assert page_login(client, people["unit_admin"]).status_code == 303
    page = client.get("/admin/exports")
    assert page.status_code == 200
    assert 'href="/admin/exports" aria-current="page"' in page.text
    assert "<strong>4</strong> người khớp bộ lọc" in page.text
    assert tree.hamlet.name in page.text and tree.village.name not in page.text
    assert "Người Xã Bên" not in page.text and _audits(db) == []  # counting is not exporting
    page = client.get(f"/admin/exports?unit_id={tree.hamlet.id}&activity=never&level=&group_id=")
    assert "<strong>1</strong> người khớp bộ lọc" in page.text
    res = client.get(f"/admin/exports/learners.csv?unit_id={tree.hamlet.id}&activity=never&level=")
    assert _names(_read_csv(res)) == {"Đỗ Văn Mới"}
    res = client.get(f"/admin/exports/learners.xlsx?unit_id={tree.hamlet.id}")
    assert res.status_code == 200 and res.content.startswith(b"PK")
    assert [a.details["format"] for a in _audits(db)] == ["csv", "xlsx"]
    res = client.get(f"/admin/exports/learners.csv?unit_id={tree.village.id}")
    assert res.status_code == 404 and "Không tìm thấy đơn vị" in res.text
    assert len(_audits(db)) == 2
    total = db.scalar(select(func.count()).select_from(AuditLog))
    assert client.get(f"/admin/exports?unit_id={tree.village.id}").status_code == 404
    assert db.scalar(select(func.count()).select_from(AuditLog)) == total
