"""The demo's customers send things back: a worker sweep that opens RMAs on some shipped orders.

Runs only when ``OPSDESK_DEMO_RETURNS=1`` (``opsdesk demo`` sets it), never on a real desk.
The RMAs are opened as the channel (as a store's own returns portal would), half of them
already in transit, so a clerk has parcels to receive. Shopify (REST) and WooCommerce orders
are left out: those connectors read the shop's own refunds of goods, and the sandbox shops
issue them, so those returns arrive through ingest. The sweep stays for the channels whose
returns are not read yet (Amazon, Shopify GraphQL).
"""

from __future__ import annotations

import os

from sqlalchemy import Engine

from core.auth import channel_actor
from core.db import new_session
from core.enums import ChannelKind, ReturnReason
from core.errors import DomainError
from core.return_reads import returnable_lines, shipped_without_returns
from core.returns import LineRequest, authorise_return

FLAG = "OPSDESK_DEMO_RETURNS"
EVERY = 4  # about one shipped order in four comes back: returns run at 20-30 % in some categories
PER_SWEEP = 3
CHANNEL_READ = (ChannelKind.SHOPIFY, ChannelKind.SHOPIFY_GRAPHQL, ChannelKind.WOOCOMMERCE)  # they bring their own returns
REASONS = (ReturnReason.SIZE_OR_FIT, ReturnReason.CHANGED_MIND, ReturnReason.DEFECTIVE, ReturnReason.DAMAGED,
           ReturnReason.NOT_AS_DESCRIBED, ReturnReason.WRONG_ITEM, ReturnReason.ARRIVED_LATE)


def enabled() -> bool:
    return os.environ.get(FLAG) == "1"


def open_demo_returns(*, engine: Engine | None = None) -> int:
    """Open an RMA for one unit of the first line of a few shipped orders; returns how many were opened."""
    opened = 0
    with new_session(engine) as session:
        for order_id in shipped_without_returns(session, every=EVERY, limit=PER_SWEEP,
                                                except_kinds=CHANNEL_READ):
            _, lines = returnable_lines(session, order_id)
            line = lines[lines["returnable"] > 0].head(1)
            if line.empty:
                continue
            reason = REASONS[order_id % len(REASONS)]
            tracking = f"RT{order_id:08d}" if (order_id // EVERY) % 2 else None  # half are on their way
            try:
                authorise_return(session, order_id, [LineRequest(int(line["order_line_id"].iloc[0]), 1, reason)],
                                 actor=channel_actor("returns-portal"), note="opened by the customer online",
                                 tracking_number=tracking)
                opened += 1
            except DomainError:  # e.g. an offered-reasons change: skip this order, the next sweep goes on
                continue
    return opened
