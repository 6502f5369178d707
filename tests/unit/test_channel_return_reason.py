"""A channel refund's free-text note names the return reason only when it says so plainly."""

from __future__ import annotations

import pytest

from core.enums import ReturnReason
from core.return_rules import reason_from_note


@pytest.mark.parametrize(("note", "reason"), [
    ("Customer says the size is too small", ReturnReason.SIZE_OR_FIT),
    ("Arrived damaged", ReturnReason.DAMAGED),
    ("Stopped working after a week", ReturnReason.DEFECTIVE),
    ("Wrong colour sent", ReturnReason.WRONG_ITEM),
    ("Not as described on the site", ReturnReason.NOT_AS_DESCRIBED),
    ("Changed mind", ReturnReason.CHANGED_MIND),
    ("Parcel arrived late", ReturnReason.ARRIVED_LATE),
])
def test_a_plain_note_names_its_reason(note: str, reason: ReturnReason) -> None:
    assert reason_from_note(note) is reason


@pytest.mark.parametrize("note", [None, "", "Goodwill", "chocolate plate", "benefit of the doubt"])
def test_anything_else_is_other(note: str | None) -> None:
    assert reason_from_note(note) is ReturnReason.OTHER
