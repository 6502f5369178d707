"""Core's table of what a channel's token variables hold agrees with what each connector reads."""

from __future__ import annotations

import pytest

from connectors.parsers import PARSERS, secrets_of
from core.channels import CREDENTIALS
from core.enums import ChannelKind


@pytest.mark.parametrize("kind", list(ChannelKind))
def test_core_checks_the_same_variable_forms_the_connector_reads(kind: ChannelKind) -> None:
    if kind not in PARSERS:
        pytest.skip(f"no connector for {kind.label} yet")
    assert CREDENTIALS[kind] == secrets_of(kind)


def test_amazon_takes_an_access_token_or_login_with_amazons_three() -> None:
    assert sorted(len(shape) for shape in CREDENTIALS[ChannelKind.AMAZON]) == [1, 3]
