"""The edge of the service, whatever route is behind it: the request size limit on the bytes
actually received, NUL characters refused, CSRF tokens bound to the session, the security
headers, and the client address seen behind the proxy (with the server flags we ship)."""

from __future__ import annotations

import asyncio
import http.client
import io
import json
import os
import re
import select as io_select
import shlex
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import select

from app.auth.dependencies import ACCESS_COOKIE, CSRF_COOKIE, REFRESH_COOKIE
from app.main import create_app
from app.migrations import upgrade
from app.models import AuditLog, CertificateStatus, Role, utcnow
from tests.browser import free_port
from tests.dbutil import scratch_database
from tests.factories import PASSWORD, issued_certificate, login, make_user, page_login
from tests.lessons import GOOD_TEXT, L1, L3

ROOT = Path(__file__).resolve().parent.parent
MiB = 1024 * 1024
NUL_MESSAGE = "ký tự NUL"

# ---- helpers ---------------------------------------------------------------------------------


def meta_token(client: TestClient, path: str) -> str:
    """The CSRF token a page gives its forms and scripts."""
    page = client.get(path)
    assert page.status_code == 200, page.text[:300]
    found = re.search(r'<meta name="csrf-token" content="([^"]+)">', page.text)
    assert found, page.text[:300]
    return found.group(1)


def asgi_post(app, path: str, chunks: Iterator[bytes], content_type: str) -> dict:
    """POST a chunked body (no Content-Length) straight to the ASGI app, counting the
    bytes the app pulled: what uvicorn hands an app for `Transfer-Encoding: chunked`."""
    pulled = 0
    done = False

    async def receive() -> dict:
        nonlocal pulled, done
        if done:
            await asyncio.sleep(3600)  # a client that keeps the connection open
        try:
            chunk = next(chunks)
        except StopIteration:
            done = True
            return {"type": "http.request", "body": b"", "more_body": False}
        pulled += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": True}

    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"testserver"),
            (b"transfer-encoding", b"chunked"),
            (b"content-type", content_type.encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "state": {},
    }
    asyncio.run(asyncio.wait_for(app(scope, receive, send), 60))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    headers = {k.decode().lower(): v.decode() for k, v in start["headers"]}
    return {"status": start["status"], "headers": headers, "body": body, "pulled": pulled}


def endless(first: bytes, size: int, chunk: int = 64 * 1024) -> Iterator[bytes]:
    yield first
    sent = len(first)
    while sent < size:
        sent += chunk
        yield b"x" * chunk


# ---- 4. the size limit counts the bytes received ------------------------------------------


@pytest.mark.parametrize(
    ("path", "content_type", "first"),
    [
        ("/api/v1/auth/login", "application/json", b'{"identifier": "'),
        (  # a file part: Starlette caps form fields itself, but spools files to disk
            "/login",
            "multipart/form-data; boundary=XyZ",
            b'--XyZ\r\nContent-Disposition: form-data; name="f"; filename="a.bin"\r\n\r\n',
        ),
        ("/api/v1/no-such-route", "application/json", b"["),
    ],
)
def test_a_chunked_body_past_the_limit_stops_being_read(app, db, path, content_type, first):
    settings = app.state.settings
    json_body = content_type == "application/json"
    limit = settings.max_json_bytes if json_body else settings.max_request_bytes
    size = 4 * settings.max_request_bytes  # it would all be read without the limit
    res = asgi_post(app, path, endless(first, size), content_type)
    if path == "/api/v1/no-such-route":  # nothing reads the body: nothing is read
        assert res["status"] == 404 and res["pulled"] <= len(first)
        return
    assert res["status"] == 413, res["body"][:300]
    assert res["pulled"] <= limit + 64 * 1024  # stopped at the limit, not at the end
    assert res["headers"]["connection"] == "close"
    if path.startswith("/api/"):
        assert json.loads(res["body"]) == {
            "detail": "Dữ liệu gửi lên quá lớn (tối đa 1 MB).",
            "code": "too_large",
        }
    else:
        text = res["body"].decode()
        assert '<html lang="vi"' in text and "Dữ liệu gửi lên quá lớn (tối đa 8 MB)." in text


# ---- 11. NUL characters ---------------------------------------------------------------------


@pytest.fixture
def admin(db, tree):
    return make_user(db, tree.province, role=Role.admin, email="quantri@example.vn")


