"""Fixtures: one migrated database per test run (SQLite or PostgreSQL, chosen by
BDHAI_TEST_DATABASE), and a rolled-back transaction per test."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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
from tests.api_contract import ApiContract
from tests.dbutil import TEST_DATABASE, is_postgres, scratch_database
from tests.loop_guard import LoopGuard

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
LOOP_GUARD = LoopGuard()


def pytest_sessionstart(session: pytest.Session) -> None:
    LOOP_GUARD.install()


def pytest_sessionfinish(session: pytest.Session) -> None:
    LOOP_GUARD.remove()


def _guarded_phase() -> Iterator[None]:
    """Each phase of a test (setup, call, teardown) fails when app code did database work
    on an event loop meanwhile (in the test's own thread or a server's)."""
    try:
        result = yield
    except BaseException:
        for found in LOOP_GUARD.take():
            print("database work on an event loop:\n" + found, file=sys.stderr)
        raise
    LOOP_GUARD.check()
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    return (yield from _guarded_phase())


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    return (yield from _guarded_phase())


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    return (yield from _guarded_phase())


@pytest.fixture
def loop_guard() -> LoopGuard:
    """The suite's guard, for the test that proves it fires."""
    return LOOP_GUARD


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`make test` runs the suite once per database. What does not depend on the database
    runs in the SQLite run only: tests that use no database fixture, browser suites and
    tests marked `once`. Tests marked `postgresql` run in the PostgreSQL run only."""
    postgres = is_postgres()
    keep, drop = [], []
    for item in items:
        if item.get_closest_marker("postgresql"):
            wanted = postgres
        else:
            once = (
                item.get_closest_marker("browser") is not None
                or item.get_closest_marker("once") is not None
                or "database_url" not in getattr(item, "fixturenames", ())
            )
            wanted = not (postgres and once)
        (keep if wanted else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_terminal_summary(terminalreporter: Any) -> None:
    checked = sum(c.checked for c in ApiContract.instances)
    if checked:
        terminalreporter.write_line(
            f"API answers checked against the OpenAPI description: {checked}"
        )


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


@pytest.fixture(scope="session")
def api_contract(app: FastAPI) -> ApiContract:
    return ApiContract(app)


@pytest.fixture
def client(app: FastAPI, db: Session, api_contract: ApiContract) -> Iterator[TestClient]:
    """The app in-process; every API answer is checked against its OpenAPI description."""
    with TestClient(app, base_url="http://testserver", raise_server_exceptions=False) as c:
        c.event_hooks["response"].append(api_contract.check)
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
