"""Fixtures: one migrated database per test run (SQLite or PostgreSQL, chosen by
BDHAI_TEST_DATABASE), and a rolled-back transaction per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.core import security
from app.db import make_engine
from app.main import create_app
from app.migrations import upgrade
from app.orgs.service import ensure_default_groups
from tests import factories
from tests.dbutil import TEST_DATABASE, scratch_database

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


def pytest_report_header() -> str:
    return f"database: {'PostgreSQL' if TEST_DATABASE.startswith('postgresql') else 'SQLite'}"


@pytest.fixture(scope="session", autouse=True)
def _fast_password_hashing() -> Iterator[None]:
    """argon2 with its production cost makes hundreds of test accounts slow; the tests of
    hashing itself check the real parameters separately."""
    real = security._hasher
    security._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    yield
    security._hasher = real


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with scratch_database(tmp_path_factory.mktemp("db"), "suite") as url:
        upgrade(url)
        engine = make_engine(url)
        with Session(engine) as session:
            ensure_default_groups(session)
            session.commit()
        engine.dispose()
        yield url


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def settings(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(
        environment="test",
        database_url=database_url,
        secret_key="test-secret-" + "x" * 40,
        redis_url=None,
        base_url="http://testserver",
        media_dir=tmp_path_factory.mktemp("media"),
        grading_worker="off",  # the grading tests start their own engine
    )


@pytest.fixture(scope="session")
def app(settings: Settings) -> FastAPI:
    return create_app(settings)


@pytest.fixture
def db(engine: Engine, app: FastAPI) -> Iterator[Session]:
    """A session inside a transaction that is rolled back after the test; the app's
    requests share the connection, each in a SAVEPOINT, so their commits stay inside it."""
    connection = engine.connect()
    outer = connection.begin()
    factory = sessionmaker(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    original = app.state.sessionmaker
    app.state.sessionmaker = factory
    app.state.limiter.__init__()  # a fresh in-memory rate limiter per test
    session = factory()
    try:
        yield session
    finally:
        session.close()
        app.state.sessionmaker = original
        outer.rollback()
        connection.close()


@pytest.fixture
def client(app: FastAPI, db: Session) -> Iterator[TestClient]:
    with TestClient(app, base_url="http://testserver", raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def tree(db: Session) -> factories.Tree:
    return factories.make_tree(db)


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


FIXTURE_CURRICULUM = Path(__file__).resolve().parent / "fixtures" / "curriculum"


@pytest.fixture
def lessons(db: Session) -> Path:
    """The small fixture curriculum (levels 1-2, lessons b1-01, b1-02, b2-01) loaded in
    the test's transaction."""
    from app.curriculum.loader import sync_curriculum
    from app.curriculum.validate import load_curriculum

    sync_curriculum(db, load_curriculum(FIXTURE_CURRICULUM))
    db.flush()
    return FIXTURE_CURRICULUM


@pytest.fixture
def media_dir(settings: Settings) -> Path:
    """Where the test app stores uploaded pictures (a temporary folder)."""
    return settings.media_dir
