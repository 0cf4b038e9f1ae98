"""What each page costs a phone on 3G: bytes transferred (compressed, headers included) and
requests, measured in Debian's Chromium at 390×844 against a live server with the shipped
curriculum. The budget for a lesson page is 60 KB.

Run: .venv/bin/python bench/page_weight.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.config import ROOT_DIR, Settings  # noqa: E402
from app.curriculum.loader import sync_curriculum  # noqa: E402
from app.curriculum.validate import load_curriculum  # noqa: E402
from app.db import make_engine  # noqa: E402
from app.migrations import upgrade  # noqa: E402
from app.models import Lesson, LevelUnlock, Role  # noqa: E402
from app.orgs.service import ensure_default_groups  # noqa: E402
from tests import factories  # noqa: E402
from tests.browser import live_server, phone_browser  # noqa: E402

BUDGET = 60 * 1024
PAGES = [
    ("Đăng nhập", "/login"),
    ("Hôm nay", "/"),
    ("Lộ trình", "/levels"),
    ("Tiến độ", "/progress"),
]


def measure(page, cdp, url: str) -> tuple[int, int, int]:  # type: ignore[no-untyped-def]
    """A first visit: the browser cache is emptied, so CSS, JS and icons count too."""
    cdp.send("Network.clearBrowserCache")
    sizes: list[int] = []
    raw: list[int] = []

    def done(request) -> None:  # type: ignore[no-untyped-def]
        info = request.sizes()
        sizes.append(info["responseBodySize"] + info["responseHeadersSize"])
        response = request.response()
        try:
            raw.append(len(response.body()) if response else 0)
        except Exception:  # a redirect has no body
            raw.append(0)

    page.on("requestfinished", done)
    page.goto(url, wait_until="networkidle")
    page.remove_listener("requestfinished", done)
    return sum(sizes), len(sizes), sum(raw)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        upgrade(url)
        engine = make_engine(url)
        with Session(engine) as session:
            ensure_default_groups(session)
            sync_curriculum(session, load_curriculum(ROOT_DIR / "curriculum"))
            tree = factories.make_tree(session)
            learner = factories.make_user(session, tree.hamlet, phone="+84912000999")
            admin = factories.make_user(session, tree.province, role=Role.admin, email="a@b.vn")
            for number in range(2, 6):  # the first lesson of every level is then open
                session.add(
                    LevelUnlock(user_id=learner.id, level_number=number, unlocked_by_id=admin.id)
                )
            session.commit()
            lessons = session.scalars(
                select(Lesson.id).where(Lesson.position == 1).order_by(Lesson.level_number)
            ).all()
        engine.dispose()
        settings = Settings(
            environment="test",
            database_url=url,
            secret_key="bench-" + "x" * 40,
            media_dir=Path(tmp) / "media",
        )
        pages = PAGES + [(f"Bài học {lesson}", f"/lessons/{lesson}") for lesson in lessons]
        with live_server(settings) as base, phone_browser() as context:
            page = context.new_page()
            cdp = context.new_cdp_session(page)
            print(f"{'page':40s} {'transferred':>12s} {'requests':>9s} {'uncompressed':>13s}")
            total, count, raw = measure(page, cdp, base + "/login")
            print(f"{'Đăng nhập':40s} {total / 1024:9.1f} KB {count:9d} {raw / 1024:10.1f} KB")
            page.get_by_label("Số điện thoại hoặc thư điện tử").fill("+84912000999")
            page.get_by_label("Mật khẩu").fill(factories.PASSWORD)
            page.get_by_role("button", name="Đăng nhập").click()
            page.wait_for_url(base + "/")
            for label, path in pages[1:]:
                total, count, raw = measure(page, cdp, base + path)
                flag = "" if total <= BUDGET else "  OVER BUDGET"
                print(f"{label:40s} {total / 1024:9.1f} KB {count:9d} {raw / 1024:10.1f} KB{flag}")
            print(f"budget: {BUDGET // 1024} KB per page on a first visit, no other host")


if __name__ == "__main__":
    main()
