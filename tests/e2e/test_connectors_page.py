"""Connector health through AppTest: the overview, pause / resume / poll now, and a dead letter's replay."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select

from core.db import engine_for, new_session, writing
from core.enums import RunStatus
from core.models import Channel, ConnectorRun, DeadLetter, Order, utcnow
from tests.e2e.conftest import PASSWORDS, app_for, sign_in
from tests.e2e.test_app_pages import plain

PAGE = "pages/connectors.py"
RAW = json.loads((Path(__file__).resolve().parents[1] / "fixtures" / "shopify" /
                  "paid_unfulfilled_multiline.json").read_text(encoding="utf-8"))


def open_as(monkeypatch, shop, role: str):  # type: ignore[no-untyped-def]
    at = sign_in(app_for(monkeypatch, shop.url), *PASSWORDS[role])
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def add_trouble(url: str) -> None:
    with new_session(engine_for(url)) as db, writing(db):
        shop = db.scalar(select(Channel).where(Channel.code == "test-shop"))
        db.add(ConnectorRun(channel_id=shop.id, connector=shop.code, started_at=utcnow(), finished_at=utcnow(),
                            status=RunStatus.FAILED, error="HTTP 503 after 5 tries"))
        broken = dict(RAW, id=987654321, name="#DL-1")
        broken.pop("line_items")
        db.add(DeadLetter(channel_id=shop.id, connector=shop.code, external_id="987654321", raw=json.dumps(broken),
                          error="line_items: missing", received_at=utcnow()))


def button(at, label: str):  # type: ignore[no-untyped-def]
    return next(b for b in at.button if b.label == label)


def test_an_ops_lead_pauses_resumes_and_replays_a_fixed_dead_letter(monkeypatch, fresh_shop):
    add_trouble(fresh_shop.url)
    at = open_as(monkeypatch, fresh_shop, "ops_lead")
    overview = at.dataframe[0].value.set_index("Channel")
    assert overview.loc["test-shop", ["Polling", "Failed (24 h)", "Dead letters", "Last error"]].tolist() == [
        "running", 1, 1, "HTTP 503 after 5 tries"]
    with new_session(engine_for(fresh_shop.url)) as db:
        at.selectbox[0].set_value(db.scalar(select(Channel.id).where(Channel.code == "test-shop"))).run()
    button(at, "Pause polling").click().run()
    assert "paused" in plain(at.success[0].value) and button(at, "Poll now").disabled
    button(at, "Resume polling").click().run()
    button(at, "Poll now").click().run()
    assert "Asked the worker to poll" in plain(at.success[0].value)
    assert '"line_items"' not in at.code[0].value and "#DL-1" in at.code[0].value  # the raw payload, as sent
    button(at, "Replay").click().run()
    assert "Still rejected" in plain(at.error[0].value)
    with new_session(engine_for(fresh_shop.url)) as db, writing(db):  # the channel's data is fixed
        db.scalar(select(DeadLetter)).raw = json.dumps(dict(RAW, id=987654321, name="#DL-1"))
    at.run()
    button(at, "Replay").click().run()
    assert "replayed" in plain(at.success[0].value)
    with new_session(engine_for(fresh_shop.url)) as db:
        assert db.scalar(select(Order.id).where(Order.external_id == "987654321")) is not None


def test_support_reads_the_health_but_has_no_levers(monkeypatch, fresh_shop):
    add_trouble(fresh_shop.url)
    at = open_as(monkeypatch, fresh_shop, "support")
    assert at.dataframe[0].value.set_index("Channel").loc["test-shop", "Dead letters"] == 1
    with new_session(engine_for(fresh_shop.url)) as db:
        at.selectbox[0].set_value(db.scalar(select(Channel.id).where(Channel.code == "test-shop"))).run()
    assert "#DL-1" in at.code[0].value  # support sees the raw payload too
    labels = {b.label for b in at.button}
    assert not labels & {"Pause polling", "Resume polling", "Poll now", "Replay"}


def test_an_ops_lead_pauses_resumes_and_polls_a_carrier_account_and_support_cannot(monkeypatch, fresh_shop):
    from core.carriers import add_carrier_account
    from core.enums import CarrierKind
    from core.models import CarrierAccount

    with new_session(engine_for(fresh_shop.url)) as db:
        add_carrier_account(db, "ep-desk", kind=CarrierKind.EASYPOST, base_url="http://127.0.0.1:9/ep",
                            token_env="EP_KEY", carriers="*")
        db.add(ConnectorRun(carrier_account_id=db.scalar(select(CarrierAccount.id)), connector="ep-desk",
                            started_at=utcnow(), finished_at=utcnow(), status=RunStatus.FAILED, error="HTTP 503"))
        db.add(DeadLetter(carrier_account_id=db.scalar(select(CarrierAccount.id)), connector="ep-desk",
                          external_id="1ZBROKEN", raw=json.dumps({"tracking_code": "1ZBROKEN", "status": 7}),
                          error="status: expected a string", received_at=utcnow()))
        db.commit()
    support = open_as(monkeypatch, fresh_shop, "support")
    assert not {b.label for b in support.button} & {"Pause tracking", "Resume tracking", "Replay"}
    at = open_as(monkeypatch, fresh_shop, "ops_lead")
    carriers = next(d.value for d in at.dataframe if "Carrier account" in d.value.columns).set_index("Carrier account")
    assert carriers.loc["ep-desk", ["Polling", "Failed (24 h)"]].tolist() == ["running", 1]
    button(at, "Pause tracking").click().run()
    assert "ep-desk paused" in plain(at.success[0].value) and button(at, "Poll now").disabled is False
    carriers = next(d.value for d in at.dataframe if "Carrier account" in d.value.columns).set_index("Carrier account")
    assert carriers.loc["ep-desk", "Polling"] == "paused"
    poll_buttons = [b for b in at.button if b.label == "Poll now"]
    assert poll_buttons[-1].disabled  # the carrier's: paused accounts are not polled
    button(at, "Resume tracking").click().run()
    [b for b in at.button if b.label == "Poll now"][-1].click().run()
    assert "Asked the worker to poll ep-desk" in plain(at.success[0].value)
    assert "1ZBROKEN" in at.code[-1].value  # the unreadable tracking's raw payload, as sent
    button(at, "Replay").click().run()
    assert "Still unreadable" in plain(at.error[0].value)
    with new_session(engine_for(fresh_shop.url)) as db:
        account = db.scalar(select(CarrierAccount))
        assert account.enabled and "poll_requested_at" in account.settings
