"""The stock CSV import fuzzed: every problem named by row and column, nothing applied, only ImportRejected raised."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from core.auth import Actor
from core.db import writing
from core.enums import LocationKind, Role
from core.models import InventoryLevel, InventoryMovement, Location
from core.stock_import import ImportRejected, import_stock_csv
from tests.hostile import HOSTILE_TEXT

OPS = Actor("olivia", role=Role.OPS_LEAD)
COLUMNS = {"-", "location", "sku", "quantity", "reason", "reference"}

cells = st.one_of(
    st.sampled_from(["NJ-WH", "nj-wh", " NV-WH ", "TEE-BLK-M", "1", "+5", "0", "-3", "1.5", "1e3", "١٢", "",
                     "99999999999999999999", "9" * 5_000, "=cmd|' /C calc'!A0", "+1+1", "@SUM(A1)", '"', "a,b",
                     "line\nbreak", "\ufeff", "\x00"]),
    st.sampled_from(HOSTILE_TEXT[:-1]),
    st.text(max_size=12),
)
headers = st.one_of(
    st.just(["location", "sku", "quantity"]),
    st.permutations(["Location", " SKU ", "quantity", "reason", "reference"]).map(list),
    st.lists(cells, max_size=4),
)


@st.composite
def csv_files(draw: st.DrawFn) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=draw(st.sampled_from(["\n", "\r\n"])))
    writer.writerow(draw(headers))
    for row in draw(st.lists(st.lists(cells, max_size=6), max_size=6)):
        writer.writerow(row)
    text = buffer.getvalue()
    if draw(st.booleans()):
        text = text[: draw(st.integers(0, len(text)))]  # truncated mid-row, mid-quote
    data = text.encode("utf-8", "surrogatepass")
    return draw(st.sampled_from([data, b"\xef\xbb\xbf" + data, data + b"\xff\xfe", b"", data.replace(b",", b";")]))


@pytest.fixture
def locations(db):  # type: ignore[no-untyped-def]
    with writing(db):
        for code in ("NJ-WH", "NV-WH"):
            db.add(Location(code=code, name=code, kind=LocationKind.WAREHOUSE, country="US", region="NJ",
                            zones=["US"], priority=10))
    return db


def _stock(db) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    db.rollback()
    return (db.scalar(select(func.count()).select_from(InventoryMovement)),
            db.scalar(select(func.coalesce(func.sum(InventoryLevel.on_hand), 0))))


def _import_property(db, data: bytes, mode: str) -> None:  # type: ignore[no-untyped-def]
    before = _stock(db)
    try:
        report = import_stock_csv(db, data, mode=mode, actor=OPS)
    except ImportRejected as exc:
        assert exc.errors, "a rejection names its problems"
        assert all(e.row >= 1 and e.column in COLUMNS and e.reason for e in exc.errors)
        assert _stock(db) == before  # atomic: nothing applied
        return
    movements, _ = _stock(db)
    assert movements == before[0] + report.rows  # one ledger row per accepted row, nothing else


@pytest.mark.parametrize("mode", ["receipt", "count"])
def test_any_csv_is_imported_whole_or_rejected_with_every_problem_by_row_and_column(locations, request, mode):
    examples = 20 if "postgres" in request.node.callspec.id else 80

    @settings(max_examples=examples)
    @given(data=csv_files())
    def check(data):  # type: ignore[no-untyped-def]
        _import_property(locations, data, mode)

    check()


FOUND = [
    ("location,sku,quantity\nNJ-WH,TEE," + "9" * 5_000 + "\n", "quantity"),  # int() refuses > 4300 digits
    ("location,sku,quantity\nNJ-WH," + "S" * 200_000 + ",1\n", "-"),  # past the csv module's field limit
    ("location,sku,quantity\nNJ-WH,TEE\x00X,1\n", "sku"),  # PostgreSQL refuses NUL in text
    ("location,sku,quantity,reason\nNJ-WH,TEE,1,bad\x00reason\n", "reason"),
]


def test_each_hostile_file_found_so_far_is_rejected_by_row_and_column(locations):
    before = _stock(locations)
    for text, column in FOUND:
        with pytest.raises(ImportRejected) as caught:
            import_stock_csv(locations, text.encode(), mode="receipt", actor=OPS)
        assert [(e.row, e.column) for e in caught.value.errors] == [(2, column)], column
        assert _stock(locations) == before


def test_a_formula_in_a_cell_is_never_taken_for_a_quantity_or_a_location(locations):
    with pytest.raises(ImportRejected) as caught:
        import_stock_csv(locations, b"location,sku,quantity\n=cmd|' /C calc'!A0,TEE,1\nNJ-WH,TEE,=1+1\n",
                         mode="receipt", actor=OPS)
    assert [(e.row, e.column) for e in caught.value.errors] == [(2, "location"), (3, "quantity")]
