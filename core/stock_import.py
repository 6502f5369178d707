"""CSV import of stock receipts or counts: every row validated first, then applied all-or-nothing.

Columns: ``location``, ``sku``, ``quantity`` (required) and ``reason``, ``reference`` (optional),
in any order, any case. A byte-order mark, CRLF line ends and spaces around values are fine.
Every problem is reported with the row number a spreadsheet shows (the header is row 1), the
column and the reason; one problem rejects the whole file and nothing changes.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Literal

import pandas as pd
from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from core.auth import Actor
from core.db import reading, writing
from core.enums import MovementKind, Permission
from core.errors import DomainError, InvalidInput
from core.events import record_event
from core.inventory import MAX_QUANTITY, ensure_levels
from core.models import InventoryLevel, InventoryMovement, Location, utcnow

REQUIRED = ("location", "sku", "quantity")
OPTIONAL = ("reason", "reference")
Mode = Literal["receipt", "count"]
Progress = Callable[[int, int], None]
_EVERY = 500  # rows between progress calls
_CHUNK = 500  # rows per statement when applying


@dataclass(frozen=True)
class RowError:
    row: int  # as a spreadsheet shows it: the header is row 1
    column: str
    reason: str


class ImportRejected(DomainError):
    """The file has problems; nothing was imported. ``errors`` lists every one."""

    def __init__(self, errors: list[RowError]) -> None:
        rows = len({e.row for e in errors})
        super().__init__(f"{rows} row{'s have' if rows != 1 else ' has'} problems; nothing was imported.")
        self.errors = errors

    def as_frame(self) -> pd.DataFrame:
        return pd.DataFrame([(e.row, e.column, e.reason) for e in self.errors], columns=["row", "column", "reason"])


@dataclass(frozen=True)
class ImportReport:
    mode: str
    rows: int
    units: int  # received units, or the net change of on hand for counts
    levels: int  # distinct (location, SKU)
    ignored_columns: tuple[str, ...] = ()
    blank_rows: int = 0


@dataclass
class _Row:
    row: int
    location_id: int
    location: str
    sku: str
    quantity: int
    reason: str | None
    reference: str | None


@dataclass
class _Parsed:
    rows: list[_Row] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    ignored: tuple[str, ...] = ()
    blank: int = 0


def import_stock_csv(
    session: Session, file_like: IO[bytes] | IO[str] | bytes | str, *, mode: Mode, actor: Actor,
    progress: Progress | None = None,
) -> ImportReport:
    """Validate the whole file, then apply every row through the ledger in one transaction.

    ``progress(done, total)`` counts rows over both passes (validate, then apply), so
    ``total`` is twice the number of data rows. Raises ``ImportRejected`` with every problem.
    """
    actor.require(Permission.ADJUST_STOCK)
    if mode not in ("receipt", "count"):
        raise InvalidInput(f"Unknown import mode {mode!r}: use receipt or count.")
    records = _records(_text(file_like))
    with reading(session):
        codes = {code.upper(): (loc_id, code) for loc_id, code in session.execute(select(Location.id, Location.code))}
    parsed = _validate(records, mode, codes, progress)
    if parsed.errors:
        raise ImportRejected(parsed.errors)
    with writing(session):
        units = _apply(session, parsed.rows, mode, actor, progress, offset=len(records) - 1)
        record_event(session, None, "stock_imported", actor, subject="stock", detail={
            "mode": mode, "rows": len(parsed.rows), "units": units,
            "levels": len({(r.location_id, r.sku) for r in parsed.rows})})
    return ImportReport(mode, len(parsed.rows), units, len({(r.location_id, r.sku) for r in parsed.rows}),
                        parsed.ignored, parsed.blank)


def _text(file_like: IO[bytes] | IO[str] | bytes | str) -> str:
    data = file_like if isinstance(file_like, (bytes, str)) else file_like.read()
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ImportRejected([RowError(1, "-", f"the file is not UTF-8 text ({exc.reason})")]) from exc
    return data.removeprefix("\ufeff")


def _records(text: str) -> list[list[str]]:
    """The CSV rows; a file the csv module cannot read (e.g. a field past its size limit) is a row problem."""
    records: list[list[str]] = []
    try:
        records.extend(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise ImportRejected([RowError(len(records) + 1, "-", f"unreadable CSV: {exc}")]) from None
    return records


def _validate(records: list[list[str]], mode: Mode, codes: dict[str, tuple[int, str]],
              progress: Progress | None) -> _Parsed:
    """Check every row and collect every problem (row, column, reason); nothing touches the store."""
    out = _Parsed()
    if not records or not any(c.strip() for c in records[0]):
        out.errors.append(RowError(1, "-", "the file is empty: the first row must name the columns "
                                           + ", ".join(REQUIRED)))
        return out
    header = [c.strip().lower() for c in records[0]]
    for name in REQUIRED:
        if name not in header:
            out.errors.append(RowError(1, name, f"missing column {name!r}"))
    if out.errors:
        return out
    out.ignored = tuple(c for c in header if c and c not in REQUIRED + OPTIONAL)
    at = {name: header.index(name) for name in REQUIRED + OPTIONAL if name in header}
    total = 2 * (len(records) - 1)  # both passes; applying reports the second half
    seen: dict[tuple[int, str], int] = {}
    for i, record in enumerate(records[1:], start=2):
        if progress and i % _EVERY == 0:
            progress(i - 1, total)
        if not any(c.strip() for c in record):
            out.blank += 1
            continue
        errors = len(out.errors)

        def cell(name: str, rec: list[str] = record) -> str:
            return rec[at[name]].strip() if name in at and at[name] < len(rec) else ""

        def bad(column: str, reason: str, row: int = i) -> None:
            out.errors.append(RowError(row, column, reason))

        if len(record) > len(header) and any(c.strip() for c in record[len(header):]):
            bad("-", f"{len(record)} values but the header names {len(header)} columns")
        code, sku, qty = cell("location"), cell("sku"), cell("quantity")
        location = codes.get(code.upper())
        if not code:
            bad("location", "location is empty")
        elif location is None:
            bad("location", f"unknown location {code!r}")
        if not sku:
            bad("sku", "SKU is empty")
        elif len(sku) > 80:
            bad("sku", "SKU is longer than 80 characters")
        quantity = _quantity(qty, mode, bad)
        for name in ("sku", "reason", "reference"):
            if "\x00" in cell(name):  # never meant, and PostgreSQL refuses it in text
                bad(name, f"{name} contains a NUL character")
        if len(cell("reason")) > 200:
            bad("reason", "reason is longer than 200 characters")
        if len(cell("reference")) > 120:
            bad("reference", "reference is longer than 120 characters")
        if location is not None and sku and mode == "count":
            first = seen.setdefault((location[0], sku), i)
            if first != i:
                bad("sku", f"the same location and SKU are already counted on row {first}")
        if len(out.errors) == errors and location is not None and quantity is not None:
            out.rows.append(_Row(i, location[0], location[1], sku, quantity, cell("reason") or None,
                                 cell("reference") or None))
    if progress:
        progress(total // 2, total)
    return out


def _quantity(text: str, mode: Mode, bad: Callable[[str, str], None]) -> int | None:
    if not text:
        bad("quantity", "quantity is empty")
        return None
    digits = text.removeprefix("+")
    if digits.startswith("-") and digits[1:].isdigit():
        bad("quantity", f"quantity {text} is negative")
        return None
    if not (digits.isascii() and digits.isdigit()):
        bad("quantity", f"quantity {text!r} is not a whole number")
        return None
    if len(digits.lstrip("0")) > len(str(MAX_QUANTITY)):  # before int(): it refuses over 4,300 digits
        shown = text if len(text) <= 20 else text[:20] + "\u2026"
        bad("quantity", f"quantity {shown} is more than the {MAX_QUANTITY:,} allowed")
        return None
    value = int(digits)
    if value > MAX_QUANTITY:
        bad("quantity", f"quantity {value:,} is more than the {MAX_QUANTITY:,} allowed")
        return None
    if mode == "receipt" and value == 0:
        bad("quantity", "a receipt needs a quantity of at least 1")
        return None
    return value


def _apply(session: Session, rows: list[_Row], mode: Mode, actor: Actor, progress: Progress | None,
           *, offset: int) -> int:
    """Lock the levels in (location, SKU) order, check counts against reserved, then write levels and ledger.

    A count below what is reserved is reported like any other row problem and rolls everything back.
    """
    keys = sorted({(r.location_id, r.sku) for r in rows})
    ensure_levels(session, keys)
    levels: dict[tuple[int, str], list[int]] = {}  # key -> [level id, on hand, reserved]
    for start in range(0, len(keys), _CHUNK):
        chunk = keys[start:start + _CHUNK]
        found = session.execute(
            select(InventoryLevel.location_id, InventoryLevel.sku, InventoryLevel.id, InventoryLevel.on_hand,
                   InventoryLevel.reserved)
            .where(InventoryLevel.location_id.in_({k[0] for k in chunk}), InventoryLevel.sku.in_({k[1] for k in chunk}))
            .order_by(InventoryLevel.location_id, InventoryLevel.sku).with_for_update()
        )
        levels.update({(loc, sku): [lid, on_hand, reserved] for loc, sku, lid, on_hand, reserved in found})
    now, movements, errors = utcnow(), [], []
    start_on_hand = {k: v[1] for k, v in levels.items()}
    for n, r in enumerate(rows, start=1):
        level = levels[(r.location_id, r.sku)]
        after = r.quantity if mode == "count" else level[1] + r.quantity
        if after < level[2]:
            errors.append(RowError(r.row, "quantity", f"{r.sku} at {r.location} has {level[2]} reserved for "
                                                      f"orders; a count of {after} would go below it"))
        elif after > MAX_QUANTITY:
            errors.append(RowError(r.row, "quantity", f"on hand would reach {after:,}, more than allowed"))
        movements.append({
            "location_id": r.location_id, "sku": r.sku, "on_hand_delta": after - level[1], "reserved_delta": 0,
            "kind": MovementKind.COUNT if mode == "count" else MovementKind.RECEIPT,
            "reason": r.reason or f"CSV {mode} import, row {r.row}", "reference": r.reference,
            "order_id": None, "actor": actor.name, "at": now,
        })
        level[1] = after
        if progress and n % _EVERY == 0:
            progress(offset + n, 2 * offset)
    if errors:
        raise ImportRejected(errors)
    changed = [{"lid": v[0], "on_hand": v[1]} for k, v in levels.items() if v[1] != start_on_hand[k]]
    table = InventoryLevel.__table__
    for start in range(0, len(changed), _CHUNK):
        session.connection().execute(
            update(table).where(table.c.id == bindparam("lid"))
            .values(on_hand=bindparam("on_hand"), version=table.c.version + 1),
            changed[start:start + _CHUNK])
    for start in range(0, len(movements), _CHUNK):
        session.connection().execute(InventoryMovement.__table__.insert(), movements[start:start + _CHUNK])
    if progress:
        progress(2 * offset, 2 * offset)
    return sum(after - start_on_hand[k] for k, (_, after, _) in levels.items())