def assert_nul_refused(res, page: bool = False) -> None:
    assert res.status_code == 422, res.text[:500]
    if page:
        assert '<html lang="vi"' in res.text and NUL_MESSAGE in res.text
    else:
        body = res.json()
        assert body["code"] == "invalid_character" and NUL_MESSAGE in body["detail"]


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/admin/audit?actor=a%00b",
        "/api/v1/admin/audit?action=%00",
        "/api/v1/admin/audit?target_type=user%00",
        "/api/v1/admin/audit.csv?actor=%00",
        "/api/v1/admin/users?q=Nguy%00",
    ],
)
def test_nul_in_admin_api_filters_is_refused(client, db, admin, url):
    assert_nul_refused(client.get(url, headers=login(client, admin)))


@pytest.mark.parametrize(
    "url",
    [
        "/admin/audit?actor=a%00b",
        "/admin/audit?action=%00",
        "/admin/audit?target_type=user%00",
        "/admin/accounts?q=Nguy%00",
    ],
)
def test_nul_in_admin_page_filters_is_refused(client, db, admin, url):
    page_login(client, admin)
    assert_nul_refused(client.get(url), page=True)


def test_nul_in_a_revoke_reason_is_refused(client, db, tree, lessons, admin):
    learner = make_user(db, tree.hamlet)
    cert = issued_certificate(db, learner, 1, utcnow())
    db.flush()
    url = f"/admin/certificates/{cert.serial}/revoke"
    api = client.post(
        f"/api/v1{url}", headers=login(client, admin), json={"reason": "Cấp nhầm\u0000 người."}
    )
    assert_nul_refused(api)
    page_login(client, admin)
    token = meta_token(client, "/admin/certificates")
    page = client.post(url, data={"csrf_token": token, "reason": "Cấp nhầm\x00 người học."})
    assert_nul_refused(page, page=True)
    db.refresh(cert)
    assert cert.status == CertificateStatus.issued and cert.revoke_reason is None
    assert db.scalar(select(AuditLog).where(AuditLog.action == "certificate.revoke")) is None


def test_nul_in_a_path_is_refused(client, db, tree):
    learner = make_user(db, tree.hamlet)
    headers = login(client, learner)
    assert_nul_refused(client.get("/media/submissions/a%00.jpg", headers=headers), page=True)
    assert_nul_refused(client.get("/api/v1/certificates/BDHAI-1-2025-%00"))
    assert_nul_refused(client.get("/verify/BDHAI%00"), page=True)


def test_nul_in_a_query_string_is_refused_even_on_public_routes(client, db):
    assert_nul_refused(client.get("/api/v1/levels?x=%00"))
    assert_nul_refused(client.get("/login?next=/%00"), page=True)


def test_an_escaped_backslash_before_u0000_is_not_a_nul(client, db):
    """JSON `"\\\\u0000"` is the six characters \\u0000, not NUL: the sign-in goes on."""
    res = client.post(
        "/api/v1/auth/login",
        content=b'{"identifier": "a\\\\u0000", "password": "x"}',
        headers={"content-type": "application/json"},
    )
    assert res.status_code in (401, 422) and res.json()["code"] != "invalid_character"
    res = client.post("/api/v1/auth/login", json={"identifier": "0912\u0000", "password": "x"})
    assert_nul_refused(res)


def test_nul_in_a_multipart_text_field_is_refused_but_files_may_hold_nul(
    client, db, tree, lessons, admin
):
    learner = make_user(db, tree.hamlet)
    headers = login(client, learner)
    url = f"/api/v1/lessons/{L1}/submissions"
    bad = client.post(
        url, headers=headers, data={"text": GOOD_TEXT + "\x00", "client_id": "a" * 32}
    )
    assert_nul_refused(bad)
    # a picture is binary and full of NUL bytes: allowed
    unlock = client.post(
        f"/api/v1/admin/users/{learner.id}/levels/2/unlock", headers=login(client, admin)
    )
    assert unlock.status_code == 200
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (20, 120, 60)).save(out, "PNG")
    assert b"\x00" in out.getvalue()
    ok = client.post(
        f"/api/v1/lessons/{L3}/submissions",
        headers=headers,
        data={"text": GOOD_TEXT, "client_id": "b" * 32},
        files={"image": ("anh.png", out.getvalue(), "image/png")},
    )
    assert ok.status_code == 201, ok.text


