"""Every state-changing core action with every role and with no login: refused at the server exactly where
the role lacks the permission (read from core.enums.ROLE_PERMISSIONS, never copied), done otherwise.

SQLite: each (action, actor) pair on its own copy of one prepared world, so an allowed call must fully
succeed. PostgreSQL: per action, every refused actor first (nothing written), then one allowed role succeeds.
"""

from __future__ import annotations

import ast
import json
import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from connectors.easypost import parse_tracking
from connectors.parsers import parser_for
from connectors.schemas import Address
from core import holds
from core.allocation import allocate_next_ready, allocate_order, allocate_ready_batch
from core.auth import SYSTEM, Actor, add_user
from core.carrier_ops import replay_carrier_letter, request_carrier_poll, set_carrier_enabled
from core.carriers import add_carrier_account, update_carrier_account
from core.channels import add_channel, update_channel
from core.connector_health import replay_dead_letter, request_poll, set_channel_enabled
from core.db import engine_for, new_session, writing
from core.enums import (
    ROLE_PERMISSIONS,
    AdjustmentReason,
    CarrierKind,
    ChannelKind,
    Disposition,
    Grade,
    HoldCode,
    LocationKind,
    Permission,
    ReturnReason,
    Role,
)
from core.errors import NotAllowed
from core.integrity import Violation, check_and_alert, record_violations, resolve_alert
from core.inventory import adjust_stock, receive_stock, set_count
from core.locations import LocationForm, save_location
from core.migrate import upgrade
from core.models import (
    Allocation,
    Base,
    DeadLetter,
    Event,
    Hold,
    Location,
    Order,
    OrderLine,
    ReturnLine,
    User,
)
from core.order_detail import resolve_order
from core.return_rules import ReturnSettings
from core.returns import (
    LineInspection,
    LineRequest,
    authorise_return,
    decide_refund,
    inspect_return,
    mark_in_transit,
    override_disposition,
    receive_return,
    save_return_settings,
)
from core.rules import RuleSettings
from core.seed import seed_demo
from core.settings import save_rule_settings, save_sla_window
from core.shipping import ship_allocations
from core.sla import SlaPolicy
from core.sla_policy import set_sla_policy
from core.sla_watch import sweep_sla
from core.stock_import import import_stock_csv
from core.tracking import sweep_stale
from core.triage import recheck_open_orders
from core.users import reset_password, update_user
from tests.factories import ingest, make_channel, order_record, parcel

ROOT = Path(__file__).resolve().parents[2]
SHOPIFY_ORDER = ROOT / "tests" / "fixtures" / "shopify" / "paid_unfulfilled_multiline.json"
EASYPOST_TRACKER = ROOT / "tests" / "fixtures" / "easypost" / "tracker_delivered.json"
NO_LOGIN = Actor(name="visitor")  # a person with no role: what a request that skipped the sign-in would carry
ACTORS: dict[str, Actor] = {role.value: Actor(name=f"someone-{role.value}", role=role) for role in Role}
ACTORS["no_login"] = NO_LOGIN


@dataclass(frozen=True)
class World:
    """Ids of what the prepared database holds, one thing per action that needs one."""

    ready: int
    high_value_hold: int
    address_invalid: int
    out_of_zone: int
    allocated: int
    shipped: int
    rma_requested: int
    rma_received: int
    rma_graded_a: int
    rma_graded_c: int
    channel: int
    carrier: int
    letter: int
    carrier_letter: int
    alert: int
    support_user: int
    nj: int


def _order(session: Session, number: str) -> int:
    return resolve_order(session, number)


def _line(session: Session, order_id: int) -> int:
    return session.scalar(select(OrderLine.id).where(OrderLine.order_id == order_id))


def _rma_line(session: Session, rma_id: int) -> int:
    return session.scalar(select(ReturnLine.id).where(ReturnLine.return_id == rma_id))


