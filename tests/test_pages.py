"""Server-rendered pages: sign-in, registration, CSRF, cookies, redirects, admin pages."""

from __future__ import annotations

from sqlalchemy import select

from app.auth.dependencies import ACCESS_COOKIE, REFRESH_COOKIE
from app.models import Role, User
from tests.factories import PASSWORD, csrf_of, csrf_token, make_user, page_login


def test_home_redirects_to_sign_in(client):
    res = client.get("/", follow_redirects=False)
    assert res.status_code == 303
    assert res.headers["location"] == "/login?next=/"


def test_sign_in_page_is_vietnamese_and_light(client):
    res = client.get("/login")
    assert res.status_code == 200
    assert '<html lang="vi"' in res.text
    assert "Đăng nhập" in res.text and "Số điện thoại hoặc thư điện tử" in res.text
    assert "http://" not in res.text.replace("http://testserver", "")
    assert "https://" not in res.text


def test_sign_in_sets_httponly_cookies_and_home_greets(client, db, tree):
    user = make_user(db, tree.hamlet, name="Nguyễn Thị Hồng Nhung")
    res = page_login(client, user)
    assert res.status_code == 303 and res.headers["location"] == "/"
    set_cookie = ";".join(res.headers.get_list("set-cookie"))
    assert f"{ACCESS_COOKIE}=" in set_cookie and f"{REFRESH_COOKIE}=" in set_cookie
    assert "HttpOnly" in set_cookie and "SameSite=lax" in set_cookie
    home = client.get("/")
    assert home.status_code == 200
    assert "Nguyễn Thị Hồng Nhung" in home.text
    assert "Tổ dân phố số 1" in home.text


def test_sign_in_keeps_next_but_never_leaves_the_site(client, db, tree):
    user = make_user(db, tree.hamlet)
    assert (
        page_login(client, user, next_path="/account/password").headers["location"]
        == "/account/password"
    )
    client.cookies.clear()
    assert page_login(client, user, next_path="https://evil.example/").headers["location"] == "/"
    client.cookies.clear()
    assert page_login(client, user, next_path="//evil.example/").headers["location"] == "/"


def test_wrong_password_re_shows_the_form_with_a_message(client, db, tree):
    user = make_user(db, tree.hamlet)
    res = page_login(client, user, password="khong-dung")
    assert res.status_code == 401
    assert "mật khẩu không đúng" in res.text
    assert f'value="{user.login_name}"' in res.text


def test_form_posts_without_csrf_token_are_refused(client, db, tree):
    user = make_user(db, tree.hamlet)
    client.get("/login")
    res = client.post("/login", data={"identifier": user.login_name, "password": PASSWORD})
    assert res.status_code == 403
    assert "Biểu mẫu đã hết hạn" in res.text
    res = client.post(
        "/login", data={"identifier": user.login_name, "password": PASSWORD, "csrf_token": "x" * 32}
    )
    assert res.status_code == 403


def test_cookie_authenticated_api_writes_need_the_csrf_header(client, db, tree):
    user = make_user(db, tree.hamlet)
    page_login(client, user)
    assert client.get("/api/v1/me").status_code == 200  # reads work with the cookie
    res = client.post("/api/v1/auth/logout")
    assert res.status_code == 403
    assert res.json()["code"] == "csrf"
    res = client.post("/api/v1/auth/logout", headers={"x-csrf-token": csrf_token(client)})
    assert res.status_code == 204


def test_expired_access_cookie_is_renewed_from_the_refresh_cookie(client, db, tree):
    user = make_user(db, tree.hamlet)
    page_login(client, user)
    client.cookies.delete(ACCESS_COOKIE)
    res = client.get("/")
    assert res.status_code == 200
    assert f"{ACCESS_COOKIE}=" in ";".join(res.headers.get_list("set-cookie"))


