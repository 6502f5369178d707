"""Build the connector for a channel from its stored settings and the secret in the environment."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

from connectors.schemas import Page
from connectors.shopify import ShopifyRest
from core.enums import ChannelKind
from core.errors import InvalidInput
from core.models import Channel


class OrderSource(Protocol):
    def orders_since(self, cursor: str | None) -> Iterator[Page]: ...


def secret_for(channel: Channel) -> str:
    """The channel's secret, read from the environment variable it names (never from the store)."""
    if not channel.credentials_env:
        raise InvalidInput(f"Channel {channel.code} has no --token-env set.")
    value = os.environ.get(channel.credentials_env)
    if not value:
        raise InvalidInput(f"Channel {channel.code}: environment variable {channel.credentials_env} is not set.")
    return value


@contextmanager
def order_source(channel: Channel) -> Iterator[OrderSource]:
    """An order connector for ``channel``, its HTTP client closed afterwards."""
    if channel.kind is ChannelKind.SHOPIFY:
        connector = ShopifyRest.connect(channel.base_url, secret_for(channel))
        try:
            yield connector
        finally:
            connector.close()
        return
    raise InvalidInput(f"Channel kind {channel.kind.value} has no connector yet.")
