"""Importing units and learners from CSV and XLSX, through the JSON API and the admin page.

Every test checks both the answer (status, code, the row report with its line numbers and
Vietnamese messages) and what was stored (units with their parents, paths and depths;
accounts; the import record and its audit row), since a report that says "nothing written"
is only worth something when nothing was written."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from openpyxl import Workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.config import Settings
from app.models import AuditLog, ImportJob, Role, Unit, UnitType, User
from tests.factories import PASSWORD, Tree, form_post, group, login, make_user, page_login

API = "/api/v1/admin/imports"
VIETNAMESE = re.compile(r"[À-ỹ]")  # at least one accented letter: the message is Vietnamese


@dataclass
class Admins:
    admin: User
    headers: dict[str, str]  # the system administrator's bearer token
    unit_admin: User  # administers Phường An Bình (ward → hamlet)
    unit_headers: dict[str, str]


@pytest.fixture
def who(client: TestClient, db: Session, tree: Tree) -> Admins:
    admin = make_user(db, tree.province, role=Role.admin, name="Quản Trị Tỉnh")
    unit_admin = make_user(db, tree.ward, role=Role.unit_admin, name="Quản Trị Phường")
    return Admins(admin, login(client, admin), unit_admin, login(client, unit_admin))


# ---- helpers --------------------------------------------------------------------------


def post(
    client: TestClient,
    headers: dict[str, str],
    kind: str,
    data: bytes | str,
    filename: str = "danh-sach.csv",
    **form: str,
):
    body = data.encode() if isinstance(data, str) else data
    return client.post(
        f"{API}/{kind}",
        headers=headers,
        files={"file": (filename, body, "application/octet-stream")},
        data=form,
    )


def xlsx(rows: list[list[object]]) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def snapshot(db: Session) -> dict[str, list[tuple]]:
    """Units and accounts as plain values, to compare before and after an import."""
    db.expire_all()
    return {
        "units": [
            (u.id, u.code, u.name, u.type, u.parent_id, u.path, u.depth, u.is_active)
            for u in db.scalars(select(Unit).order_by(Unit.id))
        ],
        "users": [
            (
                u.id,
                u.full_name,
                u.phone,
                u.email,
                u.role,
                u.unit_id,
                u.group_id,
                u.is_active,
                u.password_hash,
                u.must_change_password,
            )
            for u in db.scalars(select(User).order_by(User.id))
        ],
    }


def jobs(db: Session) -> list[ImportJob]:
    db.expire_all()
    return list(db.scalars(select(ImportJob).order_by(ImportJob.id)))


def import_audits(db: Session) -> list[AuditLog]:
    db.expire_all()
    return list(
        db.scalars(
            select(AuditLog).where(AuditLog.action.startswith("import.")).order_by(AuditLog.id)
        )
    )


def unit(db: Session, code: str) -> Unit | None:
    db.expire_all()
    return db.scalar(select(Unit).where(Unit.code == code))


def user_by_phone(db: Session, phone: str) -> User | None:
    db.expire_all()
    return db.scalar(select(User).where(User.phone == phone))


def user_count(db: Session) -> int:
    return db.scalar(select(func.count()).select_from(User)) or 0


def lines(report: dict) -> list[int]:
    return [e["line"] for e in report["errors"]]


def messages(report: dict) -> dict[int, str]:
    return {e["line"]: e["message"] for e in report["errors"]}


def units_csv(tree: Tree) -> str:
    """Vietnamese headers and type words; TDP-01's parent PH-MOI comes later in the file."""
    p = tree.province.code
    return (
        "Mã,Tên,Loại,Mã cấp trên\n"
        "TDP-01,Tổ dân phố số 7,Tổ dân phố,PH-MOI\n"
        f"PH-MOI,Phường Hoà Bình,phường,{p}\n"
        f"XA-MOI,Xã Tân Lập,xã,{p}\n"
        "TH-01,Thôn Nà Hin,thôn,XA-MOI\n"
    )


def learners_csv(tree: Tree) -> str:
    return (
        "ho_ten,so_dien_thoai,email,ma_don_vi,nhom,vai_tro\n"
        f"Nguyễn Thị Hoa,0912 100 001,,{tree.hamlet.code},Nông dân,học viên\n"
        f"Trần Văn Đức,0912100002,duc@example.vn,{tree.village.code},,\n"
        f'Lò Thị Mỷ,,my.lo@example.vn,{tree.village.code},"Công nhân, người lao động",\n'
    )


# ---- units ----------------------------------------------------------------------------


def test_units_with_vietnamese_words_and_a_parent_later_in_the_file(client, db, tree, who):
    res = post(client, who.headers, "units", units_csv(tree))
    assert res.status_code == 200, res.text
    body = res.json()
    assert body["status"] == "applied"
    assert (body["created"], body["updated"], body["unchanged"]) == (4, 0, 0)
    assert body["total_rows"] == 4 and body["errors"] == [] and body["credentials"] == []

    ward, tdp, commune, hamlet = (unit(db, c) for c in ("PH-MOI", "TDP-01", "XA-MOI", "TH-01"))
    assert ward and tdp and commune and hamlet
    assert (ward.type, commune.type) == (UnitType.ward, UnitType.commune)
    assert (tdp.type, hamlet.type) == (UnitType.residential_group, UnitType.hamlet)
    assert ward.name == "Phường Hoà Bình" and tdp.name == "Tổ dân phố số 7"
    assert ward.parent_id == tree.province.id and commune.parent_id == tree.province.id
    assert tdp.parent_id == ward.id and hamlet.parent_id == commune.id
    assert ward.path == f"{tree.province.path}{ward.id}/" and ward.depth == 1
    assert tdp.path == f"{ward.path}{tdp.id}/" and tdp.depth == 2
    assert hamlet.path == f"{commune.path}{hamlet.id}/" and hamlet.depth == 2


