"""Normalized search keys. Pure: the same function fills the columns and reads the search box."""

from __future__ import annotations


def clean_term(term: str) -> str:
    """What a search box was given, without surrounding blanks, NUL (PostgreSQL refuses it) or lone surrogates
    (no UTF-8 form): neither is ever meant, and either would fail the query instead of finding nothing."""
    return term.encode("utf-8", "ignore").decode().replace("\x00", "").strip()


def norm_text(value: str | None) -> str | None:
    """Lower case, single spaces, no surrounding blanks; None when nothing is left."""
    if not value:
        return None
    # split() breaks on str.isspace, which is also what a regex \s matches: every run of blanks becomes one space.
    return " ".join(value.split()).lower() or None


def norm_number(value: str) -> str:
    """Order numbers match with or without their '#'."""
    return value.strip().lstrip("#").strip().lower()


def last_name(full_name: str | None) -> str | None:
    return last_of(norm_text(full_name))


def last_of(name_key: str | None) -> str | None:
    """``last_name`` of a name already normalized by ``norm_text`` (ingest has that key at hand)."""
    return name_key.rsplit(" ", 1)[-1] if name_key and " " in name_key else None


def phone_key(value: str | None) -> str | None:
    """Digits reversed, so '555 1234' finds '+1 (415) 555-1234' with a prefix search."""
    if not value:
        return None
    if value.isascii():  # the usual phone number: one C-level pass
        digits = value.translate(_NOT_ASCII_DIGITS)
    else:
        digits = "".join(ch for ch in value if ch.isdigit())
    return digits[::-1] or None


# Deletes every ASCII character but 0-9 (the only ASCII characters str.isdigit accepts).
_NOT_ASCII_DIGITS = {code: None for code in range(128) if not chr(code).isdigit()}


def internal_id(text: str) -> int | None:
    """``text`` as an internal id when it can be one (ASCII digits, within a 64-bit integer)."""
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 18 else None


def prefix_upper_bound(prefix: str) -> str:
    """The smallest string greater than every string starting with ``prefix`` (for index ranges)."""
    return prefix + "\U0010ffff"
