"""Certificates per second: signing credentials, rendering PDFs, and verification
requests a second, in-process and over HTTP against one app process.

Run: .venv/bin/python bench/certificates.py [--count N] [--database URL] [--seconds S]
     [--clients C]
(default: 300 certificates, a fresh SQLite file, 10 s of HTTP load from 8 client threads).
With --database postgresql+psycopg://…/db it uses that (empty) database.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.certificates import service  # noqa: E402
from app.certificates.pdf import render_certificate  # noqa: E402
from app.config import ROOT_DIR, Settings  # noqa: E402
from app.curriculum.loader import sync_curriculum  # noqa: E402
from app.curriculum.validate import load_curriculum  # noqa: E402
from app.db import make_engine  # noqa: E402
from app.migrations import upgrade  # noqa: E402
from app.models import Certificate, CertificateStatus, utcnow  # noqa: E402
from app.orgs.service import ensure_default_groups  # noqa: E402
from tests import factories  # noqa: E402
from tests.browser import free_port  # noqa: E402

SECRET = "bench-certificates-" + "x" * 32
SURNAMES = ("Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng")
MIDDLE = ("Thị", "Văn", "Hữu", "Minh", "Ngọc", "Thanh")
GIVEN = ("Hồng Nhung", "Quốc Bảo", "Thu Hằng", "Đức Anh", "Mỹ Duyên", "Tiến Dũng", "Lan")


def rate(n: int, seconds: float) -> str:
    return f"{n / seconds:,.1f}/s ({n} in {seconds:.2f} s)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--database")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-cert-"))
    url = args.database or f"sqlite:///{workdir / 'bench.db'}"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    settings = Settings(
        environment="test",
        secret_key=SECRET,
        database_url=url,
        base_url=base,
        media_dir=workdir / "media",
        certificate_approval_levels="",
    )
    upgrade(url)
    engine = make_engine(url)
    print(f"database {url.split('@')[-1]}, {args.count} certificates")

    with Session(engine) as session:
        ensure_default_groups(session)
        sync_curriculum(session, load_curriculum(ROOT_DIR / "curriculum"))
        tree = factories.make_tree(session)
        certs = []
        for i in range(args.count):
            name = f"{SURNAMES[i % 10]} {MIDDLE[i % 6]} {GIVEN[i % 7]}"
            user = factories.make_user(session, tree.hamlet, name=name, phone=f"+849130{i:05d}")
            certs.append(
                Certificate(
                    serial=service.new_serial(1 + i % 5, 2026),
                    user_id=user.id,
                    level_number=1 + i % 5,
                    status=CertificateStatus.pending,
                    holder_name=name,
                    unit_id=tree.ward.id,
                    unit_path=tree.hamlet.path,
                    lessons_passed=12,
                    average=82.0,
                    eligible_at=utcnow(),
                )
            )
        session.add_all(certs)
        session.commit()

        service.issue(session, certs[0], settings=settings, actor_id=None, now=utcnow())  # key
        started = time.perf_counter()
        for cert in certs[1:]:
            service.issue(session, cert, settings=settings, actor_id=None, now=utcnow())
        signed = time.perf_counter() - started
        session.commit()
        print(f"issue (sign the VC-JWT + audit row): {rate(len(certs) - 1, signed)}")

        views = [service.view_of(session, c, settings) for c in certs]
        render_certificate(views[0])  # fonts registered
        times = []
        started = time.perf_counter()
        for view in views:
            t0 = time.perf_counter()
            render_certificate(view)
            times.append(time.perf_counter() - t0)
        rendered = time.perf_counter() - started
        print(
            f"PDF render: {rate(len(views), rendered)}; per PDF median "
            f"{statistics.median(times) * 1000:.1f} ms, max {max(times) * 1000:.1f} ms"
        )
        started = time.perf_counter()
        for cert in certs:
            service.pdf_path(session, cert, settings)
        cached_first = time.perf_counter() - started
        started = time.perf_counter()
        for cert in certs:
            service.pdf_path(session, cert, settings)
        cached_again = time.perf_counter() - started
        session.commit()
        print(f"pdf_path first (render + write): {rate(len(certs), cached_first)}")
        print(f"pdf_path again (cached file): {rate(len(certs), cached_again)}")

        tokens = [c.credential_jwt for c in certs]
        started = time.perf_counter()
        verdicts = [service.verify_token(session, t, settings).status for t in tokens]
        checked = time.perf_counter() - started
        assert set(verdicts) == {"valid"}, set(verdicts)
        print(f"verify in-process (signature + record): {rate(len(tokens), checked)}")
    engine.dispose()

    env = {
        **os.environ,
        "ENVIRONMENT": "test",
        "SECRET_KEY": SECRET,
        "DATABASE_URL": url,
        "BASE_URL": base,
        "MEDIA_DIR": str(workdir / "media"),
        "GRADING_WORKER": "off",
        "LOGIN_MAX_PER_ADDRESS": "1000000",
    }
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "app.main:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("the app did not start")
            time.sleep(0.2)
        done = [0] * args.clients
        failed = [0] * args.clients
        limited = [0] * args.clients
        stop = time.monotonic() + args.seconds

        def client(k: int) -> None:
            # each request poses as another address: the public limit (60 a minute per
            # address) is not what is measured
            with httpx.Client(base_url=base) as c:
                i = k
                while time.monotonic() < stop:
                    ip = f"10.{k}.{i // 250 % 250}.{i % 250}"
                    res = c.post(
                        "/api/v1/verify",
                        json={"credential": tokens[i % len(tokens)]},
                        headers={"X-Forwarded-For": ip},
                    )
                    if res.status_code == 429:
                        limited[k] += 1
                    elif res.status_code != 200 or res.json()["status"] != "valid":
                        failed[k] += 1
                    else:
                        done[k] += 1
                    i += args.clients

        threads = [threading.Thread(target=client, args=(k,)) for k in range(args.clients)]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        took = time.perf_counter() - started
        print(
            f"POST /api/v1/verify over HTTP, one app process, {args.clients} clients: "
            f"{rate(sum(done), took)}; {sum(failed)} failed, {sum(limited)} rate-limited (429)"
        )
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