def test_importing_the_same_units_twice_changes_nothing(client, db, tree, who):
    first = post(client, who.headers, "units", units_csv(tree))
    assert first.status_code == 200 and first.json()["created"] == 4
    before = snapshot(db)
    second = post(client, who.headers, "units", units_csv(tree))
    assert second.status_code == 200, second.text
    body = second.json()
    assert body["status"] == "applied"
    assert (body["created"], body["updated"], body["unchanged"]) == (0, 0, 4)
    assert snapshot(db) == before


def test_units_rename_and_move_existing(client, db, tree, who):
    text = (
        "ma,ten,loai,ma_cap_tren\n"
        f"{tree.village.code},Thôn Bản Lác Mới,thôn,{tree.commune.code}\n"  # renamed
        f"{tree.hamlet.code},Tổ dân phố số 1,Tổ dân phố,{tree.commune.code}\n"  # moved
        f"{tree.ward.code},Phường An Bình,phường,{tree.province.code}\n"  # unchanged
    )
    res = post(client, who.headers, "units", text)
    assert res.status_code == 200, res.text
    assert (res.json()["created"], res.json()["updated"], res.json()["unchanged"]) == (0, 2, 1)
    village, hamlet = unit(db, tree.village.code), unit(db, tree.hamlet.code)
    assert village.name == "Thôn Bản Lác Mới"
    assert hamlet.parent_id == tree.commune.id
    assert hamlet.path == f"{tree.commune.path}{hamlet.id}/" and hamlet.depth == 2


def test_unit_cycles_and_rows_whose_parent_failed(client, db, tree, who):
    p = tree.province.code
    text = (
        "ma,ten,loai,ma_cap_tren\n"
        "VL-A,Đơn vị A,xã,VL-B\n"  # 2: cycle A → B → A
        "VL-B,Đơn vị B,xã,VL-A\n"  # 3: cycle
        "VL-C,Đơn vị C,thôn,VL-A\n"  # 4: its parent is in the cycle
        f"VL-D,Đơn vị D,lâu đài,{p}\n"  # 5: unknown type
        "VL-E,Đơn vị E,thôn,VL-D\n"  # 6: its parent's row failed
        f"VL-F,Đơn vị F,xã,{p}\n"  # 7: fine
        "VL-G,Đơn vị G,xã,VL-G\n"  # 8: its own parent
        "VL-H,Đơn vị H,thôn,VL-F\n"  # 9: fine, parent from this file
        f"VL-F,Đơn vị F lặp,xã,{p}\n"  # 10: duplicate code
    )
    before = snapshot(db)
    res = post(client, who.headers, "units", text)
    assert res.status_code == 422, res.text
    report = res.json()["import"]
    assert res.json()["code"] == "import_rejected"
    assert lines(report) == [2, 3, 4, 5, 6, 8, 10]
    msg = messages(report)
    assert msg[2] == "Vòng lặp cấp trên: VL-A → VL-B → VL-A."
    assert msg[3] == "Vòng lặp cấp trên: VL-B → VL-A → VL-B."
    assert msg[4] == "Đơn vị cấp trên “VL-A” (dòng 2) bị lỗi."
    assert msg[5].startswith("Loại đơn vị “lâu đài” không hợp lệ")
    assert "“VL-D”" in msg[6]
    assert msg[8] == "Đơn vị không thể là cấp trên của chính nó."
    assert msg[10] == "Mã đơn vị “VL-F” bị lặp (đã có ở dòng 7)."
    assert snapshot(db) == before

    res = post(client, who.headers, "units", text, import_valid_rows="true")
    assert res.status_code == 200, res.text
    assert res.json()["status"] == "partial" and res.json()["created"] == 2
    assert lines(res.json()) == [2, 3, 4, 5, 6, 8, 10]
    f, h = unit(db, "VL-F"), unit(db, "VL-H")
    assert f.name == "Đơn vị F" and h.parent_id == f.id and h.path == f"{f.path}{h.id}/"
    assert all(unit(db, c) is None for c in ("VL-A", "VL-B", "VL-C", "VL-D", "VL-E", "VL-G"))


