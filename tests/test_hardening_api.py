"""Hardening of the API's edge after the outside review: ids bounded before they reach the
database, an OpenAPI description that says what the service answers (error bodies, error
statuses, downloads, `Allow`), JSON bodies taken with their JSON types, and what deletion
and sign-out leave behind."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.core.ids import MAX_ID, parse_id
from app.core.validation import normalize_email
from app.mentoring import mentors
from app.models import Mentorship, MentorStatus, Role, utcnow
from app.privacy import service as privacy
from tests.factories import PASSWORD, form_post, login, make_user, page_login
from tests.test_mentoring import complete_level_one

TOO_BIG = (2**31, 2**63, 10**30)


# ---- 10. every id is bounded at the edge -------------------------------------------------


@pytest.mark.parametrize("value", TOO_BIG)
def test_an_out_of_range_id_is_refused_without_signing_in(client, tree, value):
    res = client.post(
        "/api/v1/auth/register",
        json={
            "full_name": "Phạm Văn Nam",
            "phone": "0912000777",
            "password": "hoc-AI-moi-ngay-77",
            "unit_id": value,
        },
    )
    assert res.status_code == 422, res.text
    assert res.json()["errors"][0]["loc"][-1] == "unit_id"


@pytest.mark.parametrize("value", TOO_BIG)
def test_out_of_range_ids_in_paths_queries_and_bodies_are_422_not_500(client, db, tree, value):
    admin = make_user(db, tree.province, role=Role.admin, name="Quản Trị Tỉnh")
    headers = login(client, admin)
    for method, url, body in (
        ("GET", f"/api/v1/admin/users/{value}", None),
        ("PATCH", f"/api/v1/admin/users/{value}", {"full_name": "Tên Mới"}),
        ("POST", f"/api/v1/admin/users/{value}/activate", None),
        ("GET", f"/api/v1/admin/users?unit_id={value}", None),
        ("GET", f"/api/v1/units?parent_id={value}", None),
        ("GET", f"/api/v1/submissions/{value}", None),
        ("GET", f"/api/v1/questions/{value}", None),
        ("POST", "/api/v1/reports", {"post_type": "question", "post_id": value, "reason": "spam"}),
        ("POST", "/api/v1/notifications/read", {"ids": [1, value]}),
        (
            "POST",
            "/api/v1/admin/units",
            {"code": "X1", "name": "Thôn X", "type": "hamlet", "parent_id": value},
        ),
    ):
        res = client.request(method, url, json=body, headers=headers)
        assert res.status_code == 422, (method, url, res.status_code, res.text)


def test_out_of_range_ids_in_pages_are_refused_or_ignored(client, db, tree, lessons):
    admin = make_user(db, tree.province, role=Role.admin, name="Quản Trị Tỉnh")
    page_login(client, admin)
    assert client.get(f"/admin/accounts/{2**40}").status_code == 422
    assert client.get(f"/admin/accounts?unit_id={2**40}").status_code == 422
    assert client.get(f"/admin/audit?unit={2**40}").status_code < 500
    learner = make_user(db, tree.hamlet, name="Lê Thị Hoa")
    client.cookies.clear()
    page_login(client, learner)
    res = form_post(
        client, "/lessons/b1-01/quiz", {"attempt_id": str(2**40)}, follow_redirects=False
    )
    assert res.status_code < 500


def test_parse_id_takes_only_ids():
    assert parse_id("42") == 42 and parse_id(" 7 ") == 7 and parse_id(str(MAX_ID)) == MAX_ID
    for raw in ("", "0", "-1", str(MAX_ID + 1), "1e3", "٣", "²", "12a", None, 5):
        assert parse_id(raw) is None, raw


def test_a_json_body_is_limited_more_tightly_than_an_upload(client, settings):
    """JSON bodies are small here; the NUL scan over a large one would cost CPU for free."""
    big = '{"identifier": "' + "a" * (settings.max_json_bytes + 10) + '", "password": "x"}'
    res = client.post(
        "/api/v1/auth/login", content=big, headers={"content-type": "application/json"}
    )
    assert res.status_code == 413 and res.json()["code"] == "too_large"
    assert "1 MB" in res.json()["detail"]
    # a multipart body of the same size reaches the route (which has its own limits)
    files = {"file": ("a.csv", b"x" * (settings.max_json_bytes + 10), "text/csv")}
    res = client.post("/api/v1/admin/imports/learners", files=files)
    assert res.status_code == 401


# ---- 19. the OpenAPI description says what the service answers ---------------------------


def test_the_description_documents_the_real_error_body_and_statuses(client):
    spec = client.get("/api/openapi.json").json()
    schemas = spec["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    assert set(schemas["ErrorOut"]["required"]) == {"detail", "code"}
    login = spec["paths"]["/api/v1/auth/login"]["post"]["responses"]
    assert {"200", "400", "401", "413", "422", "429"} <= set(login)
    admin_user = spec["paths"]["/api/v1/admin/users/{user_id}"]["patch"]["responses"]
    assert {"401", "403", "404", "409", "422"} <= set(admin_user)
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if int(status) >= 400:
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/ErrorOut"}, (path, method)


def test_downloads_are_described_as_files(client):
    paths = client.get("/api/openapi.json").json()["paths"]

    def media(path: str) -> set[str]:
        return set(paths[path]["get"]["responses"]["200"]["content"])

    xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert media("/api/v1/admin/audit.csv") == {"text/csv"}
    assert media("/api/v1/admin/exports/learners.{fmt}") == {"text/csv", xlsx}
    assert media("/api/v1/admin/reports/quarterly") == {xlsx, "application/pdf", "text/csv"}
    assert media("/api/v1/admin/units/{unit_id}/certificates.zip") == {"application/zip"}
    assert media("/api/v1/certificates/{serial}") == {
        "application/vc+ld+json",
        "application/vc+jwt",
    }


def test_a_wrong_method_names_every_method_the_path_takes(client):
    res = client.request("OPTIONS", "/api/v1/admin/users/1")
    assert res.status_code == 405
    assert set(res.headers["allow"].split(", ")) == {"GET", "PATCH"}
    assert res.json()["code"] == "http_405"
    # two templates over one path shape: each answers only for its own segment
    assert client.get("/api/v1/admin/imports/units").headers["allow"] == "POST"
    assert client.post("/api/v1/admin/imports/7").headers["allow"] == "GET"


def test_json_bodies_take_json_types_as_they_are(client, db, tree):
    admin = make_user(db, tree.province, role=Role.admin, name="Quản Trị Tỉnh")
    headers = login(client, admin)
    url = f"/api/v1/admin/units/{tree.hamlet.id}/targets"
    for body in ({"working_age": False}, {"working_age": "120"}, {"working_age": 1.5}):
        res = client.put(url, json=body, headers=headers)
        assert res.status_code == 422, (body, res.text)
    res = client.put(url, json={"working_age": 120, "groups": {}}, headers=headers)
    assert res.status_code == 200, res.text
    logout = client.post("/api/v1/auth/logout", json={"everywhere": 0}, headers=headers)
    assert logout.status_code == 422
    # enums still arrive as their string values
    unit = {
        "code": "T-01",
        "name": "Tổ dân phố số 9",
        "type": "residential_group",
        "parent_id": tree.ward.id,
    }
    assert client.post("/api/v1/admin/units", json=unit, headers=headers).status_code == 201


def test_a_text_where_a_file_belongs_is_refused_in_vietnamese(client, db, tree, lessons):
    learner = make_user(db, tree.hamlet, name="Lê Thị Hoa")
    res = client.post(
        "/api/v1/lessons/b1-01/submissions",
        data={"text": "Tôi đã thử", "client_id": "c-1", "image": "null"},
        files={"other": ("a.txt", b"x", "text/plain")},  # a multipart body
        headers=login(client, learner),
    )
    assert res.status_code == 422, res.text
    assert res.json()["errors"][0]["message"] == "Phải là một tệp được tải lên."


def test_choices_are_listed_in_vietnamese(client, db, tree):
    admin = make_user(db, tree.province, role=Role.admin, name="Quản Trị Tỉnh")
    res = client.get("/api/v1/admin/mentors?status=x", headers=login(client, admin))
    assert res.status_code == 422
    assert " hoặc " in res.json()["detail"] and " or " not in res.json()["detail"]


@pytest.mark.parametrize("method", ["temporary", "link"])
def test_an_administrator_cannot_reset_their_own_password(client, db, tree, method):
    """A stolen session must not become a password: the own password changes only with the
    current one (found by the property-based run: it signed its own session out)."""
    admin = make_user(db, tree.province, role=Role.admin, name="Quản Trị Tỉnh")
    headers = login(client, admin)
    res = client.post(
        f"/api/v1/admin/users/{admin.id}/reset-password", json={"method": method}, headers=headers
    )
    assert res.status_code == 403 and res.json()["code"] == "own_account"
    assert client.get("/api/v1/me", headers=headers).status_code == 200


# ---- what deletion and sign-out leave behind ----------------------------------------------


def test_signing_out_and_deleting_the_account_clear_the_browser_storage(client, db, tree):
    learner = make_user(db, tree.hamlet, name="Đỗ Văn Bình")
    page_login(client, learner)
    res = form_post(client, "/logout", follow_redirects=False)
    assert res.status_code in (302, 303)
    assert res.headers["clear-site-data"] == '"storage"'
    page_login(client, learner)
    res = form_post(client, "/account/data/delete", {"password": PASSWORD, "confirm": "1"})
    assert res.status_code == 200, res.text[:300]
    assert res.headers["clear-site-data"] == '"storage"'


def test_deletion_ends_mentoring_so_no_later_decision_revives_the_account(
    db, tree, lessons, settings
):
    person = make_user(db, tree.hamlet, name="Vũ Thị Lan")
    complete_level_one(db, person)
    pending = mentors.apply(db, user=person, level_number=1, settings=settings, now=utcnow())
    db.flush()
    privacy.anonymise(db, user=person, settings=settings)
    db.flush()
    db.refresh(pending)
    assert pending.status == MentorStatus.stepped_down
    assert person.role == Role.learner
    open_rows = db.scalars(
        select(Mentorship).where(
            Mentorship.user_id == person.id,
            Mentorship.status.in_((MentorStatus.pending, MentorStatus.active)),
        )
    ).all()
    assert open_rows == []
    # and a pending row that somehow remained cannot be confirmed
    pending.status = MentorStatus.pending
    db.flush()
    with pytest.raises(Exception) as refused:
        mentors.decide(db, row=pending, actor_id=None, confirm=True, reason="", now=utcnow())
    assert getattr(refused.value, "code", "") == "anonymised"
    assert person.role == Role.learner


def test_a_deleted_active_mentor_loses_the_role(db, tree, lessons, settings):
    person = make_user(db, tree.hamlet, name="Hồ Văn Tâm")
    complete_level_one(db, person)
    row = mentors.apply(db, user=person, level_number=1, settings=settings, now=utcnow())
    mentors.decide(db, row=row, actor_id=None, confirm=True, reason="", now=utcnow())
    assert person.role == Role.mentor
    privacy.anonymise(db, user=person, settings=settings)
    db.flush()
    assert person.role == Role.learner and row.status == MentorStatus.stepped_down


@pytest.mark.parametrize(
    "address", ["da-xoa-7@an-danh.invalid", "a@b.test", "x@demo.example", "me@host.localhost"]
)
def test_reserved_mail_domains_are_not_contacts(client, tree, address):
    with pytest.raises(ValueError):
        normalize_email(address)
    res = client.post(
        "/api/v1/auth/register",
        json={
            "full_name": "Phạm Văn Nam",
            "email": address,
            "password": "hoc-AI-moi-ngay-77",
            "unit_id": tree.hamlet.id,
        },
    )
    assert res.status_code == 422, res.text