def build_world(url: str) -> World:
    """One database with something for every action to act on."""
    upgrade(url)
    admin = Actor("setup-admin", role=Role.ADMIN)
    with new_session(engine_for(url)) as s:
        seed_demo(s)
        shop = make_channel(s, "test-shop")
        nj = s.scalar(select(Location.id).where(Location.code == "NJ-WH"))
        receive_stock(s, "NJ-WH", "TEE-BLK-M", 40, actor=SYSTEM, reference="PO-1")
        no_postcode = Address(name="Hal", address1="3 Elm St", city="Boston", region="MA", country_code="US")
        tokyo = Address(name="Yuki", address1="1-2 Ginza", city="Tokyo", postal_code="104-0061", country_code="JP")
        ingest(s, shop, [
            order_record(0), order_record(1), order_record(100, total=Decimal("6000.00")),
            order_record(103, ship_to=no_postcode), order_record(104, ship_to=tokyo),
            *(order_record(i, fulfillments=(parcel(i, f"1ZTRACK{i:04d}"),)) for i in range(10, 15)),
        ])
        allocated = _order(s, "#1002")
        allocate_order(s, allocated, actor=admin)
        shipped = [_order(s, f"#{1001 + i}") for i in range(10, 15)]

        def rma(order_id: int):  # type: ignore[no-untyped-def]
            return authorise_return(s, order_id, [LineRequest(_line(s, order_id), 2, ReturnReason.DEFECTIVE)],
                                    actor=admin)

        requested = rma(shipped[1])
        received = []
        for order_id in shipped[2:]:
            r = rma(order_id)
            received.append(receive_return(s, r.id, version=r.version, received={_rma_line(s, r.id): 2},
                                           actor=admin))
        graded = [inspect_return(s, r.id, version=r.version, verdicts=[LineInspection(_rma_line(s, r.id), grade)],
                                 actor=admin) for r, grade in zip(received[1:], (Grade.A, Grade.C), strict=True)]
        carrier = add_carrier_account(s, "ups-ep", kind=CarrierKind.EASYPOST, base_url="http://127.0.0.1:9",
                                      token_env="EP_TEST_KEY", carriers="UPS")
        raw = json.loads(SHOPIFY_ORDER.read_text(encoding="utf-8"))
        with writing(s):
            letter = DeadLetter(channel_id=shop.id, connector=shop.code, external_id=str(raw["id"]),
                                raw=json.dumps(raw), error="line_items: missing")
            s.add(letter)
            # An unreadable tracking of a parcel the shop shipped, as EasyPost sends it once fixed.
            tracking = json.loads(EASYPOST_TRACKER.read_text(encoding="utf-8"))
            carrier_letter = DeadLetter(carrier_account_id=carrier.id, connector=carrier.code, external_id="1ZTRACK0010",
                                        raw=json.dumps(dict(tracking, tracking_code="1ZTRACK0010")),
                                        error="status: unknown word")
            s.add(carrier_letter)
        record_violations(s, [Violation("reserved_vs_allocations", nj, "NJ-WH", "TEE-BLK-M", 0, 1)], actor=admin)
        hv = _order(s, "#1101")
        return World(
            ready=_order(s, "#1001"),
            high_value_hold=s.scalar(select(Hold.id).where(Hold.order_id == hv, Hold.code == HoldCode.HIGH_VALUE)),
            address_invalid=_order(s, "#1104"), out_of_zone=_order(s, "#1105"), allocated=allocated,
            shipped=shipped[0], rma_requested=requested.id, rma_received=received[0].id,
            rma_graded_a=graded[0].id, rma_graded_c=graded[1].id, channel=shop.id, carrier=carrier.id,
            letter=letter.id, carrier_letter=carrier_letter.id,
            alert=s.scalar(select(Hold.id).where(Hold.code == HoldCode.STOCK_INTEGRITY)),
            support_user=s.scalar(select(User.id).where(User.username == "support")), nj=nj,
        )


def _version(s: Session, model: Any, ident: int) -> int:
    return s.scalar(select(model.version).where(model.id == ident))


def _rma_version(s: Session, rma_id: int) -> int:
    from core.models import Return

    return _version(s, Return, rma_id)


