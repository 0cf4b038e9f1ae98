"""Engine, session factory and the per-request session (commit once, at the edge)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

from app.core.errors import AppError
from app.reports import staleness

staleness.watch()  # every session's flushes note what they make stale in the report rollups


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine; SQLite gets real transactions (taking the write lock as they begin),
    foreign keys, WAL and a busy timeout."""
    if url.startswith("sqlite"):
        connect_args = {"check_same_thread": False, "timeout": 30}
        engine = create_engine(url, connect_args=connect_args, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
            # Let SQLAlchemy emit BEGIN itself so SAVEPOINTs and rollbacks behave.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            if ":memory:" not in url:
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # IMMEDIATE: a transaction takes the write lock when it begins (waiting up to the
            # busy timeout for it). A deferred one that read first and then writes after
            # another connection committed fails at once with "database is locked" (its
            # snapshot is stale), which the busy timeout cannot help. One writer at a time
            # is what SQLite does anyway; readers of a commune's server wait milliseconds.
            # A connection marked `read_only` (a probe) reads a snapshot without waiting.
            read_only = conn.get_execution_options().get("read_only")
            conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    return create_engine(url, **kwargs)


def make_sessionmaker(engine: Engine, info: dict[str, Any] | None = None) -> sessionmaker[Session]:
    """`info` travels with every session (e.g. the Redis boards its commits keep in step:
    see app.gamification.redis_boards.session_info)."""
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=True, info=info or {})


def upsert_insert(session: Session) -> Callable[..., Any]:
    """The dialect's INSERT, which has ON CONFLICT (PostgreSQL and SQLite alike)."""
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


def get_session(request: Request) -> Iterator[Session]:
    """One session per request: commits when the handler returns, rolls back when it raises."""
    factory: sessionmaker[Session] = request.app.state.sessionmaker
    session = factory()
    try:
        yield session
        session.commit()
    except AppError as exc:
        if exc.keep_changes:
            session.commit()
        else:
            session.rollback()
        raise
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


@contextmanager
def savepoint(session: Session) -> Iterator[None]:
    """A block whose failure leaves no trace while the request carries on (e.g. a page
    that re-shows a form with the error): its writes roll back to a SAVEPOINT."""
    with session.begin_nested():
        yield


SessionDep = Annotated[Session, Depends(get_session, scope="function")]
