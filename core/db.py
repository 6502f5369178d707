"""Engines and transactions.

SQLite (the default) runs in WAL mode with a busy timeout, and every write transaction
starts with ``BEGIN IMMEDIATE`` so two writers queue up instead of failing half way.
PostgreSQL is used when ``OPSDESK_DATABASE_URL`` names it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from functools import cache
from itertools import repeat
from operator import itemgetter
from pathlib import Path
from typing import Any

from sqlalchemy import Dialect, Engine, Select, Table, create_engine, event, func, insert, select
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
        # Ingest dirties ~1,300 pages per 250 orders (random search keys in several indexes). With the
        # default 1,000-page auto-checkpoint nearly every commit also checkpointed, writing hot index pages
        # again each time; 10,000 pages (~40 MB of WAL) writes each such page once per checkpoint. A 32 MB
        # page cache (default 2 MB) keeps the indexes' upper levels in memory between pages.
        cur.execute("PRAGMA wal_autocheckpoint=10000")
        cur.execute("PRAGMA cache_size=-32768")
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


def insert_rows(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert many rows (dicts with the same keys) with one driver-level executemany.

    The same as ``session.execute(insert(table), rows)`` - same column types' bind processing,
    same Python-side column defaults - without SQLAlchemy building a parameter dictionary per
    row, which costs more than the insert itself on SQLite at ingest rates. PostgreSQL keeps
    SQLAlchemy's own path, which batches rows into multi-row VALUES.
    """
    if not rows:
        return
    conn = session.connection()
    if conn.dialect.paramstyle != "qmark":
        conn.execute(insert(table), rows)
        return
    columns = tuple(rows[0])
    sql, processors, defaults = _compiled_insert(table, columns, conn.dialect)
    values_of = itemgetter(*columns) if len(columns) > 1 else (lambda row: (row[columns[0]],))
    # Column by column: each processor runs over a whole column in a C-level map(), not row by row in Python.
    by_column: list[Iterable[Any]] = list(zip(*map(values_of, rows), strict=False))
    for i, process in enumerate(processors):
        if process is not None:
            by_column[i] = _processed(process, by_column[i])
    tail = [repeat(value(None) if callable(value) else value, len(rows)) for value in defaults.values()]
    conn.exec_driver_sql(sql, list(zip(*by_column, *tail, strict=False)))


def _processed(process: Callable[[Any], Any], column: tuple[Any, ...]) -> Iterable[Any]:
    """A column's values as bound: one object throughout (a page's ``now``, a status) is converted once."""
    if column[0] is column[-1] and len(set(map(id, column))) == 1:
        return repeat(process(column[0]), len(column))
    return map(process, column)


@cache
def _compiled_insert(table: Table, columns: tuple[str, ...], dialect: Dialect) -> tuple[str, list, dict[str, Any]]:
    """Positional INSERT text for these columns (plus those with a Python default), and each value's processor."""
    defaults = {
        c.name: c.default.arg for c in table.columns
        if c.name not in columns and c.default is not None and not c.primary_key
        and (c.default.is_scalar or c.default.is_callable)
    }
    names = [*columns, *defaults]
    processors = [table.c[name].type._cached_bind_processor(dialect) for name in columns]
    for name in defaults:  # a default is a Python value too: it is processed like any other
        proc = table.c[name].type._cached_bind_processor(dialect)
        raw = defaults[name]
        if callable(raw):
            defaults[name] = (lambda f, p: (lambda ctx: p(f(ctx)) if p else f(ctx)))(raw, proc)
        elif proc:
            defaults[name] = proc(raw)
    marks = ", ".join("?" for _ in names)
    quoted = ", ".join(dialect.identifier_preparer.quote(n) for n in names)
    return f"INSERT INTO {dialect.identifier_preparer.format_table(table)} ({quoted}) VALUES ({marks})", \
        processors, defaults


def insert_rows_counted(session: Session, table: Table, rows: list[dict[str, Any]]) -> int | None:
    """``insert_rows``, returning the id of the first new row where the database makes that certain.

    On SQLite, inside a write transaction (which holds the database lock), rows inserted
    without an id get the largest id in the table plus one, one after the other; the new ids
    are checked against the table's largest id after the insert. Elsewhere: None.
    """
    conn = session.connection()
    if conn.dialect.name != "sqlite" or not rows or "id" in rows[0]:
        insert_rows(session, table, rows)
        return None
    largest = _largest_id(table)
    before = conn.execute(largest).scalar_one()
    insert_rows(session, table, rows)
    after = conn.execute(largest).scalar_one()
    return before + 1 if after == before + len(rows) else None


@cache
def _largest_id(table: Table) -> Select[tuple[int]]:
    """The table's largest id (0 when empty), built once per table."""
    return select(func.coalesce(func.max(table.c.id), 0))
