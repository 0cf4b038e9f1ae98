"""Certificates: the rule, issuing and approval, the signed Open Badges 3.0 credential,
verification (valid, revoked, expired, tampered, unknown issuer), key rotation, re-issue
after a name correction, the PDF and the unit's ZIP, and the public verification page."""

from __future__ import annotations

import base64
import io
import json
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jose import jwt
from jsonschema import Draft201909Validator, FormatChecker
from pypdf import PdfReader
from sqlalchemy import func, select

from app.certificates import keys, service
from app.models import (
    AuditLog,
    Certificate,
    CertificateStatus,
    Role,
    User,
    utcnow,
)
from tests.factories import login, make_user, page_login, pass_lesson

SCHEMA = json.loads(
    (Path(__file__).parent / "fixtures/openbadges/achievementcredential.schema.json").read_text()
)
LESSONS = ("b1-01-ai-la-gi", "b1-02-hoi-tiep")


@pytest.fixture
def learner(db, tree, lessons):
    return make_user(db, tree.hamlet, name="Nguyễn Thị Hồng Nhung", phone="+84912000901")


@pytest.fixture
def certified(db, settings, learner):
    for lesson in LESSONS:
        pass_lesson(db, settings, learner, lesson, 85)
    cert = service.live_certificate(db, learner.id, 1)
    assert cert is not None and cert.status == CertificateStatus.issued
    return cert


def unit_admin(db, unit, phone):
    return make_user(db, unit, role=Role.unit_admin, name="Quản Trị Đơn Vị", phone=phone)


def audit(db, serial):
    return [
        a.action
        for a in db.scalars(
            select(AuditLog).where(AuditLog.target_id == serial).order_by(AuditLog.id)
        )
    ]


# ---- the rule ---------------------------------------------------------------------------------


def test_the_certificate_comes_when_the_rule_is_met_and_not_before(db, settings, learner):
    pass_lesson(db, settings, learner, LESSONS[0], 65)
    assert service.live_certificate(db, learner.id, 1) is None  # 1 of 2 lessons
    pass_lesson(db, settings, learner, LESSONS[1], 70)
    assert service.live_certificate(db, learner.id, 1) is None  # average 67.5 < 70
    level = db.get(__import__("app.models", fromlist=["Level"]).Level, 1)
    found = service.eligibility(db, learner.id, level)
    assert not found.met and found.lessons_passed == 2
    assert "cần từ 70 trở lên" in found.missing[0]
    pass_lesson(db, settings, learner, LESSONS[0], 90)  # a better resubmission: 80 on average
    cert = service.live_certificate(db, learner.id, 1)
    assert cert is not None and cert.status == CertificateStatus.issued
    assert (cert.lessons_passed, cert.average) == (2, 80.0)
    assert cert.holder_name == "Nguyễn Thị Hồng Nhung"
    assert audit(db, cert.serial) == ["certificate.eligible", "certificate.issue"]
    pass_lesson(db, settings, learner, LESSONS[1], 95)  # never a second one
    assert len(service.mine(db, learner.id)) == 1


def final_test_attempt(db, attempt_id):
    from app.learning import final_test
    from app.models import FinalTestAttempt

    return final_test.drawn_of(db, db.get(FinalTestAttempt, attempt_id))


