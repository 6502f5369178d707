"""Allocation jobs: allocate READY orders, retry backorders when stock arrives, check stock integrity."""

from __future__ import annotations

import logging

from sqlalchemy import Engine

from core import allocation, integrity
from core.auth import WORKER
from core.db import new_session

log = logging.getLogger("opsdesk.allocate")


def allocate_ready_orders(batch: int = 200, *, engine: Engine | None = None) -> int:
    """Allocate up to ``batch`` READY orders, earliest ship-by first, ``orders_per_transaction`` at a time.

    A failing order is logged and skipped (its savepoint rolled back); the others go on.
    """
    done, tried = 0, set[int]()
    with new_session(engine) as session:
        per_transaction = allocation.orders_per_transaction(session)
        while len(tried) < batch:
            outcomes, failures = allocation.allocate_ready_batch(
                session, actor=WORKER, limit=min(per_transaction, batch - len(tried)), skip=tried)
            for failure in failures:
                log.error("%s", failure)
                tried.add(failure.order_id)
            for outcome in outcomes:
                tried.add(outcome.order_id)
                done += outcome.changed
            if not outcomes and not failures:
                break
    return done


def retry_backorders(batch: int = 200, *, engine: Engine | None = None) -> int:
    """Re-allocate BACKORDERED orders whose short SKUs are available again; returns how many got stock."""
    done = 0
    with new_session(engine) as session:
        for order_id in allocation.backorders_to_retry(session, limit=batch):
            try:
                done += allocation.allocate_order(session, order_id, actor=WORKER).allocated > 0
            except Exception:  # one order's failure must not stop the others
                log.exception("retrying backorder %s failed", order_id)
    return done


def check_integrity(*, engine: Engine | None = None) -> int:
    """Check the stock invariants and open an alert per new violation; returns the violations found."""
    with new_session(engine) as session:
        violations = integrity.check_and_alert(session, actor=WORKER)
    for v in violations:
        log.warning("stock integrity: %s", v.message)
    return len(violations)
