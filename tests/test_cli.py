"""The `bdhai` command on a fresh database: migrate, demo data, an administrator, imports."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.cli import main
from app.config import ROOT_DIR, get_settings
from app.curriculum.validate import load_curriculum
from app.db import make_engine
from app.models import LearnerGroup, LessonVersion, Role, User
from tests.dbutil import scratch_database


@pytest.fixture
def cli_database(tmp_path, monkeypatch):
    with scratch_database(tmp_path, "cli") as url:
        monkeypatch.setenv("DATABASE_URL", url)
        monkeypatch.setenv("ENVIRONMENT", "dev")
        get_settings.cache_clear()
        try:
            yield url
        finally:
            get_settings.cache_clear()


def _count(url: str, stmt) -> int:
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            return session.scalar(stmt) or 0
    finally:
        engine.dispose()


def test_migrate_demo_admin_and_import(cli_database, tmp_path, capsys):
    url = cli_database
    assert main(["migrate"]) == 0
    assert _count(url, select(func.count()).select_from(LearnerGroup)) == 7
    shipped = len(load_curriculum(ROOT_DIR / "curriculum").lessons())
    assert main(["curriculum", "load"]) == 0
    out = capsys.readouterr().out
    assert f"5 levels created, 0 updated; {shipped} lessons created" in out
    assert main(["curriculum", "load"]) == 0
    assert f"0 lessons created, 0 new versions, 0 moved, 0 retired, {shipped} unchanged" in (
        capsys.readouterr().out
    )
    assert _count(url, select(func.count()).select_from(LessonVersion)) == shipped
    assert main(["load-demo"]) == 0
    assert "demo data loaded" in capsys.readouterr().out
    assert main(["load-demo"]) == 0
    assert "already present" in capsys.readouterr().out
    assert _count(url, select(func.count()).select_from(User)) == 4
    # the demo graduate finished level 1 through the real path: points and a certificate
    from app.models import Certificate, CertificateStatus, PointTally

    issued = select(func.count()).where(
        Certificate.level_number == 1, Certificate.status == CertificateStatus.issued
    )
    assert _count(url, issued) == 1
    assert _count(url, select(func.max(PointTally.points)).where(PointTally.period == "all")) > 0
    # ... and mentors it: confirmed, with a flagged challenge waiting and a question asked
    from app.models import Mentorship, MentorStatus, Question, ReviewItem

    active = select(func.count()).where(Mentorship.status == MentorStatus.active)
    assert _count(url, active) == 1
    assert _count(url, select(func.count()).select_from(ReviewItem)) == 1
    assert _count(url, select(func.count()).select_from(Question)) == 1

    login = ["--login", "0987 654 321", "--password", "quan-tri-tinh-2025", "--unit-code", "TN"]
    assert main(["create-admin", *login]) == 0
    assert main(["create-admin", *login]) == 2
    assert "đã được dùng" in capsys.readouterr().err
    role = select(User.role).where(User.phone == "+84987654321")
    engine = make_engine(url)
    with Session(engine) as session:
        assert session.scalar(role) == Role.admin
    engine.dispose()

    good = tmp_path / "hoc-vien.csv"
    good.write_text(
        "ho_ten,so_dien_thoai,ma_don_vi,nhom\n"
        "Lò Văn Páo,0977 000 001,TN-DAITU-XOM1,Nông dân\n"
        "Hà Thị Mỷ,0977000002,TN-DAITU-XOM1,nong_dan\n",
        encoding="utf-8",
    )
    assert main(["import", "learners", str(good), "--dry-run"]) == 0
    assert "checked: 2 rows, 2 created" in capsys.readouterr().out
    assert main(["import", "learners", str(good)]) == 0
    out = capsys.readouterr().out
    assert "applied: 2 rows, 2 created" in out
    assert "+84977000001\t" in out and "Lò Văn Páo" in out  # the temporary passwords, once
    assert main(["import", "learners", str(good)]) == 0
    assert "0 created, 0 updated, 2 unchanged" in capsys.readouterr().out

    bad = tmp_path / "loi.csv"
    bad.write_text("ho_ten,so_dien_thoai,ma_don_vi\nAi Đó,12345,TN-DAITU-XOM1\n", encoding="utf-8")
    assert main(["import", "learners", str(bad)]) == 1
    assert f"{bad}:2: Số điện thoại không hợp lệ" in capsys.readouterr().out


def test_production_refuses_demo_accounts(cli_database, monkeypatch, capsys):
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("SECRET_KEY", "p" * 40)
    get_settings.cache_clear()
    assert main(["migrate"]) == 0
    assert main(["load-demo"]) == 2
    assert "refusing" in capsys.readouterr().err
    assert _count(cli_database, select(func.count()).select_from(User)) == 0


def test_leaderboard_rebuild_and_leagues_close(cli_database, capsys):
    from datetime import date

    from app.gamification import ledger
    from app.models import League, PointTally

    url = cli_database
    assert main(["migrate"]) == 0 and main(["load-demo"]) == 0
    engine = make_engine(url)
    settings = get_settings()
    with Session(engine) as session:
        learner = session.scalar(select(User).where(User.phone == "+84912345678"))
        for day, pts in ((date(2026, 11, 16), 40), (date(2026, 11, 18), 25)):
            ledger.award(
                session,
                user_id=learner.id,
                kind="quiz_pass",
                points=pts,
                key=f"cli:{day}",
                day=day,
                settings=settings,
            )
        session.execute(PointTally.__table__.update().values(points=999))  # damaged
        session.commit()
    assert main(["leaderboard", "rebuild", "--period", "all", "--period", "2026-W47"]) == 0
    assert "tallies: " in capsys.readouterr().out
    with Session(engine) as session:
        got = dict(
            session.execute(
                select(PointTally.period, PointTally.points).where(
                    PointTally.period.in_(["all", "2026-W47"])
                )
            ).all()
        )
        assert got == {"all": 65, "2026-W47": 65}
    assert main(["leaderboard", "rebuild", "--period", "2026-13"]) == 2
    assert main(["leagues", "close", "--week", "2026-W47"]) == 0
    assert "closed 1 league cohorts" in capsys.readouterr().out
    with Session(engine) as session:
        assert session.scalar(select(func.count()).where(League.closed_at.is_not(None))) == 1
    engine.dispose()


def test_certificate_keys_rotate(cli_database, capsys):
    assert main(["migrate"]) == 0
    capsys.readouterr()
    assert main(["certificates", "rotate-key"]) == 0
    first = capsys.readouterr().out.split()[3].rstrip(";")
    assert main(["certificates", "rotate-key"]) == 0
    second = capsys.readouterr().out.split()[3].rstrip(";")
    assert first != second
    assert main(["certificates", "keys"]) == 0
    listed = capsys.readouterr().out
    assert first in listed and second in listed  # the retired key is still published
