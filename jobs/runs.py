"""How a job cycle records its connector run: the counts always, and why it stopped."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy.orm import Session

from connectors.http import ConnectorError
from core.errors import DomainError
from core.runs import finish_run


@dataclass(frozen=True)
class RunCounts:
    fetched: int
    written: int
    skipped: int
    errors: int


@dataclass
class RunOutcome:
    error: str | None = None  # why the cycle stopped early (a connector or domain error), else None


@contextmanager
def recorded_run(session: Session, run_id: int, counts: Callable[[], RunCounts]) -> Iterator[RunOutcome]:
    """Finish run ``run_id`` with ``counts()`` however the block ends.

    A connector or domain error stops the block and lands on the run and on the outcome; what
    was stored before it stays. Anything unexpected is rolled back, recorded on the run, then
    re-raised.
    """
    outcome = RunOutcome()
    try:
        yield outcome
    except (ConnectorError, DomainError) as exc:
        outcome.error = str(exc)
    except Exception as exc:
        session.rollback()
        _finish(session, run_id, counts(), f"{type(exc).__name__}: {exc}", aborted=True)
        raise
    _finish(session, run_id, counts(), outcome.error)


def _finish(session: Session, run_id: int, c: RunCounts, error: str | None, *, aborted: bool = False) -> None:
    finish_run(session, run_id, fetched=c.fetched, written=c.written, skipped=c.skipped, errors=c.errors, error=error,
               aborted=aborted)
