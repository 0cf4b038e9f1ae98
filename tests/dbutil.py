"""Throw-away databases for tests: a SQLite file, or a fresh PostgreSQL database."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

TEST_DATABASE = os.environ.get("BDHAI_TEST_DATABASE", "sqlite")
TEST_REDIS_URL = os.environ.get("BDHAI_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def is_postgres() -> bool:
    return TEST_DATABASE.startswith("postgresql")


@contextmanager
def scratch_database(tmp_dir: Path, label: str = "t") -> Iterator[str]:
    """Yield the URL of a new, empty database, dropped afterwards."""
    if not is_postgres():
        path = tmp_dir / f"{label}-{uuid.uuid4().hex[:8]}.db"
        yield f"sqlite:///{path}"
        return
    admin_url = make_url(TEST_DATABASE)
    name = f"bdhai_{label}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
