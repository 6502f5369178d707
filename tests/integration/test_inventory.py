"""Stock verbs, CSV import and the integrity check, on SQLite and PostgreSQL."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import func, select, text

from core.allocation import allocate_order
from core.auth import WORKER, Actor
from core.db import writing
from core.enums import AdjustmentReason, HoldCode, HoldState, LocationKind, MovementKind, OrderStatus, Role
from core.errors import NotAllowed
from core.integrity import check_invariants, record_violations
from core.inventory import (
    BelowReserved,
    adjust_stock,
    location_stock_for_order,
    open_reservations,
    receive_stock,
    set_count,
    sku_ledger,
    stock_levels,
)
from core.models import Event, Hold, InventoryLevel, InventoryMovement, Location, Order
from core.status import move_order
from core.stock_import import ImportRejected, RowError, import_stock_csv
from jobs.allocate import check_integrity
from tests.factories import ingest, make_channel, order_record

OPS = Actor("olivia", role=Role.OPS_LEAD)
SUPPORT = Actor("sam", role=Role.SUPPORT)


@pytest.fixture
def stocked(db):  # type: ignore[no-untyped-def]
    with writing(db):
        for code, region, prio in (("NJ-WH", "NJ", 10), ("NV-WH", "NV", 20)):
            db.add(Location(code=code, name=code, kind=LocationKind.WAREHOUSE, country="US", region=region,
                            zones=["US"], priority=prio))
    receive_stock(db, "NJ-WH", "TEE-BLK-M", 10, actor=OPS, reference="PO-7")
    return db


def reserved_order(db, units: int) -> int:  # type: ignore[no-untyped-def]
    """One order for ``units`` TEE-BLK-M, allocated (from NJ-WH)."""
    record = order_record(1)
    record = record.model_copy(update={"lines": (record.lines[0].model_copy(update={"quantity": units}),)})
    ingest(db, make_channel(db), [record])
    with writing(db):
        order = db.scalar(select(Order).where(Order.external_id == record.external_id))
        if order.status is OrderStatus.NEW:
            move_order(db, order, OrderStatus.READY, actor=WORKER)
    assert allocate_order(db, order.id, actor=WORKER).after is OrderStatus.ALLOCATED
    return order.id


def on_hand(db, code: str = "NJ-WH", sku: str = "TEE-BLK-M") -> tuple[int, int]:  # type: ignore[no-untyped-def]
    db.commit()
    return tuple(db.execute(select(InventoryLevel.on_hand, InventoryLevel.reserved).join(Location)
                      .where(Location.code == code, InventoryLevel.sku == sku)).one())


def ledger_count(db) -> int:  # type: ignore[no-untyped-def]
    db.commit()
    return db.scalar(select(func.count()).select_from(InventoryMovement))


def test_receipts_adjustments_and_counts_go_through_the_ledger_with_an_event(stocked):
    db = stocked
    adjust_stock(db, "NJ-WH", "TEE-BLK-M", -2, reason=AdjustmentReason.DAMAGED, actor=OPS, note="forklift")
    change = set_count(db, "NJ-WH", "TEE-BLK-M", 7, actor=OPS, reference="cycle 12")
    assert (change.before, change.after, change.delta) == (8, 7, -1)
    assert on_hand(db) == (7, 0)
    ledger = sku_ledger(db, "TEE-BLK-M")
    assert list(ledger["kind"]) == ["Count", "Adjustment", "Receipt"]
    assert list(ledger["on_hand_delta"]) == [-1, -2, 10] and ledger["reason"].iloc[1] == "damaged: forklift"
    kinds = db.scalars(select(Event.kind).where(Event.subject == "stock").order_by(Event.id)).all()
    assert kinds == ["stock_received", "stock_adjusted", "stock_counted"]
    assert check_invariants(db) == []


def test_on_hand_can_never_drop_below_what_is_reserved(stocked):
    db = stocked
    reserved_order(db, 6)
    with pytest.raises(BelowReserved, match="6 are reserved"):
        adjust_stock(db, "NJ-WH", "TEE-BLK-M", -5, reason=AdjustmentReason.LOST, actor=OPS)
    with pytest.raises(BelowReserved):
        set_count(db, "NJ-WH", "TEE-BLK-M", 5, actor=OPS)
    assert on_hand(db) == (10, 6)
    adjust_stock(db, "NJ-WH", "TEE-BLK-M", -4, reason=AdjustmentReason.LOST, actor=OPS)
    assert on_hand(db) == (6, 6)
    assert check_invariants(db) == []


def test_support_may_not_adjust_stock(stocked):
    before = ledger_count(stocked)
    with pytest.raises(NotAllowed):
        adjust_stock(stocked, "NJ-WH", "TEE-BLK-M", 1, reason=AdjustmentReason.FOUND, actor=SUPPORT)
    with pytest.raises(NotAllowed):
        import_stock_csv(stocked, b"location,sku,quantity\nNJ-WH,TEE,1\n", mode="receipt", actor=SUPPORT)
    assert ledger_count(stocked) == before


def test_read_models_page_filter_and_flag_low_stock(stocked):
    db = stocked
    receive_stock(db, "NV-WH", "TEE-BLK-M", 3, actor=OPS)
    receive_stock(db, "NV-WH", "CAP-RED", 40, actor=OPS)
    order_id = reserved_order(db, 2)
    frame, total = stock_levels(db, page_size=2)
    assert total == 3 and list(frame["location"]) == ["NJ-WH", "NV-WH"] and list(frame["sku"]) == ["TEE-BLK-M", "CAP-RED"]
    low, n_low = stock_levels(db, low_only=True)
    assert n_low == 1 and (low["location"].iloc[0], bool(low["low"].iloc[0])) == ("NV-WH", True)
    tees, n_tee = stock_levels(db, sku_search="blk", location_codes=["NJ-WH"])
    assert n_tee == 1 and tees.iloc[0][["on_hand", "reserved", "available"]].tolist() == [10, 2, 8]
    assert list(open_reservations(db, "TEE-BLK-M")["quantity"]) == [2]
    picker = location_stock_for_order(db, order_id).set_index("location")
    assert picker.loc["NJ-WH", "TEE-BLK-M"] == 8 and picker.loc["NJ-WH", "reserved_for_order"] == 2
    assert picker.loc["NV-WH", "TEE-BLK-M"] == 3 and bool(picker.loc["NV-WH", "ships_there"])


RECEIPTS = (
    "\ufeffLocation , SKU,Quantity,Reference\r\n"
    " NJ-WH ,TEE-BLK-M, 5 ,PO-8\r\n"
    "nv-wh,CAP-RED,12,PO-8\r\n"
    "\r\n"
    "NV-WH,CAP-RED,3,\r\n"
)


def test_a_receipts_file_is_applied_whole_through_the_ledger(stocked):
    seen: list[tuple[int, int]] = []
    report = import_stock_csv(stocked, io.BytesIO(RECEIPTS.encode()), mode="receipt", actor=OPS,
                              progress=lambda done, total: seen.append((done, total)))
    assert (report.rows, report.units, report.levels, report.blank_rows) == (3, 20, 2, 1)
    assert on_hand(stocked) == (15, 0) and on_hand(stocked, "NV-WH", "CAP-RED") == (15, 0)
    assert seen[-1] == (8, 8)
    refs = stocked.scalars(select(InventoryMovement.reference).where(InventoryMovement.sku == "CAP-RED")).all()
    assert refs == ["PO-8", None]
    assert check_invariants(stocked) == []


def test_a_large_file_reports_progress_and_is_applied_in_one_go(stocked):
    rows = "\n".join(f"{'NJ-WH' if i % 2 else 'NV-WH'},BULK-{i:05d},{i % 7 + 1},ASN-1" for i in range(3000))
    seen: list[tuple[int, int]] = []
    report = import_stock_csv(stocked, "location,sku,quantity,reference\n" + rows, mode="receipt", actor=OPS,
                              progress=lambda done, total: seen.append((done, total)))
    assert report.rows == 3000 and report.levels == 3000
    assert len(seen) >= 10 and seen == sorted(seen) and seen[-1] == (6000, 6000)
    assert stock_levels(stocked, sku_search="bulk-")[1] == 3000
    assert check_invariants(stocked) == []


def test_a_counts_file_sets_on_hand_and_books_the_difference(stocked):
    report = import_stock_csv(stocked, "location,sku,quantity\nNJ-WH,TEE-BLK-M,4\nNV-WH,TEE-BLK-M,0\n",
                              mode="count", actor=OPS)
    assert report.units == -6 and on_hand(stocked) == (4, 0) and on_hand(stocked, "NV-WH") == (0, 0)
    counted = stocked.scalars(select(InventoryMovement.on_hand_delta).where(
        InventoryMovement.kind == MovementKind.COUNT).order_by(InventoryMovement.id)).all()
    assert counted == [-6, 0]
    assert check_invariants(stocked) == []


def test_a_file_with_bad_rows_changes_nothing_and_names_every_problem(stocked):
    bad = (
        "location,sku,quantity\n"
        "NJ-WH,TEE-BLK-M,5\n"          # row 2: fine
        "XX-WH,TEE-BLK-M,1\n"          # row 3: unknown location
        "NJ-WH,,2\n"                   # row 4: no SKU
        "NJ-WH,CAP,2.5\n"              # row 5: not whole
        "NJ-WH,MUG,-1\n"               # row 6: negative
        "NJ-WH,TEE-BLK-M,3\n"          # row 7: duplicate in a count file
        ",MUG,abc\n"                   # row 8: two problems
    )
    before = ledger_count(stocked)
    with pytest.raises(ImportRejected) as caught:
        import_stock_csv(stocked, bad, mode="count", actor=OPS)
    assert str(caught.value) == "6 rows have problems; nothing was imported."
    assert caught.value.errors == [
        RowError(3, "location", "unknown location 'XX-WH'"),
        RowError(4, "sku", "SKU is empty"),
        RowError(5, "quantity", "quantity '2.5' is not a whole number"),
        RowError(6, "quantity", "quantity -1 is negative"),
        RowError(7, "sku", "the same location and SKU are already counted on row 2"),
        RowError(8, "location", "location is empty"),
        RowError(8, "quantity", "quantity 'abc' is not a whole number"),
    ]
    assert list(caught.value.as_frame().columns) == ["row", "column", "reason"]
    assert ledger_count(stocked) == before and on_hand(stocked) == (10, 0)


def test_a_file_without_the_needed_columns_is_refused(stocked):
    with pytest.raises(ImportRejected) as caught:
        import_stock_csv(stocked, "where,sku,qty\nNJ-WH,TEE,1\n", mode="receipt", actor=OPS)
    assert caught.value.errors == [RowError(1, "location", "missing column 'location'"),
                                   RowError(1, "quantity", "missing column 'quantity'")]


def test_a_count_below_reserved_rejects_the_whole_file(stocked):
    reserved_order(stocked, 6)
    before = ledger_count(stocked)
    with pytest.raises(ImportRejected) as caught:
        import_stock_csv(stocked, "location,sku,quantity\nNV-WH,TEE-BLK-M,9\nNJ-WH,TEE-BLK-M,5\n",
                         mode="count", actor=OPS)
    assert [(e.row, e.column) for e in caught.value.errors] == [(3, "quantity")]
    assert "6 reserved" in caught.value.errors[0].reason
    assert ledger_count(stocked) == before and on_hand(stocked) == (10, 6)
    assert stocked.scalar(select(func.count()).select_from(InventoryLevel).join(Location).where(
        Location.code == "NV-WH")) == 0


def test_a_corrupted_level_is_reported_with_sku_and_location_and_opens_one_alert(stocked):
    db = stocked
    reserved_order(db, 2)
    assert check_invariants(db) == []
    with writing(db):  # someone edits the table behind the ledger's back
        db.execute(text("UPDATE inventory_levels SET on_hand = on_hand + 3 WHERE sku = 'TEE-BLK-M'"))
    violations = check_invariants(db)
    assert [(v.kind, v.location, v.sku, v.expected, v.actual) for v in violations] == [
        ("on_hand_vs_ledger", "NJ-WH", "TEE-BLK-M", 10, 13)]
    assert "TEE-BLK-M at NJ-WH" in violations[0].message
    assert record_violations(db, violations, actor=WORKER) == 1
    assert check_integrity(engine=db.get_bind()) == 1  # found again, but the alert is already open
    alerts = db.scalars(select(Hold).where(Hold.code == HoldCode.STOCK_INTEGRITY)).all()
    assert len(alerts) == 1 and alerts[0].order_id is None and alerts[0].state is HoldState.OPEN
    assert not alerts[0].blocking and "TEE-BLK-M at NJ-WH" in alerts[0].note
    assert alerts[0].detail == {"kind": "on_hand_vs_ledger", "location": "NJ-WH", "sku": "TEE-BLK-M",
                                "expected": 10, "actual": 13}
    assert on_hand(db) == (13, 2)  # reported, never repaired


def test_reserved_out_of_step_with_allocations_is_reported(stocked):
    db = stocked
    reserved_order(db, 2)
    with writing(db):
        db.execute(text("UPDATE inventory_levels SET reserved = 1 WHERE sku = 'TEE-BLK-M'"))
    kinds = {(v.kind, v.expected, v.actual) for v in check_invariants(db)}
    assert kinds == {("reserved_vs_allocations", 2, 1), ("reserved_vs_ledger", 2, 1)}


def test_an_alert_is_resolved_only_once_the_books_agree_and_with_a_cause(stocked):
    from core.errors import InvalidInput, StaleEdit
    from core.integrity import resolve_alert

    db = stocked
    with writing(db):
        db.execute(text("UPDATE inventory_levels SET on_hand = on_hand + 3 WHERE sku = 'TEE-BLK-M'"))
    assert check_integrity(engine=db.get_bind()) == 1
    alert = db.scalar(select(Hold).where(Hold.code == HoldCode.STOCK_INTEGRITY))
    with pytest.raises(InvalidInput, match="Still broken: TEE-BLK-M at NJ-WH"):
        resolve_alert(db, alert.id, note="miscount", actor=OPS)
    with writing(db):  # the cause is found and put right
        db.execute(text("UPDATE inventory_levels SET on_hand = on_hand - 3 WHERE sku = 'TEE-BLK-M'"))
    with pytest.raises(InvalidInput, match="Say what the cause was"):
        resolve_alert(db, alert.id, note=" ", actor=OPS)
    with pytest.raises(NotAllowed):
        resolve_alert(db, alert.id, note="manual SQL edit reverted", actor=Actor("sam", role=Role.SUPPORT))
    resolve_alert(db, alert.id, note="manual SQL edit reverted", actor=OPS)
    db.expire_all()
    alert = db.get(Hold, alert.id)
    assert alert.state is HoldState.RESOLVED and alert.resolved_by == OPS.name
    assert "Resolved: manual SQL edit reverted" in alert.note
    assert db.scalar(select(Event.detail).where(Event.kind == "stock_integrity_resolved"))["note"] == \
        "manual SQL edit reverted"
    with pytest.raises(StaleEdit):  # a second click, or a colleague at the same time
        resolve_alert(db, alert.id, note="again", actor=OPS)
