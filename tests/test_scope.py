"""A unit admin cannot read or change anything outside its unit's subtree.

Every administration route, JSON and page, has a case below that aims at an account, a unit
or an import outside the unit admin's subtree. Each case checks the answer (404 for reading
something outside, 403 for acting on it, or a listing without it) and that nothing stored
changed. A new admin route without a case here fails `test_every_admin_route_has_a_case`."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import (
    AuditLog,
    AuthSession,
    Certificate,
    CertificateStatus,
    ImportJob,
    LearnerGroup,
    LevelUnlock,
    Mentorship,
    MentorStatus,
    Role,
    Unit,
    UnitTarget,
    User,
)
from tests.factories import Tree, form_post, login, make_user, page_login
from tests.routetable import walk

OUTSIDE_NAME = "Người Ngoài Phạm Vi"


@dataclass
class World:
    client: TestClient
    db: Session
    tree: Tree
    headers: dict[str, str]  # the unit admin's bearer token
    unit_admin: User
    inside: User
    outside: User
    admin_job: ImportJob  # an import an admin made for the whole province
    outside_pending: str = ""  # certificates of the outside learner: one waiting
    outside_issued: str = ""  # ... and one issued
    outside_mentorship: int = 0  # the outside learner's application to mentor level 1


def snapshot(db: Session) -> dict[str, list[tuple]]:
    """Everything a unit admin could try to change, as plain values."""
    db.expire_all()
    return {
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
        "units": [
            (u.id, u.code, u.name, u.type, u.parent_id, u.path, u.depth, u.is_active)
            for u in db.scalars(select(Unit).order_by(Unit.id))
        ],
        "groups": [
            (g.id, g.code, g.name, g.is_active)
            for g in db.scalars(select(LearnerGroup).order_by(LearnerGroup.id))
        ],
        "sessions": [
            (s.id, s.revoked_at)
            for s in db.scalars(select(AuthSession).where(AuthSession.user_id != -1))
        ],
        "imports": [(j.id, j.status) for j in db.scalars(select(ImportJob).order_by(ImportJob.id))],
        "unlocks": [(u.user_id, u.level_number) for u in db.scalars(select(LevelUnlock))],
        "certificates": [
            (c.id, c.status, c.holder_name, c.revoke_reason)
            for c in db.scalars(select(Certificate).order_by(Certificate.id))
        ],
        "mentorships": [
            (m.id, m.status, m.reason)
            for m in db.scalars(select(Mentorship).order_by(Mentorship.id))
        ],
        "targets": [(u.id, u.target_population) for u in db.scalars(select(Unit).order_by(Unit.id))]
        + [
            (t.unit_id, t.group_id, t.population)
            for t in db.scalars(select(UnitTarget).order_by(UnitTarget.id))
        ]
        + [
            (g.id, g.join_target_pct, g.improve_target_pct, g.improve_level)
            for g in db.scalars(select(LearnerGroup).order_by(LearnerGroup.id))
        ],
    }


def _csv(text: str) -> dict:
    return {"file": ("danh-sach.csv", io.BytesIO(text.encode()), "text/csv")}


# ---- the cases: (method, route path) -> what the unit admin tries and what must happen ----


def api_list_users(w: World) -> None:
    res = w.client.get("/api/v1/admin/users?per_page=200", headers=w.headers)
    assert res.status_code == 200
    ids = {u["id"] for u in res.json()["items"]}
    assert w.inside.id in ids and w.outside.id not in ids
    res = w.client.get(f"/api/v1/admin/users?q={OUTSIDE_NAME}", headers=w.headers)
    assert res.json()["total"] == 0
    res = w.client.get(f"/api/v1/admin/users?unit_id={w.tree.village.id}", headers=w.headers)
    assert res.status_code == 404


def api_create_user(w: World) -> None:
    body = {"full_name": "Lò Thị Mai", "phone": "0987 000 111", "unit_id": w.tree.village.id}
    res = w.client.post("/api/v1/admin/users", headers=w.headers, json=body)
    assert res.status_code == 403
    assert "ngoài phạm vi" in res.json()["detail"]


def api_get_user(w: World) -> None:
    res = w.client.get(f"/api/v1/admin/users/{w.outside.id}", headers=w.headers)
    assert res.status_code == 404


def api_update_user(w: World) -> None:
    res = w.client.patch(
        f"/api/v1/admin/users/{w.outside.id}", headers=w.headers, json={"full_name": "Đổi Tên"}
    )
    assert res.status_code == 404
    res = w.client.patch(
        f"/api/v1/admin/users/{w.inside.id}",
        headers=w.headers,
        json={"unit_id": w.tree.village.id},
    )
    assert res.status_code == 403


def api_deactivate(w: World) -> None:
    res = w.client.post(f"/api/v1/admin/users/{w.outside.id}/deactivate", headers=w.headers)
    assert res.status_code == 404


def api_activate(w: World) -> None:
    res = w.client.post(f"/api/v1/admin/users/{w.outside.id}/activate", headers=w.headers)
    assert res.status_code == 404


def api_reset_password(w: World) -> None:
    for method in ("link", "temporary"):
        res = w.client.post(
            f"/api/v1/admin/users/{w.outside.id}/reset-password",
            headers=w.headers,
            json={"method": method},
        )
        assert res.status_code == 404


def api_unlock_level(w: World) -> None:
    res = w.client.post(f"/api/v1/admin/users/{w.outside.id}/levels/2/unlock", headers=w.headers)
    assert res.status_code == 404


def api_list_units(w: World) -> None:
    res = w.client.get("/api/v1/admin/units", headers=w.headers)
    assert res.status_code == 200
    ids = {u["id"] for u in res.json()}
    assert w.tree.hamlet.id in ids
    assert not ids & {w.tree.province.id, w.tree.commune.id, w.tree.village.id}
    res = w.client.get(f"/api/v1/admin/units?parent_id={w.tree.commune.id}", headers=w.headers)
    assert res.json() == []


def api_get_unit(w: World) -> None:
    for unit in (w.tree.village, w.tree.province):
        res = w.client.get(f"/api/v1/admin/units/{unit.id}", headers=w.headers)
        assert res.status_code == 404


def api_create_unit(w: World) -> None:
    body = {"code": "NGOAI-01", "name": "Thôn Mới", "type": "hamlet"}
    res = w.client.post(
        "/api/v1/admin/units", headers=w.headers, json={**body, "parent_id": w.tree.commune.id}
    )
    assert res.status_code == 403
    res = w.client.post("/api/v1/admin/units", headers=w.headers, json=body)
    assert res.status_code == 403


def api_update_unit(w: World) -> None:
    res = w.client.patch(
        f"/api/v1/admin/units/{w.tree.village.id}", headers=w.headers, json={"name": "Đổi Tên"}
    )
    assert res.status_code == 404
    res = w.client.patch(
        f"/api/v1/admin/units/{w.tree.hamlet.id}",
        headers=w.headers,
        json={"parent_id": w.tree.commune.id},
    )
    assert res.status_code == 403
    res = w.client.patch(
        f"/api/v1/admin/units/{w.tree.ward.id}", headers=w.headers, json={"parent_id": None}
    )
    assert res.status_code == 403


def api_create_group(w: World) -> None:
    res = w.client.post(
        "/api/v1/admin/groups", headers=w.headers, json={"code": "ngu_dan", "name": "Ngư dân"}
    )
    assert res.status_code == 403


def api_update_group(w: World) -> None:
    group = w.db.scalar(select(LearnerGroup).order_by(LearnerGroup.id))
    res = w.client.patch(
        f"/api/v1/admin/groups/{group.id}", headers=w.headers, json={"name": "Đổi Tên"}
    )
    assert res.status_code == 403


def api_import(w: World) -> None:
    learners = f"ho_ten,so_dien_thoai,ma_don_vi\nLò Văn Páo,0987000222,{w.tree.village.code}\n"
    res = w.client.post(
        "/api/v1/admin/imports/learners",
        headers=w.headers,
        files=_csv(learners),
        data={"import_valid_rows": "true"},
    )
    assert res.status_code == 200  # recorded, with the row refused
    report = res.json()
    assert report["created"] == 0
    assert "ngoài phạm vi" in report["errors"][0]["message"]
    existing = f"ho_ten,so_dien_thoai,ma_don_vi\nĐổi Tên,{w.outside.phone},{w.tree.hamlet.code}\n"
    res = w.client.post("/api/v1/admin/imports/learners", headers=w.headers, files=_csv(existing))
    assert res.status_code == 422
    assert "ngoài phạm vi" in res.json()["import"]["errors"][0]["message"]
    units = (
        "ma,ten,loai,ma_cap_tren\n"
        f"NGOAI-02,Thôn Mới,thôn,{w.tree.commune.code}\n"
        f"{w.tree.village.code},Đổi Tên,thôn,{w.tree.ward.code}\n"
        "NGOAI-03,Tỉnh Mới,tỉnh,\n"
    )
    res = w.client.post("/api/v1/admin/imports/units", headers=w.headers, files=_csv(units))
    assert res.status_code == 422
    errors = res.json()["import"]["errors"]
    assert [e["line"] for e in errors] == [2, 3, 4]
    assert all("phạm vi" in e["message"] or "bên trong" in e["message"] for e in errors)


def api_list_imports(w: World) -> None:
    res = w.client.get("/api/v1/admin/imports", headers=w.headers)
    assert res.status_code == 200
    assert w.admin_job.id not in {j["id"] for j in res.json()}


def api_get_import(w: World) -> None:
    res = w.client.get(f"/api/v1/admin/imports/{w.admin_job.id}", headers=w.headers)
    assert res.status_code == 404


def page_admin_home(w: World) -> None:
    res = w.client.get("/admin", follow_redirects=False)
    assert res.status_code == 303 and res.headers["location"] == "/admin/accounts"


def page_accounts(w: World) -> None:
    res = w.client.get("/admin/accounts")
    assert res.status_code == 200
    assert w.inside.full_name in res.text and OUTSIDE_NAME not in res.text
    assert "0 tài khoản" in w.client.get(f"/admin/accounts?q={OUTSIDE_NAME}").text
    assert w.client.get(f"/admin/accounts?unit_id={w.tree.village.id}").status_code == 404


def page_account_new(w: World) -> None:
    res = w.client.get("/admin/accounts/new")
    assert res.status_code == 200
    assert w.tree.hamlet.name in res.text
    assert w.tree.village.name not in res.text and w.tree.province.name not in res.text


def page_account_create(w: World) -> None:
    data = {
        "full_name": "Lò Thị Mai",
        "contact": "0987000333",
        "unit_id": str(w.tree.village.id),
        "role": "learner",
    }
    res = form_post(w.client, "/admin/accounts/new", data)
    assert res.status_code == 403
    assert "ngoài phạm vi" in res.text


def page_account_edit(w: World) -> None:
    assert w.client.get(f"/admin/accounts/{w.outside.id}").status_code == 404


def page_account_update(w: World) -> None:
    data = {
        "full_name": "Đổi Tên",
        "contact": w.outside.phone,
        "unit_id": str(w.tree.village.id),
        "role": "learner",
    }
    assert form_post(w.client, f"/admin/accounts/{w.outside.id}", data).status_code == 404
    data = {
        "full_name": w.inside.full_name,
        "contact": w.inside.phone,
        "unit_id": str(w.tree.village.id),
        "role": "learner",
    }
    assert form_post(w.client, f"/admin/accounts/{w.inside.id}", data).status_code == 403


def page_account_reset(w: World) -> None:
    for method in ("link", "temporary"):
        res = form_post(w.client, f"/admin/accounts/{w.outside.id}/reset", {"method": method})
        assert res.status_code == 404


def page_account_active(w: World) -> None:
    res = form_post(w.client, f"/admin/accounts/{w.outside.id}/active", {"active": "0"})
    assert res.status_code == 404


def page_account_unlock(w: World) -> None:
    res = form_post(w.client, f"/admin/accounts/{w.outside.id}/unlock", {"level": "2"})
    assert res.status_code == 404


def page_units(w: World) -> None:
    for parent in (w.tree.commune.id, w.tree.province.id):
        res = w.client.get(f"/admin/units?parent={parent}")
        assert res.status_code == 200
        assert w.tree.hamlet.name in res.text  # shown the own subtree instead
        assert w.tree.village.name not in res.text and w.tree.commune.name not in res.text


def page_unit_create(w: World) -> None:
    data = {"code": "NGOAI-04", "name": "Thôn Mới", "type": "hamlet"}
    res = form_post(w.client, "/admin/units", {**data, "parent_id": str(w.tree.commune.id)})
    assert res.status_code == 403
    res = form_post(w.client, "/admin/units", {**data, "parent_id": ""})
    assert res.status_code == 403


def page_unit_edit(w: World) -> None:
    assert w.client.get(f"/admin/units/{w.tree.village.id}").status_code == 404
    assert w.client.get(f"/admin/units/{w.tree.province.id}").status_code == 404


def page_unit_update(w: World) -> None:
    data = {"name": "Đổi Tên", "type": "hamlet", "parent_code": w.tree.commune.code}
    assert form_post(w.client, f"/admin/units/{w.tree.village.id}", data).status_code == 404
    data = {"name": w.tree.hamlet.name, "type": "hamlet", "parent_code": w.tree.commune.code}
    assert form_post(w.client, f"/admin/units/{w.tree.hamlet.id}", data).status_code == 403
    res = form_post(w.client, f"/admin/units/{w.tree.ward.id}", {"is_active": "0"})
    assert res.status_code == 403


def page_groups(w: World) -> None:
    assert w.client.get("/admin/groups").status_code == 403


def page_group_create(w: World) -> None:
    res = form_post(w.client, "/admin/groups", {"code": "ngu_dan", "name": "Ngư dân"})
    assert res.status_code == 403


def page_group_update(w: World) -> None:
    group = w.db.scalar(select(LearnerGroup).order_by(LearnerGroup.id))
    res = form_post(w.client, f"/admin/groups/{group.id}", {"name": "Đổi Tên", "is_active": "0"})
    assert res.status_code == 403


def page_imports(w: World) -> None:
    res = w.client.get("/admin/imports")
    assert res.status_code == 200
    assert w.admin_job.filename not in res.text


def page_import_template(w: World) -> None:
    res = w.client.get("/admin/imports/template/learners")
    assert res.status_code == 200 and "ho_ten" in res.text  # a blank form: nothing to leak


def page_import_submit(w: World) -> None:
    learners = f"ho_ten,so_dien_thoai,ma_don_vi\nLò Văn Páo,0987000444,{w.tree.village.code}\n"
    res = form_post(
        w.client,
        "/admin/imports",
        {"kind": "learners", "mode": "valid_rows"},
        files=_csv(learners),
    )
    assert res.status_code == 200
    assert "ngoài phạm vi" in res.text


def api_list_certificates(w: World) -> None:
    res = w.client.get("/api/v1/admin/certificates?status=all", headers=w.headers)
    assert res.status_code == 200
    serials = {c["serial"] for c in res.json()}
    assert not serials & {w.outside_pending, w.outside_issued}
    res = w.client.get(f"/api/v1/admin/certificates?unit_id={w.tree.village.id}", headers=w.headers)
    assert res.status_code == 403


def api_approve_certificate(w: World) -> None:
    res = w.client.post(
        f"/api/v1/admin/certificates/{w.outside_pending}/approve", headers=w.headers
    )
    assert res.status_code == 404


def api_approve_unit_certificates(w: World) -> None:
    res = w.client.post(
        f"/api/v1/admin/units/{w.tree.village.id}/certificates/approve", headers=w.headers
    )
    assert res.status_code == 403


def api_revoke_certificate(w: World) -> None:
    res = w.client.post(
        f"/api/v1/admin/certificates/{w.outside_issued}/revoke",
        headers=w.headers,
        json={"reason": "Thu hồi thử từ ngoài phạm vi."},
    )
    assert res.status_code == 404


def api_reissue_certificate(w: World) -> None:
    res = w.client.post(
        f"/api/v1/admin/certificates/{w.outside_issued}/reissue",
        headers=w.headers,
        json={"full_name": "Tên Khác Hẳn"},
    )
    assert res.status_code == 404


def api_unit_certificates_zip(w: World) -> None:
    res = w.client.get(
        f"/api/v1/admin/units/{w.tree.village.id}/certificates.zip", headers=w.headers
    )
    assert res.status_code == 403


def page_unit_certificates_zip(w: World) -> None:
    assert w.client.get(f"/admin/units/{w.tree.village.id}/certificates.zip").status_code == 403


def api_list_mentors(w: World) -> None:
    res = w.client.get("/api/v1/admin/mentors?status=pending", headers=w.headers)
    assert res.status_code == 200
    assert w.outside_mentorship not in {m["id"] for m in res.json()}


def api_mentor_action(w: World) -> None:
    for action in ("confirm", "reject", "remove"):
        res = w.client.post(
            f"/api/v1/admin/mentors/{w.outside_mentorship}/{action}",
            headers=w.headers,
            json={"reason": "Thử từ ngoài phạm vi."},
        )
        assert res.status_code == 403


def page_mentors(w: World) -> None:
    res = w.client.get("/admin/mentors")
    assert res.status_code == 200 and OUTSIDE_NAME not in res.text


def page_mentor_action(w: World) -> None:
    for action in ("confirm", "reject", "remove"):
        res = form_post(
            w.client,
            f"/admin/mentors/{w.outside_mentorship}/{action}",
            {"reason": "Thử từ ngoài phạm vi."},
        )
        assert res.status_code == 403


def api_anonymise_user(w: World) -> None:
    res = w.client.post(f"/api/v1/admin/users/{w.outside.id}/anonymise", headers=w.headers)
    assert res.status_code == 404


def page_anonymise_user(w: World) -> None:
    res = form_post(w.client, f"/admin/accounts/{w.outside.id}/anonymise", {"confirm": "1"})
    assert res.status_code == 404


def _refused_exports(w: World, base: str, api: bool) -> None:
    # only refused exports here: an allowed one is audited (see tests/test_exports.py)
    for unit in (w.tree.village, w.tree.province):
        for fmt in ("csv", "xlsx"):
            url = f"{base}.{fmt}?unit_id={unit.id}"
            res = w.client.get(url, headers=w.headers if api else None)
            assert res.status_code == 404
            assert OUTSIDE_NAME not in res.text


def api_export_learners(w: World) -> None:
    _refused_exports(w, "/api/v1/admin/exports/learners", api=True)


def page_exports(w: World) -> None:
    res = w.client.get("/admin/exports")
    assert res.status_code == 200
    assert w.tree.hamlet.name in res.text and w.tree.village.name not in res.text
    assert w.client.get(f"/admin/exports?unit_id={w.tree.village.id}").status_code == 404


def page_export_learners(w: World) -> None:
    _refused_exports(w, "/admin/exports/learners", api=False)


# ---- oversight: certificates page, audit log, system (app/admin/oversight_*.py) ----------

OUTSIDE_AUDIT = "xa-khac-bi-mat.csv"


def _outside_audit_entry(w: World) -> None:
    """An import into the other commune's village, audited with that unit's path (the world's
    own admin import is audited with no unit: administrators only)."""
    from app.core.audit import record_audit

    record_audit(
        w.db,
        actor_id=None,
        action="import.learners",
        target_type="import",
        target_id="outside",
        unit_path=w.tree.village.path,
        details={"filename": OUTSIDE_AUDIT},
    )
    w.db.flush()


def api_audit(w: World) -> None:
    _outside_audit_entry(w)
    res = w.client.get("/api/v1/admin/audit?per_page=200", headers=w.headers)
    assert res.status_code == 200
    assert OUTSIDE_AUDIT not in res.text and w.admin_job.filename not in res.text
    res = w.client.get("/api/v1/admin/audit?action=import.", headers=w.headers)
    assert res.json()["total"] == 0


def api_audit_csv(w: World) -> None:
    _outside_audit_entry(w)
    res = w.client.get("/api/v1/admin/audit.csv", headers=w.headers)
    assert res.status_code == 200
    assert OUTSIDE_AUDIT not in res.text and "import.learners" not in res.text


def page_audit(w: World) -> None:
    _outside_audit_entry(w)
    res = w.client.get("/admin/audit?action=import.")
    assert res.status_code == 200
    assert OUTSIDE_AUDIT not in res.text and "0 mục" in res.text


def page_audit_csv(w: World) -> None:
    _outside_audit_entry(w)
    res = w.client.get("/admin/audit.csv")
    assert res.status_code == 200
    assert OUTSIDE_AUDIT not in res.text and "import.learners" not in res.text


def api_system_curriculum(w: World) -> None:
    assert w.client.get("/api/v1/admin/system/curriculum", headers=w.headers).status_code == 403


def api_system_grader(w: World) -> None:
    assert w.client.get("/api/v1/admin/system/grader", headers=w.headers).status_code == 403


def page_system(w: World) -> None:
    assert w.client.get("/admin/system").status_code == 403


def page_certificates(w: World) -> None:
    for status in ("pending", "issued", "revoked"):
        res = w.client.get(f"/admin/certificates?status={status}")
        assert res.status_code == 200
        assert w.outside_pending not in res.text and w.outside_issued not in res.text
        assert OUTSIDE_NAME not in res.text
    assert w.client.get(f"/admin/certificates?unit_id={w.tree.village.id}").status_code == 403


def page_certificate_approve(w: World) -> None:
    res = form_post(w.client, f"/admin/certificates/{w.outside_pending}/approve")
    assert res.status_code == 404


def page_certificates_approve_unit(w: World) -> None:
    for unit in (w.tree.village, w.tree.commune, w.tree.province):
        res = form_post(w.client, "/admin/certificates/approve-unit", {"unit_id": str(unit.id)})
        assert res.status_code == 403


def page_certificate_revoke(w: World) -> None:
    res = form_post(
        w.client,
        f"/admin/certificates/{w.outside_issued}/revoke",
        {"reason": "Thu hồi thử từ ngoài phạm vi."},
    )
    assert res.status_code == 404


def page_certificate_reissue(w: World) -> None:
    res = form_post(
        w.client, f"/admin/certificates/{w.outside_issued}/reissue", {"full_name": "Tên Khác Hẳn"}
    )
    assert res.status_code == 404


# Cases whose reading is itself recorded (an export of the audit log is audited).
AUDITS_AN_EXPORT = {api_audit_csv, page_audit_csv}


def api_report_dashboard(w: World) -> None:
    res = w.client.get(
        f"/api/v1/admin/reports/dashboard?unit_id={w.tree.commune.id}", headers=w.headers
    )
    assert res.status_code == 403
    own = w.client.get("/api/v1/admin/reports/dashboard", headers=w.headers).json()
    assert own["unit"]["id"] == w.tree.ward.id
    assert w.tree.commune.name not in {c["name"] for c in own["children"]}


def api_report_quarterly(w: World) -> None:
    res = w.client.get(
        f"/api/v1/admin/reports/quarterly?unit_id={w.tree.province.id}&year=2026&quarter=4",
        headers=w.headers,
    )
    assert res.status_code == 403


def api_get_targets(w: World) -> None:
    res = w.client.get(f"/api/v1/admin/units/{w.tree.village.id}/targets", headers=w.headers)
    assert res.status_code == 403


def api_put_targets(w: World) -> None:
    res = w.client.put(
        f"/api/v1/admin/units/{w.tree.village.id}/targets",
        json={"working_age": 999},
        headers=w.headers,
    )
    assert res.status_code == 403


def api_group_targets(w: World) -> None:
    group_id = w.db.scalar(select(LearnerGroup.id).order_by(LearnerGroup.id))
    res = w.client.put(
        f"/api/v1/admin/groups/{group_id}/targets", json={"join_target_pct": 1}, headers=w.headers
    )
    assert res.status_code == 403


def page_dashboard(w: World) -> None:
    assert w.client.get(f"/admin/dashboard?unit_id={w.tree.commune.id}").status_code == 403
    own = w.client.get("/admin/dashboard")
    assert own.status_code == 200 and w.tree.commune.name not in own.text


def page_reports(w: World) -> None:
    assert w.client.get(f"/admin/reports?unit_id={w.tree.province.id}").status_code == 403


def page_report_download(w: World) -> None:
    res = w.client.get(
        f"/admin/reports/download?unit_id={w.tree.commune.id}&year=2026&quarter=4&format=csv"
    )
    assert res.status_code == 403


def page_targets(w: World) -> None:
    assert w.client.get(f"/admin/targets?unit_id={w.tree.village.id}").status_code == 403


def page_targets_save(w: World) -> None:
    res = form_post(w.client, f"/admin/targets?unit_id={w.tree.village.id}", {"working_age": "9"})
    assert res.status_code == 403


def page_group_targets(w: World) -> None:
    assert form_post(w.client, "/admin/targets/groups", {"join_1": "5"}).status_code == 403


def page_targets_import(w: World) -> None:
    data = f"ma_don_vi,ma_nhom,so_nguoi\n{w.tree.village.code},,9\n".encode()
    res = form_post(
        w.client,
        "/admin/targets/import",
        {"unit_id": str(w.tree.ward.id)},
        files={"file": ("chi-tieu.csv", data, "text/csv")},
    )
    assert res.status_code == 422 and "ngoài phạm vi" in res.text


CASES: dict[tuple[str, str], Callable[[World], None]] = {
    ("GET", "/api/v1/admin/users"): api_list_users,
    ("POST", "/api/v1/admin/users"): api_create_user,
    ("GET", "/api/v1/admin/users/{user_id}"): api_get_user,
    ("PATCH", "/api/v1/admin/users/{user_id}"): api_update_user,
    ("POST", "/api/v1/admin/users/{user_id}/deactivate"): api_deactivate,
    ("POST", "/api/v1/admin/users/{user_id}/activate"): api_activate,
    ("POST", "/api/v1/admin/users/{user_id}/reset-password"): api_reset_password,
    ("POST", "/api/v1/admin/users/{user_id}/levels/{level_number}/unlock"): api_unlock_level,
    ("GET", "/api/v1/admin/units"): api_list_units,
    ("GET", "/api/v1/admin/units/{unit_id}"): api_get_unit,
    ("POST", "/api/v1/admin/units"): api_create_unit,
    ("PATCH", "/api/v1/admin/units/{unit_id}"): api_update_unit,
    ("POST", "/api/v1/admin/groups"): api_create_group,
    ("PATCH", "/api/v1/admin/groups/{group_id}"): api_update_group,
    ("POST", "/api/v1/admin/imports/{kind}"): api_import,
    ("GET", "/api/v1/admin/imports"): api_list_imports,
    ("GET", "/api/v1/admin/imports/{import_id}"): api_get_import,
    ("GET", "/admin"): page_admin_home,
    ("GET", "/admin/accounts"): page_accounts,
    ("GET", "/admin/accounts/new"): page_account_new,
    ("POST", "/admin/accounts/new"): page_account_create,
    ("GET", "/admin/accounts/{user_id}"): page_account_edit,
    ("POST", "/admin/accounts/{user_id}"): page_account_update,
    ("POST", "/admin/accounts/{user_id}/reset"): page_account_reset,
    ("POST", "/admin/accounts/{user_id}/active"): page_account_active,
    ("POST", "/admin/accounts/{user_id}/unlock"): page_account_unlock,
    ("GET", "/admin/units"): page_units,
    ("POST", "/admin/units"): page_unit_create,
    ("GET", "/admin/units/{unit_id}"): page_unit_edit,
    ("POST", "/admin/units/{unit_id}"): page_unit_update,
    ("GET", "/admin/groups"): page_groups,
    ("POST", "/admin/groups"): page_group_create,
    ("POST", "/admin/groups/{group_id}"): page_group_update,
    ("GET", "/admin/imports"): page_imports,
    ("GET", "/admin/imports/template/{kind}"): page_import_template,
    ("POST", "/admin/imports"): page_import_submit,
    ("GET", "/api/v1/admin/certificates"): api_list_certificates,
    ("POST", "/api/v1/admin/certificates/{serial}/approve"): api_approve_certificate,
    ("POST", "/api/v1/admin/units/{unit_id}/certificates/approve"): api_approve_unit_certificates,
    ("POST", "/api/v1/admin/certificates/{serial}/revoke"): api_revoke_certificate,
    ("POST", "/api/v1/admin/certificates/{serial}/reissue"): api_reissue_certificate,
    ("GET", "/api/v1/admin/units/{unit_id}/certificates.zip"): api_unit_certificates_zip,
    ("GET", "/admin/units/{unit_id}/certificates.zip"): page_unit_certificates_zip,
    ("GET", "/api/v1/admin/mentors"): api_list_mentors,
    ("POST", "/api/v1/admin/mentors/{mentorship_id}/{action}"): api_mentor_action,
    ("GET", "/admin/mentors"): page_mentors,
    ("POST", "/admin/mentors/{mentorship_id}/{action}"): page_mentor_action,
    ("POST", "/api/v1/admin/users/{user_id}/anonymise"): api_anonymise_user,
    ("POST", "/admin/accounts/{user_id}/anonymise"): page_anonymise_user,
    ("GET", "/api/v1/admin/exports/learners.{fmt}"): api_export_learners,
    ("GET", "/admin/exports"): page_exports,
    ("GET", "/admin/exports/learners.{fmt}"): page_export_learners,
    ("GET", "/api/v1/admin/audit"): api_audit,
    ("GET", "/api/v1/admin/audit.csv"): api_audit_csv,
    ("GET", "/api/v1/admin/system/curriculum"): api_system_curriculum,
    ("GET", "/api/v1/admin/system/grader"): api_system_grader,
    ("GET", "/admin/certificates"): page_certificates,
    ("POST", "/admin/certificates/{serial}/approve"): page_certificate_approve,
    ("POST", "/admin/certificates/approve-unit"): page_certificates_approve_unit,
    ("POST", "/admin/certificates/{serial}/revoke"): page_certificate_revoke,
    ("POST", "/admin/certificates/{serial}/reissue"): page_certificate_reissue,
    ("GET", "/admin/audit"): page_audit,
    ("GET", "/admin/audit.csv"): page_audit_csv,
    ("GET", "/admin/system"): page_system,
    ("GET", "/api/v1/admin/reports/dashboard"): api_report_dashboard,
    ("GET", "/api/v1/admin/reports/quarterly"): api_report_quarterly,
    ("GET", "/api/v1/admin/units/{unit_id}/targets"): api_get_targets,
    ("PUT", "/api/v1/admin/units/{unit_id}/targets"): api_put_targets,
    ("PUT", "/api/v1/admin/groups/{group_id}/targets"): api_group_targets,
    ("GET", "/admin/dashboard"): page_dashboard,
    ("GET", "/admin/reports"): page_reports,
    ("GET", "/admin/reports/download"): page_report_download,
    ("GET", "/admin/targets"): page_targets,
    ("POST", "/admin/targets"): page_targets_save,
    ("POST", "/admin/targets/groups"): page_group_targets,
    ("POST", "/admin/targets/import"): page_targets_import,
}

# Cases whose refused attempts are recorded (an import's row report is kept, and audited).
RECORDS_AN_IMPORT = {api_import, page_import_submit}


def admin_routes(app) -> set[tuple[str, str]]:
    found = set()
    for route in walk(app):
        if isinstance(route.original, APIRoute) and route.path.startswith(
            ("/api/v1/admin", "/admin")
        ):
            found |= {(m, route.path) for m in route.methods if m != "HEAD"}
    return found


def test_every_admin_route_has_a_case(app):
    routes = admin_routes(app)
    assert routes - set(CASES) == set(), "admin routes without a scope case"
    assert set(CASES) - routes == set(), "cases for routes that no longer exist"


def outside_certificate(db: Session, user: User, unit: Unit, level: int, status) -> str:
    from app.certificates.service import new_serial
    from app.models import utcnow

    cert = Certificate(
        serial=new_serial(level, 2026),
        user_id=user.id,
        level_number=level,
        status=status,
        holder_name=user.full_name,
        unit_id=unit.id,
        unit_path=unit.path,
        lessons_passed=2,
        average=80.0,
        eligible_at=utcnow(),
        issued_at=utcnow() if status == CertificateStatus.issued else None,
        credential_jwt="not.a.jwt" if status == CertificateStatus.issued else None,
    )
    db.add(cert)
    db.flush()
    return cert.serial


@pytest.fixture
def world(client, db, tree, lessons) -> World:
    from app.orgs.imports import import_units

    admin = make_user(db, tree.province, role=Role.admin)
    unit_admin = make_user(db, tree.ward, role=Role.unit_admin, name="Quản Trị Phường")
    inside = make_user(db, tree.hamlet, name="Người Trong Phạm Vi")
    outside = make_user(db, tree.village, name=OUTSIDE_NAME)
    data = "ma,ten,loai,ma_cap_tren\nTINH-KHAC,Tỉnh Khác,tỉnh,\n".encode()
    job = import_units(
        db,
        filename="toan-tinh-bi-mat.csv",
        data=data,
        actor_id=admin.id,
        scope_prefix="",
        max_bytes=10_000,
        max_rows=10,
    ).job
    db.flush()
    headers = login(client, unit_admin)
    assert page_login(client, unit_admin).status_code == 303
    pending = outside_certificate(db, outside, tree.commune, 2, CertificateStatus.pending)
    issued = outside_certificate(db, outside, tree.commune, 1, CertificateStatus.issued)
    mentorship = Mentorship(
        user_id=outside.id,
        level_number=1,
        status=MentorStatus.pending,
        unit_path=tree.village.path,
    )
    db.add(mentorship)
    db.flush()
    return World(
        client, db, tree, headers, unit_admin, inside, outside, job, pending, issued, mentorship.id
    )


@pytest.mark.parametrize("key", sorted(CASES), ids=lambda k: f"{k[0]} {k[1]}")
def test_unit_admin_cannot_reach_outside_its_subtree(world: World, key):
    case = CASES[key]
    before = snapshot(world.db)
    audit_before = world.db.scalar(select(AuditLog.id).order_by(AuditLog.id.desc()))
    case(world)
    after = snapshot(world.db)
    if case in RECORDS_AN_IMPORT:
        assert len(after["imports"]) > len(before["imports"])
        after["imports"] = before["imports"]
    assert after == before
    new_audit = world.db.scalars(
        select(AuditLog.action).where(AuditLog.id > (audit_before or 0))
    ).all()
    allowed = ("import.", "audit.export") if case in AUDITS_AN_EXPORT else ("import.",)
    assert all(a.startswith(allowed) for a in new_audit), new_audit
