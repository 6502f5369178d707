"""The connector circuit breaker's arithmetic: when it opens, how long it rests, what resets it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from core.breaker import FIRST_WAIT, LONGEST_WAIT, OPENS_AFTER, breaker_state, wait_after
from core.enums import RunStatus

T = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
F, OK, RUN = RunStatus.FAILED, RunStatus.OK, RunStatus.RUNNING


def test_the_wait_doubles_from_the_third_failure_and_stops_growing():
    assert [wait_after(n) for n in range(OPENS_AFTER)] == [timedelta(0)] * OPENS_AFTER
    assert wait_after(3) == FIRST_WAIT == timedelta(seconds=30)
    assert wait_after(4) == timedelta(seconds=60) and wait_after(5) == timedelta(seconds=120)
    assert wait_after(30) == LONGEST_WAIT


def test_two_failures_keep_it_closed_three_open_it_from_the_last_failure():
    assert breaker_state([(F, T), (F, T - timedelta(minutes=1)), (OK, T - timedelta(minutes=2))]).open_until is None
    three = breaker_state([(F, T), (F, T - timedelta(minutes=1)), (F, T - timedelta(minutes=2)), (OK, None)])
    assert (three.failures, three.open_until) == (3, T + FIRST_WAIT)
    assert three.is_open(T + FIRST_WAIT - timedelta(seconds=1)) and not three.is_open(T + FIRST_WAIT)


def test_a_success_ends_the_streak_and_a_running_poll_counts_as_neither():
    assert breaker_state([(OK, T), (F, T), (F, T), (F, T)]).failures == 0
    assert breaker_state([(RUN, None), (F, T), (F, T), (F, T)]).failures == 3
    assert breaker_state([(RunStatus.PARTIAL, T), (F, T), (F, T), (F, T)]).failures == 0  # partial: it worked


def test_polls_aborted_by_our_own_trouble_neither_open_nor_close_it():
    """The database away for a minute fails every poll, but the channel is fine: no rest for it afterwards."""
    aborted = [(RunStatus.ABORTED, T - timedelta(seconds=s)) for s in range(10)]
    assert breaker_state(aborted).open_until is None
    assert breaker_state([*aborted, (F, T), (F, T), (F, T)]).failures == 3  # nor do they hide a real streak
