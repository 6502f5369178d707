"""Each channel kind's record parser, for replaying dead letters: raw JSON in, a ChannelOrder or a Rejection out."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from connectors import shopify
from connectors.schemas import ChannelOrder, Rejection
from core.enums import ChannelKind

PARSERS: dict[ChannelKind, Callable[[Any], ChannelOrder | Rejection]] = {
    ChannelKind.SHOPIFY: shopify.parse_order,
}


def parser_for(kind: ChannelKind) -> Callable[[Any], ChannelOrder | Rejection]:
    try:
        return PARSERS[kind]
    except KeyError:
        raise LookupError(f"No parser for {kind.label} channels yet.") from None
