"""The UI's display helpers: money, local times, time left, inert text, CSV."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pandas as pd
import pytest

from ui import format as fmt

NOW = datetime(2026, 11, 16, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(("amount", "currency", "shown"), [
    (Decimal("48"), "USD", "48.00 USD"),
    (Decimal("1234.5"), "eur", "1,234.50 EUR"),
    ("1234567.891", "GBP", "1,234,567.89 GBP"),
    (Decimal("0.005"), "USD", "0.01 USD"),  # half up, as on an invoice
    (Decimal("1500"), "JPY", "1,500 JPY"),  # no minor unit
    (Decimal("12.3456"), "KWD", "12.346 KWD"),
    (48.0, "USD", "48.00 USD"),
])
def test_money_has_separators_and_the_currencys_own_decimals(amount, currency, shown):
    assert fmt.money(amount, currency) == shown


def test_money_of_nothing_is_blank_and_nonsense_is_shown_as_given():
    assert fmt.money(None, "USD") == ""
    assert fmt.money("n/a", "USD") == "n/a USD"


def test_local_time_is_in_the_users_zone_and_can_name_it():
    moment = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)
    assert fmt.local_time(moment, "UTC") == "2026-11-16 09:00"
    assert fmt.local_time(moment, "Europe/Berlin") == "2026-11-16 10:00"
    assert fmt.local_time(moment, "America/New_York", with_zone=True) == "2026-11-16 04:00 America/New_York"
    assert fmt.local_time("2026-07-01T12:00:00+00:00", "Europe/Berlin") == "2026-07-01 14:00"  # summer time
    assert fmt.local_time(pd.Timestamp("2026-11-16 09:00", tz="UTC"), "Asia/Tokyo") == "2026-11-16 18:00"


def test_a_naive_stored_time_is_read_as_utc_and_nothing_is_blank():
    assert fmt.local_time("2026-11-16T09:00:00", "Europe/Berlin") == "2026-11-16 10:00"
    assert fmt.local_time(None, "UTC") == ""


def test_an_unknown_zone_falls_back_to_utc():
    assert fmt.zone_label("Mars/Olympus_Mons") == "UTC"
    assert fmt.zone_label("") == "UTC"
    assert fmt.local_time(NOW, "not a zone") == "2026-11-16 12:00"


@pytest.mark.parametrize(("delta", "shown"), [
    (timedelta(hours=5, minutes=10), "5 h 10 min"),
    (timedelta(hours=5), "5 h"),
    (timedelta(minutes=42, seconds=59), "42 min"),
    (timedelta(seconds=30), "less than 1 min"),
    (timedelta(days=2, hours=3, minutes=59), "2 d 3 h"),
    (timedelta(days=1), "1 d"),
    (-timedelta(hours=2), "overdue 2 h"),
    (-timedelta(hours=2, minutes=5), "overdue 2 h 5 min"),
    (-timedelta(days=3, hours=1), "overdue 3 d 1 h"),
    (-timedelta(seconds=10), "overdue less than 1 min"),
])
def test_time_left_reads_like_a_person_would_say_it(delta, shown):
    assert fmt.time_left(NOW + delta, NOW) == shown


def test_time_left_accepts_stored_iso_strings():
    assert fmt.time_left("2026-11-16T14:00:00+00:00", NOW) == "2 h"


def test_channel_text_becomes_inert_markdown():
    hostile = "Eve [click](http://evil.example) ![p](http://x/p.png) <b>bold</b> $x^2$ :red[alarm]\n# Head"
    escaped = fmt.md_escape(hostile)
    assert not re.search(r"(?<!\\)[\[\]()<>$#!]", escaped)  # every markup character is escaped
    assert "\n" not in escaped
    assert re.sub(r"\\(.)", r"\1", escaped) == " ".join(hostile.split())  # and reads the same
    assert fmt.md_escape(None) == ""


def test_md_lines_drops_blanks_and_breaks_lines():
    assert fmt.md_lines(["Ada", None, "", "1 Main St."]) == "Ada  \n1 Main St\\."


def test_an_address_reads_like_a_label():
    address = {"name": "Ada Lovelace", "company": None, "address1": "1 Main St", "address2": "Flat 2",
               "city": "London", "region": None, "postal_code": "N1 9GU", "country_code": "GB", "phone": None}
    assert fmt.address_lines(address) == ["Ada Lovelace", "1 Main St", "Flat 2", "N1 9GU London", "GB"]
    assert fmt.address_lines(None) == []


def _rows() -> pd.DataFrame:
    return pd.DataFrame({
        "id": [7], "number": ["#1007"], "channel": ["shop"], "status": ["New"], "customer": ["Ada"],
        "email": ["ada@example.com"], "country": ["US"], "total": [1234.5], "currency": ["USD"],
        "placed_at": [pd.Timestamp("2026-11-16 09:00", tz="UTC")],
        "ship_by": [pd.Timestamp("2026-11-16 14:00", tz="UTC")],
    })


def test_the_queue_table_names_the_zone_and_formats_each_cell():
    table = fmt.queue_table(_rows(), "Europe/Berlin", NOW)
    assert list(table.columns) == ["id", "Order", "Ship by (Europe/Berlin)", "Time left", "Status", "Channel",
                                   "Customer", "Country", "Total", "Placed (Europe/Berlin)", "Email"]
    row = table.iloc[0]
    assert (row["id"], row["Order"], row["Total"]) == (7, "#1007", "1,234.50 USD")
    assert (row["Placed (Europe/Berlin)"], row["Ship by (Europe/Berlin)"]) == ("2026-11-16 10:00", "2026-11-16 15:00")
    assert row["Time left"] == "2 h"
    assert set(fmt.lookup_columns("Europe/Berlin")) <= set(table.columns)


def test_an_empty_queue_still_has_its_columns():
    empty = fmt.queue_table(_rows().iloc[0:0], "UTC", NOW)
    assert empty.empty and "Placed (UTC)" in empty.columns


def test_overdue_cells_are_marked():
    assert "color" in fmt.overdue_style("overdue 2 h")
    assert fmt.overdue_style("2 h") == ""


def test_csv_defuses_formulas_from_channel_text():
    frame = pd.DataFrame({"Customer": ["=HYPERLINK(\"http://evil\")", "Ada", "+1 415", "@SUM(A1)"], "Qty": [1, -2, 3, 4]})
    text = fmt.csv_bytes(frame).decode()
    assert text.splitlines() == ["Customer,Qty", "\"'=HYPERLINK(\"\"http://evil\"\")\",1", "Ada,-2", "'+1 415,3",
                                 "'@SUM(A1),4"]


def test_table_height_shows_a_dozen_rows_at_most():
    assert fmt.table_height(1) < fmt.table_height(5) < fmt.table_height(12) == fmt.table_height(50)
