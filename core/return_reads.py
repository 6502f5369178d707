"""Read models of the returns page: the queue by status with age, finding an RMA, one RMA's lines."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Select, case, func, or_, select
from sqlalchemy.orm import Session

from core import search
from core.enums import AllocationStatus, ChannelKind, ReturnReason, ReturnStatus
from core.errors import InvalidInput, NotFound
from core.models import Allocation, Channel, Location, Order, OrderLine, Return, ReturnLine, Shipment


def claimed_by_line(session: Session, order_line_ids: list[int]) -> dict[int, int]:
    """Units of each order line already on RMAs: what arrived once received, what was authorised before."""
    if not order_line_ids:
        return {}
    units = case((Return.received_at.is_(None), ReturnLine.qty_authorised), else_=func.coalesce(ReturnLine.qty_received, 0))
    return {line_id: int(n) for line_id, n in session.execute(
        select(ReturnLine.order_line_id, func.sum(units)).join(Return, Return.id == ReturnLine.return_id)
        .where(ReturnLine.order_line_id.in_(order_line_ids)).group_by(ReturnLine.order_line_id))}


def shipping_location_id(session: Session, order: Order) -> int | None:
    """Where the order left from: its parcel's location, else where its stock was allocated, else the first location."""
    found = session.scalar(select(Shipment.location_id).where(Shipment.order_id == order.id,
                                                              Shipment.location_id.is_not(None)).limit(1))
    if found is None:
        found = session.scalar(
            select(Allocation.location_id).where(Allocation.order_id == order.id)
            .order_by((Allocation.status == AllocationStatus.RELEASED).asc(), Allocation.quantity.desc()).limit(1))
    if found is None:  # shipped by the channel outside OpsDesk: the desk's first-choice active location
        found = session.scalar(select(Location.id).where(Location.active.is_(True))
                               .order_by(Location.priority, Location.code).limit(1))
    return found


def active_locations(session: Session) -> list[tuple[int, str]]:
    """(id, code) of every active location, first choice first: where a return may be received."""
    return [(i, c) for i, c in session.execute(select(Location.id, Location.code).where(Location.active.is_(True))
                                                .order_by(Location.priority, Location.code))]


def returnable_lines(session: Session, order_id: int) -> tuple[dict[str, Any], pd.DataFrame]:
    """For the authorise form: the order and each line with what shipped, what is on RMAs and what may still come back."""
    order = session.get(Order, order_id)
    if order is None:
        raise NotFound(f"No order with internal id {order_id}.")
    lines = session.execute(select(OrderLine.id, OrderLine.sku, OrderLine.title, OrderLine.unit_price,
                                   OrderLine.qty_shipped).where(OrderLine.order_id == order_id)
                            .order_by(OrderLine.id)).all()
    claimed = claimed_by_line(session, [ln.id for ln in lines])
    frame = pd.DataFrame(
        [(ln.id, ln.sku, ln.title, ln.unit_price, ln.qty_shipped, claimed.get(ln.id, 0),
          max(0, ln.qty_shipped - claimed.get(ln.id, 0))) for ln in lines],
        columns=["order_line_id", "sku", "title", "unit_price", "shipped", "on_rmas", "returnable"])
    head = {"id": order.id, "number": order.number, "currency": order.currency, "status": order.status.label,
            "location_id": shipping_location_id(session, order)}
    return head, frame


@dataclass(frozen=True)
class ReturnFilter:
    """What the queue shows: statuses, receiving locations, line reasons, older than some hours."""

    statuses: tuple[ReturnStatus, ...] = ()
    location_codes: tuple[str, ...] = ()
    reasons: tuple[ReturnReason, ...] = ()
    older_than_hours: int | None = None


QUEUE_COLUMNS = ["return_id", "version", "number", "order_id", "order", "status", "location", "units",
                 "received", "reason", "tracking_number", "created_at", "received_at"]


def _queue_select(flt: ReturnFilter, now: datetime) -> Select:
    units = (select(func.sum(ReturnLine.qty_authorised)).where(ReturnLine.return_id == Return.id)
             .correlate(Return).scalar_subquery())
    got = (select(func.sum(ReturnLine.qty_received)).where(ReturnLine.return_id == Return.id)
           .correlate(Return).scalar_subquery())
    stmt = (select(Return.id, Return.version, Return.number, Order.id, Order.number, Return.status, Location.code,
                   units, got, Return.reason, Return.tracking_number, Return.created_at, Return.received_at)
            .join(Order, Order.id == Return.order_id).outerjoin(Location, Location.id == Return.location_id))
    if flt.statuses:
        stmt = stmt.where(Return.status.in_(flt.statuses))
    if flt.location_codes:
        stmt = stmt.where(Location.code.in_(flt.location_codes))
    if flt.reasons:
        stmt = stmt.where(Return.id.in_(select(ReturnLine.return_id).where(ReturnLine.reason.in_(flt.reasons))))
    if flt.older_than_hours:
        stmt = stmt.where(Return.created_at <= now - timedelta(hours=flt.older_than_hours))
    return stmt