def test_a_level_with_a_final_test_needs_it_passed(db, settings, learner, client):
    """Level 2 of the fixture curriculum: 1 lesson, average 75, and a final test of 6
    questions drawn from the level's quizzes, 70% to pass, 2 sittings a day."""
    from app.models import FinalTestAttempt, Level

    headers = login(client, learner)
    early = client.post("/api/v1/levels/2/final-test/start", headers=headers)
    assert early.status_code == 409 and "hoàn thành đủ 1 bài học" in early.json()["detail"]
    pass_lesson(db, settings, learner, "b2-01-anh-dau-tien", 90)
    assert service.live_certificate(db, learner.id, 2) is None  # the test is still to pass
    missing = service.eligibility(db, learner.id, db.get(Level, 2)).missing
    assert missing == ["Cần vượt qua bài kiểm tra cuối bậc (đạt từ 70% số câu)."]
    sitting = client.post("/api/v1/levels/2/final-test/start", headers=headers)
    assert sitting.status_code == 200, sitting.text
    body = sitting.json()
    assert (body["minutes"], body["pass_mark"], len(body["questions"])) == (15, 70, 6)
    assert all(q["id"].startswith("b2-01-anh-dau-tien:") for q in body["questions"])
    assert "right" not in json.dumps(body) and "correct" not in json.dumps(body)
    again = client.post("/api/v1/levels/2/final-test/start", headers=headers).json()
    assert again["attempt_id"] == body["attempt_id"]  # the running sitting, not a new draw
    from tests.lessons import right_of, wrong

    right = right_of(final_test_attempt(db, body["attempt_id"]))
    half = client.post(
        "/api/v1/levels/2/final-test",
        headers=headers,
        json={"attempt_id": body["attempt_id"], "answers": dict(list(right.items())[:1])},
    )
    assert half.status_code == 422 and "chưa trả lời" in half.json()["detail"]
    failing = {k: (wrong(v) if i < 3 else v) for i, (k, v) in enumerate(right.items())}
    res = client.post(
        "/api/v1/levels/2/final-test",
        headers=headers,
        json={"attempt_id": body["attempt_id"], "answers": failing},
    )
    assert res.status_code == 200, res.text
    assert (res.json()["percent"], res.json()["passed"], res.json()["certificate"]) == (
        50,
        False,
        None,
    )
    replay = client.post(
        "/api/v1/levels/2/final-test",
        headers=headers,
        json={"attempt_id": body["attempt_id"], "answers": right},
    )
    assert replay.status_code == 409  # a sitting is answered once
    second = client.post("/api/v1/levels/2/final-test/start", headers=headers).json()
    answers = right_of(final_test_attempt(db, second["attempt_id"]))
    res = client.post(
        "/api/v1/levels/2/final-test",
        headers=headers,
        json={"attempt_id": second["attempt_id"], "answers": answers},
    )
    assert res.json()["passed"] is True and res.json()["certificate"]
    cert = service.live_certificate(db, learner.id, 2)
    assert cert.serial == res.json()["certificate"] and cert.status == CertificateStatus.issued
    done = client.post("/api/v1/levels/2/final-test/start", headers=headers)
    assert done.status_code == 409 and "đã vượt qua" in done.json()["detail"]
    assert db.scalar(select(func.count()).select_from(FinalTestAttempt)) == 2


def test_final_test_time_limit_and_daily_sittings(db, settings, learner, client):
    from app.models import FinalTestAttempt

    headers = login(client, learner)
    pass_lesson(db, settings, learner, "b2-01-anh-dau-tien", 90)
    first = client.post("/api/v1/levels/2/final-test/start", headers=headers).json()
    attempt = db.get(FinalTestAttempt, first["attempt_id"])
    attempt.deadline_at = utcnow() - timedelta(minutes=5)  # the learner walked away
    db.flush()
    from tests.lessons import right_of

    answers = right_of(final_test_attempt(db, first["attempt_id"]))
    late = client.post(
        "/api/v1/levels/2/final-test",
        headers=headers,
        json={"attempt_id": first["attempt_id"], "answers": answers},
    )
    assert late.status_code == 200 and late.json()["late"] is True
    assert late.json()["passed"] is False  # right answers after the time do not count
    second = client.post("/api/v1/levels/2/final-test/start", headers=headers)
    assert second.status_code == 200 and second.json()["attempt_id"] != first["attempt_id"]
    client.post(
        "/api/v1/levels/2/final-test",
        headers=headers,
        json={"attempt_id": second.json()["attempt_id"], "answers": {}},
    )
    db.get(FinalTestAttempt, second.json()["attempt_id"]).submitted_at = utcnow()
    db.flush()
    third = client.post("/api/v1/levels/2/final-test/start", headers=headers)
    assert third.status_code == 429 and "ngày mai" in third.json()["detail"]
    assert client.get("/api/v1/levels/1/final-test", headers=headers).status_code == 404
    assert client.post("/api/v1/levels/1/final-test/start", headers=headers).status_code == 404