def test_nul_in_an_urlencoded_form_is_refused(client, db, tree):
    user = make_user(db, tree.hamlet)
    token = meta_token(client, "/login")
    res = client.post(
        "/login",
        data={"csrf_token": token, "identifier": user.login_name + "\x00", "password": "x"},
    )
    assert_nul_refused(res, page=True)


# ---- 13. CSRF tokens bound to the session ---------------------------------------------------

PLANTED = "P" * 32


def test_a_planted_cookie_with_a_matching_field_is_refused(client, db, tree):
    user = make_user(db, tree.hamlet)
    client.cookies.set(CSRF_COOKIE, PLANTED)
    res = client.post(
        "/login",
        data={"identifier": user.login_name, "password": PASSWORD, "csrf_token": PLANTED},
        follow_redirects=False,
    )
    assert res.status_code == 403 and "Biểu mẫu đã hết hạn" in res.text
    assert page_login(client, user).status_code == 303
    client.cookies.set(CSRF_COOKIE, PLANTED)
    res = client.post("/logout", data={"csrf_token": PLANTED}, follow_redirects=False)
    assert res.status_code == 403
    res = client.post("/api/v1/auth/logout", headers={"x-csrf-token": PLANTED})
    assert res.status_code == 403 and res.json()["code"] == "csrf"


def test_pages_carry_a_token_that_is_not_the_cookie(client, db, tree):
    token = meta_token(client, "/login")
    cookie = client.cookies.get(CSRF_COOKIE)
    assert cookie and token != cookie
    client.cookies.clear()
    set_cookie = client.get("/login").headers["set-cookie"]
    assert set_cookie.startswith(f"{CSRF_COOKIE}=") and "HttpOnly" in set_cookie


def test_a_token_from_another_session_is_refused(app, client, db, tree):
    attacker = make_user(db, tree.hamlet, name="Kẻ Tấn Công")
    victim = make_user(db, tree.hamlet, name="Người Bị Hại")
    with TestClient(app, base_url="http://testserver") as other:
        page_login(other, attacker)
        their_cookie = other.cookies.get(CSRF_COOKIE)
        their_token = meta_token(other, "/account/password")
        own = other.post(
            "/preferences/text-size", data={"csrf_token": their_token}, follow_redirects=False
        )
        assert own.status_code == 303  # the attacker's token works in the attacker's browser
    page_login(client, victim)
    mine = meta_token(client, "/account/password")
    client.cookies.set(CSRF_COOKIE, their_cookie)  # planted, with the attacker's own token
    res = client.post("/logout", data={"csrf_token": their_token}, follow_redirects=False)
    assert res.status_code == 403
    res = client.post("/api/v1/auth/logout", headers={"x-csrf-token": their_token})
    assert res.status_code == 403
    assert client.get("/api/v1/me").status_code == 200  # still signed in
    assert mine != their_token


def test_a_token_minted_before_sign_in_fails_after_it(client, db, tree):
    user = make_user(db, tree.hamlet)
    before = meta_token(client, "/login")
    res = client.post(
        "/login",
        data={"identifier": user.login_name, "password": PASSWORD, "csrf_token": before},
        follow_redirects=False,
    )
    assert res.status_code == 303  # the sign-in form works before any session exists
    assert f"{CSRF_COOKIE}=" in ";".join(res.headers.get_list("set-cookie"))  # rotated
    res = client.post("/logout", data={"csrf_token": before}, follow_redirects=False)
    assert res.status_code == 403
    after = meta_token(client, "/account/password")
    assert after != before
    assert client.post("/api/v1/auth/logout", headers={"x-csrf-token": before}).status_code == 403
    res = client.post("/logout", data={"csrf_token": after}, follow_redirects=False)
    assert res.status_code == 303


def test_a_pre_sign_in_pair_planted_in_a_signed_in_browser_fails(app, client, db, tree):
    user = make_user(db, tree.hamlet)
    with TestClient(app, base_url="http://testserver") as attacker:
        token = meta_token(attacker, "/login")
        cookie = attacker.cookies.get(CSRF_COOKIE)
    page_login(client, user)
    client.cookies.set(CSRF_COOKIE, cookie)
    res = client.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert res.status_code == 403


def test_cookie_api_writes_take_the_page_token_in_the_header(client, db, tree):
    user = make_user(db, tree.hamlet)
    page_login(client, user)
    cookie = client.cookies.get(CSRF_COOKIE)
    assert client.post("/api/v1/auth/logout", headers={"x-csrf-token": cookie}).status_code == 403
    token = meta_token(client, "/account/password")
    assert client.post("/api/v1/auth/logout", headers={"x-csrf-token": token}).status_code == 204


