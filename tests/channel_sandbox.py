"""Helpers for the channel connectors' sandbox tests: a movable clock and a sandbox per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from connectors.schemas import Page
from sandbox.server import SandboxServer, make_server

TOKEN = "test-token"
START = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


class Clock:
    """The sandbox's simulated time, moved only by the test."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def advance(self, **delta: float) -> None:
        self.at += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
def sandbox(clock: Clock) -> Iterator[Callable[..., SandboxServer]]:
    """Start sandboxes on free 127.0.0.1 ports with the test clock; all stopped afterwards."""
    started: list[SandboxServer] = []

    def start(**options: Any) -> SandboxServer:
        options = {"seed": 7, "token": TOKEN, "now": clock, "orders_per_minute": 6.0, **options}
        server = make_server(**options).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def external_ids(pages: list[Page]) -> list[str]:
    return [o.external_id for p in pages for o in p.records]


def assert_cursors_only_move_forward(pages: list[Page]) -> None:
    cursors = [utc(p.cursor) for p in pages if p.cursor]
    assert cursors == sorted(cursors)