def test_the_issuing_unit_is_the_nearest_commune_ward_or_agency(db, tree, certified):
    assert certified.unit_id == tree.ward.id  # the learner's residential group does not issue
    assert (
        service.authority_line(
            tree.ward,
            __import__("app.config").config.Settings(environment="test", secret_key="x" * 40),
        )
        == "ỦY BAN NHÂN DÂN PHƯỜNG AN BÌNH"
    )
    assert service.place_name(tree.ward) == "An Bình"


# ---- approval --------------------------------------------------------------------------------


def test_levels_that_need_approval_wait_for_a_unit_admin_in_scope(
    db, tree, settings, learner, client
):
    strict = settings.model_copy(update={"certificate_approval_levels": "1"})
    for lesson in LESSONS:
        pass_lesson(db, strict, learner, lesson, 85)
    cert = service.live_certificate(db, learner.id, 1)
    assert cert.status == CertificateStatus.pending and cert.credential_jwt is None
    outsider = login(client, unit_admin(db, tree.commune, "+84912000902"))
    res = client.post(f"/api/v1/admin/certificates/{cert.serial}/approve", headers=outsider)
    assert res.status_code == 404  # another commune's admin does not even see it
    ward_admin = login(client, unit_admin(db, tree.ward, "+84912000903"))
    listed = client.get("/api/v1/admin/certificates?status=pending", headers=ward_admin).json()
    assert [c["serial"] for c in listed] == [cert.serial]
    res = client.post(f"/api/v1/admin/certificates/{cert.serial}/approve", headers=ward_admin)
    assert res.status_code == 200, res.text
    assert res.json()["status"] == "issued"
    again = client.post(f"/api/v1/admin/certificates/{cert.serial}/approve", headers=ward_admin)
    assert again.status_code == 409 and "không chờ phê duyệt" in again.json()["detail"]
    assert audit(db, cert.serial) == [
        "certificate.eligible",
        "certificate.approve",
        "certificate.issue",
    ]


def test_bulk_approval_for_a_unit(db, tree, settings, client, lessons):
    strict = settings.model_copy(update={"certificate_approval_levels": "1"})
    people = [
        make_user(db, tree.hamlet, name=f"Học Viên {i}", phone=f"+8491200091{i}") for i in range(3)
    ]
    for person in people:
        for lesson in LESSONS:
            pass_lesson(db, strict, person, lesson, 80)
    other = make_user(db, tree.village, name="Ở Xã Khác", phone="+84912000920")
    for lesson in LESSONS:
        pass_lesson(db, strict, other, lesson, 80)
    admin = login(client, unit_admin(db, tree.ward, "+84912000921"))
    res = client.post(f"/api/v1/admin/units/{tree.ward.id}/certificates/approve", headers=admin)
    assert res.json() == {"approved": 3}
    assert service.live_certificate(db, other.id, 1).status == CertificateStatus.pending
    refused = client.post(
        f"/api/v1/admin/units/{tree.commune.id}/certificates/approve", headers=admin
    )
    assert refused.status_code == 403


# ---- the credential --------------------------------------------------------------------------


def test_the_credential_is_an_open_badges_achievement_credential(db, client, certified):
    token = certified.credential_jwt
    header = jwt.get_unverified_header(token)
    claims = jwt.get_unverified_claims(token)
    assert header["alg"] == "ES256" and header["kid"] == certified.key_id
    vc = claims["vc"]
    Draft201909Validator(SCHEMA, format_checker=FormatChecker()).validate(vc)
    assert "date-time" in FormatChecker().checkers  # the date formats were checked
    assert claims["jti"] == vc["id"] == f"http://testserver/api/v1/certificates/{certified.serial}"
    assert claims["iss"] == vc["issuer"]["id"]
    assert vc["credentialSubject"]["identifier"][0]["identityHash"] == "Nguyễn Thị Hồng Nhung"
    assert vc["credentialSubject"]["achievement"]["name"].startswith("Bậc 1 – ")
    assert "+84" not in json.dumps(vc)  # no phone number in it
    # its id URL serves it; the issuer profile and the achievement resolve too
    served = client.get(f"/api/v1/certificates/{certified.serial}")
    assert served.status_code == 200 and served.json() == vc
    assert client.get(f"/api/v1/certificates/{certified.serial}?format=jwt").text == token
    assert client.get(vc["issuer"]["id"].replace("http://testserver", "")).json()["name"]
    achievement = client.get("/api/v1/achievements/1").json()
    assert achievement["id"] == vc["credentialSubject"]["achievement"]["id"]
    jwks = client.get("/.well-known/jwks.json").json()
    assert [k["kid"] for k in jwks["keys"]] == [certified.key_id]
    assert all("d" not in k for k in jwks["keys"])  # public halves only


