"""`opsdesk`: the command line. Errors are one clear line and a non-zero exit, never a traceback."""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import os
import sys
from collections.abc import Callable

from sqlalchemy.exc import OperationalError, SQLAlchemyError

from core.enums import AmazonOrdersApi, CarrierKind, ChannelKind, Role

_LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def _upgrade() -> None:
    from core.db import database_url
    from core.migrate import upgrade

    upgrade(database_url())


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from core.db import database_url

    _upgrade()
    print(f"database is at the latest schema: {_safe_url(database_url())}")
    return 0


def cmd_sandbox(args: argparse.Namespace) -> int:
    from sandbox import FaultConfig
    from sandbox.server import make_server

    token = os.environ.get(args.token_env) or "sandbox-token"
    faults = FaultConfig(rate_429=args.rate_429, rate_5xx=args.rate_5xx, slow_ms=args.slow_ms,
                         malformed_rate=args.malformed_rate)
    from sandbox.amazon_api import RATES as AMAZON_RATES
    from sandbox.server import WOO_KEY
    from sandbox.shopify_graphql_api import MAX_QUERY_COST as GRAPHQL_MAX_COST
    from sandbox.shopify_graphql_api import RESTORE_PER_S as GRAPHQL_RESTORE

    quota = args.quota_scale
    amazon = {op: (rate * args.amazon_rate_scale * quota, burst) for op, (rate, burst) in AMAZON_RATES.items()}
    server = make_server(args.host, args.port, seed=args.seed, token=token, faults=faults,
                         time_scale=args.time_scale, orders_per_minute=args.orders_per_minute,
                         backlog=args.backlog, amazon_rates=amazon, carrier_speed=args.carrier_speed,
                         graphql_bucket=(GRAPHQL_MAX_COST, GRAPHQL_RESTORE * quota), lwa_lifetime_s=args.lwa_lifetime)
    print(f"sandbox at {server.url}: Shopify Admin REST and GraphQL, Amazon SP-API Orders (token from "
          f"${args.token_env}, or Login with Amazon at /auth/o2/token, tokens good {args.lwa_lifetime:g} s), "
          f"WooCommerce REST v3 (consumer key {WOO_KEY}, secret: the same token); carriers "
          f"EasyPost /v2/trackers, Shippo /tracks, AfterShip /tracking/2024-04 (API key: the token); Ctrl-C stops")
    sys.stdout.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


def cmd_sandbox_faults(args: argparse.Namespace) -> int:
    """Read or turn a running sandbox's fault knobs (``/_sandbox/faults``) and print them."""
    import httpx

    changes = {"reset": True} if args.reset else {
        name: value for name, value in (("rate_429", args.rate_429), ("rate_5xx", args.rate_5xx),
                                        ("slow_ms", args.slow_ms), ("malformed_rate", args.malformed_rate))
        if value is not None}
    url = args.url.rstrip("/") + "/_sandbox/faults"
    try:
        resp = httpx.put(url, json=changes, timeout=5) if changes else httpx.get(url, timeout=5)
    except httpx.HTTPError as exc:
        return _fail(f"no sandbox answering at {args.url} ({type(exc).__name__})")
    body = resp.json() if resp.headers.get("content-type", "").startswith("application/json") else {}
    if resp.status_code != 200:
        return _fail(f"the sandbox refused: {body.get('error') or resp.status_code}")
    print("  ".join(f"{name}={value:g}" for name, value in body.items()))
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from jobs.worker import run_worker

    _upgrade()
    run_worker()
    return 0


def cmd_poll(args: argparse.Namespace) -> int:
    from jobs.poll import poll_channel

    _upgrade()
    report = poll_channel(args.channel, respect_breaker=False)  # asked for by a person: try now
    print(report)
    return 1 if report.error else 0


def cmd_channel_add(args: argparse.Namespace) -> int:
    from core.channels import add_channel, check_token_env
    from core.db import new_session

    check_token_env(ChannelKind(args.kind), args.token_env)
    _upgrade()
    settings = {k: v for k, v in (("marketplace_ids", args.marketplace_id), ("lwa_url", args.lwa_url),
                                  ("orders_api", args.orders_api)) if v} or None
    with new_session() as session:
        channel = add_channel(session, args.name, kind=ChannelKind(args.kind), base_url=args.base_url,
                              token_env=args.token_env, name=args.display_name, poll_interval_s=args.interval,
                              settings=settings)
    unset = [v for v in args.token_env.split(":") if not os.environ.get(v)]
    note = f" (note: ${', $'.join(unset)} not set in this shell)" if unset else ""
    print(f"channel {channel.code} added: {channel.kind.value} at {channel.base_url}, "
          f"secret read from ${channel.credentials_env}{note}")
    return 0


