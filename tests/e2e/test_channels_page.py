"""The admin's Channels page through AppTest, and update_channel on both databases."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core.auth import Actor
from core.channels import update_channel
from core.enums import Role
from core.errors import InvalidInput, NotAllowed
from core.models import Channel, Event
from tests.e2e.conftest import PASSWORDS, app_for, sign_in
from tests.e2e.test_app_pages import plain
from tests.factories import make_channel
from ui import nav

PAGE = "pages/channels.py"
ADMIN = Actor("ada", role=Role.ADMIN)


def add_shop_eu(at, token: str) -> None:  # type: ignore[no-untyped-def]
    """Fill the whole add form (it clears itself after each submit) and submit it."""
    fields = {w.label: w for w in at.text_input}
    fields["Code (lower case, e.g. shop-eu)"].set_value("shop-eu")
    fields["Base URL (e.g. https://my-shop.myshopify.com)"].set_value("http://127.0.0.1:8900/shop-eu")
    fields["Token variable (the NAME of an environment variable, e.g. SHOP_EU_TOKEN)"].set_value(token)
    next(b for b in at.button if b.label == "Add channel").click().run()


def test_an_admin_adds_a_channel_by_naming_its_token_variable(monkeypatch, fresh_shop):
    at = sign_in(app_for(monkeypatch, fresh_shop.url), *PASSWORDS["admin"])
    at.switch_page(PAGE).run()
    add_shop_eu(at, "shpat_0123456789abcdef")  # a secret typed by mistake: refused
    assert "NAME of an environment variable" in plain(at.error[0].value)
    add_shop_eu(at, "SHOP_EU_TOKEN")
    assert "Added shop-eu" in plain(at.success[0].value)
    table = at.dataframe[0].value.set_index("Code")
    assert table.loc["shop-eu", "Token variable"] == "SHOP_EU_TOKEN"
    assert "shpat_0123456789abcdef" not in str(at.dataframe[0].value.to_dict())


def test_update_channel_checks_input_records_changes_and_is_admin_only(db):
    channel = make_channel(db, "edit-shop")
    with pytest.raises(NotAllowed):
        update_channel(db, channel.id, actor=Actor("olivia", role=Role.OPS_LEAD), name="x",
                       base_url="http://127.0.0.1:1", token_env=None, poll_interval_s=60)
    with pytest.raises(InvalidInput, match="Poll interval"):
        update_channel(db, channel.id, actor=ADMIN, name="x", base_url="http://127.0.0.1:1", token_env=None,
                       poll_interval_s=1)
    changed = update_channel(db, channel.id, actor=ADMIN, name="Edited shop", base_url="http://127.0.0.1:9/x/",
                             token_env="EDIT_TOKEN", poll_interval_s=120)
    assert changed[0] == "name: edit-shop -> Edited shop" and len(changed) == 4
    db.expire_all()
    stored = db.get(Channel, channel.id)
    assert (stored.base_url, stored.credentials_env, stored.poll_interval_s) == ("http://127.0.0.1:9/x", "EDIT_TOKEN", 120)
    assert db.scalar(select(Event.detail).where(Event.kind == "channel_changed"))["code"] == "edit-shop"


@pytest.mark.parametrize("role", [r for r in Role if r is not Role.ADMIN])
def test_only_an_admin_sees_the_page(role):
    assert "channels" not in [s.key for s in nav.screens_for(Actor("x", role=role))]
