"""Build the connector for a channel from its stored settings and the secrets in the environment.

Which module serves which kind is ``connectors.parsers.CHANNELS``; nothing here names a kind.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from connectors import parsers
from connectors.parsers import OrderSource
from core.errors import InvalidInput
from core.models import Channel

__all__ = ["OrderSource", "order_source", "secret_for", "secrets_for"]


def secrets_for(channel: Channel) -> tuple[str, ...]:
    """The channel's secrets, read from the environment variables it names (never from the store).

    The credential is one variable name, or several joined by ':' when the kind needs more
    than one secret (WooCommerce: ``KEY_VAR:SECRET_VAR``), in the order the kind lists them.
    """
    try:
        shapes = parsers.secrets_of(channel.kind)
    except LookupError as exc:
        raise InvalidInput(str(exc)) from None
    if not channel.credentials_env:
        raise InvalidInput(f"Channel {channel.code} has no --token-env set.")
    names = [n.strip() for n in channel.credentials_env.split(":")]
    if not any(len(names) == len(shape) for shape in shapes):
        ways = " or ".join(f"--token-env {':'.join(_var(w) for w in shape)} ({', '.join(shape)})" for shape in shapes)
        raise InvalidInput(f"Channel {channel.code} ({channel.kind.label}) needs {ways}; "
                           f"it has {channel.credentials_env}.")
    values = []
    for name in names:
        value = os.environ.get(name)
        if not value:
            raise InvalidInput(f"Channel {channel.code}: environment variable {name} is not set.")
        values.append(value)
    return tuple(values)


def _var(what: str) -> str:
    return what.upper().replace(" ", "_") + "_VAR"


def secret_for(channel: Channel) -> str:
    """The channel's single secret (kinds with one credential)."""
    return secrets_for(channel)[0]


@contextmanager
def order_source(channel: Channel) -> Iterator[OrderSource]:
    """An order connector for ``channel``, its HTTP client closed afterwards."""
    secrets = secrets_for(channel)
    try:
        connector = parsers.connect(channel.kind, channel.base_url, secrets, channel.settings or {})
    except LookupError as exc:
        raise InvalidInput(str(exc)) from None
    except ValueError as exc:  # settings the connector cannot use: one clear line on the run, not a traceback
        raise InvalidInput(f"Channel {channel.code}: {exc}") from None
    try:
        yield connector
    finally:
        connector.close()