def _hold_ref(s: Session, hold_id: int) -> list[holds.HoldRef]:
    return [holds.HoldRef(hold_id, _version(s, Hold, hold_id))]


Action = Callable[[Session, World, Actor], object]

# action name -> (the permission it needs, the call). Every public core function that checks a permission is here
# (test_every_checked_core_function_is_in_the_matrix keeps it so).
ACTIONS: dict[str, tuple[Permission, Action]] = {
    "release": (Permission.RELEASE_HOLD, lambda s, w, a: holds.release(
        s, _hold_ref(s, w.high_value_hold), actor=a, note="verified by phone")),
    "assign": (Permission.ASSIGN_HOLD, lambda s, w, a: holds.assign(
        s, _hold_ref(s, w.high_value_hold), assignee_id=w.support_user, actor=a)),
    "place_manual_hold": (Permission.PLACE_MANUAL_HOLD, lambda s, w, a: holds.place_manual_hold(
        s, w.ready, order_version=_version(s, Order, w.ready), actor=a, note="customer asked to wait")),
    "add_note": (Permission.ADD_NOTE, lambda s, w, a: holds.add_note(s, w.ready, actor=a, note="called back")),
    "cancel_order": (Permission.CANCEL_ORDER, lambda s, w, a: holds.cancel_order(
        s, w.allocated, order_version=_version(s, Order, w.allocated), actor=a, reason="customer cancelled")),
    "fix_address": (Permission.EDIT_ORDER, lambda s, w, a: holds.fix_address(
        s, w.address_invalid, order_version=_version(s, Order, w.address_invalid), actor=a,
        address={"name": "Hal", "address1": "3 Elm St", "city": "Boston", "region": "MA", "postal_code": "02108",
                 "country_code": "US"})),
    "reroute": (Permission.EDIT_ORDER, lambda s, w, a: holds.reroute(
        s, w.out_of_zone, order_version=_version(s, Order, w.out_of_zone), location_id=w.nj, actor=a,
        note="air freight")),
    "allocate_order": (Permission.EDIT_ORDER, lambda s, w, a: allocate_order(s, w.ready, actor=a)),
    "allocate_next_ready": (Permission.EDIT_ORDER, lambda s, w, a: allocate_next_ready(s, actor=a)),
    "allocate_ready_batch": (Permission.EDIT_ORDER, lambda s, w, a: allocate_ready_batch(s, actor=a, limit=5)),
    "ship_allocations": (Permission.SHIP_ORDER, lambda s, w, a: ship_allocations(
        s, w.allocated, order_version=_version(s, Order, w.allocated),
        allocation_ids=list(s.scalars(select(Allocation.id).where(Allocation.order_id == w.allocated))),
        carrier="UPS", tracking_number="1ZDESK0001", actor=a)),
    "receive_stock": (Permission.ADJUST_STOCK, lambda s, w, a: receive_stock(
        s, "NJ-WH", "MUG-WHT", 5, actor=a, reference="PO-9")),
    "adjust_stock": (Permission.ADJUST_STOCK, lambda s, w, a: adjust_stock(
        s, "NJ-WH", "TEE-BLK-M", -1, reason=AdjustmentReason.DAMAGED, actor=a, note="torn")),
    "set_count": (Permission.ADJUST_STOCK, lambda s, w, a: set_count(s, "NJ-WH", "TEE-BLK-M", 39, actor=a)),
    "import_stock_csv": (Permission.ADJUST_STOCK, lambda s, w, a: import_stock_csv(
        s, b"location,sku,quantity\nNJ-WH,CAP-RED,3\n", mode="receipt", actor=a)),
    "resolve_alert": (Permission.ADJUST_STOCK, lambda s, w, a: resolve_alert(
        s, w.alert, note="miscounted at the dock", actor=a)),
    "record_violations": (Permission.VIEW_ORDERS, lambda s, w, a: record_violations(
        s, [Violation("on_hand_vs_ledger", w.nj, "NJ-WH", "SOCK", 0, 1)], actor=a)),
    "check_and_alert": (Permission.VIEW_ORDERS, lambda s, w, a: check_and_alert(s, actor=a)),
    "set_channel_enabled": (Permission.OPERATE_CONNECTORS, lambda s, w, a: set_channel_enabled(
        s, w.channel, False, actor=a)),
    "request_poll": (Permission.OPERATE_CONNECTORS, lambda s, w, a: request_poll(s, w.channel, actor=a)),
    "replay_dead_letter": (Permission.OPERATE_CONNECTORS, lambda s, w, a: replay_dead_letter(
        s, w.letter, parse=parser_for(ChannelKind.SHOPIFY), actor=a)),
    "set_carrier_enabled": (Permission.OPERATE_CONNECTORS, lambda s, w, a: set_carrier_enabled(
        s, w.carrier, False, actor=a)),
    "request_carrier_poll": (Permission.OPERATE_CONNECTORS, lambda s, w, a: request_carrier_poll(
        s, w.carrier, actor=a)),
    "replay_carrier_letter": (Permission.OPERATE_CONNECTORS, lambda s, w, a: replay_carrier_letter(
        s, w.carrier_letter, parse=parse_tracking, actor=a)),
    "add_channel": (Permission.MANAGE_CHANNELS, lambda s, w, a: add_channel(
        s, "new-shop", kind=ChannelKind.SHOPIFY, base_url="http://127.0.0.1:9", token_env="NEW_SHOP_TOKEN",
        actor=a)),
    "update_channel": (Permission.MANAGE_CHANNELS, lambda s, w, a: update_channel(
        s, w.channel, actor=a, name="Renamed shop", base_url="http://127.0.0.1:9", token_env="TEST_SHOP_TOKEN",
        poll_interval_s=30)),
    "add_carrier_account": (Permission.MANAGE_CHANNELS, lambda s, w, a: add_carrier_account(
        s, "usps-ep", kind=CarrierKind.EASYPOST, base_url="http://127.0.0.1:9", token_env="EP_TEST_KEY",
        carriers="USPS", actor=a)),
    "update_carrier_account": (Permission.MANAGE_CHANNELS, lambda s, w, a: update_carrier_account(
        s, w.carrier, actor=a, name="UPS via EasyPost", base_url="http://127.0.0.1:9", token_env="EP_TEST_KEY",
        carriers="UPS", poll_interval_s=600, enabled=True)),
    "save_location": (Permission.MANAGE_CHANNELS, lambda s, w, a: save_location(s, LocationForm(
        code="TX-WH", name="Dallas", kind=LocationKind.WAREHOUSE, country="US", region="TX", timezone="America/Chicago",
        zones="US", priority=15), actor=a)),
    "set_sla_policy": (Permission.MANAGE_CHANNELS, lambda s, w, a: set_sla_policy(
        s, w.channel, SlaPolicy(handling_days=2), actor=a)),
    "add_user": (Permission.MANAGE_USERS, lambda s, w, a: add_user(
        s, "newbie", "long enough pass", Role.SUPPORT, actor=a)),
    "update_user": (Permission.MANAGE_USERS, lambda s, w, a: update_user(
        s, w.support_user, actor=a, role=Role.CLERK)),
    "reset_password": (Permission.MANAGE_USERS, lambda s, w, a: reset_password(
        s, w.support_user, "a fresh password", actor=a)),
    "save_rule_settings": (Permission.MANAGE_SETTINGS, lambda s, w, a: save_rule_settings(
        s, RuleSettings(high_value_threshold=Decimal("7000")), actor=a)),
    "save_sla_window": (Permission.MANAGE_SETTINGS, lambda s, w, a: save_sla_window(s, 6.0, actor=a)),
    "save_return_settings": (Permission.MANAGE_SETTINGS, lambda s, w, a: save_return_settings(
        s, ReturnSettings(restocking_fee_pct=Decimal("5")), actor=a)),
    "recheck_open_orders": (Permission.EDIT_ORDER, lambda s, w, a: recheck_open_orders(s, actor=a)),
    "sweep_sla": (Permission.EDIT_ORDER, lambda s, w, a: sweep_sla(s, actor=a)),
    "sweep_stale": (Permission.EDIT_ORDER, lambda s, w, a: sweep_stale(s, actor=a)),
    "authorise_return": (Permission.AUTHORISE_RETURN, lambda s, w, a: authorise_return(
        s, w.shipped, [LineRequest(_line(s, w.shipped), 1, ReturnReason.SIZE_OR_FIT)], actor=a)),
    "mark_in_transit": (Permission.AUTHORISE_RETURN, lambda s, w, a: mark_in_transit(
        s, w.rma_requested, version=_rma_version(s, w.rma_requested), tracking_number="RET-1", actor=a)),
    "receive_return": (Permission.RECEIVE_RETURN, lambda s, w, a: receive_return(
        s, w.rma_requested, version=_rma_version(s, w.rma_requested),
        received={_rma_line(s, w.rma_requested): 2}, actor=a)),
    "inspect_return": (Permission.INSPECT_RETURN, lambda s, w, a: inspect_return(
        s, w.rma_received, version=_rma_version(s, w.rma_received),
        verdicts=[LineInspection(_rma_line(s, w.rma_received), Grade.B)], actor=a)),
    "override_disposition": (Permission.OVERRIDE_DISPOSITION, lambda s, w, a: override_disposition(
        s, w.rma_graded_a, version=_rma_version(s, w.rma_graded_a), line_id=_rma_line(s, w.rma_graded_a),
        disposition=Disposition.DISPOSE, reason="stained inside", actor=a)),
    "decide_refund": (Permission.DECIDE_REFUND, lambda s, w, a: decide_refund(
        s, w.rma_graded_c, version=_rma_version(s, w.rma_graded_c), line_id=_rma_line(s, w.rma_graded_c),
        amount="20.00", actor=a, note="goodwill")),
}


