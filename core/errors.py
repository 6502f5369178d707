"""Domain errors. Each carries one sentence a person can act on."""

from __future__ import annotations


class DomainError(Exception):
    """Base for errors shown to users as they are."""


class NotAllowed(DomainError):
    """The actor's role does not permit this action."""


class StaleEdit(DomainError):
    """Someone else changed the record since it was loaded."""

    def __init__(self, what: str = "This record") -> None:
        super().__init__(f"{what} was changed by someone else - reload and try again.")


class NotFound(DomainError):
    """The thing asked for does not exist."""


class InvalidTransition(DomainError):
    """An order may not move from its status to the one asked for."""


class InvalidInput(DomainError):
    """Input that cannot be accepted, with the reason."""
