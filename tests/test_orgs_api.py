"""The unit tree and the learner groups: public reads, admin changes, and their pages."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from app.models import AuditLog, LearnerGroup, Role, Unit, UnitType, User
from app.orgs.service import DEFAULT_GROUPS
from tests.factories import form_post, group, login, make_unit, make_user, page_login

UNITS = "/api/v1/admin/units"
GROUPS = "/api/v1/admin/groups"


def _admin(db, tree):
    return make_user(db, tree.province, role=Role.admin, name="Quản Trị Tỉnh")


def _node(node: dict) -> tuple:
    """A node as (name, has_children, [children...]) to compare whole trees at once."""
    return (node["name"], node["has_children"], [_node(c) for c in node["children"]])


def _tree(client, **params) -> list[tuple]:
    res = client.get("/api/v1/units", params=params)
    assert res.status_code == 200, res.text
    return [_node(n) for n in res.json()]


def _units(db) -> list[tuple]:
    db.expire_all()
    return [
        (u.id, u.code, u.name, u.parent_id, u.path, u.depth, u.is_active)
        for u in db.scalars(select(Unit).order_by(Unit.id))
    ]


def _audit(db, action: str, target_id: int) -> list[AuditLog]:
    db.expire_all()
    return list(
        db.scalars(
            select(AuditLog)
            .where(AuditLog.action == action, AuditLog.target_id == str(target_id))
            .order_by(AuditLog.id)
        )
    )


def _register(client, unit_id: int, **overrides):
    body = {
        "full_name": "Lò Văn Páo",
        "phone": "0912 345 678",
        "password": "chè-Thái-Nguyên-2025",
        "unit_id": unit_id,
    }
    body.update(overrides)
    return client.post("/api/v1/auth/register", json=body)


# ---- the public tree ------------------------------------------------------------------


def test_unit_tree_is_public_and_nested_down_depth_levels(client, db, tree):
    assert _tree(client, depth=1) == [("Tỉnh Thử Nghiệm", True, [])]
    assert _tree(client) == [  # depth 2 by default
        (
            "Tỉnh Thử Nghiệm",
            True,
            [("Phường An Bình", True, []), ("Xã Đồng Tâm", True, [])],
        )
    ]
    assert _tree(client, depth=3) == [
        (
            "Tỉnh Thử Nghiệm",
            True,
            [
                ("Phường An Bình", True, [("Tổ dân phố số 1", False, [])]),
                ("Xã Đồng Tâm", True, [("Thôn Bản Lác", False, [])]),
            ],
        )
    ]
    top = client.get("/api/v1/units", params={"depth": 2}).json()[0]
    assert top["id"] == tree.province.id and top["parent_id"] is None and top["depth"] == 0
    ward = top["children"][0]
    assert (ward["id"], ward["code"], ward["type"], ward["type_label"]) == (
        tree.ward.id,
        tree.ward.code,
        "ward",
        "Phường",
    )
    assert ward["parent_id"] == tree.province.id and ward["depth"] == 1


def test_unit_tree_starts_from_parent_id(client, db, tree):
    assert _tree(client, parent_id=tree.ward.id, depth=1) == [("Phường An Bình", True, [])]
    assert _tree(client, parent_id=tree.ward.id, depth=2) == [
        ("Phường An Bình", True, [("Tổ dân phố số 1", False, [])])
    ]
    assert _tree(client, parent_id=tree.hamlet.id, depth=6) == [("Tổ dân phố số 1", False, [])]
    # Deeper levels than `depth` are reached by asking again from a node with children.
    deep = make_unit(db, "Nhà văn hóa tổ 1", UnitType.agency, tree.hamlet)
    assert _tree(client, parent_id=tree.ward.id, depth=2) == [
        ("Phường An Bình", True, [("Tổ dân phố số 1", True, [])])
    ]
    [node] = client.get("/api/v1/units", params={"parent_id": tree.hamlet.id}).json()
    assert [c["id"] for c in node["children"]] == [deep.id]
    assert node["children"][0]["depth"] == 3
    assert client.get("/api/v1/units", params={"parent_id": 999_999}).status_code == 404


def test_inactive_units_are_not_listed(client, db, tree):
    tree.village.is_active = False
    db.flush()
    assert _tree(client, depth=3) == [
        (
            "Tỉnh Thử Nghiệm",
            True,
            [
                ("Phường An Bình", True, [("Tổ dân phố số 1", False, [])]),
                ("Xã Đồng Tâm", False, []),
            ],
        )
    ]
    assert _tree(client, parent_id=tree.commune.id) == [("Xã Đồng Tâm", False, [])]


@pytest.mark.parametrize(
    ("depth", "message"),
    [(0, "Phải lớn hơn hoặc bằng 1."), (7, "Phải nhỏ hơn hoặc bằng 6."), ("ba", "số nguyên")],
)
def test_unit_tree_depth_out_of_range_is_422_in_vietnamese(client, tree, depth, message):
    res = client.get("/api/v1/units", params={"depth": depth})
    assert res.status_code == 422
    body = res.json()
    assert body["code"] == "validation"
    assert message in body["errors"][0]["message"]
    assert body["errors"][0]["loc"] == ["query", "depth"]


def test_groups_are_public_and_sorted(client, db):
    res = client.get("/api/v1/groups")
    assert res.status_code == 200
    groups = res.json()
    assert [g["code"] for g in groups] == [
        "can_bo",
        "doanh_nghiep",
        "cong_nhan",
        "nong_dan",
        "hoc_sinh",
        "cao_tuoi",
        "khac",
    ]
    assert [(g["code"], g["name"], g["description"]) for g in groups] == list(DEFAULT_GROUPS)
    orders = [g["sort_order"] for g in groups]
    assert orders == sorted(orders) and len(set(orders)) == len(orders)
    assert all(g["is_active"] for g in groups)


# ---- creating units -------------------------------------------------------------------


def test_admin_creates_units_with_path_and_depth(client, db, tree):
    admin = _admin(db, tree)
    headers = login(client, admin)
    res = client.post(
        UNITS,
        headers=headers,
        json={
            "code": "PHUONG-C",
            "name": " Phường  Cẩm Lệ ",
            "type": "ward",
            "parent_id": tree.province.id,
        },
    )
    assert res.status_code == 201, res.text
    body = res.json()
    assert (body["code"], body["name"], body["type"], body["parent_id"], body["depth"]) == (
        "PHUONG-C",
        "Phường Cẩm Lệ",
        "ward",
        tree.province.id,
        1,
    )
    stored = db.get(Unit, body["id"])
    assert stored.path == f"{tree.province.path}{stored.id}/"
    assert stored.path == f"/{tree.province.id}/{stored.id}/"

    res = client.post(
        UNITS,
        headers=headers,
        json={
            "code": "TO-2",
            "name": "Tổ dân phố số 2",
            "type": "residential_group",
            "parent_id": stored.id,
        },
    )
    assert res.status_code == 201
    child = db.get(Unit, res.json()["id"])
    assert (child.path, child.depth) == (f"{stored.path}{child.id}/", 2)

    top = client.post(
        UNITS, headers=headers, json={"code": "T2", "name": "Tỉnh Hai", "type": "province"}
    )
    assert top.status_code == 201
    assert db.get(Unit, top.json()["id"]).path == f"/{top.json()['id']}/"
    assert top.json()["depth"] == 0

    [entry] = _audit(db, "unit.create", stored.id)
    assert entry.actor_id == admin.id
    assert entry.details == {"code": "PHUONG-C", "name": "Phường Cẩm Lệ"}
    # The new unit is offered at once.
    tops = {n["id"]: n for n in client.get("/api/v1/units").json()}
    assert set(tops) == {tree.province.id, top.json()["id"]}
    assert "Phường Cẩm Lệ" in [c["name"] for c in tops[tree.province.id]["children"]]


def test_create_unit_refuses_duplicates_bad_codes_and_unknown_parents(client, db, tree):
    admin = _admin(db, tree)
    headers = login(client, admin)
    before = _units(db)
    body = {"name": "Thôn Mới", "type": "hamlet", "parent_id": tree.commune.id}
    res = client.post(UNITS, headers=headers, json={**body, "code": tree.village.code})
    assert res.status_code == 409
    assert res.json()["detail"] == f"Mã đơn vị “{tree.village.code}” đã tồn tại."
    for code in ("THON MOI", "Thôn-Mới", "-THON", ""):
        res = client.post(UNITS, headers=headers, json={**body, "code": code})
        assert res.status_code == 422, code
        assert res.json()["code"] == "validation"
        assert "Mã chỉ gồm chữ không dấu" in res.json()["detail"], code
    res = client.post(
        UNITS, headers=headers, json={**body, "code": "THON-MOI", "parent_id": 999_999}
    )
    assert res.status_code == 404
    assert res.json()["detail"] == "Không tìm thấy đơn vị."
    assert _units(db) == before


def test_unit_admin_adds_units_only_inside_its_subtree(client, db, tree):
    unit_admin = make_user(db, tree.ward, role=Role.unit_admin)
    headers = login(client, unit_admin)
    body = {"code": "TO-3", "name": "Tổ dân phố số 3", "type": "residential_group"}
    assert client.post(UNITS, headers=headers, json=body).status_code == 403
    res = client.post(UNITS, headers=headers, json={**body, "parent_id": tree.ward.id})
    assert res.status_code == 201
    assert db.get(Unit, res.json()["id"]).path.startswith(tree.ward.path)


# ---- changing units -------------------------------------------------------------------


def test_moving_a_unit_rewrites_its_whole_subtree(client, db, tree):
    admin = _admin(db, tree)
    house = make_unit(db, "Nhà văn hóa tổ 1", UnitType.agency, tree.hamlet)
    untouched = {u.id: (u.path, u.depth) for u in (tree.province, tree.commune, tree.village)}
    res = client.patch(
        f"{UNITS}/{tree.ward.id}", headers=login(client, admin), json={"parent_id": tree.commune.id}
    )
    assert res.status_code == 200, res.text
    assert res.json()["parent_id"] == tree.commune.id and res.json()["depth"] == 2
    db.expire_all()
    ward, hamlet, house = (db.get(Unit, u.id) for u in (tree.ward, tree.hamlet, house))
    commune_path = f"/{tree.province.id}/{tree.commune.id}/"
    assert (ward.parent_id, ward.path, ward.depth) == (
        tree.commune.id,
        f"{commune_path}{ward.id}/",
        2,
    )
    assert (hamlet.parent_id, hamlet.path, hamlet.depth) == (
        ward.id,
        f"{commune_path}{ward.id}/{hamlet.id}/",
        3,
    )
    assert (house.path, house.depth) == (f"{hamlet.path}{house.id}/", 4)
    for uid, (path, depth) in untouched.items():
        unit = db.get(Unit, uid)
        assert (unit.path, unit.depth) == (path, depth)
    [entry] = _audit(db, "unit.update", tree.ward.id)
    assert entry.actor_id == admin.id
    assert entry.details == {"parent_id": [str(tree.province.id), str(tree.commune.id)]}
    assert _tree(client, parent_id=tree.commune.id, depth=4) == [
        (
            "Xã Đồng Tâm",
            True,
            [
                (
                    "Phường An Bình",
                    True,
                    [("Tổ dân phố số 1", True, [("Nhà văn hóa tổ 1", False, [])])],
                ),
                ("Thôn Bản Lác", False, []),
            ],
        )
    ]


def test_an_admin_moves_a_subtree_to_the_top(client, db, tree):
    admin = _admin(db, tree)
    res = client.patch(
        f"{UNITS}/{tree.commune.id}", headers=login(client, admin), json={"parent_id": None}
    )
    assert res.status_code == 200
    db.expire_all()
    commune, village = db.get(Unit, tree.commune.id), db.get(Unit, tree.village.id)
    assert (commune.parent_id, commune.path, commune.depth) == (None, f"/{commune.id}/", 0)
    assert (village.path, village.depth) == (f"/{commune.id}/{village.id}/", 1)
    assert [n[0] for n in _tree(client, depth=1)] == ["Tỉnh Thử Nghiệm", "Xã Đồng Tâm"]


def test_moving_a_unit_under_its_own_descendant_is_refused(client, db, tree):
    admin = _admin(db, tree)
    headers = login(client, admin)
    before = _units(db)
    for unit, target in (
        (tree.province, tree.hamlet),
        (tree.ward, tree.hamlet),
        (tree.ward, tree.ward),
    ):
        res = client.patch(
            f"{UNITS}/{unit.id}", headers=headers, json={"parent_id": target.id, "name": "Đổi Tên"}
        )
        assert res.status_code == 422, (unit.name, target.name)
        assert res.json()["code"] == "cycle"
        assert res.json()["detail"] == "Không thể chuyển đơn vị vào bên trong chính nó."
    assert _units(db) == before
    assert _audit(db, "unit.update", tree.ward.id) == []


def test_a_unit_with_active_children_cannot_be_deactivated(client, db, tree):
    admin = _admin(db, tree)
    headers = login(client, admin)
    before = _units(db)
    res = client.patch(f"{UNITS}/{tree.ward.id}", headers=headers, json={"is_active": False})
    assert res.status_code == 422
    assert res.json()["code"] == "has_children"
    assert "đơn vị con đang hoạt động" in res.json()["detail"]
    assert _units(db) == before
    # Once its only child is retired, it may follow.
    assert (
        client.patch(f"{UNITS}/{tree.hamlet.id}", headers=headers, json={"is_active": False})
    ).status_code == 200
    res = client.patch(f"{UNITS}/{tree.ward.id}", headers=headers, json={"is_active": False})
    assert res.status_code == 200 and res.json()["is_active"] is False


def test_a_deactivated_leaf_leaves_the_tree_registration_and_sign_up(client, db, tree):
    admin = _admin(db, tree)
    page = client.get(f"/register?unit={tree.ward.id}")
    assert page.status_code == 200 and "Tổ dân phố số 1" in page.text
    res = client.patch(
        f"{UNITS}/{tree.hamlet.id}", headers=login(client, admin), json={"is_active": False}
    )
    assert res.status_code == 200, res.text
    assert res.json()["is_active"] is False
    db.expire_all()
    assert db.get(Unit, tree.hamlet.id).is_active is False
    assert _tree(client, parent_id=tree.ward.id) == [("Phường An Bình", False, [])]
    page = client.get(f"/register?unit={tree.ward.id}")
    assert page.status_code == 200
    assert "Phường An Bình" in page.text and "Tổ dân phố số 1" not in page.text
    # A stale link to the retired unit does not offer its sign-up form.
    assert 'name="full_name"' not in client.get(f"/register?unit={tree.hamlet.id}").text
    res = _register(client, tree.hamlet.id)
    assert res.status_code == 422
    assert res.json()["detail"] == "Đơn vị đã chọn không tồn tại."
    assert db.scalar(select(User).where(User.phone == "+84912345678")) is None
    [entry] = _audit(db, "unit.update", tree.hamlet.id)
    assert entry.details == {"is_active": ["True", "False"]}
    # Registering into an active unit still works.
    assert _register(client, tree.ward.id).status_code == 201


def test_a_unit_cannot_be_moved_under_an_inactive_parent(client, db, tree):
    admin = _admin(db, tree)
    tree.village.is_active = False
    db.flush()
    before = _units(db)
    res = client.patch(
        f"{UNITS}/{tree.hamlet.id}",
        headers=login(client, admin),
        json={"parent_id": tree.village.id},
    )
    assert res.status_code == 422, res.text
    assert _units(db) == before


def test_unit_admin_renames_its_root_but_cannot_move_or_retire_it(client, db, tree):
    unit_admin = make_user(db, tree.ward, role=Role.unit_admin)
    headers = login(client, unit_admin)
    res = client.patch(
        f"{UNITS}/{tree.ward.id}", headers=headers, json={"name": "Phường An Bình Mới"}
    )
    assert res.status_code == 200
    assert res.json()["name"] == "Phường An Bình Mới"
    before = _units(db)
    for change in (
        {"parent_id": tree.commune.id},
        {"parent_id": tree.province.id},
        {"parent_id": None},
        {"is_active": False},
        {"name": "Tên Khác", "is_active": False},
    ):
        res = client.patch(f"{UNITS}/{tree.ward.id}", headers=headers, json=change)
        assert res.status_code == 403, change
        assert res.json()["detail"] == "Bạn không thể chuyển hoặc ngừng đơn vị gốc của mình."
    assert _units(db) == before
    assert db.get(Unit, tree.ward.id).name == "Phường An Bình Mới"
    # Inside its subtree it may still retire a leaf.
    res = client.patch(f"{UNITS}/{tree.hamlet.id}", headers=headers, json={"is_active": False})
    assert res.status_code == 200


# ---- learner groups -------------------------------------------------------------------


def _public_codes(client) -> list[str]:
    return [g["code"] for g in client.get("/api/v1/groups").json()]


def test_admin_creates_renames_and_retires_groups(client, db, tree):
    admin = _admin(db, tree)
    headers = login(client, admin)
    res = client.post(
        GROUPS,
        headers=headers,
        json={"code": "ngu_dan", "name": "Ngư  dân", "description": "Đánh bắt", "sort_order": 35},
    )
    assert res.status_code == 201, res.text
    created = res.json()
    assert (created["code"], created["name"], created["sort_order"], created["is_active"]) == (
        "ngu_dan",
        "Ngư dân",
        35,
        True,
    )
    codes = _public_codes(client)
    assert codes.index("ngu_dan") == codes.index("nong_dan") + 1  # sort order 30 < 35 < 40
    [entry] = _audit(db, "group.create", created["id"])
    assert entry.actor_id == admin.id and entry.details == {"code": "ngu_dan", "name": "Ngư dân"}

    for code in ("ngu_dan", "can_bo"):
        dup = client.post(GROUPS, headers=headers, json={"code": code, "name": "Trùng Mã"})
        assert dup.status_code == 409
        assert dup.json()["detail"] == f"Mã nhóm “{code}” đã tồn tại."
    bad = client.post(GROUPS, headers=headers, json={"code": "ngư dân", "name": "Ngư dân"})
    assert bad.status_code == 422
    assert db.scalar(select(LearnerGroup).where(LearnerGroup.name == "Trùng Mã")) is None

    gid = created["id"]
    res = client.patch(f"{GROUPS}/{gid}", headers=headers, json={"name": "Ngư dân ven biển"})
    assert res.status_code == 200 and res.json()["name"] == "Ngư dân ven biển"
    res = client.patch(f"{GROUPS}/{gid}", headers=headers, json={"is_active": False})
    assert res.status_code == 200 and res.json()["is_active"] is False
    assert "ngu_dan" not in _public_codes(client)
    res = _register(client, tree.hamlet.id, group_id=gid)
    assert res.status_code == 422
    assert res.json()["detail"] == "Nhóm học viên đã chọn không tồn tại."
    updates = _audit(db, "group.update", gid)
    assert [(e.actor_id, e.details) for e in updates] == [
        (admin.id, {"name": ["Ngư dân", "Ngư dân ven biển"]}),
        (admin.id, {"is_active": ["True", "False"]}),
    ]


def test_retiring_a_default_group_hides_it(client, db, tree):
    admin = _admin(db, tree)
    seniors = group(db, "cao_tuoi")
    assert (
        _register(client, tree.hamlet.id, group_id=seniors.id, phone="0912000001").status_code
        == 201
    )
    res = client.patch(
        f"{GROUPS}/{seniors.id}", headers=login(client, admin), json={"is_active": False}
    )
    assert res.status_code == 200
    assert "cao_tuoi" not in _public_codes(client) and len(_public_codes(client)) == 6
    assert _register(client, tree.hamlet.id, group_id=seniors.id).status_code == 422
    assert (
        client.patch(f"{GROUPS}/999999", headers=login(client, admin), json={}).status_code == 404
    )


def test_only_admins_manage_groups(client, db, tree):
    unit_admin = make_user(db, tree.ward, role=Role.unit_admin)
    headers = login(client, unit_admin)
    res = client.post(GROUPS, headers=headers, json={"code": "ngu_dan", "name": "Ngư dân"})
    assert res.status_code == 403
    res = client.patch(f"{GROUPS}/{group(db).id}", headers=headers, json={"is_active": False})
    assert res.status_code == 403
    assert "ngu_dan" not in _public_codes(client) and "can_bo" in _public_codes(client)


# ---- the unit and group pages ---------------------------------------------------------


def test_unit_edit_page_renames_and_moves_by_parent_code(client, db, tree):
    admin = _admin(db, tree)
    page_login(client, admin)
    page = client.get(f"/admin/units/{tree.ward.id}")
    assert page.status_code == 200
    assert f'action="/admin/units/{tree.ward.id}"' in page.text
    assert 'value="Phường An Bình"' in page.text
    assert re.search(rf'id="parent_code"[^>]*value="{tree.province.code}"', page.text)
    res = form_post(
        client,
        f"/admin/units/{tree.ward.id}",
        {"name": "Phường An Bình Mới", "type": "ward", "parent_code": tree.commune.code},
        follow_redirects=False,
    )
    assert res.status_code == 303
    assert res.headers["location"] == f"/admin/units/{tree.ward.id}?saved=1"
    db.expire_all()
    ward, hamlet = db.get(Unit, tree.ward.id), db.get(Unit, tree.hamlet.id)
    assert (ward.name, ward.parent_id, ward.depth) == ("Phường An Bình Mới", tree.commune.id, 2)
    assert hamlet.path == f"/{tree.province.id}/{tree.commune.id}/{ward.id}/{hamlet.id}/"
    assert hamlet.depth == 3
    saved = client.get(res.headers["location"])
    assert "Đã lưu." in saved.text and f'value="{tree.commune.code}"' in saved.text


def test_unit_edit_page_with_an_unknown_parent_code_changes_nothing(client, db, tree):
    admin = _admin(db, tree)
    page_login(client, admin)
    before = _units(db)
    res = form_post(
        client,
        f"/admin/units/{tree.ward.id}",
        {"name": "Tên Không Lưu", "type": "ward", "parent_code": "KHONG-CO"},
        follow_redirects=False,
    )
    assert 400 <= res.status_code < 500
    assert "Không tìm thấy đơn vị cấp trên có mã “KHONG-CO”." in res.text
    assert 'value="KHONG-CO"' in res.text and 'value="Tên Không Lưu"' in res.text
    assert _units(db) == before
    cycle = form_post(
        client,
        f"/admin/units/{tree.ward.id}",
        {"name": "Tên Không Lưu", "type": "ward", "parent_code": tree.hamlet.code},
        follow_redirects=False,
    )
    assert cycle.status_code == 422
    assert "Không thể chuyển đơn vị vào bên trong chính nó." in cycle.text
    assert _units(db) == before


def test_unit_edit_page_retires_a_leaf(client, db, tree):
    admin = _admin(db, tree)
    page_login(client, admin)
    res = form_post(
        client, f"/admin/units/{tree.village.id}", {"is_active": "0"}, follow_redirects=False
    )
    assert res.status_code == 303
    db.expire_all()
    assert db.get(Unit, tree.village.id).is_active is False
    assert "Hoạt động trở lại" in client.get(f"/admin/units/{tree.village.id}").text
    refused = form_post(
        client, f"/admin/units/{tree.ward.id}", {"is_active": "0"}, follow_redirects=False
    )
    assert refused.status_code == 422
    assert "đơn vị con đang hoạt động" in refused.text
    db.expire_all()
    assert db.get(Unit, tree.ward.id).is_active is True


def test_unit_admin_edit_page_renames_its_root_without_moving_it(client, db, tree):
    unit_admin = make_user(db, tree.ward, role=Role.unit_admin)
    page_login(client, unit_admin)
    page = client.get(f"/admin/units/{tree.ward.id}")
    assert page.status_code == 200 and 'name="parent_code"' not in page.text
    res = form_post(
        client,
        f"/admin/units/{tree.ward.id}",
        {"name": "Phường Mới", "type": "ward", "parent_code": tree.commune.code},
        follow_redirects=False,
    )
    assert res.status_code == 303
    db.expire_all()
    ward = db.get(Unit, tree.ward.id)
    assert (ward.name, ward.parent_id) == ("Phường Mới", tree.province.id)


def test_groups_page_adds_renames_and_retires(client, db, tree):
    admin = _admin(db, tree)
    page_login(client, admin)
    page = client.get("/admin/groups")
    assert page.status_code == 200
    for code, name, _ in DEFAULT_GROUPS:
        assert f"<code>{code}</code>" in page.text and f'value="{name}"' in page.text

    res = form_post(
        client,
        "/admin/groups",
        {"code": "ngu_dan", "name": "Ngư dân", "description": "Đánh bắt thủy sản"},
        follow_redirects=False,
    )
    assert res.status_code == 303 and res.headers["location"] == "/admin/groups?saved=1"
    created = db.scalar(select(LearnerGroup).where(LearnerGroup.code == "ngu_dan"))
    assert (created.name, created.description, created.is_active) == (
        "Ngư dân",
        "Đánh bắt thủy sản",
        True,
    )
    assert _public_codes(client)[-1] == "ngu_dan"  # added at the end of the list
    dup = form_post(client, "/admin/groups", {"code": "can_bo", "name": "Cán bộ khác"})
    assert dup.status_code == 409
    assert "Mã nhóm “can_bo” đã tồn tại." in dup.text and 'value="Cán bộ khác"' in dup.text
    bad = form_post(client, "/admin/groups", {"code": "ngư dân", "name": "Ngư dân"})
    assert bad.status_code == 422 and "Mã chỉ gồm chữ không dấu" in bad.text

    renamed = form_post(
        client,
        f"/admin/groups/{created.id}",
        {"name": "Ngư dân ven biển", "is_active": "1"},
        follow_redirects=False,
    )
    assert renamed.status_code == 303
    db.expire_all()
    assert db.get(LearnerGroup, created.id).name == "Ngư dân ven biển"
    retired = form_post(
        client,
        f"/admin/groups/{created.id}",
        {"name": "Ngư dân ven biển", "is_active": "0"},
        follow_redirects=False,
    )
    assert retired.status_code == 303
    db.expire_all()
    assert db.get(LearnerGroup, created.id).is_active is False
    assert "ngu_dan" not in _public_codes(client)
    assert "Ngừng dùng</span>" in client.get("/admin/groups").text
    assert [e.action for e in _audit(db, "group.create", created.id)] == ["group.create"]
    assert len(_audit(db, "group.update", created.id)) == 2


def test_unit_admin_cannot_open_the_groups_page(client, db, tree):
    unit_admin = make_user(db, tree.ward, role=Role.unit_admin)
    page_login(client, unit_admin)
    assert client.get("/admin/groups").status_code == 403
    res = form_post(client, "/admin/groups", {"code": "ngu_dan", "name": "Ngư dân"})
    assert res.status_code == 403
    assert db.scalar(select(LearnerGroup).where(LearnerGroup.code == "ngu_dan")) is None
