"""Every channel and carrier normalizer, fed mutated recorded payloads: a record or a Rejection, never a crash."""

from __future__ import annotations

import json
from datetime import UTC

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.carriers import CARRIERS
from connectors.parsers import PARSERS
from connectors.schemas import ChannelOrder, Rejection, TrackingUpdate
from core.enums import CarrierKind, ChannelKind
from tests.hostile import SWEEP_VALUES, deep, leaf_swaps, load_fixtures, mutated


def _storable(text: str | None) -> bool:
    """What both stores accept in a text column: encodable as UTF-8 and no NUL (PostgreSQL refuses it)."""
    if text is None:
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


def _texts(record: ChannelOrder | TrackingUpdate) -> list[str]:
    """Every string a normalized record carries (what ingest writes to columns)."""
    out: list[str] = []

    def walk(value: object) -> None:
        if isinstance(value, str):
            out.append(value)
        elif isinstance(value, dict):
            for k, v in value.items():
                walk(k)
                walk(v)
        elif isinstance(value, list | tuple):
            for v in value:
                walk(v)

    walk(record.model_dump())
    return out


@pytest.mark.parametrize("kind", list(PARSERS), ids=lambda k: k.value)
@given(data=st.data())
def test_a_channel_normalizer_turns_any_mangled_order_into_an_order_or_a_rejection(kind: ChannelKind, data):
    raw = data.draw(mutated(kind.value), label="raw")
    snapshot = json.dumps(raw, default=repr)
    result = PARSERS[kind](raw)
    assert isinstance(result, ChannelOrder | Rejection)
    assert json.dumps(raw, default=repr) == snapshot  # the parser never edits the payload it keeps
    if isinstance(result, Rejection):
        assert result.raw is raw and result.error  # the whole payload goes to the dead letters, with a reason
        assert _storable(result.error) and _storable(result.external_id)
    else:
        assert result.lines and all(0 < line.quantity <= 100_000 and line.unit_price >= 0 for line in result.lines)
        assert result.total >= 0 and len(result.currency) == 3
        assert result.placed_at.tzinfo is not None and result.updated_at.tzinfo is not None
        assert all(_storable(t) for t in _texts(result))


@pytest.mark.parametrize("kind", list(CARRIERS), ids=lambda k: k.value)
@given(data=st.data())
def test_a_carrier_normalizer_turns_any_mangled_tracking_into_an_update_or_a_rejection(kind: CarrierKind, data):
    raw = data.draw(mutated(kind.value), label="raw")
    result = CARRIERS[kind].parse_tracking(raw)
    assert isinstance(result, TrackingUpdate | Rejection)
    if isinstance(result, Rejection):
        assert result.raw is raw and result.error
        assert _storable(result.error) and _storable(result.external_id)
    else:
        assert result.tracking_number and all(s.occurred_at.tzinfo is not None for s in result.scans)
        # Scan times are what the store keys on: they must survive conversion to UTC.
        assert all(s.occurred_at.utcoffset() is not None and s.occurred_at.astimezone() for s in result.scans)
        assert all(_storable(t) for t in _texts(result))


# Deep nesting from a hostile body: json.loads accepts some hundreds of levels, so parsers must too.
@pytest.mark.parametrize("kind", [*PARSERS, *CARRIERS], ids=lambda k: k.value)
def test_a_deeply_nested_value_in_any_field_is_a_rejection_not_a_crash(kind):
    parse = PARSERS[kind] if kind in PARSERS else CARRIERS[kind].parse_tracking
    record = load_fixtures(kind.value)[0]
    for key in list(record):
        raw = {**record, key: deep(900)}
        assert isinstance(parse(raw), ChannelOrder | TrackingUpdate | Rejection), key


# Hypothesis samples; this sweeps: every scalar of every recorded payload swapped, one at a time,
# for each hostile value (timestamps at the edge of datetime, NUL, surrogates, NaN, huge text...).
@pytest.mark.parametrize("kind", [*PARSERS, *CARRIERS], ids=lambda k: k.value)
def test_any_single_field_set_to_any_hostile_value_gives_a_record_or_a_rejection(kind):
    parse = PARSERS[kind] if kind in PARSERS else CARRIERS[kind].parse_tracking
    for record in load_fixtures(kind.value):
        for path, value, raw in leaf_swaps(record, SWEEP_VALUES):
            try:
                result = parse(raw)
            except Exception as exc:  # noqa: BLE001 - the point is that nothing escapes
                pytest.fail(f"{kind.value} {path}={value!r:.60}: raised {type(exc).__name__}: {exc}")
            if isinstance(result, Rejection):
                assert result.raw is raw and result.error
                continue
            assert all(_storable(t) for t in _texts(result)), (path, value)
            times = [s.occurred_at for s in getattr(result, "scans", ())]
            times += [result.placed_at, result.updated_at] if isinstance(result, ChannelOrder) else []
            for at in times:  # what the store does with every time: convert it to UTC
                try:
                    at.astimezone(UTC)
                except OverflowError:
                    pytest.fail(f"{kind.value} {path}={value!r:.60}: kept a time UTC cannot hold: {at}")
