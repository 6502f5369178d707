"""Planning a batch of orders on one shared copy of the stock (``core.allocation_batch.plan_batch``)."""

from __future__ import annotations

from core.allocation_batch import Claimed, plan_batch
from core.allocation_plan import LineDemand, Site

NJ = Site(1, "NJ-WH", "US", "NJ", ("US",), 10)
NV = Site(2, "NV-WH", "US", "NV", ("US",), 20)


def order(order_id: int, *pairs: tuple[str, int], country: str = "US") -> Claimed:
    demand = tuple(LineDemand(order_id * 10 + i, sku, qty) for i, (sku, qty) in enumerate(pairs))
    return Claimed(order_id, f"#{order_id}", country, "TX", demand)


def test_earlier_orders_take_the_stock_first_and_later_ones_see_what_is_left():
    stock = {(1, "TEE"): 3, (2, "TEE"): 1}
    batch = plan_batch([order(1, ("TEE", 2)), order(2, ("TEE", 2)), order(3, ("TEE", 1))], [NJ, NV], stock)
    assert batch.plans[1].location_codes == ("NJ-WH",)
    # NJ has 1 left and NV 1: the second order is split over both; nothing is left for the third.
    assert sorted((p.location_code, p.quantity) for p in batch.plans[2].parts) == [("NJ-WH", 1), ("NV-WH", 1)]
    assert batch.plans[3].parts == () and batch.plans[3].short_by_sku == {"TEE": 1}
    assert batch.reserve == {(1, "TEE"): 3, (2, "TEE"): 1}
    assert stock == {(1, "TEE"): 0, (2, "TEE"): 0}


def test_reservations_never_exceed_the_stock_read():
    stock = {(1, "MUG"): 5, (2, "MUG"): 4, (1, "CAP"): 2}
    start = dict(stock)
    orders = [order(i, ("MUG", 1 + i % 3), ("CAP", 1)) for i in range(1, 12)]
    batch = plan_batch(orders, [NJ, NV], stock)
    for key, units in batch.reserve.items():
        assert units <= start[key]
    assert all(units >= 0 for units in stock.values())
    allocated = sum(p.quantity for plan in batch.plans.values() for p in plan.parts)
    assert allocated == sum(batch.reserve.values()) == sum(start.values()) - sum(stock.values())


def test_an_order_nobody_ships_to_is_passed_over_and_takes_nothing():
    stock = {(1, "TEE"): 2}
    batch = plan_batch([order(1, ("TEE", 1), country="JP"), order(2, ("TEE", 2))], [NJ], stock)
    assert batch.passed_over == [1]
    assert 1 not in batch.plans and batch.plans[2].complete