def verify(client, token):
    res = client.post("/api/v1/verify", json={"credential": token})
    assert res.status_code == 200, res.text
    return res.json()


def test_verification_tells_valid_tampered_unknown_issuer_and_malformed(client, certified):
    good = verify(client, certified.credential_jwt)
    assert (
        good["status"] == "valid" and good["certificate"]["holder_name"] == "Nguyễn Thị Hồng Nhung"
    )
    # tampered: the name changed in the payload, the signature kept
    head, payload, sig = certified.credential_jwt.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["vc"]["credentialSubject"]["identifier"][0]["identityHash"] = "Kẻ Giả Mạo"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    bad = verify(client, f"{head}.{forged}.{sig}")
    assert bad["status"] == "tampered" and "bị sửa đổi" in bad["reasons"][0]
    assert bad["certificate"] is None
    # signed with a key that is not ours, under our key id and issuer
    stranger = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    other = jwt.encode(
        claims, stranger.decode(), algorithm="ES256", headers={"kid": certified.key_id}
    )
    assert verify(client, other)["status"] == "tampered"
    unknown = jwt.encode(
        claims, stranger.decode(), algorithm="ES256", headers={"kid": "someone-else"}
    )
    result = verify(client, unknown)
    assert result["status"] == "unknown_issuer" and result["status_text"] == "Không rõ đơn vị cấp"
    # HS256 with the public key as secret (the algorithm confusion attack) is refused
    confused = jwt.encode(claims, "secret", algorithm="HS256", headers={"kid": certified.key_id})
    assert verify(client, confused)["status"] == "tampered"
    assert verify(client, "not-a-jwt-at-all")["status"] == "malformed"
    empty = client.post("/api/v1/verify", json={"credential": ""})
    assert empty.status_code == 422 and "detail" in empty.json()


def test_a_revoked_certificate_shows_revoked_everywhere(db, tree, client, certified):
    admin = login(client, unit_admin(db, tree.ward, "+84912000930"))
    short = client.post(
        f"/api/v1/admin/certificates/{certified.serial}/revoke", json={"reason": "x"}, headers=admin
    )
    assert short.status_code == 422
    res = client.post(
        f"/api/v1/admin/certificates/{certified.serial}/revoke",
        json={"reason": "Cấp nhầm người, đã xác minh lại."},
        headers=admin,
    )
    assert res.status_code == 200 and res.json()["status"] == "revoked"
    result = verify(client, certified.credential_jwt)
    assert result["status"] == "revoked" and "Cấp nhầm người" in result["reasons"][0]
    page = client.get(f"/verify/{certified.serial}")
    assert page.status_code == 200 and "Chứng nhận đã thu hồi" in page.text
    status = client.get(f"/api/v1/certificates/{certified.serial}/status").json()
    assert status["status"] == "revoked" and status["status_text"] == "Đã thu hồi"
    assert db.get(Certificate, certified.id) is not None  # the record is kept
    assert audit(db, certified.serial)[-1] == "certificate.revoke"
    entry = db.scalar(select(AuditLog).where(AuditLog.action == "certificate.revoke"))
    assert entry.actor_id is not None and entry.details["reason"].startswith("Cấp nhầm")


