"""Small helpers every channel parser shares: readable field errors, timestamps, text and money.

A parser raises ``Invalid("path: reason")`` for the first problem it finds (named with the
channel's own field path) and turns it into a ``Rejection``; these helpers keep that
phrasing the same across channels.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from connectors.schemas import ChannelOrder, Rejection

M = TypeVar("M", bound=BaseModel)


class Invalid(ValueError):
    """One readable problem in a raw record, already phrased as 'path: reason'."""


def guarded(build: Callable[[dict[str, Any]], ChannelOrder], raw: Any, external_id: str | None) -> ChannelOrder | Rejection:
    """Run a channel's ``build(raw)``; any problem becomes a one-line Rejection carrying the raw record."""
    try:
        if not isinstance(raw, dict):
            raise Invalid(f"order: expected a JSON object, got {type(raw).__name__}")
        return build(raw)
    except Invalid as exc:
        return Rejection(raw=raw, error=str(exc), external_id=external_id)
    except (ValidationError, TypeError, ValueError, AttributeError, KeyError, ArithmeticError) as exc:
        # Belt and braces: anything the explicit checks missed still becomes a dead letter.
        why = (str(exc).strip().splitlines() or [""])[0]
        return Rejection(raw=raw, error=f"order: unreadable ({type(exc).__name__}: {why})", external_id=external_id)


def build(model: type[M], fields: dict[str, Any], where: str, names: Mapping[str, str]) -> M:
    """Validate ``fields`` into ``model``; re-raise the first problem under the channel's own field path."""
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        first = errors[0]
        loc = [names.get(str(p), str(p)) if k == 0 else str(p) for k, p in enumerate(first["loc"])]
        path = ".".join(([where] if where else []) + loc) or where or "order"
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise Invalid(f"{path}: {first['msg']}{more}") from None


def when(value: Any, path: str, *, required: bool = True, naive_is_utc: bool = False) -> datetime | None:
    """An ISO 8601 timestamp as an aware UTC datetime.

    ``naive_is_utc`` is for feeds that document their zone-less times as UTC (WooCommerce's
    ``*_gmt`` fields); elsewhere a time without an offset is refused, never guessed.
    """
    if value is None or value == "":
        if required:
            raise Invalid(f"{path}: missing")
        return None
    if not isinstance(value, str):
        raise Invalid(f"{path}: expected an ISO 8601 string")
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise Invalid(f"{path}: not an ISO 8601 date and time ({value[:40]!r})") from None
    if parsed.tzinfo is None:
        if not naive_is_utc:
            raise Invalid(f"{path}: has no time zone")
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00+01:00: before the first instant UTC can hold
        raise Invalid(f"{path}: out of range ({value[:40]!r})") from None


def money(value: Any, path: str) -> Decimal:
    """A money amount sent as a string (or a JSON number) as an exact Decimal; floats go through their text."""
    if isinstance(value, bool) or value is None:
        raise Invalid(f"{path}: missing" if value is None else f"{path}: expected an amount")
    try:
        amount = Decimal(str(value).strip()) if isinstance(value, str | int | float) else None
    except InvalidOperation:
        amount = None
    if amount is None or not amount.is_finite():
        raise Invalid(f"{path}: not an amount ({str(value)[:40]!r})")
    return amount


def cents(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def text(value: Any) -> str | None:
    """A stripped string, or None for null/blank; numbers (zip codes, phones) become strings."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        value = str(value)
    if not isinstance(value, str):
        return None
    return value.strip() or None


def first_text(*values: Any) -> str | None:
    return next((t for t in map(text, values) if t), None)


def joined(*parts: Any) -> str:
    return " ".join(p for p in map(text, parts) if p)


def clip(value: str | None, limit: int) -> str | None:
    # Display-only text: an over-long note must not dead-letter an otherwise good order.
    if value is None or len(value) <= limit:
        return value
    return value[: limit - 1] + "\u2026"


def obj(raw: Mapping[str, Any], key: str, where: str = "") -> dict[str, Any] | None:
    """A nested JSON object, None when absent or null; anything else is an error."""
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise Invalid(f"{where + '.' if where else ''}{key}: expected an object")
    return value


def items(raw: Mapping[str, Any], key: str, where: str = "") -> list[Any]:
    """A JSON list, empty when absent or null; anything else is an error."""
    value = raw.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise Invalid(f"{where + '.' if where else ''}{key}: expected a list")
    return value


def readable_id(raw: Any, key: str) -> str | None:
    """The record's id as text when it is readable, so even a rejection names its order."""
    value = raw.get(key) if isinstance(raw, dict) else None
    if isinstance(value, int | str) and not isinstance(value, bool):
        return str(value) or None
    return None


def utc_iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def parse_cursor(cursor: str | None) -> datetime | None:
    """A stored cursor (an ISO timestamp with its zone) as aware UTC; None when there is none yet."""
    if not cursor:
        return None
    parsed = datetime.fromisoformat(cursor)
    if parsed.tzinfo is None:
        raise ValueError(f"cursor {cursor!r} has no time zone")
    return parsed.astimezone(UTC)