@pytest.fixture
def secure_app(app, settings, db):
    """The app as it runs behind HTTPS (COOKIE_SECURE=true), on the test's transaction."""
    secured = create_app(settings.model_copy(update={"cookie_secure": True}))
    secured.state.sessionmaker = app.state.sessionmaker
    yield secured
    secured.state.engine.dispose()


def test_secure_cookies_use_the_host_prefix(secure_app, db, tree):
    user = make_user(db, tree.hamlet)
    with TestClient(secure_app, base_url="https://testserver") as client:
        first = client.get("/login")
        cookie = first.headers["set-cookie"]
        assert cookie.startswith(f"__Host-{CSRF_COOKIE}=") and "Secure" in cookie
        assert "Path=/" in cookie and "Domain" not in cookie
        token = meta_token(client, "/login")
        res = client.post(
            "/login",
            data={"identifier": user.login_name, "password": PASSWORD, "csrf_token": token},
            follow_redirects=False,
        )
        assert res.status_code == 303
        cookies = res.headers.get_list("set-cookie")
        for name in (ACCESS_COOKIE, REFRESH_COOKIE):
            mine = [c for c in cookies if c.startswith(f"__Host-{name}=")]
            assert mine and "Secure" in mine[0] and "HttpOnly" in mine[0]
        assert client.get("/api/v1/me").status_code == 200
        # a cookie without the prefix (which a sibling domain could plant) is not read
        client.cookies.set(CSRF_COOKIE, PLANTED)
        after = meta_token(client, "/account/password")
        client.cookies.delete(f"__Host-{CSRF_COOKIE}")
        res = client.post("/logout", data={"csrf_token": after}, follow_redirects=False)
        assert res.status_code == 403


# ---- 15. headers ---------------------------------------------------------------------------


def test_security_headers_on_every_answer(client, secure_app, db):
    for res in (client.get("/login"), client.get("/api/v1/levels"), client.get("/nowhere")):
        policy = res.headers["permissions-policy"]
        assert "camera=()" in policy and "geolocation=()" in policy
        assert "microphone=(self)" in policy
        assert "strict-transport-security" not in res.headers  # plain HTTP: no HSTS
    with TestClient(secure_app, base_url="https://testserver") as secure:
        for res in (secure.get("/login"), secure.get("/static/js/app.js")):
            assert res.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"


def test_personal_answers_are_not_cached_and_public_ones_still_are(client, db, tree):
    user = make_user(db, tree.hamlet)
    signed_in = client.post(
        "/api/v1/auth/login", json={"identifier": user.login_name, "password": PASSWORD}
    )
    assert signed_in.headers["cache-control"] == "private, no-store"  # it carries the tokens
    headers = {"Authorization": f"Bearer {signed_in.json()['access_token']}"}
    for path in ("/api/v1/me", "/api/v1/me/certificates", "/api/v1/levels"):
        res = client.get(path, headers=headers)
        assert res.status_code == 200, path
        assert res.headers["cache-control"] == "private, no-store", path
    page_login(client, user)
    assert client.get("/api/v1/me").headers["cache-control"] == "private, no-store"
    assert client.get("/.well-known/jwks.json").headers["cache-control"] == "public, max-age=300"
    static = client.get("/static/js/app.js")
    assert "no-store" not in static.headers.get("cache-control", "")


# ---- 6 (and 15). the client address behind the proxy, with the flags we ship ---------------


def makefile_command(port: int) -> list[str]:
    makefile = (ROOT / "Makefile").read_text()
    line = next(x for x in makefile.splitlines() if x.startswith("\t$(BIN)/uvicorn "))
    line = line.strip().replace("$(BIN)", str(ROOT / ".venv" / "bin"))
    line = line.replace("$(HOST)", "127.0.0.1").replace("$(PORT)", str(port))
    return shlex.split(line)


def dockerfile_command(port: int) -> tuple[list[str], dict[str, str]]:
    text = (ROOT / "Dockerfile").read_text()
    final = text[text.rindex("\nFROM ") :]  # the runtime stage
    env: dict[str, str] = {}
    for line in final.replace("\\\n", " ").splitlines():
        if line.startswith("ENV "):
            for pair in shlex.split(line[4:]):
                key, _, value = pair.partition("=")
                env[key] = value
    cmd = json.loads(re.search(r"^CMD (\[.*\])$", final, re.M).group(1))
    cmd[0] = str(ROOT / ".venv" / "bin" / cmd[0])
    for flag, value in (("--host", "127.0.0.1"), ("--port", str(port)), ("--workers", "1")):
        if flag in cmd:
            cmd[cmd.index(flag) + 1] = value
    return cmd, {k: v for k, v in env.items() if k == "FORWARDED_ALLOW_IPS"}


