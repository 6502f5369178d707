"""send_with_retry and next_link against httpx.MockTransport: no network, no real sleeping."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import httpx
import pytest

from connectors.http import (
    AuthError,
    BadResponse,
    RateLimited,
    RequestRejected,
    ServerError,
    TransportFailure,
    json_body,
    make_client,
    next_link,
    parse_links,
    parse_retry_after,
    send_with_retry,
)

Answer = httpx.Response | Exception


class Script:
    """A transport that plays answers in order and records every request it saw."""

    def __init__(self, *answers: Answer) -> None:
        self._answers: Iterator[Answer] = iter(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = next(self._answers)
        if isinstance(answer, Exception):
            raise answer
        return answer


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def client_for(script: Callable[[httpx.Request], httpx.Response]) -> httpx.Client:
    return make_client("https://shop.example", {"X-Token": "t"}, transport=httpx.MockTransport(script))


def ok(payload: object = None) -> httpx.Response:
    return httpx.Response(200, json=payload if payload is not None else {"ok": True})


def too_many(retry_after: str | None = "2.0") -> httpx.Response:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return httpx.Response(429, json={"errors": "Exceeded 2 calls per second"}, headers=headers)


def test_a_429_waits_exactly_what_retry_after_says_then_succeeds() -> None:
    script, sleeps = Script(too_many("2.0"), too_many("0.25"), ok()), Sleeps()
    resp = send_with_retry(client_for(script), "GET", "/orders.json", sleep=sleeps)
    assert resp.status_code == 200
    assert sleeps == [2.0, 0.25]
    assert len(script.requests) == 3


def test_a_429_without_retry_after_backs_off_exponentially() -> None:
    script, sleeps = Script(too_many(None), too_many(None), too_many(None), ok()), Sleeps()
    send_with_retry(client_for(script), "GET", "/x", sleep=sleeps, backoff_s=1.0)
    # Equal jitter: each wait is between half and all of 1, 2, 4 seconds.
    assert [lo <= s <= hi for s, (lo, hi) in zip(sleeps, [(0.5, 1), (1, 2), (2, 4)], strict=True)] == [
        True
    ] * 3


def test_persistent_429s_give_up_after_max_attempts_with_rate_limited() -> None:
    script, sleeps = Script(*[too_many("0.1") for _ in range(3)]), Sleeps()
    with pytest.raises(RateLimited) as caught:
        send_with_retry(client_for(script), "GET", "/x", max_attempts=3, sleep=sleeps)
    assert len(script.requests) == 3
    assert sleeps == [0.1, 0.1]  # no sleep after the last attempt
    assert caught.value.retry_after == 0.1
    assert caught.value.status_code == 429
    assert "rate limited" in str(caught.value)


def test_a_retry_after_longer_than_the_budget_stops_at_once() -> None:
    script, sleeps = Script(too_many("60"), ok()), Sleeps()
    with pytest.raises(RateLimited) as caught:
        send_with_retry(client_for(script), "GET", "/x", max_wait_s=30.0, sleep=sleeps)
    assert sleeps == []
    assert caught.value.retry_after == 60.0


def test_total_sleep_never_exceeds_max_wait() -> None:
    script, sleeps = Script(*[httpx.Response(503) for _ in range(10)]), Sleeps()
    with pytest.raises(ServerError):
        send_with_retry(
            client_for(script), "GET", "/x", max_attempts=10, max_wait_s=5.0, backoff_s=2.0, sleep=sleeps
        )
    assert sum(sleeps) <= 5.0 + 1e-9
    assert len(script.requests) < 10  # the budget, not the attempt count, ended it


def test_5xx_is_retried_then_succeeds() -> None:
    script, sleeps = (
        Script(httpx.Response(502, text="<html>bad gateway</html>"), httpx.Response(500), ok()),
        Sleeps(),
    )
    resp = send_with_retry(client_for(script), "GET", "/x", sleep=sleeps)
    assert resp.json() == {"ok": True}
    assert len(sleeps) == 2


def test_persistent_5xx_raises_server_error_with_the_status() -> None:
    script = Script(*[httpx.Response(503) for _ in range(2)])
    with pytest.raises(ServerError) as caught:
        send_with_retry(client_for(script), "GET", "/x", max_attempts=2, sleep=Sleeps())
    assert caught.value.status_code == 503


@pytest.mark.parametrize("status", [401, 403])
def test_auth_failures_raise_at_once_without_retry(status: int) -> None:
    script, sleeps = Script(httpx.Response(status, json={"errors": "[API] Invalid API key"}), ok()), Sleeps()
    with pytest.raises(AuthError) as caught:
        send_with_retry(client_for(script), "GET", "/x", sleep=sleeps)
    assert len(script.requests) == 1
    assert sleeps == []
    assert caught.value.status_code == status
    assert "\n" not in str(caught.value)


def test_other_client_errors_are_not_retried_and_say_what_the_server_said() -> None:
    script = Script(httpx.Response(400, json={"errors": {"limit": "limit must be between 1 and 250."}}))
    with pytest.raises(RequestRejected) as caught:
        send_with_retry(client_for(script), "GET", "/x", sleep=Sleeps())
    assert len(script.requests) == 1
    assert "limit must be between 1 and 250" in str(caught.value)


def test_a_redirect_is_refused_rather_than_followed_with_our_token() -> None:
    script = Script(httpx.Response(301, headers={"Location": "https://elsewhere.example/x"}))
    with pytest.raises(RequestRejected, match="redirected .*elsewhere.example"):
        send_with_retry(client_for(script), "GET", "/x", sleep=Sleeps())
    assert len(script.requests) == 1


def test_timeouts_are_retried_then_raise_transport_failure() -> None:
    script = Script(*[httpx.ReadTimeout("timed out") for _ in range(3)])
    sleeps = Sleeps()
    with pytest.raises(TransportFailure) as caught:
        send_with_retry(client_for(script), "GET", "/orders.json", max_attempts=3, sleep=sleeps)
    assert len(script.requests) == 3
    assert len(sleeps) == 2
    assert "timed out" in str(caught.value)


def test_a_connection_failure_recovers_on_the_next_attempt() -> None:
    script = Script(httpx.ConnectError("connection refused"), ok())
    assert send_with_retry(client_for(script), "GET", "/x", sleep=Sleeps()).status_code == 200


def test_a_post_that_timed_out_is_not_repeated() -> None:
    # The server may already have applied it: a second label purchase would cost money.
    script = Script(httpx.ReadTimeout("timed out"), ok())
    with pytest.raises(TransportFailure):
        send_with_retry(client_for(script), "POST", "/labels", json={"a": 1}, sleep=Sleeps())
    assert len(script.requests) == 1


def test_params_and_json_reach_the_server() -> None:
    script = Script(ok())
    send_with_retry(
        client_for(script),
        "POST",
        "/x",
        params={"limit": 5, "updated_at_min": "2026-01-01T00:00:00+00:00"},
        json={"k": "v"},
        sleep=Sleeps(),
        idempotent=True,
    )
    sent = script.requests[0]
    assert sent.url.params["limit"] == "5"
    assert sent.url.params["updated_at_min"] == "2026-01-01T00:00:00+00:00"  # the + survives encoding
    assert sent.content == b'{"k":"v"}'
    assert sent.headers["X-Token"] == "t"


def test_make_client_sets_explicit_timeouts() -> None:
    client = make_client("https://shop.example", timeout=12.0, connect_timeout=3.0)
    assert client.timeout.connect == 3.0
    assert client.timeout.read == 12.0
    assert client.follow_redirects is False


def test_json_body_turns_html_into_bad_response() -> None:
    script = Script(httpx.Response(200, text="<html>maintenance</html>"))
    resp = send_with_retry(client_for(script), "GET", "/x", sleep=Sleeps())
    with pytest.raises(BadResponse, match="not JSON"):
        json_body(resp)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("2.0", 2.0),
        ("0.05", 0.05),
        (" 3 ", 3.0),
        ("-1", 0.0),
        ("soon", None),
        (None, None),
        ("nan", None),
        ("Sun, 22 Nov 2026 10:00:30 GMT", 30.0),
    ],
)
def test_retry_after_accepts_seconds_and_http_dates(value: str | None, seconds: float | None) -> None:
    now = datetime(2026, 11, 22, 10, 0, 0, tzinfo=UTC)
    assert parse_retry_after(value, now=now) == seconds


def test_next_link_finds_next_among_previous_and_next() -> None:
    header = (
        '<https://shop.example/admin/api/2025-01/orders.json?limit=25&page_info=prevTOKEN>; rel="previous", '
        '<https://shop.example/admin/api/2025-01/orders.json?limit=25&page_info=nextTOKEN>; rel="next"'
    )
    assert (
        next_link(header) == "https://shop.example/admin/api/2025-01/orders.json?limit=25&page_info=nextTOKEN"
    )


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ('<https://a.example/p?page_info=x>; rel="previous"', None),
        ("<https://a.example/p?page_info=x>; rel=next", "https://a.example/p?page_info=x"),
        ('<https://a.example/p?a=1,2>; title="a, b; c"; REL="Next"', "https://a.example/p?a=1,2"),
        ('<https://a.example/last>; rel="last next"', "https://a.example/last"),
        ('</relative?page=2>;rel="next"', "/relative?page=2"),
    ],
)
def test_next_link_parses_rfc_8288_forms(header: str | None, expected: str | None) -> None:
    assert next_link(header) == expected


def test_parse_links_lists_every_relation() -> None:
    header = '<https://a.example/1>; rel="first", <https://a.example/3>; rel="next", <https://a.example/9>; rel=last'
    assert parse_links(header) == {
        "first": "https://a.example/1",
        "next": "https://a.example/3",
        "last": "https://a.example/9",
    }
