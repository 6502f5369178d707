"""The SLA sweep job: warnings before and after each unshipped order's ship-by."""

from __future__ import annotations

import logging

from sqlalchemy import Engine

from core.auth import WORKER
from core.db import new_session
from core.sla_watch import sweep_sla

log = logging.getLogger("opsdesk.sla")


def sweep(*, engine: Engine | None = None) -> int:
    """Open and close SLA_AT_RISK / SLA_BREACHED items; returns how many changed."""
    with new_session(engine) as session:
        result = sweep_sla(session, actor=WORKER)
    if result.at_risk_opened or result.breached_opened:
        log.info("SLA: %d at risk, %d breached, %d cleared", result.at_risk_opened, result.breached_opened,
                 result.cleared)
    return result.at_risk_opened + result.breached_opened + result.cleared
