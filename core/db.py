"""Engines and transactions.

SQLite (the default) runs in WAL mode with a busy timeout, and every write transaction
starts with ``BEGIN IMMEDIATE`` so two writers queue up instead of failing half way.
PostgreSQL is used when ``OPSDESK_DATABASE_URL`` names it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

_WRITE = "opsdesk_write"
# PostgreSQL's "deadlock detected" and "could not serialize": the transaction was rolled back
# whole and may simply be run again.
_TRANSIENT_SQLSTATES = frozenset({"40P01", "40001"})


def database_url() -> str:
    """The configured database, or a SQLite file under ./var."""
    url = os.environ.get("OPSDESK_DATABASE_URL")
    if url:
        return url
    path = Path(os.environ.get("OPSDESK_HOME", ".")).resolve() / "var" / "opsdesk.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def _prepare_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves (below)
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=15000")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:  # type: ignore[no-untyped-def]
        # A write takes the lock up front; a read never blocks a writer in WAL mode.
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(_WRITE) else "BEGIN")


@cache
def engine_for(url: str) -> Engine:
    """One engine (and pool) per URL per process."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 15})
        _prepare_sqlite(engine)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)


def get_engine() -> Engine:
    return engine_for(database_url())


def new_session(engine: Engine | None = None) -> Session:
    """A session that does not expire objects on commit, so results stay readable after it."""
    return Session(engine or get_engine(), expire_on_commit=False)


@contextmanager
def writing(session: Session) -> Iterator[Session]:
    """One write transaction: BEGIN IMMEDIATE on SQLite, committed on success, rolled back on error.

    A read transaction the session began on its own (autobegin) is closed first, so the write
    starts from a fresh snapshot and takes the write lock at its first statement.
    """
    if session.in_transaction():
        session.commit()
    with session.begin():
        session.connection(execution_options={_WRITE: True})
        yield session


@contextmanager
def reading(session: Session) -> Iterator[Session]:
    """One read transaction (a consistent snapshot on both backends)."""
    if session.in_transaction():
        session.commit()
    with session.begin():
        yield session


def is_transient(exc: BaseException) -> bool:
    """True when a failed transaction was rolled back by the database and can be retried as is."""
    while exc is not None:
        if isinstance(exc, DBAPIError) and getattr(exc.orig, "sqlstate", None) in _TRANSIENT_SQLSTATES:
            return True
        exc = exc.__cause__  # type: ignore[assignment]
    return False
