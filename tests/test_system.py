"""Probes, settings and the rate limiter backends."""

from __future__ import annotations

import uuid

import pytest
import redis
from pydantic import ValidationError

from app.config import DEV_SECRET, Settings
from app.core.ratelimit import MemoryRateLimiter, RedisRateLimiter
from tests.dbutil import TEST_REDIS_URL


def test_healthz(client):
    assert client.get("/healthz").json() == {"status": "ok"}


def test_readyz_on_migrated_database(client):
    body = client.get("/readyz").json()
    assert body["status"] == "ok"


def test_production_refuses_the_default_secret():
    with pytest.raises(ValidationError, match="SECRET_KEY"):
        Settings(environment="production", secret_key=DEV_SECRET)
    with pytest.raises(ValidationError, match="SECRET_KEY"):
        Settings(environment="production", secret_key="short")
    ok = Settings(environment="production", secret_key="k" * 40)
    assert ok.environment == "production"


def test_security_headers_and_gzip(client):
    res = client.get("/login", headers={"accept-encoding": "gzip"})
    assert res.headers["x-frame-options"] == "DENY"
    assert "default-src 'self'" in res.headers["content-security-policy"]
    assert res.headers["content-encoding"] == "gzip"


def test_unknown_page_and_api_path_are_vietnamese_404(client):
    res = client.get("/api/v1/khong-co")
    assert res.status_code == 404
    assert res.json()["detail"] == "Không tìm thấy trang hoặc dữ liệu bạn cần."
    page = client.get("/khong-co")
    assert page.status_code == 404
    assert "Không tìm thấy" in page.text


def test_wrong_method_is_405_in_vietnamese(client):
    res = client.put("/api/v1/auth/login", json={})
    assert res.status_code == 405
    assert "không được hỗ trợ" in res.json()["detail"]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_memory_limiter_windows():
    clock = FakeClock()
    limiter = MemoryRateLimiter(clock)
    for i in range(3):
        assert limiter.hit("k", 3, 60).allowed, i
    verdict = limiter.hit("k", 3, 60)
    assert not verdict.allowed
    assert verdict.retry_after == 60
    assert not limiter.peek("k", 3, 60).allowed
    clock.now += 61
    assert limiter.peek("k", 3, 60).allowed
    assert limiter.hit("k", 3, 60).count == 1
    limiter.reset("k")
    assert limiter.peek("k", 3, 60).count == 1


def test_redis_limiter_is_shared_between_instances():
    client = redis.Redis.from_url(TEST_REDIS_URL)
    prefix = f"bdhai:test:{uuid.uuid4().hex}:"
    a, b = RedisRateLimiter(client, prefix), RedisRateLimiter(client, prefix)
    try:
        assert a.hit("login", 2, 30).allowed
        assert b.hit("login", 2, 30).allowed
        blocked = a.hit("login", 2, 30)
        assert not blocked.allowed
        assert 0 < blocked.retry_after <= 30
        assert not b.peek("login", 2, 30).allowed
        b.reset("login")
        assert a.peek("login", 2, 30).allowed
    finally:
        for key in client.scan_iter(prefix + "*"):
            client.delete(key)


def test_an_oversized_body_is_refused_before_it_is_read(client, settings):
    body = b"x" * (settings.max_request_bytes + 1)
    res = client.post(
        "/api/v1/auth/login", content=body, headers={"content-type": "application/json"}
    )
    assert res.status_code == 413
    # a JSON body has the tighter MAX_JSON_BYTES (1 MiB)
    assert res.json() == {"detail": "Dữ liệu gửi lên quá lớn (tối đa 1 MB).", "code": "too_large"}
    page = client.post("/login", content=body, headers={"content-type": "text/plain"})
    assert page.status_code == 413
    assert "quá lớn" in page.text and '<html lang="vi"' in page.text
