"""The `opsdesk` command line as a user meets it: real processes, one-line errors, JSON out."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.db import engine_for, new_session
from tests.factories import ingest, make_channel, order_record

ROOT = Path(__file__).resolve().parents[2]


def opsdesk(url: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "OPSDESK_DATABASE_URL": url, **(env or {})}
    return subprocess.run([sys.executable, "-m", "jobs.cli", *args], cwd=ROOT, env=full_env,
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)


def assert_one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert lines[0].startswith("opsdesk: error: ")
    for fragment in fragments:
        assert fragment in lines[0]


def test_db_upgrade_creates_the_schema_on_a_new_file(tmp_path):
    url = f"sqlite:///{tmp_path / 'new.db'}"
    result = opsdesk(url, "db", "upgrade")
    assert result.returncode == 0, result.stderr
    assert "latest schema" in result.stdout and (tmp_path / "new.db").exists()


def test_channels_are_added_and_listed_with_the_secret_named_not_stored(sqlite_url):
    added = opsdesk(sqlite_url, "channel", "add", "us-store", "--kind", "shopify",
                    "--base-url", "http://127.0.0.1:8900", "--token-env", "US_STORE_TOKEN",
                    env={"US_STORE_TOKEN": "shpat_secret_value"})
    assert added.returncode == 0, added.stderr
    listed = opsdesk(sqlite_url, "channel", "list", "--json", env={"US_STORE_TOKEN": "shpat_secret_value"})
    rows = json.loads(listed.stdout)
    assert rows[0]["code"] == "us-store" and rows[0]["token_env"] == "US_STORE_TOKEN"
    assert "shpat_secret_value" not in listed.stdout + added.stdout
    again = opsdesk(sqlite_url, "channel", "add", "us-store", "--kind", "shopify",
                    "--base-url", "http://127.0.0.1:8900", "--token-env", "US_STORE_TOKEN")
    assert_one_line_error(again, "already exists")


def test_order_show_prints_the_order_its_lines_and_events_as_json(sqlite_url):
    with new_session(engine_for(sqlite_url)) as session:
        ingest(session, make_channel(session), [order_record(i) for i in range(3)])
    result = opsdesk(sqlite_url, "order", "show", "#1002", "--json")
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["order"]["number"] == "#1002" and shown["order"]["status"] == "ready"
    assert shown["lines"][0]["sku"] == "TEE-BLK-M" and shown["lines"][0]["quantity"] == 2
    assert shown["events"][0]["kind"] == "order_received"
    by_channel_id = json.loads(opsdesk(sqlite_url, "order", "show", order_record(1).external_id, "--json").stdout)
    assert by_channel_id["order"]["id"] == shown["order"]["id"]


@pytest.mark.parametrize(("args", "fragment"), [
    (("order", "show", "#999999"), "No order matches"),
    (("poll", "nope", "--once"), "No channel 'nope'"),
    (("channel", "add", "x", "--kind", "shopify", "--base-url", "ftp://x", "--token-env", "X"), "http://"),
    (("user", "add", "eve", "--role", "admin"), "--password-env"),
])
def test_mistakes_get_one_clear_line_and_a_non_zero_exit(sqlite_url, args, fragment):
    assert_one_line_error(opsdesk(sqlite_url, *args), fragment)


def test_an_unreachable_database_is_one_line_too(tmp_path):
    result = opsdesk("postgresql+psycopg://postgres@127.0.0.1:1/none", "channel", "list")
    assert_one_line_error(result, "database")


def test_user_add_reads_the_password_from_the_named_variable(sqlite_url):
    result = opsdesk(sqlite_url, "user", "add", "dora", "--role", "support", "--password-env", "DORA_PW",
                     env={"DORA_PW": "a good long password"})
    assert result.returncode == 0 and "Support" in result.stdout
    from core.auth import authenticate

    with new_session(engine_for(sqlite_url)) as session:
        assert authenticate(session, "dora", "a good long password").name == "dora"
