"""What every carrier tracking connector shares: the parcel reference, the status lookup, timestamps.

A carrier module (``easypost``, ``shippo``, ``aftership``) provides:

- ``STATUS`` - its ONE table from the carrier's status words onto ``TrackingStatus``, keyed by
  ``(status, detail)`` with ``(status, None)`` as the fallback for any other detail;
- ``parse_tracking(raw) -> TrackingUpdate | Rejection`` - also used to replay dead letters;
- ``connect_carrier(base_url, secret, settings)`` - an object with
  ``track(parcels) -> list[TrackingUpdate | Rejection]`` and ``close()``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

import httpx
from pydantic import ValidationError

from connectors.client_base import ClientOwner
from connectors.http import make_client
from connectors.schemas import Rejection, TrackingUpdate
from core.enums import TrackingStatus

StatusTable = Mapping[tuple[str, str | None], TrackingStatus]
T = TypeVar("T")


@dataclass(frozen=True)
class ParcelRef:
    """A parcel to ask about: its tracking number and the carrier name on the shipment (e.g. "UPS")."""

    tracking_number: str
    carrier: str


class TrackingSource(Protocol):
    def track(self, parcels: Sequence[ParcelRef]) -> list[TrackingUpdate | Rejection]: ...

    def close(self) -> None: ...


class Invalid(ValueError):
    """One readable problem in a raw tracking payload, phrased as 'path: reason'."""


def lookup(table: StatusTable, status: str, detail: str | None) -> TrackingStatus:
    """The OpsDesk status of a carrier's (status, detail): the exact pair, else the status alone, else UNKNOWN."""
    return table.get((status, detail)) or table.get((status, None)) or TrackingStatus.UNKNOWN


def guarded(parse: Callable[[dict[str, Any]], TrackingUpdate], raw: Any, id_key: str) -> TrackingUpdate | Rejection:
    """Run a carrier's parser; anything unreadable becomes a Rejection carrying the raw payload."""
    number = str(raw.get(id_key)) if isinstance(raw, dict) and raw.get(id_key) is not None else None
    try:
        if not isinstance(raw, dict):
            raise Invalid(f"tracking: expected a JSON object, got {type(raw).__name__}")
        return parse(raw)
    except Invalid as exc:
        return Rejection(raw=raw, error=str(exc), external_id=number)
    except (ValidationError, TypeError, ValueError, AttributeError, KeyError, ArithmeticError) as exc:
        why = (str(exc).strip().splitlines() or [""])[0]
        return Rejection(raw=raw, error=f"tracking: unreadable ({type(exc).__name__}: {why})", external_id=number)


def word(raw: Mapping[str, Any], key: str, where: str, *, required: bool = True) -> str | None:
    value = raw.get(key)
    if value is None or value == "":
        if required:
            raise Invalid(f"{where}{key}: missing")
        return None
    if not isinstance(value, str):
        raise Invalid(f"{where}{key}: expected a string, got {type(value).__name__}")
    return value.strip()


def when(value: Any, where: str, *, naive_is_utc: bool = False) -> datetime:
    """An ISO 8601 timestamp ('Z' allowed). Naive ones are refused unless the carrier documents them as UTC."""
    if not isinstance(value, str) or not value.strip():
        raise Invalid(f"{where}: missing timestamp")
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise Invalid(f"{where}: not a timestamp ({value[:40]!r})") from None
    if parsed.tzinfo is None:
        if not naive_is_utc:
            raise Invalid(f"{where}: timestamp without a time zone ({value[:40]!r})")
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)  # the store keys scans on UTC: a time it cannot hold is refused here
    except OverflowError:
        raise Invalid(f"{where}: out of range ({value[:40]!r})") from None


def maybe_when(value: Any) -> datetime | None:
    """A loosely given date (an estimate): ISO timestamp, or a bare date as midnight UTC; else None."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    try:
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)
    except OverflowError:
        return None


def place(*parts: Any) -> str | None:
    """'City, ST, US' from whatever parts the carrier gave."""
    text = ", ".join(str(p).strip() for p in parts if p is not None and str(p).strip())
    return text[:200] or None


def listed(raw: Mapping[str, Any], key: str, where: str) -> list[Any]:
    value = raw.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise Invalid(f"{where}{key}: expected a list")
    return value


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def fan_out(fn: Callable[[T], list[Any]], items: Sequence[T], workers: int) -> list[Any]:
    """Call ``fn`` on each item with up to ``workers`` requests in flight; results in item order."""
    if workers <= 1 or len(items) <= 1:
        return [r for item in items for r in fn(item)]
    with ThreadPoolExecutor(max_workers=min(workers, len(items)), thread_name_prefix="carrier") as pool:
        return [r for part in pool.map(fn, items) for r in part]


def index_by(found: dict[str, Any], trackings: Sequence[Any], key: str) -> None:
    """Add raw trackings to ``found`` under their number (the first one wins).

    One without a readable number still gets a slot of its own, so it is parsed into a Rejection.
    """
    for item in trackings:
        number = item.get(key) if isinstance(item, dict) else None
        found.setdefault(str(number) if number is not None else f"?{len(found)}", item)


def with_missing(found: dict[str, Any], parcels: Sequence[ParcelRef], create: Callable[[ParcelRef], Any]) -> list[Any]:
    """The raw trackings found, plus one ``create(parcel)`` answer for each parcel the carrier did not list."""
    for parcel in parcels:
        if parcel.tracking_number not in found:
            found[parcel.tracking_number] = create(parcel)
    return list(found.values())


def carrier_client(base_url: str, settings: Mapping[str, Any], headers: Mapping[str, str] | None = None) -> httpx.Client:
    """The httpx client of a carrier account: its base URL, auth headers and ``timeout_s`` setting (default 10 s)."""
    return make_client(base_url, headers, timeout=float(settings.get("timeout_s", 10.0)))


def concurrency(settings: Mapping[str, Any]) -> int:
    """How many requests a carrier account may have in flight (``concurrency`` setting, default 4)."""
    return int(settings.get("concurrency", 4))


class CarrierClient(ClientOwner):
    """A carrier connector: the injected client and how many requests it runs at once."""

    def __init__(self, client: httpx.Client, *, concurrency: int = 4) -> None:
        self._client = client
        self._concurrency = concurrency