def test_unit_admin_imports_units_only_inside_its_subtree(client, db, tree, who):
    text = (
        "ma,ten,loai,ma_cap_tren\n"
        f"TDP-09,Tổ dân phố số 9,tổ dân phố,{tree.ward.code}\n"  # inside: fine
        "TINH-2,Tỉnh Mới,tỉnh,\n"  # top level: refused
        f"THON-9,Thôn Chín,thôn,{tree.village.code}\n"  # outside: refused
        f"{tree.commune.code},Xã Đổi Tên,xã,{tree.ward.code}\n"  # an outside unit: refused
    )
    res = post(client, who.unit_headers, "units", text, import_valid_rows="true")
    assert res.status_code == 200, res.text
    assert res.json()["status"] == "partial" and res.json()["created"] == 1
    msg = messages(res.json())
    assert sorted(msg) == [3, 4, 5]
    assert "cần mã cấp trên" in msg[3]
    assert "ngoài phạm vi" in msg[4] and "ngoài phạm vi" in msg[5]
    assert unit(db, "TDP-09").parent_id == tree.ward.id
    assert unit(db, "TINH-2") is None and unit(db, "THON-9") is None
    assert unit(db, tree.commune.code).name == "Xã Đồng Tâm"


def test_units_dry_run_counts_and_writes_nothing(client, db, tree, who):
    before = snapshot(db)
    res = post(client, who.headers, "units", units_csv(tree), dry_run="true")
    assert res.status_code == 200, res.text
    body = res.json()
    assert body["status"] == "checked" and body["created"] == 4 and body["errors"] == []
    assert snapshot(db) == before
    assert [j.status.value for j in jobs(db)] == ["checked"]


# ---- learners -------------------------------------------------------------------------


def test_learners_from_xlsx_get_temporary_passwords(client, db, tree, who):
    data = xlsx(
        [
            ["Họ và tên", "Số điện thoại", "Thư điện tử", "Mã đơn vị", "Nhóm", "Vai trò"],
            ["Lò Văn Páo", 912345678, None, tree.village.code, "Nông dân", "Học viên"],
            ["Hà Thị Lan", "0987 654 321", "Lan.Ha@Example.VN", tree.hamlet.code, "nong_dan"],
            [None, None, None, None, None, None],  # an empty row in the middle is skipped
            ["Giàng A Tủa", None, "tua@example.vn", tree.village.code, None, "học viên"],
        ]
    )
    res = post(client, who.headers, "learners", data, filename="Danh sách.XLSX")
    assert res.status_code == 200, res.text
    body = res.json()
    assert body["status"] == "applied" and body["created"] == 3 and body["total_rows"] == 3
    creds = {c["login"]: c for c in body["credentials"]}
    assert sorted(creds) == ["+84912345678", "+84987654321", "tua@example.vn"]
    assert [c["line"] for c in body["credentials"]] == [2, 3, 5]
    assert creds["+84912345678"]["full_name"] == "Lò Văn Páo"

    farmers = group(db, "nong_dan")
    pao = user_by_phone(db, "+84912345678")
    lan = user_by_phone(db, "+84987654321")
    tua = db.scalar(select(User).where(User.email == "tua@example.vn"))
    assert (pao.full_name, pao.unit_id, pao.group_id) == ("Lò Văn Páo", tree.village.id, farmers.id)
    assert (lan.email, lan.unit_id, lan.group_id) == (
        "lan.ha@example.vn",
        tree.hamlet.id,
        farmers.id,
    )
    assert (tua.phone, tua.group_id) == (None, None)
    assert (pao.role, lan.role, tua.role) == (Role.learner, Role.learner, Role.learner)
    assert pao.must_change_password and lan.must_change_password and tua.must_change_password
    password = creds["+84912345678"]["temporary_password"]
    assert len(password) >= 8 and password not in pao.password_hash

    # The temporary password works once printed, and the account must change it.
    res = client.post("/api/v1/auth/login", json={"identifier": "0912345678", "password": password})
    assert res.status_code == 200, res.text
    assert res.json()["must_change_password"] is True
    res = client.post(
        "/api/v1/auth/login",
        json={
            "identifier": "tua@example.vn",
            "password": creds["tua@example.vn"]["temporary_password"],
        },
    )
    assert res.status_code == 200 and res.json()["must_change_password"] is True

    # The passwords are shown once: neither the stored report nor the audit keeps them.
    job_id = body["id"]
    again = client.get(f"{API}/{job_id}", headers=who.headers)
    assert again.status_code == 200 and again.json()["credentials"] == []
    stored = repr([(j.errors, j.filename) for j in jobs(db)]) + repr(
        [a.details for a in import_audits(db)]
    )
    assert all(c["temporary_password"] not in stored for c in body["credentials"])


def test_importing_the_same_learners_twice_changes_nothing(client, db, tree, who):
    first = post(client, who.headers, "learners", learners_csv(tree))
    assert first.status_code == 200, first.text
    assert first.json()["created"] == 3
    before = snapshot(db)
    second = post(client, who.headers, "learners", learners_csv(tree))
    assert second.status_code == 200, second.text
    body = second.json()
    assert body["status"] == "applied" and body["credentials"] == []
    assert (body["created"], body["updated"], body["unchanged"]) == (0, 0, 3)
    assert snapshot(db) == before


def bad_learners(tree: Tree) -> str:
    h, v = tree.hamlet.code, tree.village.code
    return (
        "ho_ten,so_dien_thoai,email,ma_don_vi,nhom\n"
        f"Nguyễn Văn An,0912000001,,{h},Nông dân\n"  # 2 good
        f"Trần Văn Bình,12345,,{h},\n"  # 3 malformed phone
        "Lê Văn Cường,0912000003,,KHONG-CO,\n"  # 4 unknown unit
        "\n"  # 5 blank: skipped, but the line numbers stay those of the editor
        f"Phạm Văn Dũng,0912 000 001,,{h},\n"  # 6 same phone as line 2
        f",0912000007,,{h},\n"  # 7 no name
        f"Vũ Thị Em,0912000008,,{v},\n"  # 8 good
        f"Đỗ Văn Giang,0912000009,,{v},Thợ lặn\n"  # 9 unknown group
        f"Mai Thị Hạnh,0912000010,hanh@,{v},\n"  # 10 malformed e-mail
    )


