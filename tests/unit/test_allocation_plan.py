"""The allocation planner, without a database: ranking, whole vs split, backorders, zones, explanation."""

from __future__ import annotations

import json

from core.allocation_plan import EXACT_SPLIT_LIMIT, LineDemand, Site, plan_allocation, ships_to

NJ = Site(1, "NJ-WH", "US", "NJ", ("US", "CA"), 10)
NV = Site(2, "NV-WH", "US", "NV", ("US",), 20)
LA = Site(3, "LA-STORE", "US", "CA", ("US-CA",), 30)
TO = Site(4, "TORONTO", "CA", "ON", ("CA", "US"), 5)
UK = Site(5, "UK-3PL", "GB", None, ("GB",), 1)


def lines(*pairs: tuple[str, int]) -> list[LineDemand]:
    return [LineDemand(i + 1, sku, qty) for i, (sku, qty) in enumerate(pairs)]


def stock_of(**by_code: dict[str, int]) -> dict[tuple[int, str], int]:
    ids = {s.code.replace("-", "_"): s.location_id for s in (NJ, NV, LA, TO, UK)}
    return {(ids[code], sku): qty for code, skus in by_code.items() for sku, qty in skus.items()}


def test_same_region_beats_same_country_beats_other_country():
    stock = stock_of(NJ_WH={"TEE": 5}, LA_STORE={"TEE": 5}, TORONTO={"TEE": 5})
    plan = plan_allocation(lines(("TEE", 1)), "US", "CA", [NJ, LA, TO], stock)
    assert plan.location_codes == ("LA-STORE",) and plan.method == "whole"
    ranked = [c["code"] for c in plan.explanation["candidates"]]
    assert ranked == ["LA-STORE", "NJ-WH", "TORONTO"]  # Toronto has the best priority but is abroad


def test_priority_then_most_stock_then_code_break_ties():
    plan = plan_allocation(lines(("TEE", 1)), "US", "TX", [NV, NJ], stock_of(NJ_WH={"TEE": 1}, NV_WH={"TEE": 90}))
    assert plan.location_codes == ("NJ-WH",)  # priority 10 beats 20 although NV has more
    twin = Site(6, "AA-WH", "US", "NY", ("US",), 10)
    stock = {**stock_of(NJ_WH={"TEE": 3}), (6, "TEE"): 7}
    plan = plan_allocation(lines(("TEE", 1)), "US", "TX", [NJ, twin], stock)
    assert plan.location_codes == ("AA-WH",)  # same priority: most stock wins
    stock = {**stock_of(NJ_WH={"TEE": 7}), (6, "TEE"): 7}
    assert plan_allocation(lines(("TEE", 1)), "US", "TX", [NJ, twin], stock).location_codes == ("AA-WH",)


def test_a_location_that_fills_the_whole_order_wins_over_a_better_ranked_partial_one():
    stock = stock_of(LA_STORE={"TEE": 2, "CAP": 0}, NJ_WH={"TEE": 2, "CAP": 1})
    plan = plan_allocation(lines(("TEE", 2), ("CAP", 1)), "US", "CA", [LA, NJ], stock)
    assert plan.method == "whole" and plan.location_codes == ("NJ-WH",) and plan.complete
    assert plan.reason == "NJ-WH fills the whole order: same country, priority 10; LA-STORE ranked higher but cannot fill it."


def test_without_a_whole_fill_the_order_is_split_over_the_fewest_locations():
    # Greedy by rank would take LA (TEE) + NJ (CAP) + NV (MUG); NV alone has CAP and MUG.
    stock = stock_of(LA_STORE={"TEE": 1}, NJ_WH={"CAP": 1}, NV_WH={"CAP": 1, "MUG": 1, "TEE": 0})
    plan = plan_allocation(lines(("TEE", 1), ("CAP", 1), ("MUG", 1)), "US", "CA", [LA, NJ, NV], stock)
    assert plan.method == "split" and plan.complete
    assert set(plan.location_codes) == {"LA-STORE", "NV-WH"}
    assert sorted((p.sku, p.location_code, p.quantity) for p in plan.parts) == [
        ("CAP", "NV-WH", 1), ("MUG", "NV-WH", 1), ("TEE", "LA-STORE", 1)]
    assert plan.explanation["split_search"] == "exact"


def test_one_line_may_be_split_across_locations():
    plan = plan_allocation(lines(("TEE", 5)), "US", "NJ", [NJ, NV], stock_of(NJ_WH={"TEE": 3}, NV_WH={"TEE": 4}))
    assert [(p.location_code, p.quantity) for p in plan.parts] == [("NJ-WH", 3), ("NV-WH", 2)]
    assert plan.complete


def test_what_no_location_has_is_backordered_per_line():
    stock = stock_of(NJ_WH={"TEE": 2}, NV_WH={"TEE": 1, "CAP": 0})
    plan = plan_allocation(lines(("TEE", 5), ("CAP", 2)), "US", "NJ", [NJ, NV], stock)
    assert plan.allocated_units == 3 and not plan.complete
    assert [(s.line_id, s.sku, s.quantity) for s in plan.backordered] == [(1, "TEE", 2), (2, "CAP", 2)]
    assert plan.short_by_sku == {"CAP": 2, "TEE": 2}
    assert "supply 3 of 7 units" in plan.reason and "4 are backordered" in plan.reason