def test_an_expired_certificate_verifies_as_expired(db, settings, learner, client):
    yearly = settings.model_copy(update={"certificate_valid_years": 1})
    for lesson in LESSONS:
        pass_lesson(db, settings, learner, lesson, 85)
    cert = service.live_certificate(db, learner.id, 1)
    service.issue(db, cert, settings=yearly, actor_id=None, now=utcnow() - timedelta(days=800))
    db.flush()
    result = verify(client, cert.credential_jwt)
    assert result["status"] == "expired" and "hết hạn" in result["reasons"][0]
    assert "Chứng nhận đã hết hạn" in client.get(f"/verify/{cert.serial}").text


def test_rotated_keys_still_verify_old_certificates(db, settings, tree, client, certified, lessons):
    old_kid = certified.key_id
    new_key = keys.create_key(db, settings)
    second = make_user(db, tree.hamlet, name="Trần Văn Hai", phone="+84912000940")
    for lesson in LESSONS:
        pass_lesson(db, settings, second, lesson, 90)
    newer = service.live_certificate(db, second.id, 1)
    assert newer.key_id == new_key.kid != old_kid
    kids = [k["kid"] for k in client.get("/.well-known/jwks.json").json()["keys"]]
    assert kids == [old_kid, new_key.kid]
    assert verify(client, certified.credential_jwt)["status"] == "valid"
    assert verify(client, newer.credential_jwt)["status"] == "valid"


def test_a_name_correction_reissues_under_a_new_serial(db, tree, client, certified, learner):
    admin = login(client, unit_admin(db, tree.ward, "+84912000950"))
    res = client.post(
        f"/api/v1/admin/certificates/{certified.serial}/reissue",
        json={"full_name": "  Nguyễn Thị Hồng   Nhung Anh "},
        headers=admin,
    )
    assert res.status_code == 200, res.text
    body = res.json()
    assert body["serial"] != certified.serial and body["holder_name"] == "Nguyễn Thị Hồng Nhung Anh"
    db.refresh(certified)
    assert certified.status == CertificateStatus.revoked
    assert "Cấp lại do sửa họ tên" in certified.revoke_reason
    db.refresh(learner)
    assert learner.full_name == "Nguyễn Thị Hồng Nhung Anh"
    assert verify(client, certified.credential_jwt)["status"] == "revoked"
    new = db.scalar(select(Certificate).where(Certificate.serial == body["serial"]))
    assert new.replaces_id == certified.id
    assert verify(client, new.credential_jwt)["status"] == "valid"
    same = client.post(
        f"/api/v1/admin/certificates/{new.serial}/reissue",
        json={"full_name": "Nguyễn Thị Hồng Nhung Anh"},
        headers=admin,
    )
    assert same.status_code == 422 and "trùng" in same.json()["detail"]


# ---- the PDF, the ZIP and the pages ----------------------------------------------------------


def pdf_text(data: bytes) -> str:
    reader = PdfReader(io.BytesIO(data))
    return " ".join((page.extract_text() or "") for page in reader.pages)


def test_the_holder_downloads_the_pdf_once_rendered_and_cached(
    db, tree, client, settings, certified, learner
):
    page_login(client, learner)
    mine = client.get("/certificates")
    assert mine.status_code == 200 and certified.serial in mine.text
    res = client.get(f"/certificates/{certified.serial}.pdf")
    assert res.status_code == 200 and res.headers["content-type"] == "application/pdf"
    import unicodedata

    text = unicodedata.normalize("NFC", pdf_text(res.content))
    assert "Nguyễn Thị Hồng Nhung" in text and certified.serial in text
    cached = settings.media_dir / "certificates" / f"{certified.serial}.pdf"
    stamp = cached.stat().st_mtime_ns
    assert client.get(f"/certificates/{certified.serial}.pdf").content == res.content
    assert cached.stat().st_mtime_ns == stamp  # not rendered again
    other = make_user(db, tree.hamlet, name="Người Khác", phone="+84912000960")
    client.cookies.clear()
    page_login(client, other)
    assert client.get(f"/certificates/{certified.serial}.pdf").status_code == 404