def test_a_file_with_bad_rows_writes_nothing(client, db, tree, who):
    before = snapshot(db)
    res = post(client, who.headers, "learners", bad_learners(tree))
    assert res.status_code == 422, res.text
    body = res.json()
    assert body["code"] == "import_rejected"
    assert body["detail"].startswith("Tệp có 6 dòng lỗi nên chưa nhập gì.")
    report = body["import"]
    assert report["status"] == "rejected" and report["total_rows"] == 8
    assert (report["created"], report["updated"], report["credentials"]) == (0, 0, [])
    assert lines(report) == [3, 4, 6, 7, 9, 10]
    msg = messages(report)
    assert msg[3].startswith("Số điện thoại không hợp lệ")
    assert msg[4] == "Không tìm thấy đơn vị có mã “KHONG-CO”."
    assert msg[6] == "Số điện thoại bị lặp (đã có ở dòng 2)."  # the stored report names no number
    assert msg[7] == "Họ và tên quá ngắn."
    assert msg[9] == "Không có nhóm học viên “Thợ lặn”."
    assert msg[10] == "Địa chỉ thư điện tử không hợp lệ."
    assert all(VIETNAMESE.search(m) for m in msg.values())

    assert snapshot(db) == before
    [job] = jobs(db)
    assert job.status.value == "rejected" and job.id == report["id"]
    assert (job.error_count, job.created_count, job.total_rows) == (6, 0, 8)
    assert [e["line"] for e in job.errors] == [3, 4, 6, 7, 9, 10]
    assert job.created_by_id == who.admin.id
    [audit] = import_audits(db)
    assert audit.action == "import.learners" and audit.details["status"] == "rejected"


def test_a_file_with_bad_rows_can_import_its_good_rows(client, db, tree, who):
    users_before = user_count(db)
    res = post(client, who.headers, "learners", bad_learners(tree), import_valid_rows="true")
    assert res.status_code == 200, res.text
    body = res.json()
    assert body["status"] == "partial" and body["created"] == 2
    assert lines(body) == [3, 4, 6, 7, 9, 10]
    assert [c["line"] for c in body["credentials"]] == [2, 8]
    assert user_count(db) == users_before + 2
    an = user_by_phone(db, "+84912000001")
    assert an.full_name == "Nguyễn Văn An" and an.group_id == group(db, "nong_dan").id
    assert user_by_phone(db, "+84912000008").unit_id == tree.village.id
    assert all(user_by_phone(db, f"+8491200000{n}") is None for n in (3, 7, 9))
    assert [j.status.value for j in jobs(db)] == ["partial"]


def test_dry_run_counts_and_writes_nothing(client, db, tree, who):
    before = snapshot(db)
    res = post(client, who.headers, "learners", learners_csv(tree), dry_run="true")
    assert res.status_code == 200, res.text
    body = res.json()
    assert body["status"] == "checked" and body["created"] == 3 and body["credentials"] == []
    # A dry run of a file with errors reports them without refusing anything.
    res = post(client, who.headers, "learners", bad_learners(tree), dry_run="true")
    assert res.status_code == 200, res.text
    assert res.json()["status"] == "checked" and res.json()["created"] == 2
    assert lines(res.json()) == [3, 4, 6, 7, 9, 10]
    assert snapshot(db) == before
    assert [j.status.value for j in jobs(db)] == ["checked", "checked"]


def test_an_existing_account_is_updated_but_keeps_its_password(client, db, tree, who):
    person = make_user(db, tree.hamlet, name="Tên Cũ", phone="+84912000111")
    password_hash = person.password_hash
    text = (
        "Họ tên;Số điện thoại;Mã đơn vị;Nhóm\n"
        f"Tên Mới Hẳn;0912.000.111;{tree.village.code};Nông dân\n"
    )
    res = post(client, who.headers, "learners", text)
    assert res.status_code == 200, res.text
    body = res.json()
    assert (body["created"], body["updated"], body["unchanged"]) == (0, 1, 0)
    assert body["credentials"] == []
    db.expire_all()
    db.refresh(person)
    assert person.full_name == "Tên Mới Hẳn"
    assert (person.unit_id, person.group_id) == (tree.village.id, group(db, "nong_dan").id)
    assert person.password_hash == password_hash and person.must_change_password is False
    login(client, person, PASSWORD)


