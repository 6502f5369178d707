"""The store's UTC datetime type: SQLite text exactly as SQLAlchemy's own DateTime writes it, naive times refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import DateTime
from sqlalchemy.dialects import sqlite

from core.models.base import UTCDateTime

SQLITE = sqlite.dialect()


@pytest.mark.parametrize("value", [
    datetime(2026, 11, 16, 9, 0, tzinfo=UTC),
    datetime(1, 1, 1, 0, 0, 0, 5, tzinfo=UTC),
    datetime(2026, 3, 29, 1, 30, 12, 123456, tzinfo=timezone(timedelta(hours=2))),  # converted to UTC
    datetime(2026, 10, 25, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=-9, minutes=-30))),
])
def test_sqlite_text_is_sqlalchemys_own_format_in_utc(value):
    ours = UTCDateTime()._cached_bind_processor(SQLITE)
    reference = DateTime().dialect_impl(SQLITE).bind_processor(SQLITE)
    assert ours(value) == reference(value.astimezone(UTC).replace(tzinfo=None))
    back = UTCDateTime().process_result_value(datetime.fromisoformat(ours(value)), SQLITE)
    assert back == value and back.tzinfo is UTC


def test_a_naive_time_is_refused():
    with pytest.raises(ValueError, match="naive datetime"):
        UTCDateTime()._cached_bind_processor(SQLITE)(datetime(2026, 11, 16, 9, 0))
    assert UTCDateTime()._cached_bind_processor(SQLITE)(None) is None
