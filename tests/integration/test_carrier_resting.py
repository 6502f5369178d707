"""A carrier account's breaker over time, and the worker's side of the desk's levers on carrier accounts.

After its wait a resting account is probed by the worker's ordinary tick: a success closes the
breaker, a failure rests it twice as long. A carrier API down (the sandbox's 5xx knob) rests it
until the knob is released and a probe succeeds. Our own trouble (the database away) never rests it.
The worker serves a "poll now" within one rescan and lets that poll pass the breaker.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from core.auth import Actor
from core.breaker import FIRST_WAIT
from core.carrier_health import carrier_health
from core.carrier_ops import carrier_breaker, request_carrier_poll, set_carrier_enabled
from core.carriers import add_carrier_account
from core.db import engine_for, new_session
from core.enums import CarrierKind, Role, RunStatus, ShipmentStatus
from core.models import ConnectorRun, Order, Shipment
from jobs import track as track_module
from jobs.track import poll_carrier
from sandbox.server import make_server
from tests.factories import ingest, make_channel, order_record

KEY_ENV = "OPSDESK_TEST_CARRIER_REST_KEY"
OPS = Actor("olivia", role=Role.OPS_LEAD)


@pytest.fixture
def carrier_api():  # type: ignore[no-untyped-def]
    server = make_server(seed=5, token="right-key", orders_per_minute=0.0, backlog=0).start()
    yield server
    server.stop()


def _desk(db, db_url: str, base_url: str, monkeypatch: pytest.MonkeyPatch, *, key: str) -> int:  # type: ignore[no-untyped-def]
    """One undelivered UPS parcel and an EasyPost account ``ep`` following it; returns the account id."""
    monkeypatch.setenv("OPSDESK_DATABASE_URL", db_url)
    monkeypatch.setenv(KEY_ENV, key)
    ingest(db, make_channel(db), [order_record(1)])
    db.add(Shipment(order_id=db.scalar(select(Order.id)), carrier="UPS", tracking_number="1ZREST00001",
                    source="desk", shipped_at=datetime.now(UTC), status=ShipmentStatus.IN_TRANSIT))
    db.commit()
    return add_carrier_account(db, "ep", kind=CarrierKind.EASYPOST, base_url=base_url, token_env=KEY_ENV,
                               carriers="*").id


def _runs(db_url: str, account_id: int) -> list[tuple[RunStatus, datetime]]:
    with new_session(engine_for(db_url)) as session:
        return [tuple(r) for r in session.execute(  # type: ignore[misc]
            select(ConnectorRun.status, ConnectorRun.finished_at)
            .where(ConnectorRun.carrier_account_id == account_id).order_by(ConnectorRun.id))]


def _state(db_url: str) -> str:
    with new_session(engine_for(db_url)) as session:
        return carrier_health(session, now=datetime.now(UTC)).set_index("carrier").loc["ep", "state"]


def _at(monkeypatch: pytest.MonkeyPatch, when: datetime) -> None:
    """The tracking job's clock (what it compares the breaker with) reads ``when``."""
    monkeypatch.setattr(track_module, "utcnow", lambda: when)


@pytest.mark.timeout(240)
def test_after_its_wait_a_failed_probe_rests_the_account_twice_as_long_and_a_good_one_heals_it(
        db, db_url, carrier_api, monkeypatch):  # type: ignore[no-untyped-def]
    account_id = _desk(db, db_url, carrier_api.url, monkeypatch, key="wrong-key")
    for _ in range(3):
        assert poll_carrier("ep").error
    first_rest = poll_carrier("ep").resting_until
    assert first_rest is not None and len(_runs(db_url, account_id)) == 3

    _at(monkeypatch, first_rest + timedelta(seconds=1))  # the wait is over: the ordinary tick probes
    probe = poll_carrier("ep")
    assert probe.resting_until is None and probe.error  # it really polled, and the key is still wrong
    runs = _runs(db_url, account_id)
    assert [s for s, _ in runs] == [RunStatus.FAILED] * 4
    with new_session(engine_for(db_url)) as session:
        breaker = carrier_breaker(session, account_id)
    assert breaker.failures == 4 and breaker.open_until == runs[-1][1] + 2 * FIRST_WAIT
    assert _state(db_url) == "resting after 4 failed polls"
    second_rest = poll_carrier("ep").resting_until  # still inside the longer wait: no run
    assert second_rest == breaker.open_until and len(_runs(db_url, account_id)) == 4

    monkeypatch.setenv(KEY_ENV, "right-key")  # the cause fixed; nobody presses anything
    _at(monkeypatch, second_rest + timedelta(seconds=1))
    healed = poll_carrier("ep")
    assert healed.error is None and healed.resting_until is None and healed.fetched == 1
    with new_session(engine_for(db_url)) as session:
        assert carrier_breaker(session, account_id).failures == 0
    assert _state(db_url) == "running"


