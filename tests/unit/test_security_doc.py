"""SECURITY.md's permission table is generated from core.enums.ROLE_PERMISSIONS and must match it."""

from __future__ import annotations

from pathlib import Path

from core.enums import ROLE_PERMISSIONS, Permission, Role

SECURITY = Path(__file__).resolve().parents[2] / "SECURITY.md"


def permission_table() -> str:
    """The table as SECURITY.md carries it (paste the output between the permissions markers)."""
    roles = list(Role)
    rows = ["| permission | " + " | ".join(r.value for r in roles) + " |", "|---|" + "---|" * len(roles)]
    for p in Permission:
        rows.append(f"| {p.value} | " + " | ".join("yes" if p in ROLE_PERMISSIONS[r] else "-" for r in roles) + " |")
    return "\n".join(rows)


def test_the_documented_permission_table_is_the_one_map():
    text = SECURITY.read_text(encoding="utf-8")
    documented = text.split("<!-- permissions:begin -->\n")[1].split("\n<!-- permissions:end -->")[0]
    assert documented == permission_table(), "regenerate SECURITY.md's table from ROLE_PERMISSIONS"