def cmd_channel_list(args: argparse.Namespace) -> int:
    from core.channels import channel_table
    from core.db import new_session

    _upgrade()
    with new_session() as session:
        table = channel_table(session)
    if args.json:
        print(table.to_json(orient="records", date_format="iso"))
    elif table.empty:
        print("no channels yet - add one with: opsdesk channel add NAME --kind shopify --base-url URL --token-env VAR")
    else:
        print(table.to_string(index=False))
    return 0


def cmd_carrier_add(args: argparse.Namespace) -> int:
    from core.carriers import add_carrier_account
    from core.db import new_session

    _upgrade()
    with new_session() as session:
        account = add_carrier_account(session, args.name, kind=CarrierKind(args.kind), base_url=args.base_url,
                                      token_env=args.token_env, carriers=args.carriers, name=args.display_name,
                                      poll_interval_s=args.interval)
    note = "" if os.environ.get(args.token_env) else f" (note: ${args.token_env} is not set in this shell)"
    print(f"carrier account {account.code} added: {account.kind.label} at {account.base_url}, tracking "
          f"{', '.join(account.carriers)}, key read from ${account.credentials_env}{note}")
    return 0


def cmd_carrier_list(args: argparse.Namespace) -> int:
    from core.carriers import carrier_table
    from core.db import new_session

    _upgrade()
    with new_session() as session:
        table = carrier_table(session)
    if args.json:
        print(table.to_json(orient="records", date_format="iso"))
    elif table.empty:
        print("no carrier accounts yet - add one with: opsdesk carrier add NAME --kind easypost --base-url URL "
              "--token-env VAR")
    else:
        print(table.to_string(index=False))
    return 0


def cmd_carrier_poll(args: argparse.Namespace) -> int:
    from jobs.track import poll_carrier

    _upgrade()
    report = poll_carrier(args.name, respect_breaker=False)  # asked for by a person: try now
    print(report)
    return 1 if report.error else 0


def cmd_user_add(args: argparse.Namespace) -> int:
    from core.auth import add_user
    from core.db import new_session

    if args.password_env:
        password = os.environ.get(args.password_env, "")
        if not password:
            raise SystemExit(_fail(f"environment variable {args.password_env} is empty or not set"))
    elif sys.stdin.isatty():
        password = getpass.getpass(f"Password for {args.username}: ")
    else:
        raise SystemExit(_fail("no terminal to ask for a password: pass --password-env VAR"))
    _upgrade()
    with new_session() as session:
        user = add_user(session, args.username, password, Role(args.role), display_name=args.display_name)
    print(f"user {user.username} added with role {user.role.label}")
    return 0


def cmd_seed(args: argparse.Namespace) -> int:
    from core.db import new_session
    from core.seed import seed_demo

    _upgrade()
    with new_session() as session:
        created = seed_demo(session, sandbox_url=args.sandbox_url)
    print("created: " + ", ".join(created) if created else "nothing to do: the demo data is already there")
    return 0