def test_register_by_picking_the_unit_then_the_details(client, db, tree):
    start = client.get("/register")
    assert "Tỉnh Thử Nghiệm" in start.text
    step = client.get(f"/register?unit={tree.province.id}")
    assert "Phường An Bình" in step.text and "Xã Đồng Tâm" in step.text
    form = client.get(f"/register?unit={tree.hamlet.id}")
    assert 'name="full_name"' in form.text
    token = csrf_token(client)
    data = {
        "csrf_token": token,
        "unit_id": str(tree.hamlet.id),
        "full_name": "Hoàng Văn Sáng",
        "contact": "0977 111 222",
        "password": "hoc-AI-moi-ngay",
        "password_again": "hoc-AI-moi-ngay",
    }
    bad = client.post("/register", data={**data, "contact": "12"}, follow_redirects=False)
    assert bad.status_code == 422
    assert "Số điện thoại không hợp lệ" in bad.text
    assert 'value="Hoàng Văn Sáng"' in bad.text
    mismatch = client.post(
        "/register", data={**data, "password_again": "khac"}, follow_redirects=False
    )
    assert mismatch.status_code == 400
    assert db.scalar(select(User).where(User.full_name == "Hoàng Văn Sáng")) is None
    ok = client.post("/register", data=data, follow_redirects=False)
    assert ok.status_code == 303
    assert client.get("/").status_code == 200
    created = db.scalar(select(User).where(User.phone == "+84977111222"))
    assert created.unit_id == tree.hamlet.id and created.role == Role.learner


def test_temporary_password_forces_the_change_page(client, db, tree):
    user = make_user(db, tree.hamlet, must_change_password=True)
    res = page_login(client, user)
    assert res.headers["location"] == "/account/password"
    assert client.get("/", follow_redirects=False).headers["location"] == "/account/password"
    token = csrf_token(client)
    res = client.post(
        "/account/password",
        data={
            "csrf_token": token,
            "current_password": PASSWORD,
            "new_password": "mat-khau-cua-toi",
            "new_password_again": "mat-khau-cua-toi",
        },
        follow_redirects=False,
    )
    assert res.status_code == 303
    assert client.get("/").status_code == 200


def test_logout_page_clears_the_session(client, db, tree):
    user = make_user(db, tree.hamlet)
    page_login(client, user)
    token = csrf_token(client)
    res = client.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert res.status_code == 303
    assert client.get("/", follow_redirects=False).status_code == 303


def test_large_text_switch_without_javascript(client):
    token = csrf_of(client)
    res = client.post(
        "/preferences/text-size?back=/login",
        data={"csrf_token": token, "size": "large"},
        follow_redirects=False,
    )
    assert res.headers["location"] == "/login"
    assert 'class="large-text"' in client.get("/login").text


def test_learner_cannot_open_admin_pages(client, db, tree):
    user = make_user(db, tree.hamlet)
    page_login(client, user)
    res = client.get("/admin/accounts")
    assert res.status_code == 403
    assert "Bạn không có quyền" in res.text


def test_unit_admin_pages_show_only_the_subtree(client, db, tree):
    admin = make_user(db, tree.ward, role=Role.unit_admin)
    inside = make_user(db, tree.hamlet, name="Người Trong Phường")
    outside = make_user(db, tree.village, name="Người Ngoài Xã")
    page_login(client, admin)
    listing = client.get("/admin/accounts")
    assert "Người Trong Phường" in listing.text and "Người Ngoài Xã" not in listing.text
    assert client.get(f"/admin/accounts/{outside.id}").status_code == 404
    assert client.get(f"/admin/accounts/{inside.id}").status_code == 200
    units = client.get("/admin/units")
    assert "Tổ dân phố số 1" in units.text and "Xã Đồng Tâm" not in units.text


def test_admin_creates_an_account_and_sees_the_temporary_password_once(client, db, tree):
    admin = make_user(db, tree.province, role=Role.admin)
    page_login(client, admin)
    token = csrf_token(client)
    res = client.post(
        "/admin/accounts/new",
        data={
            "csrf_token": token,
            "full_name": "Đặng Thị Mai",
            "contact": "0388 123 456",
            "unit_id": str(tree.village.id),
            "group_id": "",
            "role": "learner",
        },
    )
    assert res.status_code == 200
    assert "Mật khẩu tạm thời" in res.text
    created = db.scalar(select(User).where(User.phone == "+84388123456"))
    assert created.must_change_password is True
    edit = client.get(f"/admin/accounts/{created.id}")
    assert "Mật khẩu tạm thời" not in edit.text
