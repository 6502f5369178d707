"""Hypothesis strategies for hostile input: the recorded channel and carrier fixtures, mutated.

A mutated record starts from a real payload (tests/fixtures/<kind>/) and has a few of its
keys dropped, its values swapped for wrongly typed, huge, hostile or deeply nested ones, or
its lists truncated - the shapes a misbehaving channel, a proxy or an attacker sends.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

FIXTURES = Path(__file__).parent / "fixtures"
CHANNEL_KINDS = ("shopify", "shopify_graphql", "woocommerce", "amazon")
CARRIER_KINDS = ("easypost", "shippo", "aftership")

# Strings that have broken parsers and stores before: SQL, markup, numbers that are not, control
# characters, NUL (PostgreSQL refuses it in text), a lone surrogate (no UTF-8 encoding), dates at
# the edges of what datetime can hold, and text far longer than any column.
HOSTILE_TEXT = (
    "", " ", "\t\n", "\x00", "a\x00b", "\ud800", "x\udfffy", "\u202e\u200b\ufeff", "😀" * 3, "Ω≈ç√",
    "NaN", "nan", "Infinity", "-Infinity", "1e999999", "-1", "-0", "0", "1.005", "1e-7", "0x1F",
    "<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "'; DROP TABLE orders; --", "%_\\'\"",
    "=cmd|' /C calc'!A0", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "9999-12-31T23:59:59Z",
    "2024-02-30T10:00:00Z", "2024-05-01T10:00:00", "2024-05-01", "gid://shopify/Order/", "gid://shopify/Order/-1",
    "gid://shopify/LineItem/9" + "9" * 200, "a" * 121, "b" * 301, "c" * 2_001, "d " * 5_000, "e" * 100_000,
)
# (json.loads refuses integers over 4300 digits, so no payload carries one.)
HUGE_NUMBERS = (
    2**63, -(2**63) - 1, 10**30, -1, 0, 100_001, 10**4000, float("nan"), float("inf"), float("-inf"),
    1e308, -0.0, 0.1 + 0.2,
)

leaves = st.one_of(
    st.none(), st.booleans(), st.integers(), st.sampled_from(HUGE_NUMBERS), st.floats(allow_nan=True),
    st.text(max_size=30), st.sampled_from(HOSTILE_TEXT),
)
json_values = st.recursive(
    leaves,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


def load_fixtures(kind: str) -> list[Any]:
    """Every recorded payload of a kind; list fixtures (e.g. trackers_list) give each of their records."""
    out: list[Any] = []
    for path in sorted((FIXTURES / kind).glob("*.json")):
        data = json.loads(path.read_text())
        for key in ("trackers", "trackings", "data"):  # list answers: take the records inside
            if isinstance(data, dict) and isinstance(data.get(key), list | dict):
                inner = data[key]
                data = (inner.get("trackings") or inner.get("tracking", inner)) if isinstance(inner, dict) else inner
        out.extend(data if isinstance(data, list) else [data])
    return [r for r in out if isinstance(r, dict)]


def paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path to a node inside a JSON value (dict keys and list indexes)."""
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += paths(child, (*prefix, key))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            found += paths(child, (*prefix, i))
    return found


def _at(value: Any, path: tuple) -> Any:
    for step in path:
        value = value[step]
    return value


def deep(depth: int, leaf: Any = "x") -> Any:
    """A value nested ``depth`` levels deep (lists inside dicts), built without recursion."""
    value = leaf
    for i in range(depth):
        value = {"k": value} if i % 2 else [value]
    return value


@st.composite
def mutated(draw: st.DrawFn, kind: str) -> Any:
    """A recorded payload of ``kind`` with one to four hostile mutations, or (rarely) not an object at all."""
    records = load_fixtures(kind)
    if draw(st.integers(0, 19)) == 0:  # the whole record is not an object: a truncated body, a list, a number
        return draw(st.one_of(json_values, st.just(json.dumps(records[0])[:37])))
    record = copy.deepcopy(draw(st.sampled_from(records)))
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(paths(record)))
        if not path:
            continue
        parent, last = _at(record, path[:-1]), path[-1]
        op = draw(st.sampled_from(("drop", "swap", "swap", "hostile", "huge", "nest", "truncate", "empty")))
        if op == "drop":
            del parent[last]  # a dict key, or a list item (truncates the list)
        elif op == "swap":
            parent[last] = draw(json_values)
        elif op == "hostile":
            parent[last] = draw(st.sampled_from(HOSTILE_TEXT))
        elif op == "huge":
            parent[last] = draw(st.sampled_from(HUGE_NUMBERS))
        elif op == "nest":
            parent[last] = deep(draw(st.integers(2, 60)), parent[last])
        elif op == "truncate" and isinstance(parent[last], list | dict):
            keep = draw(st.integers(0, max(0, len(parent[last]) - 1)))
            items = list(parent[last].items() if isinstance(parent[last], dict) else parent[last])[:keep]
            parent[last] = dict(items) if isinstance(parent[last], dict) else items
        elif op == "empty":
            parent[last] = type(parent[last])() if isinstance(parent[last], list | dict | str) else None
    return record


def leaf_swaps(record: dict[str, Any], values: tuple[Any, ...]) -> list[tuple[tuple, Any, dict[str, Any]]]:
    """``record`` with one leaf (a scalar anywhere inside) replaced by each of ``values``: (path, value, copy)."""
    out = []
    for path in paths(record):
        if not path or isinstance(_at(record, path), dict | list):
            continue
        for value in values:
            changed = copy.deepcopy(record)
            _at(changed, path[:-1])[path[-1]] = value
            out.append((path, value, changed))
    return out


SWEEP_VALUES = (None, True, -1, 2**63, float("nan"), {"x": 1}, [1], *HOSTILE_TEXT[:-1], "e" * 5_000)
