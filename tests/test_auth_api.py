"""Registration, sign-in, tokens and passwords through the JSON API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from jose import jwt
from sqlalchemy import select

from app.core.security import make_token
from app.models import AuthSession, Role, User
from tests.factories import PASSWORD, login, make_user, tokens


def _register(client, tree, **overrides):
    body = {
        "full_name": "  Lò   Văn Páo ",
        "phone": "0912.345.678",
        "password": "chè-Thái-Nguyên-2025",
        "unit_id": tree.village.id,
    }
    body.update(overrides)
    return client.post("/api/v1/auth/register", json=body)


def test_register_normalises_phone_and_name_and_signs_in(client, db, tree):
    res = _register(client, tree)
    assert res.status_code == 201, res.text
    access = res.json()["access_token"]
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {access}"}).json()
    assert me["phone"] == "+84912345678"
    assert me["full_name"] == "Lò Văn Páo"
    assert me["role"] == "learner"
    assert me["unit"]["name"] == "Thôn Bản Lác"
    stored = db.scalar(select(User).where(User.phone == "+84912345678"))
    assert stored.password_hash.startswith("$argon2id$")


@pytest.mark.parametrize(
    ("phone", "message"),
    [
        ("12345", "Số điện thoại không hợp lệ"),
        ("0112345678", "số di động có 10 chữ số"),
        ("09123abc78", "chỉ gồm chữ số"),
    ],
)
def test_register_rejects_malformed_phone(client, db, tree, phone, message):
    res = _register(client, tree, phone=phone)
    assert res.status_code == 422
    body = res.json()
    assert body["code"] == "validation"
    assert message in body["errors"][0]["message"]
    assert body["errors"][0]["field"] == "Số điện thoại"
    assert db.scalar(select(User).where(User.full_name == "Lò Văn Páo")) is None


def test_register_duplicate_phone_in_another_format_is_409(client, db, tree):
    assert _register(client, tree).status_code == 201
    res = _register(client, tree, phone="+84 912 345 678", full_name="Người Khác")
    assert res.status_code == 409
    # the message does not confirm that the number is registered (docs/auth.md)
    assert res.json()["detail"].startswith("Không đăng ký được bằng số điện thoại")
    assert len(db.scalars(select(User).where(User.phone == "+84912345678")).all()) == 1


@pytest.mark.parametrize(
    ("overrides", "status", "fragment"),
    [
        ({"password": "1234567"}, 422, "ít nhất 8 ký tự"),
        ({"password": "12345678"}, 422, "quá dễ đoán"),
        ({"password": "0912345678x"}, 422, "số điện thoại"),
        ({"phone": None}, 422, "Cần có số điện thoại hoặc thư điện tử"),
        ({"unit_id": 999_999}, 422, "Đơn vị đã chọn không tồn tại"),
        ({"group_id": 999_999}, 422, "Nhóm học viên đã chọn không tồn tại"),
        ({"email": "not-an-email"}, 422, "thư điện tử không hợp lệ"),
        ({"role": "admin"}, 422, "không được phép"),
    ],
)
def test_register_bad_input_gives_vietnamese_4xx(client, db, tree, overrides, status, fragment):
    res = _register(client, tree, **overrides)
    assert res.status_code == status, res.text
    body = res.json()
    text = body["detail"] + " ".join(e["message"] for e in body.get("errors", []))
    assert fragment in text
    assert db.scalar(select(User).where(User.full_name == "Lò Văn Páo")) is None


def test_register_with_non_json_body_is_422(client, tree):
    res = client.post(
        "/api/v1/auth/register", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert res.status_code == 422
    assert "JSON" in res.json()["detail"]


def test_login_by_phone_in_any_format_and_by_email(client, db, tree):
    by_phone = make_user(db, tree.hamlet, phone="+84987654321")
    by_mail = make_user(db, tree.hamlet, email="nhung@example.vn")
    for ident in ("0987654321", "+84 987 654 321", "84987654321"):
        res = client.post("/api/v1/auth/login", json={"identifier": ident, "password": PASSWORD})
        assert res.status_code == 200, ident
    res = client.post(
        "/api/v1/auth/login", json={"identifier": "NHUNG@example.vn", "password": PASSWORD}
    )
    assert res.status_code == 200
    assert by_phone.id != by_mail.id


def test_wrong_password_and_unknown_account_look_the_same(client, db, tree):
    user = make_user(db, tree.hamlet)
    wrong = client.post(
        "/api/v1/auth/login", json={"identifier": user.login_name, "password": "sai-mat-khau"}
    )
    unknown = client.post(
        "/api/v1/auth/login", json={"identifier": "0399999999", "password": "sai-mat-khau"}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["detail"] == unknown.json()["detail"]
    assert "không đúng" in wrong.json()["detail"]


def test_sign_in_is_rate_limited_per_account_with_retry_time(client, db, tree, settings):
    user = make_user(db, tree.hamlet)
    for _ in range(settings.login_max_per_account):
        res = client.post(
            "/api/v1/auth/login", json={"identifier": user.login_name, "password": "sai-mat-khau"}
        )
        assert res.status_code == 401
    res = client.post(
        "/api/v1/auth/login", json={"identifier": user.login_name, "password": PASSWORD}
    )
    assert res.status_code == 429
    assert res.json()["detail"].startswith("Bạn đã đăng nhập sai quá nhiều lần.")
    assert "thử lại sau 15 phút" in res.json()["detail"]
    assert 800 < int(res.headers["Retry-After"]) <= 900
    other = make_user(db, tree.hamlet)
    assert (
        client.post(
            "/api/v1/auth/login", json={"identifier": other.login_name, "password": PASSWORD}
        ).status_code
        == 200
    )


def test_sign_in_is_rate_limited_per_address(client, db, tree, settings):
    for i in range(settings.login_max_per_address):
        res = client.post(
            "/api/v1/auth/login", json={"identifier": f"03{i:08d}", "password": "sai-mat-khau"}
        )
        assert res.status_code == 401
    user = make_user(db, tree.hamlet)
    res = client.post(
        "/api/v1/auth/login", json={"identifier": user.login_name, "password": PASSWORD}
    )
    assert res.status_code == 429


def test_successful_sign_in_is_not_counted_but_earlier_failures_stay(client, db, tree, settings):
    # A success used to clear the account's counter, which gave an attacker guessing beside
    # the owner fresh attempts (tests/test_hardening_accounts.py has the details).
    user = make_user(db, tree.hamlet)
    for _ in range(settings.login_max_per_account - 1):
        client.post("/api/v1/auth/login", json={"identifier": user.login_name, "password": "sai"})
    login(client, user)
    login(client, user)
    wrong = {"identifier": user.login_name, "password": "sai"}
    assert client.post("/api/v1/auth/login", json=wrong).status_code == 401
    assert client.post("/api/v1/auth/login", json=wrong).status_code == 429


def test_inactive_account_cannot_sign_in_and_its_tokens_stop_working(client, db, tree):
    user = make_user(db, tree.hamlet)
    headers = login(client, user)
    user.is_active = False
    db.flush()
    assert client.get("/api/v1/me", headers=headers).status_code == 401
    res = client.post(
        "/api/v1/auth/login", json={"identifier": user.login_name, "password": PASSWORD}
    )
    assert res.status_code == 401
    assert "bị khóa" in res.json()["detail"]


def test_refresh_rotates_and_a_replayed_refresh_token_revokes_the_session(client, db, tree):
    user = make_user(db, tree.hamlet)
    first = tokens(client, user)
    second = client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200
    assert second.json()["refresh_token"] != first["refresh_token"]
    third = client.post(
        "/api/v1/auth/refresh", json={"refresh_token": second.json()["refresh_token"]}
    )
    assert third.status_code == 200
    # The first token is now two rotations old: a replay (a thief) ends the session.
    replay = client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert replay.status_code == 401
    assert replay.json()["code"] == "refresh_reused"
    headers = {"Authorization": f"Bearer {third.json()['access_token']}"}
    assert client.get("/api/v1/me", headers=headers).status_code == 401
    session_row = db.scalar(select(AuthSession).where(AuthSession.user_id == user.id))
    db.refresh(session_row)
    assert session_row.revoked_at is not None


def test_refresh_within_grace_period_returns_the_current_tokens(client, db, tree):
    """Two requests racing with the same cookie, or a reply lost on 3G, must not log out."""
    user = make_user(db, tree.hamlet)
    first = tokens(client, user)
    a = client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    b = client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert a.status_code == b.status_code == 200
    assert (
        client.get(
            "/api/v1/me", headers={"Authorization": f"Bearer {b.json()['access_token']}"}
        ).status_code
        == 200
    )


def test_access_token_is_not_a_refresh_token(client, db, tree):
    user = make_user(db, tree.hamlet)
    pair = tokens(client, user)
    res = client.post("/api/v1/auth/refresh", json={"refresh_token": pair["access_token"]})
    assert res.status_code == 401
    res = client.get("/api/v1/me", headers={"Authorization": f"Bearer {pair['refresh_token']}"})
    assert res.status_code == 401


def test_logout_revokes_access_and_refresh(client, db, tree):
    user = make_user(db, tree.hamlet)
    pair = tokens(client, user)
    headers = {"Authorization": f"Bearer {pair['access_token']}"}
    assert client.post("/api/v1/auth/logout", headers=headers).status_code == 204
    assert client.get("/api/v1/me", headers=headers).status_code == 401
    assert (
        client.post(
            "/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]}
        ).status_code
        == 401
    )


def test_logout_everywhere_ends_every_session(client, db, tree):
    user = make_user(db, tree.hamlet)
    phone = login(client, user)
    laptop = login(client, user)
    assert (
        client.post("/api/v1/auth/logout", headers=phone, json={"everywhere": True}).status_code
        == 204
    )
    assert client.get("/api/v1/me", headers=laptop).status_code == 401


def test_forged_expired_and_malformed_tokens_are_401(client, db, tree, settings):
    user = make_user(db, tree.hamlet)
    pair = tokens(client, user)
    claims = jwt.get_unverified_claims(pair["access_token"])
    forged = jwt.encode({**claims, "sub": "1"}, "another-secret", algorithm="HS256")
    none_alg = pair["access_token"].rsplit(".", 1)[0] + "."
    past = datetime.now(UTC) - timedelta(hours=1)
    expired, _ = make_token(
        secret=settings.secret_key,
        user_id=user.id,
        session_id=claims["sid"],
        token_type="access",
        lifetime=timedelta(minutes=5),
        now=past,
    )
    cases = {
        "forged": (f"Bearer {forged}", "token_invalid"),
        "unsigned": (f"Bearer {none_alg}", "token_invalid"),
        "garbage": ("Bearer abc.def", "token_invalid"),
        "expired": (f"Bearer {expired}", "token_expired"),
        "wrong scheme": (f"Basic {pair['access_token']}", "unauthorized"),
    }
    for name, (header, code) in cases.items():
        res = client.get("/api/v1/me", headers={"Authorization": header})
        assert res.status_code == 401, name
        assert res.json()["code"] == code, name
    assert (
        "hết hạn"
        in client.get("/api/v1/me", headers={"Authorization": f"Bearer {expired}"}).json()["detail"]
    )


def test_change_password_revokes_other_sessions_and_returns_new_tokens(client, db, tree):
    user = make_user(db, tree.hamlet)
    other_device = login(client, user)
    this_device = login(client, user)
    res = client.post(
        "/api/v1/auth/password",
        headers=this_device,
        json={"current_password": PASSWORD, "new_password": "mat-khau-moi-2025"},
    )
    assert res.status_code == 200
    assert client.get("/api/v1/me", headers=other_device).status_code == 401
    assert client.get("/api/v1/me", headers=this_device).status_code == 401
    fresh = {"Authorization": f"Bearer {res.json()['access_token']}"}
    assert client.get("/api/v1/me", headers=fresh).status_code == 200
    assert (
        client.post(
            "/api/v1/auth/login", json={"identifier": user.login_name, "password": PASSWORD}
        ).status_code
        == 401
    )
    login(client, user, "mat-khau-moi-2025")


def test_change_password_with_wrong_current_password_changes_nothing(client, db, tree):
    user = make_user(db, tree.hamlet)
    headers = login(client, user)
    res = client.post(
        "/api/v1/auth/password",
        headers=headers,
        json={"current_password": "sai-roi-nhe", "new_password": "mat-khau-moi-2025"},
    )
    assert res.status_code == 422
    assert res.json()["detail"] == "Mật khẩu hiện tại không đúng."
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    login(client, user)


def test_must_change_password_blocks_everything_but_the_change(client, db, tree):
    user = make_user(db, tree.hamlet, must_change_password=True)
    pair = tokens(client, user)
    assert pair["must_change_password"] is True
    headers = {"Authorization": f"Bearer {pair['access_token']}"}
    assert client.get("/api/v1/me", headers=headers).status_code == 200  # to show who is signed in
    blocked = client.get("/api/v1/admin/users", headers=headers)
    assert blocked.status_code == 403
    res = client.post(
        "/api/v1/auth/password",
        headers=headers,
        json={"current_password": PASSWORD, "new_password": "mat-khau-rieng-2025"},
    )
    assert res.status_code == 200
    assert res.json()["must_change_password"] is False


def test_admin_only_roles_are_enforced(client, db, tree):
    learner = make_user(db, tree.hamlet)
    admin = make_user(db, tree.province, role=Role.admin)
    assert client.get("/api/v1/admin/users", headers=login(client, learner)).status_code == 403
    assert client.get("/api/v1/admin/users", headers=login(client, admin)).status_code == 200
    assert client.get("/api/v1/admin/users").status_code == 401
