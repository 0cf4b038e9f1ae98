"""`alembic upgrade head` on an empty database equals the models; `downgrade base` works."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from app.db import make_engine
from app.migrations import downgrade, head_revision, upgrade
from app.models import Base
from tests.dbutil import scratch_database


def _diff(url: str) -> list:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            return compare_metadata(ctx, Base.metadata)
    finally:
        engine.dispose()


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_head_matches_models_and_downgrade_base_empties(tmp_path):
    with scratch_database(tmp_path, "mig") as url:
        upgrade(url)
        assert _diff(url) == []
        assert _tables(url) == set(Base.metadata.tables) | {"alembic_version"}
        downgrade(url, "base")
        assert _tables(url) <= {"alembic_version"}
        upgrade(url)  # and back up again
        assert _diff(url) == []


def test_readyz_reports_a_database_behind_head(tmp_path, settings):
    from fastapi.testclient import TestClient

    from app.main import create_app

    with scratch_database(tmp_path, "ready") as url:
        app = create_app(settings.model_copy(update={"database_url": url}))
        with TestClient(app) as client:
            res = client.get("/readyz")
            assert res.status_code == 503
            assert res.json()["migration"] is None
            assert res.json()["head"] == head_revision()
            upgrade(url)
            res = client.get("/readyz")
            assert res.status_code == 200
            assert res.json() == {"status": "ok", "database": "ok", "migration": head_revision()}
        app.state.engine.dispose()


def test_migration_files_follow_the_naming_rule():
    import re
    from pathlib import Path

    files = sorted((Path(__file__).parent.parent / "migrations" / "versions").glob("*.py"))
    assert files
    for f in files:
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}-\d{4}_[a-z0-9_]+\.py", f.name), f.name