def test_a_unit_admin_cannot_change_administrators_through_a_file(client, db, tree, who):
    boss = make_user(db, tree.hamlet, role=Role.admin, name="Quản Trị Hệ Thống")
    peer = make_user(db, tree.hamlet, role=Role.unit_admin, name="Quản Trị Tổ")
    text = (
        "ho_ten,so_dien_thoai,ma_don_vi,vai_tro\n"
        f"Bị Đổi Tên,{boss.phone},{tree.hamlet.code},học viên\n"
        f"Bị Đổi Tên Nữa,{peer.phone},{tree.hamlet.code},\n"
    )
    before = snapshot(db)
    for form in ({}, {"import_valid_rows": "true"}):
        res = post(client, who.unit_headers, "learners", text, **form)
        body = res.json() if res.status_code == 200 else res.json()["import"]
        assert messages(body) == {
            2: "Không được sửa tài khoản quản trị qua tệp nhập.",
            3: "Không được sửa tài khoản quản trị qua tệp nhập.",
        }
        assert body["updated"] == 0
    assert res.status_code == 200 and res.json()["status"] == "partial"
    assert snapshot(db) == before


def test_only_an_admin_grants_the_unit_admin_role(client, db, tree, who):
    text = (
        "ho_ten,so_dien_thoai,ma_don_vi,vai_tro\n"
        f"Bùi Văn Hải,0912000333,{tree.hamlet.code},Quản trị đơn vị\n"
        f"Lý Thị Thu,0912000334,{tree.hamlet.code},Học viên\n"
    )
    res = post(client, who.unit_headers, "learners", text)
    assert res.status_code == 422, res.text
    assert messages(res.json()["import"]) == {
        2: "Chỉ quản trị hệ thống mới được giao vai trò Quản trị đơn vị."
    }
    assert user_by_phone(db, "+84912000333") is None
    assert user_by_phone(db, "+84912000334") is None

    res = post(client, who.headers, "learners", text)
    assert res.status_code == 200, res.text
    assert user_by_phone(db, "+84912000333").role == Role.unit_admin
    assert user_by_phone(db, "+84912000334").role == Role.learner

    # Nobody becomes a system administrator through a file.
    text = f"ho_ten,so_dien_thoai,ma_don_vi,vai_tro\nKim Văn Tú,0912000335,{tree.hamlet.code},"
    res = post(client, who.headers, "learners", text + "Quản trị hệ thống\n")
    assert res.status_code == 422
    assert messages(res.json()["import"])[2].startswith("Vai trò “Quản trị hệ thống” không hợp lệ")
    res = post(client, who.headers, "learners", text + "admin\n")
    assert res.status_code == 422
    assert user_by_phone(db, "+84912000335") is None


ENCODINGS: dict[str, tuple[str, Callable[[str], bytes]]] = {
    "comma": ("ds.csv", lambda t: t.encode()),
    "semicolon": ("ds.csv", lambda t: t.replace(",", ";").encode()),
    "tab-txt": ("ds.txt", lambda t: t.replace(",", "\t").encode()),
    "utf8-bom-crlf": ("ds.csv", lambda t: t.replace("\n", "\r\n").encode("utf-8-sig")),
    "utf16-le-bom": ("ds.csv", lambda t: t.encode("utf-16")),
    "utf16-be-bom-tabs": (
        "ds.txt",
        lambda t: b"\xfe\xff" + t.replace(",", "\t").encode("utf-16-be"),
    ),
    "quoted": (
        "ds.csv",
        lambda t: "\n".join(
            ",".join(f'"{c}"' for c in line.split(",")) for line in t.splitlines()
        ).encode(),
    ),
}


@pytest.mark.parametrize("variant", sorted(ENCODINGS))
def test_csv_delimiters_and_encodings(client, db, tree, who, variant):
    text = (
        "Họ và tên,SĐT,Mã đơn vị,Nhóm\n"
        f"Nguyễn Thị Hoà,0912300001,{tree.hamlet.code},Nông dân\n"
        f"Đặng Văn Ưng,0912300002,{tree.village.code},\n"
    )
    filename, encode = ENCODINGS[variant]
    res = post(client, who.headers, "learners", encode(text), filename=filename)
    assert res.status_code == 200, res.text
    assert res.json()["created"] == 2 and res.json()["errors"] == []
    hoa, ung = user_by_phone(db, "+84912300001"), user_by_phone(db, "+84912300002")
    assert (hoa.full_name, hoa.group_id) == ("Nguyễn Thị Hoà", group(db, "nong_dan").id)
    assert (ung.full_name, ung.unit_id) == ("Đặng Văn Ưng", tree.village.id)


# ---- files that cannot be read --------------------------------------------------------


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _zip_bomb(_: Settings) -> bytes:
    """A small zip (well under the size limit) whose member unpacks to 61 MiB of spaces."""
    buffer = io.BytesIO()
    chunk = b" " * (1024 * 1024)
    archive = zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED)
    with archive, archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as member:
        for _ in range(61):
            member.write(chunk)
    return buffer.getvalue()


def _empty_xlsx(_: Settings) -> bytes:
    return xlsx([])