def allowed(actor: Actor, permission: Permission) -> bool:
    """What the one permission map says (a user with no role may do nothing)."""
    return actor.role is not None and permission in ROLE_PERMISSIONS[actor.role]


def row_counts(s: Session) -> dict[str, int]:
    s.commit()
    return {t.name: s.scalar(select(func.count()).select_from(t)) for t in Base.metadata.sorted_tables}


def attempt(s: Session, world: World, name: str, actor: Actor) -> None:
    """Run one action as ``actor`` and check the outcome against the permission map."""
    permission, call = ACTIONS[name]
    if allowed(actor, permission):
        before = s.scalar(select(func.count()).select_from(Event).where(Event.actor_name == actor.name))
        call(s, world, actor)  # must succeed outright: the world was prepared for it
        s.commit()
        after = s.scalar(select(func.count()).select_from(Event).where(Event.actor_name == actor.name))
        if name not in ("allocate_next_ready", "allocate_ready_batch", "check_and_alert", "sweep_sla", "sweep_stale",
                        "recheck_open_orders"):  # sweeps and batches with nothing due record nothing
            assert after > before, f"{name} by {actor.name} left no event"
        return
    counts = row_counts(s)
    with pytest.raises(NotAllowed, match="may not"):
        call(s, world, actor)
    s.rollback()
    assert row_counts(s) == counts, f"{name} refused to {actor.name} but wrote something"


