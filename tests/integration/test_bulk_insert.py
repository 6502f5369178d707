"""``core.db.insert_rows``: the driver-level executemany stores what SQLAlchemy's insert would."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from core.db import insert_rows, insert_rows_counted, writing
from core.enums import HoldCode, HoldState
from core.models import Hold, Order
from tests.factories import ingest, make_channel, order_record


def stored_order(db, i: int) -> int:  # type: ignore[no-untyped-def]
    record = order_record(i)
    ingest(db, make_channel(db), [record])
    return db.scalar(select(Order.id).where(Order.external_id == record.external_id))


def test_rows_keep_their_types_and_get_the_python_defaults(db):
    order_id = stored_order(db, 1)
    at = datetime(2026, 11, 20, 8, 30, tzinfo=UTC)
    with writing(db):
        insert_rows(db, Hold.__table__, [
            {"order_id": order_id, "code": HoldCode.MANUAL, "blocking": True, "opened_at": at,
             "note": "by hand", "detail": {"why": "test", "nested": [1, 2]}},
            {"order_id": order_id, "code": HoldCode.HIGH_VALUE, "blocking": False, "opened_at": at,
             "note": None, "detail": {}},
        ])
    db.expire_all()
    holds = db.scalars(select(Hold).where(Hold.order_id == order_id, Hold.code.in_(
        [HoldCode.MANUAL, HoldCode.HIGH_VALUE])).order_by(Hold.id)).all()
    assert [(h.code, h.blocking, h.note) for h in holds] == [
        (HoldCode.MANUAL, True, "by hand"), (HoldCode.HIGH_VALUE, False, None)]
    assert all(h.state is HoldState.OPEN and h.version == 1 and h.opened_at == at for h in holds)  # defaults
    assert holds[0].detail == {"why": "test", "nested": [1, 2]}


def test_counted_insert_names_the_first_new_id_only_where_it_is_certain(db):
    order_id = stored_order(db, 2)
    rows = [{"order_id": order_id, "code": HoldCode.MANUAL, "blocking": True, "note": str(i), "detail": {}}
            for i in range(5)]
    with writing(db):
        first = insert_rows_counted(db, Hold.__table__, rows)
    stored = db.execute(select(Hold.id, Hold.note).where(Hold.order_id == order_id, Hold.code == HoldCode.MANUAL)
                        .order_by(Hold.id)).all()
    if db.get_bind().dialect.name == "sqlite":
        assert [tuple(r) for r in stored] == [(first + i, str(i)) for i in range(5)]
    else:
        assert first is None and len(stored) == 5
