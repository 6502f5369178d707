import pytest

from core.enums import OPEN_STATUSES
from core.enums import OrderStatus as S
from core.status import CHANNEL_TRANSITIONS, TRANSITIONS, can_move


@pytest.mark.parametrize(("current", "target"), [
    (S.NEW, S.ON_HOLD), (S.NEW, S.READY), (S.READY, S.ALLOCATED), (S.READY, S.BACKORDERED),
    (S.READY, S.ON_HOLD), (S.ALLOCATED, S.PARTIALLY_SHIPPED), (S.ALLOCATED, S.SHIPPED),
    (S.ALLOCATED, S.ON_HOLD), (S.SHIPPED, S.DELIVERED), (S.ON_HOLD, S.READY),
])
def test_the_designed_moves_are_allowed(current, target):
    assert can_move(current, target)


@pytest.mark.parametrize("current", OPEN_STATUSES)
def test_any_open_order_may_be_cancelled(current):
    assert can_move(current, S.CANCELLED)


@pytest.mark.parametrize(("current", "target"), [
    (S.NEW, S.SHIPPED), (S.NEW, S.ALLOCATED), (S.SHIPPED, S.CANCELLED), (S.DELIVERED, S.SHIPPED),
    (S.CANCELLED, S.READY), (S.DELIVERED, S.CANCELLED), (S.SHIPPED, S.ON_HOLD),
])
def test_moves_outside_the_table_are_refused(current, target):
    assert not can_move(current, target)


def test_closed_orders_go_nowhere_but_delivery():
    assert TRANSITIONS[S.CANCELLED] == frozenset()
    assert TRANSITIONS[S.DELIVERED] == frozenset()
    assert TRANSITIONS[S.SHIPPED] == frozenset({S.DELIVERED})


def test_a_channel_may_report_a_new_order_shipped_but_a_person_may_not():
    assert can_move(S.NEW, S.SHIPPED, by_channel=True)
    assert not can_move(S.NEW, S.SHIPPED)
    assert not can_move(S.CANCELLED, S.SHIPPED, by_channel=True)
    assert CHANNEL_TRANSITIONS[S.SHIPPED] == TRANSITIONS[S.SHIPPED]


def test_open_means_the_desk_still_has_work():
    assert {s for s in S if s.is_open} == set(OPEN_STATUSES)
    assert not S.SHIPPED.is_open and not S.CANCELLED.is_open and S.BACKORDERED.is_open
