"""Small SQL building blocks for reports that every backend computes the same way."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import BigInteger, ColumnElement, Integer, Select, case, cast, func, literal, or_, select
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


def utc_trunc(session: Session, column: Any, unit: str) -> ColumnElement[Any]:
    """The start of the UTC ``unit`` ("hour" or "day") a time falls in, whatever the session's time zone.

    Text on SQLite, a naive timestamp on PostgreSQL; ``hour_start`` reads either back as aware UTC.
    """
    if session.get_bind().dialect.name == "sqlite":
        return func.strftime("%Y-%m-%d %H:00:00" if unit == "hour" else "%Y-%m-%d 00:00:00", column)
    return func.date_trunc(unit, func.timezone("UTC", column))


def seconds_between(session: Session, start: Any, end: Any) -> ColumnElement[Any]:
    """``end - start`` in whole seconds (an integer), rounded."""
    if session.get_bind().dialect.name == "sqlite":
        return cast(func.round((func.julianday(end) - func.julianday(start)) * 86400.0), Integer)
    return cast(func.round(func.extract("epoch", end - start)), BigInteger)


# Duration buckets: (up to this many seconds, in steps of this many). A time is reported as its
# bucket's upper edge, so "p50 19 h" means half took at most 19 h. Steps grow with the time (0.1 h
# under 2 h, 0.5 h under 12 h, 1 h under 2 days, 4 h under a week, 12 h under 30 days, then days):
# fine where a difference matters, coarse enough that a day's parcels fill a few dozen buckets.
DURATION_STEPS: tuple[tuple[int, int], ...] = (
    (7_200, 360), (43_200, 1_800), (172_800, 3_600), (604_800, 14_400), (2_592_000, 43_200),
)
LAST_STEP = 86_400


def duration_edge(seconds: int) -> int:
    """The upper edge, in seconds, of the bucket a duration falls in (negative durations count as 0)."""
    if seconds <= 0:
        return 0
    for limit, step in DURATION_STEPS:
        if seconds <= limit:
            return -(-seconds // step) * step
    return -(-seconds // LAST_STEP) * LAST_STEP


def duration_edge_sql(seconds: ColumnElement[Any]) -> ColumnElement[Any]:
    """``duration_edge`` in SQL, integer arithmetic only, so every backend buckets a time the same way."""
    whens = [(seconds <= 0, literal(0))]
    whens += [(seconds <= limit, ((seconds + (step - 1)) // step) * step) for limit, step in DURATION_STEPS]
    return case(*whens, else_=((seconds + (LAST_STEP - 1)) // LAST_STEP) * LAST_STEP)


def percentile_edges(counts: dict[int, int], ps: tuple[float, ...] = (0.5, 0.9)) -> tuple[int, dict[float, int]]:
    """Nearest-rank percentiles of a histogram {bucket edge: count}: the edge holding rank ceil(n * p)."""
    n = sum(counts.values())
    found: dict[float, int] = {}
    if not n:
        return 0, found
    ranks = {p: (n * int(round(p * 1000)) + 999) // 1000 for p in ps}
    seen = 0
    for edge in sorted(counts):
        seen += counts[edge]
        for p, rank in ranks.items():
            if p not in found and seen >= rank:
                found[p] = edge
    return n, found