@contextmanager
def shipped_server(tmp_path: Path, flavour: str, **extra_env: str) -> Iterator[tuple[int, int]]:
    """The app served by uvicorn as `make run` or the Docker image runs it: (port, pid)."""
    port = free_port()
    if flavour == "makefile":
        cmd, image_env = makefile_command(port), {}
    else:
        cmd, image_env = dockerfile_command(port)
    with scratch_database(tmp_path, "edge") as url:
        upgrade(url)
        env = {k: v for k, v in os.environ.items() if k != "FORWARDED_ALLOW_IPS"}
        env.update(
            ENVIRONMENT="test",
            DATABASE_URL=url,
            SECRET_KEY="edge-test-" + "s" * 40,
            GRADING_WORKER="off",
            MEDIA_DIR=str(tmp_path / "media"),
            LOGIN_MAX_PER_ADDRESS="3",
            **image_env,
            **extra_env,
        )
        env.pop("REDIS_URL", None)
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                    conn.request("GET", "/healthz")
                    if conn.getresponse().status == 200:
                        break
                except OSError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(proc.stderr.read().decode() if proc.stderr else "no server")
                time.sleep(0.2)
            yield port, proc.pid
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def failed_sign_in(port: int, source: str, forwarded_for: str, n: int) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=(source, 0))
    body = json.dumps({"identifier": f"0912{n:06d}", "password": "sai-mat-khau"})
    conn.request(
        "POST",
        "/api/v1/auth/login",
        body=body,
        headers={"content-type": "application/json", "x-forwarded-for": forwarded_for},
    )
    res = conn.getresponse()
    res.read()
    conn.close()
    return res


@pytest.mark.once  # the server's or worker's behaviour, not the database's
@pytest.mark.skipif(sys.platform != "linux", reason="needs 127.0.0.2 on the loopback")
@pytest.mark.parametrize("flavour", ["makefile", "dockerfile"])
def test_a_forged_forwarded_for_does_not_move_the_sign_in_limit(tmp_path, flavour):
    with shipped_server(tmp_path, flavour) as (port, _):
        # an outside client (not the proxy) writes a new address into every request
        answers = [failed_sign_in(port, "127.0.0.2", f"198.51.100.{n}", n) for n in range(4)]
        assert [r.status for r in answers] == [401, 401, 401, 429]
        assert all(r.getheader("server") is None for r in answers)  # no "server: uvicorn"
        # the trusted proxy (loopback) does set the address: each one counts on its own
        trusted = [failed_sign_in(port, "127.0.0.1", f"203.0.113.{n}", 10 + n) for n in range(4)]
        assert [r.status for r in trusted] == [401, 401, 401, 401]


def rss_bytes(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) * 1024


@pytest.mark.once  # the server's or worker's behaviour, not the database's
@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
def test_a_live_server_stops_reading_a_chunked_body(tmp_path):
    """What the outside attack did: 256 MiB, chunked, to the sign-in, no account needed."""
    with shipped_server(tmp_path, "makefile", MAX_REQUEST_BYTES=str(MiB)) as (port, pid):
        before = rss_bytes(pid)
        sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        sock.sendall(
            b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        chunk = b"x" * (64 * 1024)
        frame = b"%x\r\n" % len(chunk) + chunk + b"\r\n"
        total, sent, answer = 256 * MiB, 0, b""
        deadline = time.monotonic() + 60
        while sent < total and time.monotonic() < deadline:
            readable, writable, _ = io_select.select([sock], [sock], [], 5)
            if readable:  # the server answered before the body ended
                break
            if writable:
                try:
                    sock.sendall(frame)
                except OSError:  # it closed the connection
                    break
                sent += len(frame)
        try:
            while len(answer) < 4096:
                data = sock.recv(4096)
                if not data:
                    break
                answer += data
        except OSError:  # the reset after a refusal may follow the answer
            pass
        sock.close()
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
        assert sent < 64 * MiB  # far from the whole body: what sits in the socket buffers
        assert rss_bytes(pid) - before < 32 * MiB
