"""Fetch a channel's next page while the current one is being stored.

A poll alternates between waiting for the channel (HTTP, parsing) and writing to the store.
Reading one page ahead in a thread overlaps the two: the channel answers page N+1 while the
store takes page N. Order is unchanged, pages are stored one at a time by the caller, and a
failure to fetch page N+1 surfaces only after page N is stored - exactly as without read-ahead.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterator
from typing import TypeVar

T = TypeVar("T")

_PUT_POLL_S = 0.2  # how often a waiting fetcher checks whether the caller has gone


def read_ahead(pages: Iterator[T], name: str = "read-ahead") -> Generator[T, None, None]:
    """Yield what ``pages`` yields, fetching at most one item ahead in a daemon thread.

    ``pages`` runs entirely in that thread (a generator cannot be resumed from two), and is closed
    there when the caller stops early, so its own clean-up runs where it was started.
    """
    handoff: queue.Queue[tuple[str, object]] = queue.Queue(maxsize=1)
    gone = threading.Event()

    def offer(kind: str, value: object) -> bool:
        """Hand one thing to the caller; False once the caller has gone (nobody will take it)."""
        while not gone.is_set():
            try:
                handoff.put((kind, value), timeout=_PUT_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def fetch() -> None:
        try:
            for item in pages:
                if not offer("item", item):
                    return
            offer("done", None)
        except BaseException as exc:  # handed to the caller, who raises it where it asked for the page
            offer("error", exc)
        finally:
            close = getattr(pages, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=fetch, name=name, daemon=True)
    thread.start()
    try:
        while True:
            kind, value = handoff.get()
            if kind == "item":
                yield value  # type: ignore[misc]
            elif kind == "done":
                return
            else:
                raise value  # type: ignore[misc]
    finally:
        gone.set()
        thread.join(timeout=5)  # an item being fetched may take longer; the thread is a daemon and ends on its own