def test_the_fewest_locations_are_used_even_when_stock_is_short():
    # Nobody has CAP; taking TEE in rank order would use LA, NJ and NV - NV alone has all three.
    stock = stock_of(NJ_WH={"TEE": 1}, LA_STORE={"TEE": 1}, NV_WH={"TEE": 3})
    plan = plan_allocation(lines(("TEE", 3), ("CAP", 1)), "US", "CA", [NJ, LA, NV], stock)
    assert plan.location_codes == ("NV-WH",) and plan.allocated_units == 3
    assert plan.short_by_sku == {"CAP": 1} and plan.explanation["winners"] == ["NV-WH"]


def test_no_stock_anywhere_backorders_everything():
    plan = plan_allocation(lines(("TEE", 2)), "US", "NJ", [NJ, NV], {})
    assert plan.parts == () and plan.method == "none" and plan.short_by_sku == {"TEE": 2}
    assert plan.reason.startswith("No stock for this order at any of the 2 locations that ship to US-NJ")


def test_a_region_zone_covers_only_that_region_and_a_country_zone_all_of_it():
    assert ships_to(["US-CA"], "US", "CA") and not ships_to(["US-CA"], "US", "NY")
    assert ships_to(["US"], "us", "ny") and not ships_to(["US"], "CA", "ON") and not ships_to(["US"], None, None)
    plan = plan_allocation(lines(("TEE", 1)), "US", "NY", [LA, NJ], stock_of(LA_STORE={"TEE": 9}, NJ_WH={"TEE": 1}))
    assert plan.location_codes == ("NJ-WH",)
    assert {"code": "LA-STORE", "why": "does not ship there"} in plan.explanation["excluded"]


def test_an_inactive_location_is_never_planned():
    closed = Site(7, "CLOSED", "US", "CA", ("US",), 1, active=False)
    plan = plan_allocation(lines(("TEE", 1)), "US", "CA", [closed, NJ], {(7, "TEE"): 9, (1, "TEE"): 1})
    assert plan.location_codes == ("NJ-WH",)
    assert plan.explanation["excluded"] == [{"code": "CLOSED", "why": "inactive"}]


def test_no_location_ships_there():
    plan = plan_allocation(lines(("TEE", 1)), "JP", None, [NJ, NV, UK], stock_of(NJ_WH={"TEE": 5}))
    assert plan.method == "no_candidates" and plan.reason == "no location ships to JP"
    assert plan.parts == () and plan.short_by_sku == {"TEE": 1} and not plan.complete


def test_the_explanation_lists_candidates_with_their_stock_and_says_why():
    stock = stock_of(NJ_WH={"TEE": 4, "CAP": 1}, NV_WH={"TEE": 9, "CAP": 0})
    plan = plan_allocation(lines(("TEE", 2), ("CAP", 1)), "US", "NJ", [NV, NJ, UK], stock)
    exp = plan.explanation
    assert exp["ship_to"] == {"country": "US", "region": "NJ"} and exp["demand"] == {"CAP": 1, "TEE": 2}
    assert exp["candidates"][0] == {
        "rank": 1, "code": "NJ-WH", "location_id": 1, "proximity": "same region", "priority": 10,
        "total_available": 5, "available": {"CAP": 1, "TEE": 4}, "fills_whole_order": True}
    assert exp["candidates"][1]["fills_whole_order"] is False and exp["candidates"][1]["available"]["TEE"] == 9
    assert exp["winners"] == ["NJ-WH"] and exp["method"] == "whole"
    assert exp["why"] == "NJ-WH fills the whole order: same region, priority 10."
    json.dumps(exp)  # stored as JSON as it is


def test_the_same_inputs_always_give_the_same_plan():
    stock = stock_of(NJ_WH={"TEE": 2}, NV_WH={"TEE": 2}, LA_STORE={"TEE": 2})
    plans = {plan_allocation(lines(("TEE", 4)), "US", "CA", order, stock).parts
             for order in ([NJ, NV, LA], [LA, NV, NJ], [NV, LA, NJ])}
    assert len(plans) == 1


def test_many_candidates_fall_back_to_a_greedy_cover():
    sites = [Site(100 + i, f"S{i:02d}", "US", None, ("US",), 50) for i in range(EXACT_SPLIT_LIMIT + 3)]
    stock = {(100 + i, f"SKU{i}"): 1 for i in range(len(sites))}
    big = Site(99, "BIG", "US", None, ("US",), 90)
    stock.update({(99, f"SKU{i}"): 1 for i in range(10)})
    want = lines(*[(f"SKU{i}", 1) for i in range(len(sites))])
    plan = plan_allocation(want, "US", "TX", [*sites, big], stock)
    assert plan.complete and plan.explanation["split_search"] == "greedy"
    assert len(plan.location_codes) == 1 + (len(sites) - 10)  # BIG covers ten SKUs at once


def test_lines_with_nothing_left_to_allocate_are_ignored():
    plan = plan_allocation([LineDemand(1, "TEE", 0), LineDemand(2, "CAP", 1)], "US", "NJ", [NJ],
                           stock_of(NJ_WH={"CAP": 1}))
    assert [(p.line_id, p.sku) for p in plan.parts] == [(2, "CAP")]


def test_an_order_with_nothing_left_to_allocate_is_complete():
    plan = plan_allocation([LineDemand(1, "TEE", 0)], "US", "NJ", [NJ], {})
    assert plan.complete and plan.parts == () and plan.reason == "nothing left to allocate"
