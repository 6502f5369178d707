"""The channel registry: each channel kind's module, its record parser and how to connect it.

Adding a channel is one new module plus one line in ``CHANNELS``. A channel module provides:

- ``parse_order(raw) -> ChannelOrder | Rejection`` - also used to replay dead letters;
- ``SECRETS`` - what the channel's credential names, in order (one environment variable
  each, written ``VAR`` or ``KEY_VAR:SECRET_VAR``);
- ``connect_channel(base_url, secrets, settings)`` - an object with
  ``orders_since(cursor) -> Iterator[Page]`` and ``close()``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from types import ModuleType
from typing import Any, Protocol

from connectors import amazon, shopify, shopify_graphql, woocommerce
from connectors.schemas import ChannelOrder, Page, Rejection
from core.enums import ChannelKind

CHANNELS: dict[ChannelKind, ModuleType] = {
    ChannelKind.SHOPIFY: shopify,
    ChannelKind.SHOPIFY_GRAPHQL: shopify_graphql,
    ChannelKind.WOOCOMMERCE: woocommerce,
    ChannelKind.AMAZON: amazon,
}

PARSERS: dict[ChannelKind, Callable[[Any], ChannelOrder | Rejection]] = {
    kind: module.parse_order for kind, module in CHANNELS.items()
}


class OrderSource(Protocol):
    def orders_since(self, cursor: str | None) -> Iterator[Page]: ...

    def close(self) -> None: ...


def parser_for(kind: ChannelKind) -> Callable[[Any], ChannelOrder | Rejection]:
    try:
        return PARSERS[kind]
    except KeyError:
        raise LookupError(f"No parser for {kind.label} channels yet.") from None


def secrets_of(kind: ChannelKind) -> tuple[tuple[str, ...], ...]:
    """The credentials a ``kind`` channel may name, each in order, e.g. (('consumer key', 'consumer secret'),).

    A module lists ``SECRETS``, and ``SECRET_SHAPES`` when it accepts more than one form (Amazon:
    an access token, or Login with Amazon's client id, client secret and refresh token).
    """
    module = _module(kind)
    return tuple(tuple(shape) for shape in getattr(module, "SECRET_SHAPES", (module.SECRETS,)))


def connect(kind: ChannelKind, base_url: str, secrets: Sequence[str], settings: Mapping[str, Any]) -> OrderSource:
    """The order connector of a ``kind`` channel, given its secrets (already read from the environment)."""
    return _module(kind).connect_channel(base_url, tuple(secrets), dict(settings or {}))


def _module(kind: ChannelKind) -> ModuleType:
    try:
        return CHANNELS[kind]
    except KeyError:
        raise LookupError(f"Channel kind {kind.value} has no connector yet.") from None
