"""The reliability suite's figures: each scenario records one row; the run ends with the table.

``./dev reliability [--minutes N]`` runs only this suite, longer, and prints the same table.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

COLUMNS = (("scenario", "scenario"), ("orders", "orders"), ("scans", "scans"), ("faults", "faults injected"),
           ("survived", "survived"), ("killed", "processes killed"), ("writers", "concurrent writers"),
           ("bad_inputs", "bad inputs"), ("lost", "lost"), ("duplicated", "duplicated"))
_ROWS: list[dict[str, Any]] = []


@pytest.fixture
def figures():  # type: ignore[no-untyped-def]
    """``figures(scenario=..., orders=..., ...)`` records the scenario's row of the table."""
    def record(**row: Any) -> None:
        _ROWS.append({key: row.get(key, 0) for key, _ in COLUMNS})
    return record


def table(rows: list[dict[str, Any]]) -> str:
    heads = [title for _, title in COLUMNS]
    cells = [[f"{r[k]:,}" if isinstance(r[k], int) else str(r[k]) for k, _ in COLUMNS] for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(heads)]
    line = lambda values: "| " + " | ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)) + " |"  # noqa: E731
    return "\n".join([line(heads), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, cells)])


def pytest_terminal_summary(terminalreporter, exitstatus, config):  # type: ignore[no-untyped-def]
    if not _ROWS:
        return
    terminalreporter.write_sep("=", "OpsDesk reliability figures (lost and duplicated must be 0)")
    terminalreporter.write_line(table(_ROWS))
    out = os.environ.get("OPSDESK_RELIABILITY_REPORT")
    if out:
        Path(out).write_text(json.dumps(_ROWS, indent=2))
