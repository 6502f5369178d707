"""Reading a channel's next page ahead: same pages in the same order, overlap with the caller, failures in place."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from jobs.read_ahead import read_ahead


def test_every_page_arrives_once_in_order() -> None:
    assert list(read_ahead(iter(range(50)))) == list(range(50))
    assert list(read_ahead(iter([]))) == []


def test_the_next_page_is_fetched_while_the_caller_stores_this_one() -> None:
    fetching_second = threading.Event()

    def pages() -> Iterator[int]:
        yield 1
        fetching_second.set()
        yield 2

    got = read_ahead(pages())
    assert next(got) == 1
    # The caller still "stores" page 1: the second fetch has begun all the same.
    assert fetching_second.wait(timeout=5)
    assert list(got) == [2]


def test_a_failed_fetch_is_raised_only_after_the_pages_before_it() -> None:
    def pages() -> Iterator[int]:
        yield 1
        yield 2
        raise ConnectionError("the channel hung up")

    got = read_ahead(pages())
    assert [next(got), next(got)] == [1, 2]
    with pytest.raises(ConnectionError, match="hung up"):
        next(got)


def test_a_caller_that_stops_early_closes_the_pages_in_their_own_thread_and_does_not_wait() -> None:
    closed_in: list[str] = []

    def pages() -> Iterator[int]:
        try:
            yield from range(1_000)
        finally:
            closed_in.append(threading.current_thread().name)

    got = read_ahead(pages(), name="fetch-test")
    assert next(got) == 0
    began = time.monotonic()
    got.close()  # as poll_channel does when told to stop after a page
    assert time.monotonic() - began < 2
    deadline = time.monotonic() + 5
    while not closed_in and time.monotonic() < deadline:
        time.sleep(0.01)
    assert closed_in == ["fetch-test"]
