"""Account administration: the JSON API under /api/v1/admin/users and the account pages."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from app.core.security import verify_password
from app.models import AuditLog, PasswordResetToken, Role, User, utcnow
from tests.factories import (
    PASSWORD,
    csrf_of,
    form_post,
    group,
    login,
    make_user,
    page_login,
    tokens,
)

USERS = "/api/v1/admin/users"
NEW_PASSWORD = "mat-khau-moi-2025"


def _admin(db, tree):
    return make_user(db, tree.province, role=Role.admin, name="Quản Trị Tỉnh")


def _bearer(access: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {access}"}


def _sign_in(client, identifier: str, password: str):
    return client.post("/api/v1/auth/login", json={"identifier": identifier, "password": password})


def _audit(db, action: str, target_id: int) -> list[AuditLog]:
    db.expire_all()
    return list(
        db.scalars(
            select(AuditLog)
            .where(AuditLog.action == action, AuditLog.target_id == str(target_id))
            .order_by(AuditLog.id)
        )
    )


def _user_count(db) -> int:
    return db.scalar(select(func.count()).select_from(User))


def _fresh(db, user: User) -> User:
    db.expire_all()
    return db.get(User, user.id)


# ---- creating accounts ----------------------------------------------------------------


def test_admin_creates_an_account_with_normalised_contacts_and_a_temporary_password(
    client, db, tree
):
    admin = _admin(db, tree)
    headers = login(client, admin)
    farmers = group(db, "nong_dan")
    res = client.post(
        USERS,
        headers=headers,
        json={
            "full_name": "  Đặng   Thị Mai ",
            "phone": "0388.123.456",
            "email": "Mai.Dang@Example.VN",
            "unit_id": tree.village.id,
            "group_id": farmers.id,
        },
    )
    assert res.status_code == 201, res.text
    body = res.json()
    created = body["user"]
    assert created["full_name"] == "Đặng Thị Mai"
    assert created["phone"] == "+84388123456"
    assert created["email"] == "mai.dang@example.vn"
    assert created["role"] == "learner"
    assert created["unit"]["id"] == tree.village.id
    assert created["group"]["code"] == "nong_dan"
    assert created["must_change_password"] is True and created["is_active"] is True
    temporary = body["temporary_password"]
    assert len(temporary) == 10

    stored = db.get(User, created["id"])
    assert verify_password(stored.password_hash, temporary)
    # Shown once: reading the account again never returns it.
    again = client.get(f"{USERS}/{created['id']}", headers=headers)
    assert again.status_code == 200
    assert "temporary_password" not in again.json()
    assert temporary not in again.text

    # The person signs in with the phone typed another way and must change the password.
    first = _sign_in(client, "+84 388 123 456", temporary)
    assert first.status_code == 200, first.text
    assert first.json()["must_change_password"] is True
    assert _sign_in(client, "MAI.DANG@example.vn", temporary).status_code == 200


def test_new_account_must_change_password_before_anything_else(client, db, tree):
    admin = _admin(db, tree)
    res = client.post(
        USERS,
        headers=login(client, admin),
        json={
            "full_name": "Vi Văn Thắng",
            "phone": "0977 222 333",
            "unit_id": tree.ward.id,
            "role": "unit_admin",
        },
    )
    assert res.status_code == 201, res.text
    temporary = res.json()["temporary_password"]
    pair = _sign_in(client, "0977222333", temporary).json()
    assert pair["must_change_password"] is True
    headers = _bearer(pair["access_token"])
    blocked = client.get(USERS, headers=headers)
    assert blocked.status_code == 403
    assert blocked.json()["code"] == "password_change_required"
    assert "đổi mật khẩu" in blocked.json()["detail"]
    assert client.get("/api/v1/me", headers=headers).json()["must_change_password"] is True

    changed = client.post(
        "/api/v1/auth/password",
        headers=headers,
        json={"current_password": temporary, "new_password": NEW_PASSWORD},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["must_change_password"] is False
    fresh = _bearer(changed.json()["access_token"])
    assert client.get(USERS, headers=fresh).status_code == 200
    relogin = _sign_in(client, "0977222333", NEW_PASSWORD)
    assert relogin.json()["must_change_password"] is False


def test_duplicate_phone_or_email_in_another_format_is_409(client, db, tree):
    admin = _admin(db, tree)
    make_user(db, tree.hamlet, phone="+84912345678", email="hoa@example.vn")
    headers = login(client, admin)
    before = _user_count(db)
    base = {"full_name": "Người Trùng", "unit_id": tree.hamlet.id}
    res = client.post(USERS, headers=headers, json={**base, "phone": "0912.345.678"})
    assert res.status_code == 409
    assert res.json()["detail"] == "Số điện thoại này đã được dùng cho một tài khoản khác."
    res = client.post(USERS, headers=headers, json={**base, "phone": "84 912 345 678"})
    assert res.status_code == 409
    res = client.post(USERS, headers=headers, json={**base, "email": " HOA@Example.VN "})
    assert res.status_code == 409
    assert res.json()["detail"] == "Thư điện tử này đã được dùng cho một tài khoản khác."
    assert _user_count(db) == before


def test_missing_contacts_or_unknown_unit_is_422(client, db, tree):
    admin = _admin(db, tree)
    headers = login(client, admin)
    before = _user_count(db)
    res = client.post(
        USERS, headers=headers, json={"full_name": "Không Liên Lạc", "unit_id": tree.hamlet.id}
    )
    assert res.status_code == 422
    assert res.json()["code"] == "validation"
    assert "Cần có số điện thoại hoặc thư điện tử" in res.json()["detail"]
    res = client.post(
        USERS,
        headers=headers,
        json={"full_name": "Không Đơn Vị", "phone": "0977000111", "unit_id": 999_999},
    )
    assert res.status_code == 422
    assert res.json()["detail"] == "Đơn vị đã chọn không tồn tại."
    assert _user_count(db) == before


def test_only_an_admin_grants_administrator_roles(client, db, tree):
    unit_admin = make_user(db, tree.ward, role=Role.unit_admin)
    admin = _admin(db, tree)
    ua_headers = login(client, unit_admin)
    before = _user_count(db)
    for n, role in enumerate(("unit_admin", "admin")):
        res = client.post(
            USERS,
            headers=ua_headers,
            json={
                "full_name": "Người Được Giao",
                "phone": f"098700011{n}",
                "unit_id": tree.hamlet.id,
                "role": role,
            },
        )
        assert res.status_code == 403, role
        assert "Chỉ quản trị hệ thống" in res.json()["detail"]
    assert _user_count(db) == before
    # A unit admin may still create learners inside its subtree (mentors come only from a
    # mentorship: tests/test_hardening_accounts.py).
    res = client.post(
        USERS,
        headers=ua_headers,
        json={
            "full_name": "Người Học Mới",
            "phone": "0987000119",
            "unit_id": tree.hamlet.id,
            "role": "learner",
        },
    )
    assert res.status_code == 201
    res = client.post(
        USERS,
        headers=login(client, admin),
        json={
            "full_name": "Quản Trị Phường",
            "phone": "0987000110",
            "unit_id": tree.ward.id,
            "role": "unit_admin",
        },
    )
    assert res.status_code == 201, res.text
    assert db.get(User, res.json()["user"]["id"]).role == Role.unit_admin


# ---- listing --------------------------------------------------------------------------


@pytest.fixture
def people(db, tree):
    admin = _admin(db, tree)
    an = make_user(db, tree.hamlet, name="Nguyễn Văn An", phone="+84901000001")
    binh = make_user(db, tree.ward, name="Nguyễn Thị Bình", role=Role.mentor)
    cuong = make_user(db, tree.village, name="Trần Văn Cường")
    cuong.is_active = False
    dung = make_user(db, tree.commune, name="Lê Thị Dung", role=Role.unit_admin)
    db.flush()
    return {"admin": admin, "an": an, "binh": binh, "cuong": cuong, "dung": dung}


def _names(res) -> list[str]:
    assert res.status_code == 200, res.text
    return [u["full_name"] for u in res.json()["items"]]


def test_list_filters_by_name_phone_role_active_and_unit_subtree(client, db, tree, people):
    headers = login(client, people["admin"])
    everyone = client.get(USERS, headers=headers)
    assert _names(everyone) == [
        "Lê Thị Dung",
        "Nguyễn Thị Bình",
        "Nguyễn Văn An",
        "Quản Trị Tỉnh",
        "Trần Văn Cường",
    ]
    assert everyone.json()["total"] == 5
    assert _names(client.get(USERS, headers=headers, params={"q": "nguyễn"})) == [
        "Nguyễn Thị Bình",
        "Nguyễn Văn An",
    ]
    assert _names(client.get(USERS, headers=headers, params={"q": "Văn"})) == [
        "Nguyễn Văn An",
        "Trần Văn Cường",
    ]
    assert _names(client.get(USERS, headers=headers, params={"q": "901000001"})) == [
        "Nguyễn Văn An"
    ]
    assert _names(client.get(USERS, headers=headers, params={"role": "mentor"})) == [
        "Nguyễn Thị Bình"
    ]
    assert _names(client.get(USERS, headers=headers, params={"active": "false"})) == [
        "Trần Văn Cường"
    ]
    assert len(_names(client.get(USERS, headers=headers, params={"active": "true"}))) == 4
    # A unit's filter includes everything below it.
    assert _names(client.get(USERS, headers=headers, params={"unit_id": tree.ward.id})) == [
        "Nguyễn Thị Bình",
        "Nguyễn Văn An",
    ]
    assert _names(client.get(USERS, headers=headers, params={"unit_id": tree.hamlet.id})) == [
        "Nguyễn Văn An"
    ]
    res = client.get(USERS, headers=headers, params={"unit_id": tree.commune.id, "active": True})
    assert _names(res) == ["Lê Thị Dung"]
    assert res.json()["total"] == 1
    res = client.get(USERS, headers=headers, params={"unit_id": 999_999})
    assert res.status_code == 404


def test_list_pagination_reports_exact_totals(client, db, tree, people):
    headers = login(client, people["admin"])
    seen: list[int] = []
    sizes = []
    for page in (1, 2, 3):
        res = client.get(USERS, headers=headers, params={"page": page, "per_page": 2})
        assert res.status_code == 200
        body = res.json()
        assert (body["total"], body["page"], body["per_page"]) == (5, page, 2)
        sizes.append(len(body["items"]))
        seen += [u["id"] for u in body["items"]]
    assert sizes == [2, 2, 1]
    assert sorted(seen) == sorted(u.id for u in people.values())
    beyond = client.get(USERS, headers=headers, params={"page": 4, "per_page": 2}).json()
    assert beyond["items"] == [] and beyond["total"] == 5
    filtered = client.get(
        USERS, headers=headers, params={"q": "Nguyễn", "page": 2, "per_page": 1}
    ).json()
    assert filtered["total"] == 2
    assert [u["full_name"] for u in filtered["items"]] == ["Nguyễn Văn An"]
    assert client.get(USERS, headers=headers, params={"per_page": 201}).status_code == 422
    assert client.get(USERS, headers=headers, params={"page": 0}).status_code == 422


def test_list_finds_a_phone_typed_in_the_local_format(client, db, tree, people):
    headers = login(client, people["admin"])
    assert _names(client.get(USERS, headers=headers, params={"q": "0901000001"})) == [
        "Nguyễn Văn An"
    ]


def test_list_search_ignores_the_case_of_vietnamese_letters(client, db, tree, people):
    make_user(db, tree.hamlet, name="Đặng Thị Mai")
    headers = login(client, people["admin"])
    for q in ("Đặng", "đặng", "ĐẶNG", "dang thi", "DANG  THI MAI"):
        assert _names(client.get(USERS, headers=headers, params={"q": q})) == ["Đặng Thị Mai"], q
    for q in ("%", "_", "m%i", "m_i"):  # LIKE wildcards are taken literally
        assert _names(client.get(USERS, headers=headers, params={"q": q})) == [], q


def test_list_finds_a_phone_in_every_written_form(client, db, tree, people):
    headers = login(client, people["admin"])
    for q in ("0901 000 001", "+84 901.000.001", "84901000001", "901000001"):
        assert _names(client.get(USERS, headers=headers, params={"q": q})) == ["Nguyễn Văn An"], q


# ---- updating -------------------------------------------------------------------------


def test_admin_renames_moves_and_changes_role_with_an_audited_diff(client, db, tree):
    admin = _admin(db, tree)
    user = make_user(db, tree.hamlet, name="Nguyễn Văn Bảy")
    res = client.patch(
        f"{USERS}/{user.id}",
        headers=login(client, admin),
        json={"full_name": "  Nguyễn  Văn Tám ", "unit_id": tree.village.id, "role": "unit_admin"},
    )
    assert res.status_code == 200, res.text
    body = res.json()
    assert body["full_name"] == "Nguyễn Văn Tám"
    assert body["unit"]["id"] == tree.village.id and body["role"] == "unit_admin"
    stored = _fresh(db, user)
    assert (stored.full_name, stored.unit_id, stored.role) == (
        "Nguyễn Văn Tám",
        tree.village.id,
        Role.unit_admin,
    )
    [entry] = _audit(db, "account.update", user.id)
    assert entry.actor_id == admin.id
    assert entry.target_type == "user"
    assert entry.details == {
        "full_name": ["Nguyễn Văn Bảy", "Nguyễn Văn Tám"],
        "unit_id": [str(tree.hamlet.id), str(tree.village.id)],
        "role": ["learner", "unit_admin"],
    }
    assert entry.unit_path == tree.village.path


def test_changing_the_phone_to_a_used_one_is_409_and_changes_nothing(client, db, tree):
    admin = _admin(db, tree)
    make_user(db, tree.hamlet, phone="+84912000111")
    user = make_user(db, tree.hamlet, name="Hà Thị Lan", phone="+84912000222")
    res = client.patch(
        f"{USERS}/{user.id}",
        headers=login(client, admin),
        json={"full_name": "Hà Thị Huệ", "phone": "0912 000 111", "unit_id": tree.ward.id},
    )
    assert res.status_code == 409
    assert res.json()["detail"] == "Số điện thoại này đã được dùng cho một tài khoản khác."
    stored = _fresh(db, user)
    assert (stored.full_name, stored.phone, stored.unit_id) == (
        "Hà Thị Lan",
        "+84912000222",
        tree.hamlet.id,
    )
    assert _audit(db, "account.update", user.id) == []


def test_changing_the_phone_normalises_it(client, db, tree):
    admin = _admin(db, tree)
    user = make_user(db, tree.hamlet, phone="+84912000222")
    res = client.patch(
        f"{USERS}/{user.id}", headers=login(client, admin), json={"phone": "0933-444-555"}
    )
    assert res.status_code == 200
    assert _fresh(db, user).phone == "+84933444555"
    assert _sign_in(client, "0933444555", PASSWORD).status_code == 200
    # Removing the only contact is refused.
    res = client.patch(f"{USERS}/{user.id}", headers=login(client, admin), json={"phone": None})
    assert res.status_code == 422
    assert res.json()["detail"] == "Tài khoản cần có số điện thoại hoặc thư điện tử."
    assert _fresh(db, user).phone == "+84933444555"


def test_unit_admin_cannot_change_another_admin_account(client, db, tree):
    unit_admin = make_user(db, tree.ward, role=Role.unit_admin)
    other = make_user(db, tree.hamlet, role=Role.unit_admin, name="Quản Trị Tổ")
    headers = login(client, unit_admin)
    res = client.patch(f"{USERS}/{other.id}", headers=headers, json={"full_name": "Đổi Tên"})
    assert res.status_code == 403
    assert res.json()["detail"] == "Bạn không thể thay đổi tài khoản quản trị khác."
    assert client.post(f"{USERS}/{other.id}/deactivate", headers=headers).status_code == 403
    res = client.post(f"{USERS}/{other.id}/reset-password", headers=headers, json={})
    assert res.status_code == 403
    stored = _fresh(db, other)
    assert (stored.full_name, stored.is_active) == ("Quản Trị Tổ", True)
    # ...nor promote a learner of its subtree.
    learner = make_user(db, tree.hamlet)
    res = client.patch(f"{USERS}/{learner.id}", headers=headers, json={"role": "unit_admin"})
    assert res.status_code == 403
    assert _fresh(db, learner).role == Role.learner
    # An admin can.
    admin = _admin(db, tree)
    res = client.patch(
        f"{USERS}/{other.id}", headers=login(client, admin), json={"full_name": "Đổi Tên"}
    )
    assert res.status_code == 200
    assert _fresh(db, other).full_name == "Đổi Tên"
    res = client.patch(
        f"{USERS}/{learner.id}", headers=login(client, admin), json={"role": "unit_admin"}
    )
    assert res.status_code == 200
    assert _fresh(db, learner).role == Role.unit_admin


def test_nobody_changes_their_own_role(client, db, tree):
    admin = _admin(db, tree)
    unit_admin = make_user(db, tree.ward, role=Role.unit_admin)
    for actor, role in ((admin, "learner"), (admin, "unit_admin"), (unit_admin, "learner")):
        res = client.patch(f"{USERS}/{actor.id}", headers=login(client, actor), json={"role": role})
        assert res.status_code == 403, (actor.role, role)
    assert "chính mình" in res.json()["detail"]
    assert _fresh(db, admin).role == Role.admin
    assert _fresh(db, unit_admin).role == Role.unit_admin
    # Their own name they may change.
    res = client.patch(
        f"{USERS}/{unit_admin.id}", headers=login(client, unit_admin), json={"full_name": "Tên Mới"}
    )
    assert res.status_code == 200
    assert _fresh(db, unit_admin).full_name == "Tên Mới"


def test_unit_admin_may_send_its_unchanged_role(client, db, tree):
    unit_admin = make_user(db, tree.ward, role=Role.unit_admin)
    res = client.patch(
        f"{USERS}/{unit_admin.id}",
        headers=login(client, unit_admin),
        json={"full_name": "Tên Mới", "role": "unit_admin"},
    )
    assert res.status_code == 200, res.text
    assert _fresh(db, unit_admin).full_name == "Tên Mới"


# ---- deactivating ---------------------------------------------------------------------


def test_deactivation_ends_sessions_at_once_and_blocks_sign_in(client, db, tree):
    admin = _admin(db, tree)
    user = make_user(db, tree.hamlet)
    pair = tokens(client, user)
    headers = _bearer(pair["access_token"])
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    admin_headers = login(client, admin)

    res = client.post(f"{USERS}/{user.id}/deactivate", headers=admin_headers)
    assert res.status_code == 200
    assert res.json()["is_active"] is False
    assert client.get("/api/v1/me", headers=headers).status_code == 401
    refreshed = client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert refreshed.status_code == 401
    denied = _sign_in(client, user.login_name, PASSWORD)
    assert denied.status_code == 401
    assert denied.json()["code"] == "inactive"
    assert _fresh(db, user).is_active is False
    [entry] = _audit(db, "account.deactivate", user.id)
    assert entry.actor_id == admin.id

    res = client.post(f"{USERS}/{user.id}/activate", headers=admin_headers)
    assert res.status_code == 200 and res.json()["is_active"] is True
    assert _sign_in(client, user.login_name, PASSWORD).status_code == 200
    # The sessions ended by the deactivation stay ended.
    assert client.get("/api/v1/me", headers=headers).status_code == 401
    [entry] = _audit(db, "account.activate", user.id)
    assert entry.actor_id == admin.id


def test_nobody_deactivates_themselves(client, db, tree):
    admin = _admin(db, tree)
    unit_admin = make_user(db, tree.ward, role=Role.unit_admin)
    for actor in (admin, unit_admin):
        headers = login(client, actor)
        res = client.post(f"{USERS}/{actor.id}/deactivate", headers=headers)
        assert res.status_code == 403
        assert res.json()["detail"] == "Bạn không thể tự khóa tài khoản của mình."
        assert client.get("/api/v1/me", headers=headers).status_code == 200
        assert _fresh(db, actor).is_active is True
        assert _audit(db, "account.deactivate", actor.id) == []


# ---- password resets ------------------------------------------------------------------


def _reset(client, headers, user_id: int, method: str | None = "link"):
    body = {"method": method} if method else None
    res = client.post(f"{USERS}/{user_id}/reset-password", headers=headers, json=body)
    assert res.status_code == 200, res.text
    return res.json()


def _token_of(reset_url: str) -> str:
    match = re.fullmatch(r"http://testserver/reset-password/([A-Za-z0-9_\-]+)", reset_url)
    assert match, reset_url
    return match.group(1)


def _use_link(client, token: str, password: str = NEW_PASSWORD):
    return client.post(
        "/api/v1/auth/password-reset", json={"token": token, "new_password": password}
    )


def test_reset_link_works_once(client, db, tree):
    admin = _admin(db, tree)
    user = make_user(db, tree.hamlet, must_change_password=True)
    old = tokens(client, user)
    out = _reset(client, login(client, admin), user.id, method=None)  # link is the default
    assert out["method"] == "link" and out["temporary_password"] is None
    assert out["expires_at"] is not None
    token = _token_of(out["reset_url"])

    assert _use_link(client, token).status_code == 204
    assert client.get("/api/v1/me", headers=_bearer(old["access_token"])).status_code == 401
    assert _sign_in(client, user.login_name, PASSWORD).status_code == 401
    fresh = _sign_in(client, user.login_name, NEW_PASSWORD)
    assert fresh.status_code == 200
    assert fresh.json()["must_change_password"] is False

    again = _use_link(client, token, "mat-khau-khac-2025")
    assert 400 <= again.status_code < 500
    assert again.json()["code"] == "reset_invalid"
    assert "không hợp lệ hoặc đã hết hạn" in again.json()["detail"]
    assert _sign_in(client, user.login_name, NEW_PASSWORD).status_code == 200
    [entry] = _audit(db, "account.reset_password", user.id)
    assert entry.actor_id == admin.id and entry.details == {"method": "link"}


def test_a_new_link_voids_the_previous_one(client, db, tree):
    admin = _admin(db, tree)
    user = make_user(db, tree.hamlet)
    headers = login(client, admin)
    first = _token_of(_reset(client, headers, user.id)["reset_url"])
    second = _token_of(_reset(client, headers, user.id)["reset_url"])
    assert first != second
    assert _use_link(client, first).status_code == 422
    assert _sign_in(client, user.login_name, PASSWORD).status_code == 200
    assert _use_link(client, second).status_code == 204
    assert _sign_in(client, user.login_name, NEW_PASSWORD).status_code == 200


def test_a_temporary_password_or_a_password_change_voids_open_links(client, db, tree):
    admin = _admin(db, tree)
    user = make_user(db, tree.hamlet)
    headers = login(client, admin)
    link = _token_of(_reset(client, headers, user.id)["reset_url"])
    temporary = _reset(client, headers, user.id, method="temporary")["temporary_password"]
    assert _use_link(client, link).status_code == 422
    assert _sign_in(client, user.login_name, temporary).status_code == 200

    other = make_user(db, tree.hamlet)
    link = _token_of(_reset(client, headers, other.id)["reset_url"])
    res = client.post(
        "/api/v1/auth/password",
        headers=login(client, other),
        json={"current_password": PASSWORD, "new_password": "mat-khau-tu-doi-2025"},
    )
    assert res.status_code == 200
    assert _use_link(client, link).status_code == 422
    assert _sign_in(client, other.login_name, "mat-khau-tu-doi-2025").status_code == 200


def test_an_expired_link_fails(client, db, tree):
    admin = _admin(db, tree)
    user = make_user(db, tree.hamlet)
    token = _token_of(_reset(client, login(client, admin), user.id)["reset_url"])
    db.execute(
        update(PasswordResetToken)
        .where(PasswordResetToken.user_id == user.id)
        .values(expires_at=utcnow() - timedelta(minutes=1))
    )
    db.flush()
    page = client.get(f"/reset-password/{token}")
    assert page.status_code == 400
    assert "đã hết hạn" in page.text
    assert 'name="new_password"' not in page.text
    res = _use_link(client, token)
    assert res.status_code == 422 and res.json()["code"] == "reset_invalid"
    assert _sign_in(client, user.login_name, PASSWORD).status_code == 200


def test_a_weak_password_does_not_use_up_the_link(client, db, tree):
    admin = _admin(db, tree)
    user = make_user(db, tree.hamlet)
    token = _token_of(_reset(client, login(client, admin), user.id)["reset_url"])
    weak = _use_link(client, token, "12345678")
    assert weak.status_code == 422
    assert "quá dễ đoán" in weak.text
    assert _use_link(client, token).status_code == 204


def test_reset_page_shows_the_form_and_sets_the_password(client, db, tree):
    admin = _admin(db, tree)
    user = make_user(db, tree.hamlet)
    token = _token_of(_reset(client, login(client, admin), user.id)["reset_url"])
    page = client.get(f"/reset-password/{token}")
    assert page.status_code == 200
    assert f'action="/reset-password/{token}"' in page.text
    assert 'name="new_password"' in page.text and "Đặt lại mật khẩu" in page.text
    csrf = csrf_of(client, f"/reset-password/{token}")
    mismatch = client.post(
        f"/reset-password/{token}",
        data={
            "csrf_token": csrf,
            "new_password": NEW_PASSWORD,
            "new_password_again": "khac-han-nhe-2025",
        },
        follow_redirects=False,
    )
    assert mismatch.status_code == 400
    assert "không giống nhau" in mismatch.text
    no_csrf = client.post(
        f"/reset-password/{token}",
        data={"new_password": NEW_PASSWORD, "new_password_again": NEW_PASSWORD},
        follow_redirects=False,
    )
    assert no_csrf.status_code == 403
    done = client.post(
        f"/reset-password/{token}",
        data={"csrf_token": csrf, "new_password": NEW_PASSWORD, "new_password_again": NEW_PASSWORD},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert done.headers["location"] == "/login?reset=1"
    assert _sign_in(client, user.login_name, NEW_PASSWORD).status_code == 200
    assert client.get(f"/reset-password/{token}").status_code == 400


def test_temporary_reset_revokes_sessions_and_requires_a_change(client, db, tree):
    admin = _admin(db, tree)
    user = make_user(db, tree.hamlet)
    old = tokens(client, user)
    out = _reset(client, login(client, admin), user.id, method="temporary")
    assert out["method"] == "temporary" and out["reset_url"] is None
    temporary = out["temporary_password"]
    assert temporary and len(temporary) == 10
    assert client.get("/api/v1/me", headers=_bearer(old["access_token"])).status_code == 401
    refreshed = client.post("/api/v1/auth/refresh", json={"refresh_token": old["refresh_token"]})
    assert refreshed.status_code == 401
    assert _sign_in(client, user.login_name, PASSWORD).status_code == 401
    pair = _sign_in(client, user.login_name, temporary)
    assert pair.status_code == 200
    assert pair.json()["must_change_password"] is True
    assert _fresh(db, user).must_change_password is True
    blocked = client.get(USERS, headers=_bearer(pair.json()["access_token"]))
    assert blocked.json()["code"] == "password_change_required"
    [entry] = _audit(db, "account.reset_password", user.id)
    assert entry.actor_id == admin.id and entry.details == {"method": "temporary"}


def test_reset_method_must_be_link_or_temporary(client, db, tree):
    admin = _admin(db, tree)
    user = make_user(db, tree.hamlet)
    res = client.post(
        f"{USERS}/{user.id}/reset-password", headers=login(client, admin), json={"method": "sms"}
    )
    assert res.status_code == 422
    assert res.json()["code"] == "validation"
    assert _audit(db, "account.reset_password", user.id) == []


# ---- the audit trail ------------------------------------------------------------------


def test_every_account_change_is_audited_with_its_actor(client, db, tree):
    admin = _admin(db, tree)
    headers = login(client, admin)
    res = client.post(
        USERS,
        headers=headers,
        json={"full_name": "Hoàng Thị Thu", "phone": "0966 111 222", "unit_id": tree.hamlet.id},
    )
    uid = res.json()["user"]["id"]
    client.patch(f"{USERS}/{uid}", headers=headers, json={"full_name": "Hoàng Thị Thu Hà"})
    client.post(f"{USERS}/{uid}/deactivate", headers=headers)
    client.post(f"{USERS}/{uid}/activate", headers=headers)
    _reset(client, headers, uid, method="temporary")
    db.expire_all()
    rows = db.scalars(
        select(AuditLog).where(AuditLog.target_id == str(uid)).order_by(AuditLog.id)
    ).all()
    assert [(r.action, r.actor_id, r.target_type) for r in rows] == [
        ("account.create", admin.id, "user"),
        ("account.update", admin.id, "user"),
        ("account.deactivate", admin.id, "user"),
        ("account.activate", admin.id, "user"),
        ("account.reset_password", admin.id, "user"),
    ]
    assert rows[0].details == {"role": "learner"}
    assert rows[1].details == {"full_name": ["Hoàng Thị Thu", "Hoàng Thị Thu Hà"]}
    assert all(r.unit_path == tree.hamlet.path for r in rows)


def test_an_update_that_changes_nothing_is_not_audited(client, db, tree):
    admin = _admin(db, tree)
    user = make_user(db, tree.hamlet, name="Lý Thị Nga")
    res = client.patch(
        f"{USERS}/{user.id}", headers=login(client, admin), json={"full_name": "Lý  Thị Nga"}
    )
    assert res.status_code == 200
    assert _audit(db, "account.update", user.id) == []


# ---- the account pages ----------------------------------------------------------------


def _account_form(user: User, **overrides: str) -> dict[str, str]:
    data = {
        "full_name": user.full_name,
        "contact": user.login_name,
        "unit_id": str(user.unit_id),
        "group_id": "",
        "role": user.role.value,
    }
    data.update(overrides)
    return data


def test_account_page_saves_changes_and_re_shows_conflicts(client, db, tree):
    admin = _admin(db, tree)
    make_user(db, tree.hamlet, phone="+84912000111")
    user = make_user(db, tree.hamlet, name="Mai Văn Tiến", phone="+84912000222")
    page_login(client, admin)
    page = client.get(f"/admin/accounts/{user.id}")
    assert page.status_code == 200
    assert 'value="Mai Văn Tiến"' in page.text and 'value="+84912000222"' in page.text

    taken = form_post(
        client,
        f"/admin/accounts/{user.id}",
        _account_form(user, full_name="Mai Văn Lùi", contact="0912 000 111"),
        follow_redirects=False,
    )
    assert taken.status_code == 409
    assert "Số điện thoại này đã được dùng cho một tài khoản khác." in taken.text
    assert 'value="Mai Văn Lùi"' in taken.text
    assert _fresh(db, user).full_name == "Mai Văn Tiến"

    saved = form_post(
        client,
        f"/admin/accounts/{user.id}",
        _account_form(
            user,
            full_name="Mai Văn Tiến Lên",
            contact="0912.000.333",
            unit_id=str(tree.village.id),
            group_id=str(group(db, "cong_nhan").id),
            role="unit_admin",
        ),
        follow_redirects=False,
    )
    assert saved.status_code == 303
    assert saved.headers["location"] == f"/admin/accounts/{user.id}?saved=1"
    stored = _fresh(db, user)
    assert (stored.full_name, stored.phone, stored.unit_id, stored.role) == (
        "Mai Văn Tiến Lên",
        "+84912000333",
        tree.village.id,
        Role.unit_admin,
    )
    assert stored.group_id == group(db, "cong_nhan").id
    [entry] = _audit(db, "account.update", user.id)
    assert entry.actor_id == admin.id


def test_account_page_resets_passwords_and_locks(client, db, tree):
    admin = _admin(db, tree)
    user = make_user(db, tree.hamlet)
    page_login(client, admin)
    link = form_post(client, f"/admin/accounts/{user.id}/reset", {"method": "link"})
    assert link.status_code == 200
    url = re.search(r"http://testserver/reset-password/[A-Za-z0-9_\-]+", link.text)
    assert url, link.text[:2000]
    temporary = form_post(client, f"/admin/accounts/{user.id}/reset", {"method": "temporary"})
    assert temporary.status_code == 200
    secret = re.search(r'<code class="secret">([^<]+)</code>', temporary.text)
    assert secret
    stored = _fresh(db, user)
    assert verify_password(stored.password_hash, secret.group(1))
    assert stored.must_change_password is True

    locked = form_post(
        client, f"/admin/accounts/{user.id}/active", {"active": "0"}, follow_redirects=False
    )
    assert locked.status_code == 303
    assert _fresh(db, user).is_active is False
    assert "Mở khóa tài khoản" in client.get(f"/admin/accounts/{user.id}").text
    own = form_post(client, f"/admin/accounts/{admin.id}/active", {"active": "0"})
    assert own.status_code == 403
    assert "Bạn không thể tự khóa tài khoản của mình." in own.text
    assert _fresh(db, admin).is_active is True
    unlocked = form_post(
        client, f"/admin/accounts/{user.id}/active", {"active": "1"}, follow_redirects=False
    )
    assert unlocked.status_code == 303
    assert _fresh(db, user).is_active is True


def test_account_page_filters_list(client, db, tree, people):
    page_login(client, people["admin"])
    res = client.get("/admin/accounts", params={"q": "Nguyễn"})
    assert res.status_code == 200
    assert "Nguyễn Văn An" in res.text and "Nguyễn Thị Bình" in res.text
    assert "Trần Văn Cường" not in res.text
    res = client.get("/admin/accounts", params={"active": "0"})
    assert "Trần Văn Cường" in res.text and "Nguyễn Văn An" not in res.text
    res = client.get("/admin/accounts", params={"unit_id": tree.commune.id})
    assert "Lê Thị Dung" in res.text and "Nguyễn Văn An" not in res.text


def _selected_option(html: str, select_id: str) -> str:
    """What a browser submits for a <select>: the selected option, else the first."""
    block = re.search(rf'<select id="{select_id}".*?</select>', html, re.S)
    assert block
    options = re.findall(r'<option value="([^"]*)"( selected)?', block.group(0))
    chosen = [value for value, selected in options if selected]
    return chosen[0] if chosen else options[0][0]


def test_unit_admin_can_rename_itself_on_its_account_page(client, db, tree):
    unit_admin = make_user(db, tree.ward, role=Role.unit_admin, name="Đoàn Văn Hậu")
    page_login(client, unit_admin)
    page = client.get(f"/admin/accounts/{unit_admin.id}")
    assert page.status_code == 200
    res = form_post(
        client,
        f"/admin/accounts/{unit_admin.id}",
        _account_form(
            unit_admin, full_name="Đoàn Văn Hậu Mới", role=_selected_option(page.text, "role")
        ),
        follow_redirects=False,
    )
    assert res.status_code == 303, re.findall(r"alert error[^<]*<?[^<]*", res.text)
    stored = _fresh(db, unit_admin)
    assert (stored.full_name, stored.role) == ("Đoàn Văn Hậu Mới", Role.unit_admin)