# ---- SQLite: the whole matrix, each pair on a fresh copy -------------------------------------------------


@pytest.fixture(scope="module")
def world_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, World]:
    path = tmp_path_factory.mktemp("matrix") / "opsdesk.db"
    return str(path), build_world(f"sqlite:///{path}")


@pytest.fixture
def world_copy(world_template: tuple[str, World], tmp_path: Path) -> tuple[str, World]:
    source_path, world = world_template
    target = tmp_path / "opsdesk.db"
    source, copy = sqlite3.connect(source_path), sqlite3.connect(target)
    try:
        source.backup(copy)
    finally:
        copy.close()
        source.close()
    return f"sqlite:///{target}", world


@pytest.mark.parametrize("who", list(ACTORS))
@pytest.mark.parametrize("name", list(ACTIONS))
def test_each_action_is_refused_exactly_where_the_role_lacks_its_permission(world_copy, name, who):
    url, world = world_copy
    with new_session(engine_for(url)) as s:
        attempt(s, world, name, ACTORS[who])


@pytest.mark.parametrize("name", list(ACTIONS))
def test_an_action_called_with_no_actor_at_all_is_refused_and_writes_nothing(world_copy, name):
    url, world = world_copy
    with new_session(engine_for(url)) as s:
        counts = row_counts(s)
        with pytest.raises((NotAllowed, AttributeError)):  # None has no .require: refused before any write
            ACTIONS[name][1](s, world, None)  # type: ignore[arg-type]
        s.rollback()
        assert row_counts(s) == counts


