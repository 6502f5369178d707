"""One active worker per database: a lock file for SQLite, an advisory lock for PostgreSQL.

A second worker waits; when the first dies its lock goes with it (the OS drops the file
lock, PostgreSQL drops the session lock) and the standby takes over.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url

from core.db import engine_for

_ADVISORY_KEY = 0x0D5D_E5C0  # "OpsDesk" worker; any constant shared by all workers works


class Leadership:
    """Try to become the active worker; hold the lock until released or the process ends."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._file: IO[str] | None = None
        self._conn: Connection | None = None

    def try_acquire(self) -> bool:
        if self._url.startswith("sqlite"):
            return self._lock_file()
        conn = engine_for(self._url).connect()
        if conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": _ADVISORY_KEY}):
            conn.commit()
            self._conn = conn
            return True
        conn.close()
        return False

    def _lock_file(self) -> bool:
        database = make_url(self._url).database or "memory"
        path = Path(f"{database}.worker.lock")
        handle = open(path, "a+")  # noqa: SIM115 - held for the life of the worker
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._file = handle
        return True

    def still_held(self) -> bool:
        """Whether this worker is still the active one.

        A file lock lasts as long as the process. The advisory lock lasts as long as its database
        session: if the connection dropped (the database restarted, the network broke) the lock
        went with it, so take it again - unless another worker got it meanwhile.
        """
        if self._file is not None:
            return True
        if self._conn is None:  # lost earlier while the database was away: take it again now
            try:
                return self.try_acquire()
            except Exception:  # still away: we cannot know; ask again next time
                return True
        try:
            self._conn.scalar(text("SELECT 1"))
            self._conn.commit()  # never leave the lock's session idle in a transaction
            return True
        except Exception:  # the session is gone, and the lock with it
            try:
                self._conn.close()
            except Exception:  # noqa: S110 - already broken; nothing to close cleanly
                pass
            self._conn = None
            try:
                return self.try_acquire()
            except Exception:  # the database is still unreachable: we cannot know; keep trying next time
                return True

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None
        if self._conn is not None:
            self._conn.invalidate()  # really closes it (not back to the pool): the session ends, the lock with it
            self._conn.close()
            self._conn = None