def cmd_order_show(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from core.db import new_session
    from core.order_detail import order_detail, resolve_order

    _upgrade()
    with new_session() as session:
        detail = order_detail(session, resolve_order(session, args.ref))
    if args.json:
        print(json.dumps(asdict(detail), indent=2, ensure_ascii=False, default=str))
    else:
        o = detail.order
        print(f"{o['number']} ({o['channel']}, id {o['id']}) - {o['status_label']}, {o['total']} {o['currency']}")
        print(f"  {o['customer_name']} <{o['email']}>  placed {o['placed_at']}  ship by {o['ship_by']}")
        for line in detail.lines:
            print(f"  {line['quantity']} x {line['sku']}  {line['title']}  @ {line['unit_price']}")
        for event in detail.events:
            print(f"  {event['at']}  {event['actor']}: {event['text']}")
    return 0


def cmd_reports_rebuild(args: argparse.Namespace) -> int:
    from core.db import new_session
    from core.sla_rollup import rebuild

    _upgrade()
    with new_session() as session:
        report = rebuild(session, progress=lambda done, total: print(
            f"\rrollups: {done:,} of {total:,} days", end="", file=sys.stderr, flush=True))
    print(f"\nSLA history rollups rebuilt from {report.start:%Y-%m-%d}: {report.hour_rows:,} hour rows, "
          f"{report.day_rows:,} day rows; complete to {report.hours_to:%Y-%m-%d %H:%M} UTC")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from jobs.demo import run_demo

    return run_demo(port=args.port, sandbox_port=args.sandbox_port, reset=args.reset)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="opsdesk", description="OpsDesk: the e-commerce operations desk.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, fn: Callable[[argparse.Namespace], int], help_: str, parent=sub):  # type: ignore[no-untyped-def]
        cmd = parent.add_parser(name, help=help_, description=help_)
        cmd.set_defaults(fn=fn)
        return cmd

    demo = add("demo", cmd_demo, "run everything on SQLite: sandbox, worker and the UI on :8501")
    demo.add_argument("--port", type=int, default=8501)
    demo.add_argument("--sandbox-port", type=int, default=8900)
    demo.add_argument("--reset", action="store_true", help="start from an empty demo database")

    db = add("db", lambda a: 2, "database schema").add_subparsers(dest="db_command", required=True)
    add("upgrade", cmd_db_upgrade, "apply the Alembic migrations", db)

    sb = add("sandbox", cmd_sandbox, "serve the local channel simulator")
    sb.add_argument("--host", default="127.0.0.1")
    sb.add_argument("--port", type=int, default=8900)
    sb.add_argument("--seed", type=int, default=1)
    sb.add_argument("--token-env", default="OPSDESK_SANDBOX_SHOPIFY_TOKEN",
                    help="environment variable holding the access token to accept (default token: sandbox-token)")
    sb.add_argument("--orders-per-minute", type=float, default=20.0)
    sb.add_argument("--backlog", type=int, default=150, help="orders already placed when the sandbox starts")
    sb.add_argument("--time-scale", type=float, default=1.0, help="simulated seconds per real second")
    sb.add_argument("--rate-429", type=float, default=0.0)
    sb.add_argument("--rate-5xx", type=float, default=0.0)
    sb.add_argument("--slow-ms", type=int, default=0)
    sb.add_argument("--malformed-rate", type=float, default=0.0)
    sb.add_argument("--amazon-rate-scale", type=float, default=1.0,
                    help="multiply SP-API's documented quotas (getOrders 0.0167/s, getOrderItems 0.5/s)")
    sb.add_argument("--quota-scale", type=float, default=1.0,
                    help="multiply the API quotas (SP-API's per operation, Shopify GraphQL's restore rate) to "
                         "measure OpsDesk's own throughput; the default serves them as documented")
    sb.add_argument("--carrier-speed", type=float, default=1.0,
                    help="parcel journeys run this many times faster (the demo uses 60: an hour a minute)")
    sb.add_argument("--lwa-lifetime", type=float, default=3600.0, metavar="S",
                    help="seconds a Login with Amazon access token stays good (Amazon's: 3600); shorter to watch renewals")

    knobs = add("sandbox-faults", cmd_sandbox_faults, "read or turn a running sandbox's fault knobs (no option: read)")
    knobs.add_argument("--url", default="http://127.0.0.1:8900", help="the sandbox (default the demo's)")
    knobs.add_argument("--rate-429", type=float, metavar="P", help="share of API requests answered 429")
    knobs.add_argument("--rate-5xx", type=float, metavar="P", help="share answered 500, 502, 503 or 504")
    knobs.add_argument("--slow-ms", type=int, metavar="MS", help="delay every answer (past 10000 most connectors time out)")
    knobs.add_argument("--malformed-rate", type=float, metavar="P", help="share of new orders and parcels sent broken")
    knobs.add_argument("--reset", action="store_true", help="turn every knob off")

    add("worker", cmd_worker, "run the scheduler: polls every enabled channel")
    rep = add("reports", lambda a: 2, "report rollups").add_subparsers(dest="reports_command", required=True)
    add("rebuild", cmd_reports_rebuild, "recompute the SLA history's rollups from the first parcel (the worker "
        "refreshes the last three weeks every 5 minutes and rebuilds daily)", rep)
    poll = add("poll", cmd_poll, "poll one channel")
    poll.add_argument("channel")
    poll.add_argument("--once", action="store_true", required=True, help="one poll cycle, then exit")

    ch = add("channel", lambda a: 2, "sales channels").add_subparsers(dest="channel_command", required=True)
    ch_add = add("add", cmd_channel_add, "register a channel", ch)
    ch_add.add_argument("name", help="short code, e.g. us-store")
    ch_add.add_argument("--kind", required=True, choices=[k.value for k in _channel_kinds()])
    ch_add.add_argument("--base-url", required=True)
    ch_add.add_argument("--token-env", required=True, metavar="VAR[:VAR...]",
                        help="NAME of the environment variable with the secret; woocommerce needs two, "
                             "KEY_VAR:SECRET_VAR (consumer key, consumer secret); shopify, shopify_graphql and "
                             "amazon take the access token; amazon through Login with Amazon takes three, "
                             "CLIENT_ID_VAR:CLIENT_SECRET_VAR:REFRESH_TOKEN_VAR (access tokens renewed hourly)")
    ch_add.add_argument("--marketplace-id", action="append",
                        help="amazon: a marketplace id to poll (repeatable; default ATVPDKIKX0DER, the US)")
    ch_add.add_argument("--lwa-url", help="amazon with Login with Amazon: the token endpoint (default "
                        "https://api.amazon.com/auth/o2/token; EU https://api.amazon.co.uk/..., FE .co.jp)")
    ch_add.add_argument("--orders-api", choices=[v.value for v in AmazonOrdersApi],
                        help="amazon: the SP-API Orders version (default 2026-01-01: searchOrders, items and parcels "
                             "in one call per 100 orders; v0, getOrders plus getOrderItems per order, ends March 2027)")
    ch_add.add_argument("--display-name")
    ch_add.add_argument("--interval", type=int, default=15, help="seconds between polls")
    ch_list = add("list", cmd_channel_list, "list channels", ch)
    ch_list.add_argument("--json", action="store_true")

    ca = add("carrier", lambda a: 2, "carrier tracking accounts").add_subparsers(dest="carrier_command", required=True)
    ca_add = add("add", cmd_carrier_add, "register a carrier tracking account", ca)
    ca_add.add_argument("name", help="short code, e.g. easypost-main")
    ca_add.add_argument("--kind", required=True, choices=[k.value for k in CarrierKind])
    ca_add.add_argument("--base-url", required=True)
    ca_add.add_argument("--token-env", required=True, help="NAME of the environment variable with the API key")
    ca_add.add_argument("--carriers", default="*",
                        help="parcel carrier names it tracks, e.g. 'UPS,USPS' (default '*': every other parcel)")
    ca_add.add_argument("--display-name")
    ca_add.add_argument("--interval", type=int, default=300, help="seconds between polls")
    ca_list = add("list", cmd_carrier_list, "list carrier accounts", ca)
    ca_list.add_argument("--json", action="store_true")
    ca_poll = add("poll", cmd_carrier_poll, "poll one carrier account once", ca)
    ca_poll.add_argument("name")

    us = add("user", lambda a: 2, "accounts").add_subparsers(dest="user_command", required=True)
    u_add = add("add", cmd_user_add, "create a built-in account", us)
    u_add.add_argument("username")
    u_add.add_argument("--role", required=True, choices=[r.value for r in Role])
    u_add.add_argument("--display-name")
    u_add.add_argument("--password-env", help="read the password from this environment variable")

    seed = add("seed", cmd_seed, "create the demo accounts, locations and (with --sandbox-url) channel")
    seed.add_argument("--sandbox-url")

    order = add("order", lambda a: 2, "orders").add_subparsers(dest="order_command", required=True)
    show = add("show", cmd_order_show, "show one order with its lines and events", order)
    show.add_argument("ref", help="order number (#1001), channel order id, CHANNEL:NUMBER or internal id")
    show.add_argument("--json", action="store_true")
    return p


def _channel_kinds() -> list[ChannelKind]:
    """The kinds that have a connector (the parser registry decides)."""
    from connectors.parsers import CHANNELS

    return list(CHANNELS)


def _fail(message: str) -> int:
    print(f"opsdesk: error: {message}", file=sys.stderr)
    return 1


def _safe_url(url: str) -> str:
    """A database URL without its password, for messages."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Long-running processes tell what they do; one-shot commands print only their result.
    chatty = args.command in ("worker", "demo", "sandbox")
    logging.basicConfig(level=os.environ.get("OPSDESK_LOG_LEVEL", "INFO" if chatty else "WARNING"),
                        format=_LOG_FORMAT)
    for noisy in ("httpx", "httpcore", "apscheduler", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    from connectors.http import ConnectorError
    from core.errors import DomainError

    try:
        return args.fn(args)
    except (DomainError, ConnectorError) as exc:
        return _fail(str(exc))
    except OperationalError as exc:
        return _fail(f"database problem: {str(exc.orig).splitlines()[0] if exc.orig else exc}")
    except SQLAlchemyError as exc:
        return _fail(f"database error: {str(exc).splitlines()[0]}")
    except KeyboardInterrupt:
        return 130
    except OSError as exc:
        return _fail(str(exc))


if __name__ == "__main__":
    sys.exit(main())