def return_queue(session: Session, flt: ReturnFilter, *, now: datetime, page: int = 1,
                 page_size: int = 50) -> tuple[pd.DataFrame, int]:
    """One page of RMAs, oldest first (the longest waiting come first), and how many match."""
    stmt = _queue_select(flt, now)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    page_size = page_size or max(total, 1)
    rows = session.execute(stmt.order_by(Return.created_at, Return.id).limit(page_size)
                           .offset(max(0, page - 1) * page_size)).all()
    return pd.DataFrame.from_records([tuple(r) for r in rows], columns=QUEUE_COLUMNS), total


def status_counts(session: Session) -> dict[ReturnStatus, int]:
    """RMAs per status (the queue's cards)."""
    return {ReturnStatus(s): int(n) for s, n in session.execute(select(Return.status, func.count())
                                                                .group_by(Return.status))}


def find_returns(session: Session, ref: str, *, limit: int = 20) -> list[int]:
    """RMAs matching an RMA number, an order number or a tracking number (the return's or the outbound parcel's)."""
    ref = search.clean_term(ref)
    if not ref:
        raise InvalidInput("Give an RMA number, an order number or a tracking number.")
    by_order = select(Order.id).where(Order.search_number == search.norm_number(ref))
    by_parcel = select(Shipment.order_id).where(Shipment.tracking_number == ref)
    return list(session.scalars(
        select(Return.id).where(or_(func.upper(Return.number) == ref.upper(), Return.tracking_number == ref,
                                    Return.order_id.in_(by_order), Return.order_id.in_(by_parcel)))
        .order_by(Return.created_at.desc(), Return.id.desc()).limit(limit)))


LINE_COLUMNS = ["line_id", "sku", "title", "unit_price", "reason", "qty_authorised", "qty_received", "grade",
                "proposed", "disposition", "override_reason", "notes", "inspector", "refund_recommended",
                "refund_amount", "refund_decided_by", "refund_decided_at", "restocked_sku", "restocked_at"]


def return_detail(session: Session, return_id: int) -> tuple[dict[str, Any], pd.DataFrame]:
    """One RMA as the forms need it: its header (with the version on screen) and its lines."""
    row = session.execute(
        select(Return, Order.number, Order.currency, Location.code).join(Order, Order.id == Return.order_id)
        .outerjoin(Location, Location.id == Return.location_id).where(Return.id == return_id)
        .execution_options(populate_existing=True)).first()
    if row is None:
        raise NotFound(f"No return with id {return_id}.")
    rma, number, currency, location = row
    head = {"id": rma.id, "number": rma.number, "version": rma.version, "status": rma.status,
            "order_id": rma.order_id, "order": number, "currency": currency, "location": location,
            "location_id": rma.location_id, "note": rma.note, "tracking_number": rma.tracking_number,
            "created_by": rma.created_by, "created_at": rma.created_at, "received_at": rma.received_at,
            "inspected_at": rma.inspected_at, "closed_at": rma.closed_at}
    lines = session.execute(
        select(ReturnLine.id, OrderLine.sku, OrderLine.title, OrderLine.unit_price, ReturnLine.reason,
               ReturnLine.qty_authorised, ReturnLine.qty_received, ReturnLine.grade, ReturnLine.proposed_disposition,
               ReturnLine.disposition, ReturnLine.override_reason, ReturnLine.notes, ReturnLine.inspector,
               ReturnLine.refund_recommended, ReturnLine.refund_amount, ReturnLine.refund_decided_by,
               ReturnLine.refund_decided_at, ReturnLine.restocked_sku, ReturnLine.restocked_at)
        .join(OrderLine, OrderLine.id == ReturnLine.order_line_id).where(ReturnLine.return_id == return_id)
        .order_by(ReturnLine.id)).all()
    return head, pd.DataFrame.from_records([tuple(r) for r in lines], columns=LINE_COLUMNS)


def shipped_without_returns(session: Session, *, every: int, limit: int,
                            except_kinds: tuple[ChannelKind, ...] = ()) -> list[int]:
    """Orders with shipped units and no RMA yet, every ``every``-th by id, oldest first (the demo's returns).

    ``except_kinds``: channels whose own returns the connectors read, so nobody stands in for them.
    """
    has_rma = select(Return.id).where(Return.order_id == Order.id).exists()
    shipped = select(OrderLine.id).where(OrderLine.order_id == Order.id, OrderLine.qty_shipped > 0).exists()
    stmt = select(Order.id).where(shipped, ~has_rma, Order.id % every == 0)
    if except_kinds:
        stmt = stmt.where(Order.channel_id.not_in(select(Channel.id).where(Channel.kind.in_(except_kinds))))
    return list(session.scalars(stmt.order_by(Order.id).limit(limit)))


def order_returns(session: Session, order_id: int) -> pd.DataFrame:
    """An order's RMAs for its page: number, status, receiving location, units authorised and received."""
    stmt = _queue_select(ReturnFilter(), datetime.max).where(Return.order_id == order_id).order_by(Return.created_at)
    return pd.DataFrame.from_records([tuple(r) for r in session.execute(stmt)], columns=QUEUE_COLUMNS)
