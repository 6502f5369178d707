"""``python -m tests.reliability.desk_actor --seconds N``: the desk's writes in a loop, as the UI makes them.

Releases open holds, adjusts stock up and down and writes notes, each through the same core
call the pages make, one transaction each. The scenarios kill this process at random moments
to show that an action lands whole (with its event or ledger row) or not at all.
"""

from __future__ import annotations

import argparse
import json
import random
import time

from sqlalchemy import select

from core.auth import Actor
from core.db import new_session
from core.enums import AdjustmentReason, HoldCode, HoldState, Role
from core.errors import DomainError
from core.holds import HoldRef, add_note, release
from core.inventory import adjust_stock
from core.models import Hold, InventoryLevel, Location, Order

DESK = Actor("desk-crash-test", role=Role.OPS_LEAD)
RELEASABLE = (HoldCode.HIGH_VALUE, HoldCode.DUPLICATE_SUSPECT, HoldCode.ADDRESS_INVALID, HoldCode.OUT_OF_ZONE)


def one_action(rng: random.Random, counts: dict[str, int]) -> None:
    with new_session() as session:
        pick = rng.random()
        if pick < 0.4:
            hold = session.scalar(select(Hold).where(Hold.state == HoldState.OPEN, Hold.code.in_(RELEASABLE))
                                  .order_by(Hold.id).limit(1).offset(rng.randrange(5)))
            if hold is not None:
                release(session, [HoldRef(hold.id, hold.version)], actor=DESK, note="checked by the crash test")
                counts["released"] += 1
        elif pick < 0.8:
            level = session.execute(select(Location.code, InventoryLevel.sku)
                                    .join(Location, Location.id == InventoryLevel.location_id)
                                    .order_by(InventoryLevel.id).limit(1).offset(rng.randrange(20))).first()
            if level is not None:
                delta = rng.choice((1, 2, -1))
                adjust_stock(session, level[0], level[1], delta, reason=AdjustmentReason.CYCLE_COUNT, actor=DESK,
                             note="crash test")
                counts["adjusted"] += 1
        else:
            order_id = session.scalar(select(Order.id).order_by(Order.id.desc()).limit(1).offset(rng.randrange(10)))
            if order_id is not None:
                add_note(session, order_id, actor=DESK, note="crash test note")
                counts["notes"] += 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    counts = {"released": 0, "adjusted": 0, "notes": 0, "refused": 0}
    end = time.monotonic() + args.seconds
    while time.monotonic() < end:
        try:
            one_action(rng, counts)
        except DomainError:
            counts["refused"] += 1  # stale or no longer possible: refused whole, as the page would show
        time.sleep(rng.uniform(0.01, 0.05))
    print(json.dumps(counts), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