@pytest.mark.timeout(240)
def test_the_database_going_away_during_tracking_polls_never_rests_the_account(
        db, db_url, carrier_api, monkeypatch):  # type: ignore[no-untyped-def]
    account_id = _desk(db, db_url, carrier_api.url, monkeypatch, key="right-key")

    def database_away(*_args, **_kwargs):  # type: ignore[no-untyped-def]
        raise OperationalError("INSERT INTO tracking_events ...", {}, ConnectionError("server closed the connection"))

    monkeypatch.setattr(track_module, "apply_tracking", database_away)
    for _ in range(4):  # more than enough failures in a row to open the breaker, were they the carrier's
        with pytest.raises(OperationalError):
            poll_carrier("ep")
    assert [s for s, _ in _runs(db_url, account_id)] == [RunStatus.ABORTED] * 4
    with new_session(engine_for(db_url)) as session:
        breaker = carrier_breaker(session, account_id)
    assert breaker.failures == 0 and breaker.open_until is None
    assert _state(db_url) == "running"
    monkeypatch.undo()  # the database is back (and the environment with it: set it again)
    monkeypatch.setenv("OPSDESK_DATABASE_URL", db_url)
    monkeypatch.setenv(KEY_ENV, "right-key")
    back = poll_carrier("ep")
    assert back.resting_until is None and back.error is None and back.fetched == 1


@pytest.mark.timeout(240)
def test_a_carrier_api_answering_5xx_rests_the_account_until_the_sandbox_knob_is_released_and_a_probe_heals_it(
        sqlite_db, sqlite_url, carrier_api, monkeypatch):  # type: ignore[no-untyped-def]
    import httpx

    account_id = _desk(sqlite_db, sqlite_url, carrier_api.url, monkeypatch, key="right-key")
    knobs = f"{carrier_api.url}/_sandbox/faults"
    assert httpx.post(knobs, json={"rate_5xx": 1.0}).json()["rate_5xx"] == 1.0  # the carrier's API is down
    for _ in range(3):
        assert "failed on the server (50" in (poll_carrier("ep").error or "")  # retried, then given up on
    resting = poll_carrier("ep").resting_until
    assert resting is not None and [s for s, _ in _runs(sqlite_url, account_id)] == [RunStatus.FAILED] * 3
    assert _state(sqlite_url) == "resting after 3 failed polls"

    assert httpx.post(knobs, json={"reset": True}).json()["rate_5xx"] == 0.0  # the API is back
    assert poll_carrier("ep").resting_until == resting  # the account still rests until its time
    _at(monkeypatch, resting + timedelta(seconds=1))
    probe = poll_carrier("ep")
    assert probe.error is None and probe.fetched == 1
    assert _state(sqlite_url) == "running"


def test_the_worker_serves_a_carrier_poll_now_within_one_rescan_and_lets_it_pass_the_breaker(
        sqlite_db, sqlite_url, monkeypatch):  # type: ignore[no-untyped-def]
    from apscheduler.schedulers.background import BackgroundScheduler

    from jobs import worker as worker_module

    monkeypatch.setenv("OPSDESK_DATABASE_URL", sqlite_url)
    account = add_carrier_account(sqlite_db, "ep", kind=CarrierKind.EASYPOST, base_url="http://127.0.0.1:9/ep",
                                  token_env=KEY_ENV, carriers="*", poll_interval_s=3600)
    scheduler = BackgroundScheduler(timezone=UTC)
    scheduler.start(paused=True)  # jobs get their times, nothing runs
    try:
        worker_module.sync_jobs(scheduler)
        later = datetime.now(UTC) + timedelta(hours=1)
        scheduler.get_job("track:ep").modify(next_run_time=later)  # as after its first poll
        worker_module.sync_jobs(scheduler)
        assert scheduler.get_job("track:ep").next_run_time == later  # nobody asked: it waits for its interval
        assert "track:ep" not in worker_module._asked

        request_carrier_poll(sqlite_db, account.id, actor=OPS)
        worker_module.sync_jobs(scheduler)  # the rescan, every RESCAN_S seconds
        assert scheduler.get_job("track:ep").next_run_time <= datetime.now(UTC) + timedelta(seconds=1)
        passed: list[bool] = []
        monkeypatch.setattr(track_module, "poll_carrier",
                            lambda code, *, should_stop, respect_breaker: passed.append(respect_breaker))
        worker_module._track("ep")  # the poll a person asked for
        worker_module._track("ep")  # the next ordinary tick
        assert passed == [False, True]

        set_carrier_enabled(sqlite_db, account.id, False, actor=OPS)
        worker_module.sync_jobs(scheduler)
        assert scheduler.get_job("track:ep") is None  # paused: no more tracking polls
    finally:
        scheduler.shutdown(wait=False)
        worker_module._asked.clear()