# ---- PostgreSQL: per action, the refusals and one allowed role ----------------------------------------


@pytest.mark.postgres
@pytest.mark.parametrize("name", list(ACTIONS))
def test_on_postgres_each_action_refuses_the_roles_without_its_permission(pg_url, name):
    world = build_world(pg_url)
    permission = ACTIONS[name][0]
    refused = [a for a in ACTORS.values() if not allowed(a, permission)]
    permitted = [a for a in ACTORS.values() if allowed(a, permission)]
    assert permitted, f"no role may {name}: the map or the table is wrong"
    with new_session(engine_for(pg_url)) as s:
        for actor in [*refused, permitted[0]]:
            attempt(s, world, name, actor)


# ---- the table is complete, and no page calls an unchecked writer ------------------------------------------

# Run inside the caller's transaction, after the caller checked its own permission.
IN_TRANSACTION_HELPERS = {"open_hold", "record_event", "book_on_hand", "release_order_allocations", "store_setting",
                          "writing", "insert_rows", "ensure_levels", "add_new_order_parcels"}


WRITES = re.compile(r"writing\(|session\.add\(|(?<![.\w])(update|delete|insert|pg_insert|sqlite_insert)\(")


def _core_functions() -> dict[str, tuple[str, bool, bool, bool]]:
    """name -> (module, takes an actor, checks a permission, writes), for every public core function."""
    found = {}
    for path in sorted((ROOT / "core").glob("*.py")):
        source = path.read_text(encoding="utf-8")
        for node in ast.parse(source).body:
            if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
                body = ast.get_source_segment(source, node) or ""
                args = {a.arg for a in [*node.args.args, *node.args.kwonlyargs]}
                writes = bool(WRITES.search(body))
                found[node.name] = (path.stem, "actor" in args, ".require(" in body, writes)
    return found


def test_every_checked_core_function_is_in_the_matrix():
    checked = {name for name, (_, _, requires, _) in _core_functions().items() if requires}
    assert checked - set(ACTIONS) == set(), "add these actions to ACTIONS"


def test_every_core_writer_a_person_could_reach_checks_a_permission():
    unchecked = {name: mod for name, (mod, takes_actor, requires, writes) in _core_functions().items()
                 if writes and takes_actor and not requires and name not in IN_TRANSACTION_HELPERS}
    assert unchecked == {}, "a core function that takes an actor and writes must call actor.require(...)"


def test_no_page_calls_a_core_writer_that_checks_no_permission():
    functions = _core_functions()
    workers_only = {name for name, (_, _, requires, writes) in functions.items() if writes and not requires}
    for path in [ROOT / "app.py", *(ROOT / "pages").glob("*.py"), *(ROOT / "ui").glob("*.py")]:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = {alias.asname or alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                    and (node.module or "").startswith("core") for alias in node.names}
        called = {node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
                  for node in ast.walk(tree) if isinstance(node, ast.Call)}
        reached = (imported | called) & workers_only - {"current_account"}
        reached -= {"authenticate"}  # the login form: it checks the password, that is its check
        assert reached == set(), f"{path.name} reaches unchecked writers {reached}"
