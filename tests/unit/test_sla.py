from datetime import UTC, date, datetime, time

import pytest

from core.sla import SlaPolicy, ship_by

NY = SlaPolicy(handling_days=1, cutoff=time(14, 0), timezone="America/New_York")


def ny(y, m, d, hh, mm=0):
    from zoneinfo import ZoneInfo

    return datetime(y, m, d, hh, mm, tzinfo=ZoneInfo("America/New_York"))


def test_an_order_before_the_cutoff_ships_by_the_next_business_days_cutoff():
    assert ship_by(ny(2026, 11, 17, 9), NY) == ny(2026, 11, 18, 14)  # Tue -> Wed 14:00


def test_an_order_after_the_cutoff_starts_the_next_business_day():
    assert ship_by(ny(2026, 11, 17, 15), NY) == ny(2026, 11, 19, 14)  # Tue 15:00 -> Thu


def test_friday_afternoon_orders_skip_the_weekend():
    assert ship_by(ny(2026, 11, 20, 16), NY) == ny(2026, 11, 24, 14)  # Fri late -> Mon start -> Tue


def test_weekend_orders_start_on_monday():
    assert ship_by(ny(2026, 11, 21, 10), NY) == ny(2026, 11, 24, 14)  # Sat -> Mon start -> Tue


def test_holidays_are_not_business_days():
    policy = SlaPolicy(handling_days=1, timezone="America/New_York", holidays=frozenset({date(2026, 11, 26)}))
    assert ship_by(ny(2026, 11, 25, 9), policy) == ny(2026, 11, 27, 14)  # Thanksgiving skipped


def test_zero_handling_days_means_ship_today_when_before_the_cutoff():
    policy = SlaPolicy(handling_days=0, timezone="America/New_York")
    assert ship_by(ny(2026, 11, 17, 9), policy) == ny(2026, 11, 17, 14)


def test_the_deadline_keeps_its_wall_clock_across_the_daylight_saving_change():
    # US clocks go back on Sunday 1 Nov 2026: 14:00 New York is 18:00 UTC before, 19:00 UTC after.
    before = ship_by(ny(2026, 10, 29, 9), NY)
    after = ship_by(ny(2026, 10, 30, 9), NY)  # Fri -> Mon 2 Nov, after the change
    assert before.astimezone(UTC).hour == 18 and after.astimezone(UTC).hour == 19
    assert after == ny(2026, 11, 2, 14)


def test_the_cutoff_is_read_in_the_policy_time_zone_not_utc():
    # 17:30 UTC is 12:30 in New York (before the cut-off) on 17 Nov.
    assert ship_by(datetime(2026, 11, 17, 17, 30, tzinfo=UTC), NY) == ny(2026, 11, 18, 14)


def test_a_naive_time_is_refused():
    with pytest.raises(ValueError):
        ship_by(datetime(2026, 11, 17, 9), NY)


def test_a_policy_reads_from_its_stored_form_with_defaults():
    policy = SlaPolicy.from_dict({"handling_days": 2, "cutoff": "12:30", "holidays": ["2026-12-25"]})
    assert policy.handling_days == 2 and policy.cutoff == time(12, 30)
    assert policy.timezone == "UTC" and date(2026, 12, 25) in policy.holidays
