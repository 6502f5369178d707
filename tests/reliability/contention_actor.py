"""``python -m tests.reliability.contention_actor --role R --plan PLAN --name N``: one contention process.

Every role calls the same core verbs the pages and the worker call, each in its own
transaction, against the database in ``OPSDESK_DATABASE_URL``:

- ``allocate``: the worker's allocation jobs (``allocate_ready_orders``, ``retry_backorders``) in a loop;
- ``release``: releases the plan's holds with the versions shown at the start, one hold per time slot;
  its twin process does the same at the same moments, so each hold is released by two people at once;
- ``returns``: per RMA and time slot, receives it with the version shown, then both twins load the
  inspection form at the same moment and submit grade A on it at the same moment;
- ``import``: CSV stock receipts and counts of the contested SKUs;
- ``adjust``: stock adjustments (up and down) of the contested SKUs.

A process writes ``ready-<name>`` next to the plan, waits for ``go`` (the common start time),
works until the plan's end, then prints ONE JSON line: what it did, every refusal (a
``DomainError``: type and message) and every other error. Anything that is not a domain error
is an error: a raw SQL error, a deadlock that escaped, a failure the allocation jobs logged.
Exit code 0 unless there was an error.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import time
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import event, select

from core.auth import Actor
from core.db import get_engine, is_transient, new_session
from core.enums import AdjustmentReason, Grade, Role
from core.errors import DomainError
from core.holds import HoldRef, release
from core.inventory import adjust_stock
from core.models import InventoryLevel, Location, Return
from core.returns import LineInspection, inspect_return, receive_return
from core.stock_import import ImportRejected, import_stock_csv
from jobs.allocate import allocate_ready_orders, retry_backorders


class Report:
    """What one process did, as the test reads it."""

    def __init__(self, role: str, name: str) -> None:
        self.role, self.name = role, name
        self.done: Counter[str] = Counter()
        self.won: dict[str, list[int]] = {}
        self.refused: list[dict[str, str]] = []
        self.errors: list[str] = []
        self.transient_seen = 0  # deadlocks and serialization failures the database reported (then retried)

    def win(self, what: str, item: int) -> None:
        self.won.setdefault(what, []).append(item)

    def refuse(self, what: str, item: int | None, exc: DomainError) -> None:
        row = {"what": what, "item": str(item), "type": type(exc).__name__, "message": str(exc)}
        if isinstance(exc, ImportRejected):  # the page shows each row's problem under the sentence
            row["rows"] = "; ".join(f"row {e.row}, {e.column}: {e.reason}" for e in exc.errors)
        self.refused.append(row)

    def error(self, what: str, exc: BaseException) -> None:
        self.errors.append(f"{what}: {type(exc).__name__}: {str(exc)[:500]}")

    def as_json(self) -> str:
        return json.dumps({"role": self.role, "name": self.name, "done": dict(self.done), "won": self.won,
                           "refused": self.refused, "errors": self.errors, "transient_seen": self.transient_seen})


class _Logged(logging.Handler):
    """The allocation jobs log a failed order and go on: here each such record counts as an error."""

    def __init__(self, report: Report) -> None:
        super().__init__(logging.WARNING)
        self.report = report

    def emit(self, record: logging.LogRecord) -> None:
        self.report.errors.append(f"logged by {record.name}: {record.getMessage()[:500]}")


def attempt(report: Report, what: str, item: int | None, verb: Any, *args: Any, **kwargs: Any) -> Any:
    """Run one desk action: a DomainError is a refusal (as the page shows it), anything else an error."""
    try:
        result = verb(*args, **kwargs)
    except DomainError as exc:
        report.refuse(what, item, exc)
        return None
    except Exception as exc:  # noqa: BLE001 - the point is to report it, not to hide it
        report.error(what, exc)
        return None
    if item is not None:
        report.win(what, item)
    report.done[what] += 1
    return result


def wait_until(moment: float) -> None:
    while (left := moment - time.time()) > 0:
        time.sleep(min(left, 0.2))


def slots(start: float, span: float, n: int) -> list[float]:
    """``n`` moments spread evenly over ``span`` seconds after ``start``."""
    return [start + span * i / max(1, n) for i in range(n)]


# --- roles ---------------------------------------------------------------------------------------

OPS = Actor("ops-contention", role=Role.OPS_LEAD)


def run_allocate(plan: dict[str, Any], start: float, end: float, report: Report, rng: random.Random) -> None:
    """Until the end - and on until both ops leads are through their holds, should a slow machine delay them."""
    logging.getLogger("opsdesk").addHandler(_Logged(report))
    releasers_done = [Path(plan["dir"]) / f"done-{name}" for name in plan["releasers"]]
    while time.time() < end or (not all(p.exists() for p in releasers_done) and time.time() < end + 60):
        report.done["rounds"] += 1
        report.done["allocated"] += allocate_ready_orders(batch=40)
        report.done["backorders_filled"] += retry_backorders(batch=40)
        time.sleep(rng.uniform(0.01, 0.05))


def run_release(plan: dict[str, Any], start: float, end: float, report: Report, rng: random.Random) -> None:
    actor = Actor(f"lead-{report.name}", role=Role.OPS_LEAD)
    holds = plan["holds"]
    for (hold_id, version), at in zip(holds, slots(start, plan["span"], len(holds)), strict=True):
        wait_until(at)
        with new_session() as session:
            attempt(report, "release", hold_id, release, session, [HoldRef(hold_id, version)], actor=actor,
                    note=f"checked by {report.name}")
    (Path(plan["dir"]) / f"done-{report.name}").write_text("done")


def _version(rma_id: int) -> int:
    with new_session() as session:
        return session.scalar(select(Return.version).where(Return.id == rma_id))


def run_returns(plan: dict[str, Any], start: float, end: float, report: Report, rng: random.Random) -> None:
    clerk = Actor(f"clerk-{report.name}", role=Role.CLERK)
    rmas = plan["rmas"]
    gap = plan["span"] / max(1, len(rmas))
    for (rma_id, version, line_id, qty), at in zip(rmas, slots(start, plan["span"], len(rmas)), strict=True):
        wait_until(at)
        with new_session() as session:  # both clerks submit the receiving form shown with the same version
            attempt(report, "receive", rma_id, receive_return, session, rma_id, version=version,
                    received={line_id: qty}, actor=clerk)
        wait_until(at + 0.4 * gap)
        shown = _version(rma_id)  # both open the inspection form at the same moment...
        wait_until(at + 0.7 * gap)
        with new_session() as session:  # ...and submit it at the same moment
            attempt(report, "inspect", rma_id, inspect_return, session, rma_id, version=shown,
                    verdicts=[LineInspection(line_id, Grade.A, "as new")], actor=clerk)


def _levels(plan: dict[str, Any]) -> list[tuple[str, str]]:
    return [(loc, sku) for loc in plan["locations"] for sku in plan["skus"]]


def run_import(plan: dict[str, Any], start: float, end: float, report: Report, rng: random.Random) -> None:
    levels = _levels(plan)
    while time.time() < end:
        if rng.random() < 0.3:  # a count: one fewer than the shelf held a moment ago (may be below reserved now)
            loc, sku = rng.choice(levels)
            with new_session() as session:
                on_hand = session.scalar(select(InventoryLevel.on_hand).join(Location)
                                         .where(Location.code == loc, InventoryLevel.sku == sku)) or 0
                text = f"location,sku,quantity,reason\n{loc},{sku},{max(0, on_hand - 1)},contention count\n"
                got = attempt(report, "count", None, import_stock_csv, session, text, mode="count", actor=OPS)
        else:
            rows = [(*rng.choice(levels), rng.randint(1, 2)) for _ in range(rng.randint(1, 2))]
            text = "location,sku,quantity,reference\n" + "".join(f"{loc},{sku},{q},PO-C\n" for loc, sku, q in rows)
            with new_session() as session:
                got = attempt(report, "receipt", None, import_stock_csv, session, text, mode="receipt", actor=OPS)
        if got is not None:
            report.done["units"] += got.units
        time.sleep(rng.uniform(0.5, 1.5) * plan["import_every"])  # a trickle: the stock must stay short


def run_adjust(plan: dict[str, Any], start: float, end: float, report: Report, rng: random.Random) -> None:
    levels = _levels(plan)
    while time.time() < end:
        loc, sku = rng.choice(levels)
        delta = rng.choice((1, 1, -1, -2))
        with new_session() as session:
            change = attempt(report, "adjust", None, adjust_stock, session, loc, sku, delta,
                             reason=AdjustmentReason.CYCLE_COUNT, actor=OPS, note="contention")
        if change is not None:
            report.done["units"] += change.delta
        time.sleep(rng.uniform(0.25, 0.75) * plan["import_every"])


ROLES = {"allocate": run_allocate, "release": run_release, "returns": run_returns, "import": run_import,
         "adjust": run_adjust}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--role", choices=sorted(ROLES), required=True)
    parser.add_argument("--plan", type=Path, required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    plan = json.loads(args.plan.read_text())
    report = Report(args.role, args.name)

    @event.listens_for(get_engine(), "handle_error")
    def _seen(context) -> None:  # type: ignore[no-untyped-def]
        if is_transient(context.sqlalchemy_exception or context.original_exception):
            report.transient_seen += 1

    with new_session() as session:  # connect (and import everything) before the start, not after it
        session.execute(select(1))
    (args.plan.parent / f"ready-{args.name}").write_text("ready")
    go = args.plan.parent / "go"
    while not go.exists():
        time.sleep(0.05)
    start = float(go.read_text())
    wait_until(start)
    try:
        ROLES[args.role](plan, start, start + plan["seconds"], report, random.Random(args.seed))
    except Exception as exc:  # noqa: BLE001 - reported in the JSON line, and the exit code says so
        report.error("the process", exc)
    print(report.as_json(), flush=True)
    return 1 if report.errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
