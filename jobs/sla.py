"""The SLA jobs: warnings before and after each unshipped order's ship-by, and the history's rollups."""

from __future__ import annotations

import logging

from sqlalchemy import Engine

from core.auth import WORKER
from core.db import new_session
from core.sla_rollup import rebuild_due, refresh
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


def refresh_rollups(*, engine: Engine | None = None) -> int:
    """Bring the SLA history's rollups up to now; returns rows written.

    Every run recomputes the last three weeks; once a day it recomputes everything, which
    catches late changes to older days. One job, so the two never run at once.
    """
    with new_session(engine) as session:
        full = rebuild_due(session)
        progress = (lambda done, total: log.info("rollups rebuilt: %d of %d days", done, total)) if full else None
        report = refresh(session, full=full, progress=progress)
    return report.hour_rows + report.day_rows
