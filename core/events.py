"""The append-only event history: every change, who made it, before and after."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session

from core.models import Event, utcnow

if TYPE_CHECKING:
    from core.auth import Actor


def plain_value(value: Any) -> Any:
    """A value as an event's JSON detail keeps it (enums by value, times and decimals as text)."""
    if value is None or isinstance(value, (str, int, float, bool, dict, list)):
        return value
    return str(value.value if hasattr(value, "value") else value)


class AppendOnly(RuntimeError):
    """An attempt to change or remove a recorded event: the history is only ever added to."""


@sa_event.listens_for(Event, "before_update")
@sa_event.listens_for(Event, "before_delete")
def _refuse_rewriting_history(mapper: Any, connection: Any, target: Event) -> None:
    raise AppendOnly(f"Event {target.id} is part of the audit trail: events are never changed or deleted.")


def record_event(
    session: Session,
    order_id: int | None,
    kind: str,
    actor: Actor,
    *,
    subject: str = "order",
    detail: dict[str, Any] | None = None,
) -> Event:
    """Append one event in the caller's transaction (so it commits or rolls back with the change)."""
    event = Event(
        order_id=order_id, subject=subject, kind=kind, actor_kind=actor.kind, actor_name=actor.name,
        at=utcnow(), detail=detail or {},
    )
    session.add(event)
    return event