BAD_FILES: dict[str, tuple[str, str, Callable[[Settings], bytes], int, str, str]] = {
    # id: (kind, filename, data, status, code, words in the message)
    "empty": ("units", "don-vi.csv", lambda s: b"", 422, "bad_file", "Tệp trống"),
    "empty-xlsx": ("learners", "ds.xlsx", _empty_xlsx, 422, "bad_file", "Tệp trống"),
    "cp1258": (
        "units",
        "don-vi.csv",
        lambda s: "ma,ten,loai\nXA-CP,Xã Tân,xã\n".encode("cp1258", "replace"),
        422,
        "bad_file",
        "UTF-8",
    ),
    "latin-1": (
        "learners",
        "ds.csv",
        lambda s: "ho_ten,sdt,ma_don_vi\nJosé Ñúñez,0912300009,X\n".encode("latin-1"),
        422,
        "bad_file",
        "UTF-8",
    ),
    "utf16-without-bom": (
        "units",
        "don-vi.csv",
        lambda s: "ma,ten,loai\nXA-16,Xa Moi,xa\n".encode("utf-16-le"),
        422,
        "bad_file",
        "ký tự không hợp lệ",
    ),
    "garbage-xlsx": (
        "learners",
        "ds.xlsx",
        lambda s: b"day khong phai bang tinh\x00\x01\x02",
        422,
        "bad_file",
        "XLSX bị hỏng",
    ),
    "zip-not-xlsx": (
        "learners",
        "ds.xlsx",
        lambda s: _zip({"ghi-chu.txt": b"xin chao"}),
        422,
        "bad_file",
        "XLSX bị hỏng",
    ),
    "pdf": ("learners", "ds.pdf", lambda s: b"%PDF-1.4\n%\xe2\xe3\n", 422, "bad_file", ".csv"),
    "xls": (
        "units",
        "don-vi.xls",
        lambda s: b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504,
        422,
        "bad_file",
        "Chỉ nhận tệp .csv hoặc .xlsx",
    ),
    "units-missing-type": (
        "units",
        "don-vi.csv",
        lambda s: "Mã,Tên\nXA-1,Xã Một\n".encode(),
        422,
        "bad_header",
        "Thiếu cột bắt buộc: loai",
    ),
    "learners-missing-unit": (
        "learners",
        "ds.csv",
        lambda s: b"ho_ten,so_dien_thoai\nAn,0912300010\n",
        422,
        "bad_header",
        "Thiếu cột bắt buộc: ma_don_vi",
    ),
    "learners-no-contact": (
        "learners",
        "ds.csv",
        lambda s: b"ho_ten,ma_don_vi\nAn,X\n",
        422,
        "bad_header",
        "so_dien_thoai hoặc email",
    ),
    "too-large": (
        "units",
        "don-vi.csv",
        lambda s: b"ma,ten,loai\n".ljust(s.import_max_bytes + 1, b"x"),
        413,
        "too_large",
        "Tệp quá lớn",
    ),
    "too-many-rows": (
        "units",
        "don-vi.csv",
        lambda s: b"ma,ten,loai\n" + b"XA,Xa,xa\n" * (s.import_max_rows + 1),
        413,
        "too_many_rows",
        "vượt quá giới hạn",
    ),
    "zip-bomb": ("units", "don-vi.xlsx", _zip_bomb, 422, "bad_file", "quá lớn sau khi giải nén"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_unreadable_files_are_refused_in_vietnamese(client, db, tree, who, settings, case):
    kind, filename, build, status, code, words = BAD_FILES[case]
    data = build(settings)
    assert len(data) <= settings.import_max_bytes + 1
    before = snapshot(db)
    res = post(client, who.headers, kind, data, filename=filename)
    assert res.status_code == status, res.text[:300]
    body = res.json()
    assert body["code"] == code
    assert words in body["detail"] and VIETNAMESE.search(body["detail"])
    assert snapshot(db) == before
    assert jobs(db) == [] and import_audits(db) == []


def test_the_row_limit_counts_rows_not_blank_lines(client, db, tree, who, settings):
    """Exactly the row limit passes the size checks (blank lines do not count): the file is
    then refused for its header, not for its length."""
    data = b"ma,ten\n" + b"\n" * 50 + b"XA,Xa\n" * settings.import_max_rows
    res = post(client, who.headers, "units", data)
    assert res.status_code == 422, res.text[:300]
    assert res.json()["code"] == "bad_header"


# ---- audit ----------------------------------------------------------------------------


def test_every_import_is_recorded_and_audited(client, db, tree, who):
    assert post(client, who.headers, "units", units_csv(tree)).status_code == 200
    assert post(client, who.headers, "learners", bad_learners(tree)).status_code == 422
    assert post(client, who.headers, "learners", learners_csv(tree), dry_run="true").is_success
    text = f"ho_ten,so_dien_thoai,ma_don_vi\nNgô Văn Tâm,0912300020,{tree.hamlet.code}\n"
    assert post(client, who.unit_headers, "learners", text).status_code == 200

    recorded = jobs(db)
    audits = import_audits(db)
    assert [(j.kind.value, j.status.value) for j in recorded] == [
        ("units", "applied"),
        ("learners", "rejected"),
        ("learners", "checked"),
        ("learners", "applied"),
    ]
    assert [a.action for a in audits] == [
        "import.units",
        "import.learners",
        "import.learners",
        "import.learners",
    ]
    assert [a.target_id for a in audits] == [str(j.id) for j in recorded]
    assert {a.target_type for a in audits} == {"import"}
    assert [a.actor_id for a in audits] == [who.admin.id] * 3 + [who.unit_admin.id]
    assert [a.details["status"] for a in audits] == ["applied", "rejected", "checked", "applied"]
    assert audits[0].details["created"] == 4 and audits[1].details["errors"] == 6
    assert (audits[0].unit_path, audits[3].unit_path) == ("", tree.ward.path)
    assert recorded[3].unit_path == tree.ward.path

    # The unit admin's listing shows its own import, not the administrator's.
    listing = client.get(API, headers=who.unit_headers).json()
    assert [j["id"] for j in listing] == [recorded[3].id]


# ---- the admin page -------------------------------------------------------------------


def page_import(client: TestClient, kind: str, mode: str, data: bytes | str, filename="ds.csv"):
    body = data.encode() if isinstance(data, str) else data
    return form_post(
        client,
        "/admin/imports",
        {"kind": kind, "mode": mode},
        files={"file": (filename, body, "text/csv")},
    )


def test_page_shows_the_row_report_of_a_rejected_file(client, db, tree, who):
    assert page_login(client, who.admin).status_code == 303
    before = snapshot(db)
    res = page_import(client, "learners", "strict", bad_learners(tree))
    assert res.status_code == 422
    assert "text/html" in res.headers["content-type"]
    assert "Tệp có 6 dòng lỗi nên chưa nhập gì." in res.text
    assert "Các dòng lỗi" in res.text
    shown = [int(n) for n in re.findall(r"<tr><td>(\d+)</td><td>", res.text)]
    assert shown == [3, 4, 6, 7, 9, 10]
    assert "Không tìm thấy đơn vị có mã “KHONG-CO”." in res.text
    assert "Tài khoản mới" not in res.text
    assert snapshot(db) == before
    assert [j.status.value for j in jobs(db)] == ["rejected"]
    assert "Bị từ chối" in res.text  # the recent imports list


def test_page_shows_new_accounts_with_their_temporary_passwords(client, db, tree, who):
    assert page_login(client, who.admin).status_code == 303
    res = page_import(client, "learners", "strict", learners_csv(tree))
    assert res.status_code == 200, res.text[:500]
    assert "Tài khoản mới" in res.text
    shown = dict(re.findall(r"<td>([^<]+)</td><td><code>([^<]+)</code></td>", res.text))
    assert sorted(shown) == ["+84912100001", "+84912100002", "my.lo@example.vn"]
    # Checking first, and the good rows only, from the page too.
    res = page_import(client, "learners", "check", bad_learners(tree))
    assert res.status_code == 200 and "Chỉ kiểm tra" in res.text
    assert "Tài khoản mới" not in res.text and user_by_phone(db, "+84912000008") is None
    res = page_import(client, "learners", "valid_rows", bad_learners(tree))
    assert res.status_code == 200 and "Tài khoản mới" in res.text
    assert [int(n) for n in re.findall(r"<tr><td>(\d+)</td><td>", res.text)] == [3, 4, 6, 7, 9, 10]
    assert user_by_phone(db, "+84912000008") is not None
    assert [j.status.value for j in jobs(db)] == ["applied", "checked", "partial"]

    client.cookies.clear()  # sign in as the new learner, with the password the page showed
    res = client.post(
        "/api/v1/auth/login",
        json={"identifier": "0912100002", "password": shown["+84912100002"]},
    )
    assert res.status_code == 200 and res.json()["must_change_password"] is True


def test_page_refuses_unreadable_files_with_a_message(client, db, tree, who, settings):
    assert page_login(client, who.admin).status_code == 303
    before = snapshot(db)
    res = page_import(client, "units", "strict", b"x" * (settings.import_max_bytes + 1))
    assert res.status_code == 413 and "Tệp quá lớn" in res.text
    res = page_import(client, "units", "strict", b"\x00garbage", filename="ds.xlsx")
    assert res.status_code == 422 and "XLSX bị hỏng" in res.text
    res = form_post(client, "/admin/imports", {"kind": "units", "mode": "strict"})
    assert res.status_code == 422 and "Hãy chọn một tệp .csv hoặc .xlsx." in res.text
    assert snapshot(db) == before and jobs(db) == []


def test_the_learner_template_imports_once_its_unit_code_is_filled_in(client, db, tree, who):
    assert page_login(client, who.admin).status_code == 303
    res = client.get("/admin/imports/template/learners")
    assert res.status_code == 200
    assert res.headers["content-type"].startswith("text/csv")
    assert "mau-hoc-vien.csv" in res.headers["content-disposition"]
    assert res.content.startswith("\ufeff".encode())
    template = res.content.replace(b"XA-DONGTAM", tree.commune.code.encode())
    res = page_import(client, "learners", "strict", template, filename="mau-hoc-vien.csv")
    assert res.status_code == 200, res.text[:500]
    assert "Tài khoản mới" in res.text
    hoa = user_by_phone(db, "+84912345678")
    assert hoa.full_name == "Nguyễn Thị Hoa" and hoa.unit_id == tree.commune.id
    assert (hoa.role, hoa.group_id) == (Role.learner, group(db, "nong_dan").id)

    res = client.get("/admin/imports/template/units")
    assert res.status_code == 200
    res = post(client, who.headers, "units", res.content, filename="mau-don-vi.csv")
    assert res.status_code == 200, res.text
    dong_tam = unit(db, "XA-DONGTAM")
    assert (dong_tam.type, dong_tam.parent_id, dong_tam.depth) == (UnitType.commune, None, 0)


# ---- bugs -----------------------------------------------------------------------------


def _truncated_sheet() -> bytes:
    """A real workbook whose sheet XML is cut in half (a download that broke off)."""
    good = xlsx([["ma", "ten", "loai"], ["XA-1", "Xã Một", "xã"]])
    members = {}
    with zipfile.ZipFile(io.BytesIO(good)) as archive:
        for name in archive.namelist():
            members[name] = archive.read(name)
    sheet = members["xl/worksheets/sheet1.xml"]
    members["xl/worksheets/sheet1.xml"] = sheet[: len(sheet) // 2]
    return _zip(members)


def test_a_workbook_with_a_broken_sheet_is_a_bad_file(client, db, tree, who):
    res = post(client, who.headers, "units", _truncated_sheet(), filename="don-vi.xlsx")
    assert res.status_code == 422, res.status_code
    assert res.json()["code"] == "bad_file"


def test_a_new_unit_under_a_unit_whose_ancestor_moved_in_the_same_file(client, db, tree, who):
    text = (
        "ma,ten,loai,ma_cap_tren\n"
        f"{tree.ward.code},Phường An Bình,phường,{tree.commune.code}\n"  # moved
        f"TDP-MOI,Tổ dân phố mới,tổ dân phố,{tree.hamlet.code}\n"  # under the ward's child
    )
    res = post(client, who.headers, "units", text)
    assert res.status_code == 200, res.text
    ward, hamlet, new = (unit(db, c) for c in (tree.ward.code, tree.hamlet.code, "TDP-MOI"))
    assert hamlet.path == f"{ward.path}{hamlet.id}/"
    assert (new.path, new.depth) == (f"{hamlet.path}{new.id}/", 4)


def test_moving_a_unit_and_then_its_descendant_in_one_file(client, db, tree, who):
    text = (
        "ma,ten,loai,ma_cap_tren\n"
        f"{tree.ward.code},Phường An Bình,phường,{tree.commune.code}\n"
        f"{tree.hamlet.code},Tổ dân phố số 1,tổ dân phố,{tree.village.code}\n"
    )
    res = post(client, who.headers, "units", text)
    assert res.status_code == 200, res.text
    hamlet, village = unit(db, tree.hamlet.code), unit(db, tree.village.code)
    assert hamlet.parent_id == village.id
    assert (hamlet.path, hamlet.depth) == (f"{village.path}{hamlet.id}/", 3)


def _move_under_own_child(tree: Tree) -> str:
    return (
        "ma,ten,loai,ma_cap_tren\n"
        f"MOI-1,Thôn Mới,thôn,{tree.commune.code}\n"
        f"{tree.ward.code},Phường An Bình,phường,{tree.hamlet.code}\n"  # under its own child
    )


def test_moving_a_unit_under_its_own_descendant_is_a_row_error(client, db, tree, who):
    before = snapshot(db)
    res = post(client, who.headers, "units", _move_under_own_child(tree))
    assert res.status_code == 422, res.text
    assert res.json()["code"] == "import_rejected", res.text
    assert lines(res.json()["import"]) == [3]
    assert snapshot(db) == before
    assert [j.status.value for j in jobs(db)] == ["rejected"]
    assert [a.action for a in import_audits(db)] == ["import.units"]


def test_a_page_import_with_a_cycle_through_existing_units_writes_nothing(client, db, tree, who):
    assert page_login(client, who.admin).status_code == 303
    before = snapshot(db)
    res = page_import(client, "units", "strict", _move_under_own_child(tree))
    assert res.status_code == 422
    assert "Vòng lặp cấp trên" in res.text
    assert unit(db, "MOI-1") is None
    assert snapshot(db) == before


def test_two_rows_for_one_account_do_not_break_re_imports(client, db, tree, who):
    make_user(db, tree.hamlet, name="Người Cũ", phone="+84912000444", email="cu@example.vn")
    text = (
        "ho_ten,so_dien_thoai,email,ma_don_vi\n"
        f"Tên Một,0912000444,,{tree.hamlet.code}\n"
        f"Tên Hai,,cu@example.vn,{tree.village.code}\n"
    )
    res = post(client, who.headers, "learners", text)
    assert res.status_code == 422
    assert messages(res.json()["import"]) == {3: "Tài khoản này đã có ở dòng 2 của tệp."}
    first = post(client, who.headers, "learners", text, import_valid_rows="true").json()
    assert (first["updated"], lines(first)) == (1, [3])
    again = post(client, who.headers, "learners", text, import_valid_rows="true").json()
    assert (again["updated"], again["unchanged"], lines(again)) == (0, 1, [3])


def test_a_units_file_without_a_parent_column_leaves_existing_units_in_place(client, db, tree, who):
    text = f"ma,ten,loai\n{tree.hamlet.code},Tổ dân phố Một,tổ dân phố\nTOP-MOI,Tỉnh Mới,tỉnh\n"
    res = post(client, who.headers, "units", text, filename="danh-sach")  # no extension: CSV
    assert res.status_code == 200, res.text
    assert (res.json()["created"], res.json()["updated"]) == (1, 1)
    hamlet, new = unit(db, tree.hamlet.code), unit(db, "TOP-MOI")
    assert hamlet.name == "Tổ dân phố Một" and hamlet.parent_id == tree.ward.id
    assert hamlet.path == f"{tree.ward.path}{hamlet.id}/"
    assert new.parent_id is None and new.depth == 0
