"""Small SQL building blocks for reports that every backend computes the same way."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.orm import Session


def hour_bucket(session: Session, column: Any) -> ColumnElement[Any]:
    """The UTC hour a time falls in, as the backend writes it (text on SQLite, a timestamp on PostgreSQL).

    Reports group by hour in SQL and fold hours into the viewer's local days in Python
    (``local_days``): a few thousand rows at most, and exact across daylight-saving changes.
    """
    if session.get_bind().dialect.name == "sqlite":
        return func.strftime("%Y-%m-%d %H:00:00", column)
    return func.date_trunc("hour", column)


def hour_start(bucket: Any) -> datetime:
    """An hour bucket from ``hour_bucket`` as an aware UTC datetime (SQLite gives text, PostgreSQL a timestamp)."""
    at = bucket if isinstance(bucket, datetime) else datetime.fromisoformat(str(bucket))
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def local_day(bucket: Any, tz: str) -> date:
    """The viewer's local day of an hour bucket from ``hour_bucket``."""
    return hour_start(bucket).astimezone(ZoneInfo(tz)).date()


def local_bounds(start: date, end: date, tz: str) -> tuple[datetime, datetime]:
    """The UTC instants from the start of local day ``start`` to the start of the day after ``end``."""
    zone = ZoneInfo(tz)
    return (datetime.combine(start, datetime.min.time(), zone).astimezone(UTC),
            datetime.combine(end + timedelta(days=1), datetime.min.time(), zone).astimezone(UTC))


def hours_between(session: Session, start: Any, end: Any) -> ColumnElement[Any]:
    """``end - start`` in hours (a float)."""
    if session.get_bind().dialect.name == "sqlite":
        return (func.julianday(end) - func.julianday(start)) * 24.0
    return func.extract("epoch", end - start) / 3600.0


def nearest_rank(n: Any, p: float) -> ColumnElement[Any]:
    """ceil(n * p): the rank of the p-th percentile by the nearest-rank method, in integer arithmetic."""
    per_mille = int(round(p * 1000))
    return (n * per_mille + 999) // 1000


def p50_p90_by_group(session: Session, grouped: Select) -> dict[Any, dict[str, Any]]:
    """Nearest-rank p50 and p90 of ``v`` per ``grp`` for a select with those two labelled columns.

    Ranked in SQL with window functions, so only the two rows per group that are the answer come
    back: {group: {"n": rows, "p50": value, "p90": value}}, values rounded to 0.1. Rows whose
    ``v`` is NULL are left out.
    """
    base = grouped.subquery()
    ranked = (
        select(base.c.grp, base.c.v,
               func.row_number().over(partition_by=base.c.grp, order_by=base.c.v).label("rn"),
               func.count().over(partition_by=base.c.grp).label("n"))
        .where(base.c.v.is_not(None))
    ).subquery()
    r50, r90 = nearest_rank(ranked.c.n, 0.5), nearest_rank(ranked.c.n, 0.9)
    found: dict[Any, dict[str, Any]] = {}
    for grp, value, n, is50, is90 in session.execute(
            select(ranked.c.grp, ranked.c.v, ranked.c.n, ranked.c.rn == r50, ranked.c.rn == r90)
            .where(or_(ranked.c.rn == r50, ranked.c.rn == r90))):
        slot = found.setdefault(grp, {"n": int(n)})
        for flag, name in ((is50, "p50"), (is90, "p90")):
            if flag:
                slot[name] = round(float(value), 1)
    return found