def test_a_unit_admin_downloads_the_units_certificates_as_one_zip(db, tree, client, certified):
    admin = login(client, unit_admin(db, tree.ward, "+84912000970"))
    res = client.get(f"/api/v1/admin/units/{tree.ward.id}/certificates.zip", headers=admin)
    assert res.status_code == 200 and res.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(res.content)) as archive:
        names = archive.namelist()
        assert names == [f"Bac-1/{certified.serial}.pdf"]
        assert "Nguyễn" in pdf_text(archive.read(names[0]))
    outsider = login(client, unit_admin(db, tree.commune, "+84912000971"))
    refused = client.get(f"/api/v1/admin/units/{tree.ward.id}/certificates.zip", headers=outsider)
    assert refused.status_code == 403
    # the same from the unit's administration page (signed in with cookies)
    page_login(client, db.scalar(select(User).where(User.phone == "+84912000970")))
    unit_page = client.get(f"/admin/units/{tree.ward.id}")
    assert f'href="/admin/units/{tree.ward.id}/certificates.zip"' in unit_page.text
    from_page = client.get(f"/admin/units/{tree.ward.id}/certificates.zip")
    assert from_page.status_code == 200 and from_page.content[:2] == b"PK"
    assert "certificate.export" in [a.action for a in db.scalars(select(AuditLog))]


def test_the_public_verification_page(client, certified, tree):
    page = client.get(f"/verify/{certified.serial}")  # no sign-in
    assert page.status_code == 200
    for text in (
        "Chứng nhận hợp lệ",
        "Nguyễn Thị Hồng Nhung",
        "Bậc 1",
        tree.ward.name,
        certified.serial,
    ):
        assert text in page.text
    missing = client.get("/verify/BDHAI-1-2026-ABCDEFGH")
    assert missing.status_code == 404 and "Không tìm thấy chứng nhận" in missing.text
    assert client.get("/verify/../../etc").status_code == 404
    assert client.get("/verify/x" * 3).status_code in (404, 422)


def test_verification_is_rate_limited(client, certified):
    for _ in range(60):
        assert client.get(f"/api/v1/certificates/{certified.serial}/status").status_code == 200
    res = client.get(f"/api/v1/certificates/{certified.serial}/status")
    assert res.status_code == 429 and "Retry-After" in res.headers


def test_the_final_test_as_plain_pages(db, settings, learner, client):
    from tests.factories import form_post
    from tests.lessons import right_of

    page_login(client, learner)
    blocked = client.get("/levels/2/final-test")
    assert blocked.status_code == 200 and "hoàn thành đủ 1 bài học" in blocked.text
    assert client.get("/levels/1/final-test").status_code == 404  # level 1 has none
    pass_lesson(db, settings, learner, "b2-01-anh-dau-tien", 90)
    mine = client.get("/certificates")
    assert 'href="/levels/2/final-test"' in mine.text
    rules = client.get("/levels/2/final-test")  # the rules and a "Bắt đầu" form: no sitting yet
    assert rules.status_code == 200 and '<fieldset class="question"' not in rules.text
    page = form_post(client, "/levels/2/final-test/start")  # then the sitting
    assert page.status_code == 200 and page.text.count('<fieldset class="question"') == 6
    attempt_id = int(page.text.split('name="attempt_id" value="')[1].split('"')[0])
    right = right_of(final_test_attempt(db, attempt_id))
    missing = form_post(client, "/levels/2/final-test", {"attempt_id": str(attempt_id)})
    assert missing.status_code == 422 and "chưa trả lời" in missing.text
    assert missing.text.count('<fieldset class="question"') == 6  # the same sitting again
    data: dict = {"attempt_id": str(attempt_id)}
    for key, value in right.items():
        if isinstance(value, bool):
            data[f"a_{key}"] = "true" if value else "false"
        elif isinstance(value, list):
            data[f"m_{key}"] = "1"
            data[f"a_{key}"] = [str(v) for v in value]
        else:
            data[f"a_{key}"] = str(value)
    done = form_post(client, "/levels/2/final-test", data, follow_redirects=False)
    assert done.status_code == 303
    result = client.get(done.headers["location"])
    assert "Bạn đã vượt qua bài kiểm tra cuối bậc!" in result.text
    assert 'href="/certificates"' in result.text
    assert service.live_certificate(db, learner.id, 2).status == CertificateStatus.issued
