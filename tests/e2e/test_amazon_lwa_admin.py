"""An admin sets up an Amazon channel for Login with Amazon (three variable names and a token URL):
in core on both databases, on the Channels page and with `opsdesk channel add`; never with a secret."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from core.auth import Actor
from core.channels import add_channel, check_token_env, get_channel, update_channel
from core.db import engine_for, new_session
from core.enums import AmazonOrdersApi, ChannelKind, Role
from core.errors import InvalidInput
from core.models import Channel, Event
from tests.e2e.conftest import PASSWORDS, app_for, sign_in
from tests.e2e.test_app_pages import plain
from tests.integration.test_cli import assert_one_line_error, opsdesk

ADMIN = Actor("ada", role=Role.ADMIN)
PAGE = "pages/channels.py"
VARS = "EU_LWA_ID:EU_LWA_SECRET:EU_LWA_REFRESH"
EU_LWA = "https://api.amazon.co.uk/auth/o2/token"
LWA_LABEL = "Login with Amazon token URL (Amazon only; blank: https://api.amazon.com/auth/o2/token)"
API_LABEL = "Amazon Orders API (Amazon only)"


def _amazon(db, **settings):  # type: ignore[no-untyped-def]
    return add_channel(db, "amzn-eu", kind=ChannelKind.AMAZON, base_url="https://sellingpartnerapi-eu.amazon.com",
                       token_env=VARS, settings=settings or None, actor=ADMIN)


@pytest.mark.parametrize("url", ["http://api.amazon.co.uk/auth/o2/token", "ftp://127.0.0.1/t", "api.amazon.com"])
def test_a_token_url_that_would_carry_the_client_secret_in_clear_text_is_refused(db, url):
    with pytest.raises(InvalidInput, match="must be https://"):
        _amazon(db, lwa_url=url)
    assert db.scalar(select(Channel.id)) is None


def test_only_an_amazon_channel_takes_a_token_url(db):
    with pytest.raises(InvalidInput, match="Only an Amazon channel"):
        add_channel(db, "shop", kind=ChannelKind.SHOPIFY, base_url="https://x.myshopify.com", token_env="SHOP_TOKEN",
                    settings={"lwa_url": EU_LWA}, actor=ADMIN)


@pytest.mark.parametrize("names", ["AMZ_ID:AMZ_SECRET", "A:B:C:D"])
def test_amazon_variables_that_are_neither_one_nor_three_are_refused_naming_both_forms(names):
    with pytest.raises(InvalidInput) as caught:
        check_token_env(ChannelKind.AMAZON, names)
    assert "ACCESS_TOKEN_VAR (access token) or LWA_CLIENT_ID_VAR:LWA_CLIENT_SECRET_VAR:LWA_REFRESH_TOKEN_VAR" \
        in str(caught.value)
    assert f"{names} names {names.count(':') + 1} variables" in str(caught.value)


def test_one_or_three_amazon_variables_and_two_woocommerce_ones_pass_and_one_woocommerce_does_not():
    for kind, names in ((ChannelKind.AMAZON, "AMZ_TOKEN"), (ChannelKind.AMAZON, VARS),
                        (ChannelKind.WOOCOMMERCE, "WOO_KEY:WOO_SECRET"), (ChannelKind.SHOPIFY, None)):
        check_token_env(kind, names)
    with pytest.raises(InvalidInput, match="CONSUMER_KEY_VAR:CONSUMER_SECRET_VAR"):
        check_token_env(ChannelKind.WOOCOMMERCE, "WOO_KEY")


def test_a_pasted_secret_is_refused_without_being_repeated():
    with pytest.raises(InvalidInput) as caught:
        check_token_env(ChannelKind.AMAZON, "amzn1.application-oa2-client.x:cs-very-secret")
    assert "NAME of an environment variable" in str(caught.value) and "cs-very-secret" not in str(caught.value)


def test_the_token_url_is_stored_changed_and_cleared_with_an_event_and_other_settings_kept(db):
    channel = _amazon(db, lwa_url=EU_LWA, marketplace_ids=["A1F83G8C2ARO7P"])
    assert db.scalar(select(Event.detail).where(Event.kind == "channel_added"))["settings"]["lwa_url"] == EU_LWA
    args = {"actor": ADMIN, "name": "amzn-eu", "base_url": channel.base_url, "token_env": VARS, "poll_interval_s": 15}
    with pytest.raises(InvalidInput, match="must be https://"):
        update_channel(db, channel.id, settings={"lwa_url": "http://lwa.example.com/token"}, **args)
    fe = "https://api.amazon.co.jp/auth/o2/token"
    assert update_channel(db, channel.id, settings={"lwa_url": fe}, **args) == [f"settings.lwa_url: {EU_LWA} -> {fe}"]
    changed = db.scalars(select(Event.detail).where(Event.kind == "channel_changed")).all()
    assert changed == [{"code": "amzn-eu", "settings.lwa_url": {"before": EU_LWA, "after": fe}}]
    # blank: back to Amazon's own endpoint
    assert update_channel(db, channel.id, settings={"lwa_url": ""}, **args) == [f"settings.lwa_url: {fe} -> None"]
    db.expire_all()
    assert db.get(Channel, channel.id).settings == {"marketplace_ids": ["A1F83G8C2ARO7P"], "orders_api": "2026-01-01"}
    assert update_channel(db, channel.id, settings=None, **args) == []  # a form without the field changes nothing


def test_an_admin_adds_an_amazon_channel_with_lwa_variables_and_changes_its_token_url(monkeypatch, fresh_shop):
    at = sign_in(app_for(monkeypatch, fresh_shop.url), *PASSWORDS["admin"])
    at.switch_page(PAGE).run()
    fields = {w.label: w for w in at.text_input}
    fields["Code (lower case, e.g. shop-eu)"].set_value("amzn-eu")
    next(s for s in at.selectbox if s.label == "Kind").set_value(ChannelKind.AMAZON)
    fields["Base URL (e.g. https://my-shop.myshopify.com)"].set_value("https://sellingpartnerapi-eu.amazon.com")
    fields["Token variable (the NAME of an environment variable, e.g. SHOP_EU_TOKEN)"].set_value(VARS)
    fields[LWA_LABEL].set_value(EU_LWA)
    next(b for b in at.button if b.label == "Add channel").click().run()
    assert not at.error and "Added amzn-eu" in plain(at.success[0].value)
    assert at.dataframe[0].value.set_index("Code").loc["amzn-eu", "Token variable"] == VARS

    next(s for s in at.selectbox if s.label == "Channel").set_value("amzn-eu").run()
    change = [w for w in at.text_input if w.label == LWA_LABEL]
    assert change[-1].value == EU_LWA  # the change form shows the stored URL
    change[-1].set_value("http://lwa.example.com/auth/o2/token")
    next(b for b in at.button if b.label == "Save changes").click().run()
    assert "must be https://" in plain(at.error[0].value)
    with new_session(engine_for(fresh_shop.url)) as db:  # a new channel polls Orders v2026-01-01
        assert get_channel(db, "amzn-eu").settings == {"lwa_url": EU_LWA, "orders_api": "2026-01-01"}


def test_an_admin_moves_an_amazon_channel_between_orders_api_versions_on_the_channels_page(monkeypatch, fresh_shop):
    with new_session(engine_for(fresh_shop.url)) as db:
        _amazon(db, lwa_url=EU_LWA, orders_api="v0")  # as channels added before v2026 existed run
    at = sign_in(app_for(monkeypatch, fresh_shop.url), *PASSWORDS["admin"])
    at.switch_page(PAGE).run()
    assert at.dataframe[0].value.set_index("Code").loc["amzn-eu", "API"] == "Orders v0"
    next(s for s in at.selectbox if s.label == "Channel").set_value("amzn-eu").run()
    api = [s for s in at.selectbox if s.label == API_LABEL][-1]
    assert api.value is AmazonOrdersApi.V0  # the change form shows what the channel polls today
    [w for w in at.text_input if w.label == "Name"][-1].set_value("Amazon EU")  # the change form's
    next(b for b in at.button if b.label == "Save changes").click().run()
    saved = plain(at.success[0].value)
    assert "name: amzn-eu -> Amazon EU" in saved and "orders_api" not in saved  # the version is left alone
    api = [s for s in at.selectbox if s.label == API_LABEL][-1]
    api.set_value(AmazonOrdersApi.V2026)
    next(b for b in at.button if b.label == "Save changes").click().run()
    assert not at.error and "settings.orders_api: v0 -> 2026-01-01" in plain(at.success[0].value)
    with new_session(engine_for(fresh_shop.url)) as db:
        assert get_channel(db, "amzn-eu").settings == {"lwa_url": EU_LWA, "orders_api": "2026-01-01"}
        assert db.scalars(select(Event.detail).where(Event.kind == "channel_changed")).all()[-1] == {
            "code": "amzn-eu", "settings.orders_api": {"before": "v0", "after": "2026-01-01"}}


def test_an_orders_api_version_is_refused_unless_amazon_knows_it_and_the_channel_is_amazon(db):
    with pytest.raises(InvalidInput, match="2026-01-01 or v0"):
        _amazon(db, orders_api="2025-01-01")
    with pytest.raises(InvalidInput, match="Only an Amazon channel takes an Orders API"):
        add_channel(db, "shop", kind=ChannelKind.SHOPIFY, base_url="https://x.myshopify.com", token_env="SHOP_TOKEN",
                    settings={"orders_api": "2026-01-01"}, actor=ADMIN)
    assert db.scalar(select(Channel.id)) is None


def test_the_channels_page_refuses_two_amazon_variables_with_both_forms_named(monkeypatch, fresh_shop):
    at = sign_in(app_for(monkeypatch, fresh_shop.url), *PASSWORDS["admin"])
    at.switch_page(PAGE).run()
    fields = {w.label: w for w in at.text_input}
    fields["Code (lower case, e.g. shop-eu)"].set_value("amzn-two")
    next(s for s in at.selectbox if s.label == "Kind").set_value(ChannelKind.AMAZON)
    fields["Base URL (e.g. https://my-shop.myshopify.com)"].set_value("https://sellingpartnerapi-eu.amazon.com")
    fields["Token variable (the NAME of an environment variable, e.g. SHOP_EU_TOKEN)"].set_value("EU_ID:EU_SECRET")
    next(b for b in at.button if b.label == "Add channel").click().run()
    said = plain(at.error[0].value)
    assert "EU_ID:EU_SECRET names 2 variables" in said and "LWA_REFRESH_TOKEN_VAR" in said and not at.success
    with new_session(engine_for(fresh_shop.url)) as db:
        assert db.scalar(select(Channel.id).where(Channel.code == "amzn-two")) is None
        _amazon(db)  # a good one, then its change form gets two variables
    at.switch_page(PAGE).run()
    next(s for s in at.selectbox if s.label == "Channel").set_value("amzn-eu").run()
    next(w for w in at.text_input if w.label == "Token variable").set_value("EU_ID:EU_SECRET")
    next(b for b in at.button if b.label == "Save changes").click().run()
    assert "EU_ID:EU_SECRET names 2 variables" in plain(at.error[0].value)
    with new_session(engine_for(fresh_shop.url)) as db:
        assert get_channel(db, "amzn-eu").credentials_env == VARS


def test_the_cli_adds_an_lwa_amazon_channel_naming_three_variables_and_the_token_url(sqlite_url):
    env = {"EU_LWA_ID": "amzn1.application-oa2-client.x", "EU_LWA_SECRET": "cs-very-secret", "EU_LWA_REFRESH": "Atzr|r"}
    added = opsdesk(sqlite_url, "channel", "add", "amzn-eu", "--kind", "amazon", "--base-url",
                    "https://sellingpartnerapi-eu.amazon.com", "--token-env", VARS, "--lwa-url", EU_LWA,
                    "--marketplace-id", "A1F83G8C2ARO7P", env=env)
    assert added.returncode == 0, added.stderr
    listed = opsdesk(sqlite_url, "channel", "list", "--json", env=env)
    assert json.loads(listed.stdout)[0]["token_env"] == VARS
    assert not any(v in added.stdout + listed.stdout for v in env.values())
    refused = opsdesk(sqlite_url, "channel", "add", "amzn-2", "--kind", "amazon", "--base-url",
                      "https://sellingpartnerapi-eu.amazon.com", "--token-env", VARS, "--lwa-url",
                      "http://api.amazon.co.uk/auth/o2/token")
    assert_one_line_error(refused, "must be https://")
    two = opsdesk(sqlite_url, "channel", "add", "amzn-3", "--kind", "amazon", "--base-url",
                  "https://sellingpartnerapi-eu.amazon.com", "--token-env", "EU_LWA_ID:EU_LWA_SECRET")
    assert_one_line_error(two, "EU_LWA_ID:EU_LWA_SECRET names 2 variables",
                          "LWA_CLIENT_ID_VAR:LWA_CLIENT_SECRET_VAR:LWA_REFRESH_TOKEN_VAR")
    listed = opsdesk(sqlite_url, "channel", "list", "--json", env=env)
    assert [row["code"] for row in json.loads(listed.stdout)] == ["amzn-eu"]
    old = opsdesk(sqlite_url, "channel", "add", "amzn-old", "--kind", "amazon", "--base-url",
                  "https://sellingpartnerapi-eu.amazon.com", "--token-env", VARS, "--orders-api", "v0", env=env)
    assert old.returncode == 0, old.stderr
    with new_session(engine_for(sqlite_url)) as db:  # new channels poll v2026-01-01 unless told v0
        assert get_channel(db, "amzn-eu").settings["orders_api"] == "2026-01-01"
        assert get_channel(db, "amzn-old").settings["orders_api"] == "v0"
