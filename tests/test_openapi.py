"""The API answers what its OpenAPI description says, whatever it is sent.

A property-based tool (Schemathesis, on Hypothesis) reads `/api/openapi.json`, generates
requests for every operation (valid ones, and invalid ones that must be refused with a
4xx) and sends them as each role: the administrator (with the boundary cases Schemathesis
derives from every parameter: some 5,000 requests), and nobody signed in, a learner and a
ward's unit administrator (random cases). No answer may be a 5xx; every status, media
type, header and JSON body must be one the description documents; invalid input must be
refused; a route that needs a sign-in must not answer without one.

The module has its own database, seeded once (a unit tree, the fixture curriculum, an
account of each role); each operation and role is one test in a rolled-back transaction,
so what a case writes (a new unit, a deactivated account, a sign-out) does not leak into
the next test. `BDHAI_API_EXAMPLES` (default 6) is the number of random cases per
operation and role; raise it to search harder."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.config import SchemathesisConfig
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from app.auth.service import start_session
from app.config import Settings
from app.curriculum.loader import sync_curriculum
from app.curriculum.validate import load_curriculum
from app.main import create_app
from app.migrations import upgrade
from app.models import Role
from app.orgs.service import ensure_default_groups
from tests import factories
from tests.conftest import FIXTURE_CURRICULUM
from tests.dbutil import scratch_database

# Once, on PostgreSQL: its 32-bit integers and text without NUL are where the out-of-range
# ids and NUL characters the outside review sent turned into 500s.
pytestmark = pytest.mark.postgresql

EXAMPLES = int(os.environ.get("BDHAI_API_EXAMPLES", "6"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
    ignored_auth,
]


# The description is read from an app that is never served (the same routes, so the same
# description); each case is then sent to the module's app, inside the test's transaction.
_DESCRIBED = create_app(
    Settings(environment="test", database_url="sqlite://", grading_worker="off")
)
# As the administrator, who gets furthest past the access rules, every phase: the boundary
# cases derived from each parameter (coverage), the description's examples and random
# cases. As the other roles, the examples and random cases (the boundaries mostly meet
# the same 401 and 403 there).
deep = schemathesis.openapi.from_asgi("/api/openapi.json", _DESCRIBED)
light = schemathesis.openapi.from_asgi(
    "/api/openapi.json",
    _DESCRIBED,
    config=SchemathesisConfig.from_dict({"phases": {"coverage": {"enabled": False}}}),
)


@dataclass
class World:
    app: FastAPI
    engine: Engine
    headers: dict[str, dict[str, str]]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One database for the module: a small unit tree, the fixture curriculum and an
    account of each role, made once; every test then runs in a rolled-back transaction."""
    with scratch_database(tmp_path_factory.mktemp("api"), "api") as url:
        upgrade(url)
        settings = Settings(
            environment="test",
            database_url=url,
            secret_key="test-secret-" + "x" * 40,
            redis_url=None,
            base_url="http://testserver",
            media_dir=tmp_path_factory.mktemp("api-media"),
            grading_worker="off",
        )
        app = create_app(settings)
        engine = app.state.engine
        with Session(engine) as session:
            ensure_default_groups(session)
            tree = factories.make_tree(session)
            factories.make_user(session, tree.hamlet, name="Trần Văn Học")
            sync_curriculum(session, load_curriculum(FIXTURE_CURRICULUM))
            headers: dict[str, dict[str, str]] = {"anonymous": {}}
            for role, unit in (
                ("learner", tree.hamlet),
                ("unit_admin", tree.ward),
                ("admin", tree.province),
            ):
                user = factories.make_user(session, unit, role=Role(role))
                tokens = start_session(session, user=user, settings=settings)
                headers[role] = {"Authorization": f"Bearer {tokens.access_token}"}
            session.commit()
        yield World(app, engine, headers)
        engine.dispose()


@pytest.fixture
def caller(request: pytest.FixtureRequest, world: World) -> Iterator[dict[str, str]]:
    """One role's headers; what the test's cases write is rolled back after it."""
    connection = world.engine.connect()
    outer = connection.begin()
    original = world.app.state.sessionmaker
    world.app.state.sessionmaker = sessionmaker(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    world.app.state.limiter.__init__()  # a fresh rate limiter per test
    try:
        yield world.headers[request.param]
    finally:
        world.app.state.sessionmaker = original
        outer.rollback()
        connection.close()


SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)


@deep.parametrize()
@pytest.mark.parametrize("caller", ["admin"], indirect=True)
@SETTINGS
def test_the_api_answers_the_administrator_as_described(
    case: Any, caller: dict[str, str], world: World
) -> None:
    case.call_and_validate(app=world.app, headers=caller, checks=CHECKS)


@light.parametrize()
@pytest.mark.parametrize("caller", ["anonymous", "learner", "unit_admin"], indirect=True)
@SETTINGS
def test_the_api_answers_every_other_role_as_described(
    case: Any, caller: dict[str, str], world: World
) -> None:
    case.call_and_validate(app=world.app, headers=caller, checks=CHECKS)
