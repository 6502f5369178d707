"""The demo's returns sweep: RMAs appear on some shipped orders, once each, opened as the channel."""

from __future__ import annotations

from sqlalchemy import func, select

from core.channels import add_channel
from core.db import engine_for
from core.enums import ActorKind, ChannelKind, ReturnStatus
from core.models import Event, Return
from jobs.demo_returns import EVERY, open_demo_returns
from tests.factories import ingest, make_channel, order_record, parcel


def test_the_demo_opens_returns_on_shipped_orders_once(db_url, db):
    make_channel(db)  # a location
    shop = add_channel(db, "amazon-shop", kind=ChannelKind.AMAZON, base_url="http://127.0.0.1:9", token_env=None)
    ingest(db, shop, [order_record(i, fulfillments=(parcel(i, f"1ZTEST{i:04d}"),)) for i in range(12)]
           + [order_record(50 + i) for i in range(4)])  # unshipped orders never get one
    opened = open_demo_returns(engine=engine_for(db_url))
    assert opened == 3  # one sweep opens a few
    opened += open_demo_returns(engine=engine_for(db_url))
    db.commit()
    rmas = db.execute(select(Return.order_id, Return.status)).all()
    assert opened == len(rmas) == 12 // EVERY and all(oid % EVERY == 0 for oid, _ in rmas)
    assert {s for _, s in rmas} == {ReturnStatus.REQUESTED, ReturnStatus.IN_TRANSIT}
    assert open_demo_returns(engine=engine_for(db_url)) == 0  # nothing opened twice
    kinds = db.execute(select(Event.actor_kind, func.count()).where(Event.kind == "return_authorised")
                       .group_by(Event.actor_kind)).all()
    assert kinds == [(ActorKind.CHANNEL, 12 // EVERY)]


def test_the_demo_leaves_shopify_orders_to_the_shops_own_refunds(db_url, db):
    shop = make_channel(db)  # Shopify: its connector reads the shop's refunds with restock
    ingest(db, shop, [order_record(i, fulfillments=(parcel(i, f"1ZTEST{i:04d}"),)) for i in range(12)])
    assert open_demo_returns(engine=engine_for(db_url)) == 0
