"""What every connector object shares: it owns one injected ``httpx.Client`` and closes it.

Channel connectors (orders) and carrier connectors (tracking) both take the client in their
constructor, so tests can inject ``httpx.MockTransport`` or point it at the sandbox.
"""

from __future__ import annotations

from typing import Self

import httpx


class ClientOwner:
    """Owns the injected ``httpx.Client``: ``close()`` closes it, and so does leaving a ``with`` block."""

    _client: httpx.Client

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def checked_page_size(page_size: int, maximum: int) -> int:
    """``page_size`` when the API allows it (1 to ``maximum``); anything else is a ValueError."""
    if not 1 <= page_size <= maximum:
        raise ValueError(f"page_size must be between 1 and {maximum}")
    return page_size
