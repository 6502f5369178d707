"""The sandbox HTTP server: standard library only, one route table, quiet logs.

Each simulated API is a callable ``Request -> Reply`` registered under a path prefix
(Shopify ``/admin/api/``, WooCommerce ``/wp-json/wc/v3/``, Amazon ``/orders/``: v0 and v2026-01-01); carriers
plug in the same way with ``SandboxServer.add_route``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sandbox import FaultConfig, Faults, Reply, Request, knobs
from sandbox.amazon_api import PREFIX as AMAZON_PREFIX
from sandbox.amazon_api import AmazonApi
from sandbox.amazon_orders_api import search_orders
from sandbox.carrier_api import mount as mount_carriers
from sandbox.lwa_api import PATH as LWA_PATH
from sandbox.lwa_api import LwaIssuer
from sandbox.parcels import Parcels
from sandbox.shopify_api import PREFIX as SHOPIFY_PREFIX
from sandbox.shopify_api import ShopifyApi
from sandbox.shopify_graphql_api import ShopifyAdmin, ShopifyGraphqlApi
from sandbox.woocommerce_api import PREFIX as WOO_PREFIX
from sandbox.woocommerce_api import WooCommerceApi
from sandbox.world import World

WOO_KEY = "ck_sandbox"  # the sandbox's WooCommerce consumer key; the secret is the sandbox token

log = logging.getLogger(__name__)

Route = Callable[[Request], Reply]

__all__ = ["FaultConfig", "Route", "SandboxServer", "make_server"]


class SandboxServer:
    """A running (or ready to run) sandbox: ``url``, ``world``, ``start()``, ``stop()``."""

    def __init__(self, host: str, port: int, world: World, faults: Faults) -> None:
        self.world, self.faults = world, faults
        self.worlds: dict[str, World] = {"shopify": world}  # channel kind -> the shop its API sells from
        self.parcels: Parcels | None = None  # every parcel the carrier APIs track (make_server mounts them)
        self.lwa: LwaIssuer | None = None  # Login with Amazon's token endpoint (make_server mounts it)
        self._routes: dict[str, Route] = {}
        self._counts = {"requests": 0, "sent_429": 0, "sent_5xx": 0}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        handler = type("SandboxHandler", (_Handler,), {"sandbox": self})
        self._httpd = _QuietServer((host, port), handler)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def add_route(self, prefix: str, route: Route) -> None:
        """Serve every path starting with ``prefix`` (longest prefix wins)."""
        self._routes[prefix] = route

    def start(self) -> SandboxServer:
        """Serve from a background daemon thread; returns self for chaining."""
        if self._thread is None:
            # A short poll interval makes stop() quick: shutdown() waits for the loop to notice.
            serve = lambda: self._httpd.serve_forever(poll_interval=0.05)  # noqa: E731
            self._thread = threading.Thread(target=serve, name="sandbox-http", daemon=True)
            self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted (the CLI's entry point)."""
        try:
            self._httpd.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            self._httpd.server_close()

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stats(self) -> dict[str, int]:
        """Counts for tests and the demo: orders, malformed orders, requests, 429s and 5xx sent."""
        with self._lock:
            counts = dict(self._counts)
        rows = self.world.rows()
        per_channel = {f"{kind}_orders": len(w.rows()) for kind, w in self.worlds.items() if w is not self.world}
        return {"orders": len(rows), "malformed": sum(1 for r in rows if r.malformed), **per_channel, **counts}

    def handle(self, req: Request) -> Reply:
        """Dispatch one request and count what was sent."""
        if req.path == "/health":
            reply = Reply.text(200, "ok")
        elif req.path == "/_sandbox/stats":
            reply = Reply.json(200, self.stats())
        elif req.path == "/_sandbox/faults":
            reply = knobs.handle(req, self.faults, [*self.worlds.values(), *([self.parcels] if self.parcels else [])])
        else:
            route = next((self._routes[p] for p in sorted(self._routes, key=len, reverse=True)
                          if req.path.startswith(p)), None)
            reply = route(req) if route else Reply.json(404, {"errors": "Not Found"})
        with self._lock:
            self._counts["requests"] += 1
            self._counts["sent_429"] += reply.status == 429
            self._counts["sent_5xx"] += reply.status >= 500
        return reply


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hanging up mid-answer (timeouts under slow_ms) are expected here, not news.
        log.debug("sandbox connection error from %s", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the real APIs
    # Headers and body go out in two writes; with Nagle's algorithm on, the body then waits for the
    # client's delayed ACK (~40 ms) on every keep-alive answer. Real APIs answer in one go.
    disable_nagle_algorithm = True
    server_version = "OpsDeskSandbox/0.1"
    timeout = 30  # close idle keep-alive connections eventually
    sandbox: SandboxServer

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        parts = urlsplit(self.path)
        host = self.headers.get("Host") or "{}:{}".format(*self.server.server_address[:2])
        req = Request(method=self.command, path=parts.path,
                      query=parse_qs(parts.query, keep_blank_values=True),
                      headers={k.lower(): v for k, v in self.headers.items()},
                      base_url=f"http://{host}", body=body)
        try:
            reply = self.sandbox.handle(req)
        except Exception:  # a sandbox bug must show up as a 500, not a dropped connection
            log.exception("sandbox route failed for %s %s", self.command, parts.path)
            reply = Reply.json(500, {"errors": "sandbox internal error"})
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        log.debug("sandbox %s - " + format, self.address_string(), *args)


def make_server(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    seed: int = 1,
    token: str = "sandbox-token",
    faults: FaultConfig | None = None,
    time_scale: float = 1.0,
    orders_per_minute: float = 20.0,
    backlog: int = 150,
    now: Callable[[], datetime] | None = None,
    bucket_size: int = 40,
    leak_per_s: float = 2.0,
    woo_key: str = WOO_KEY,
    amazon_rates: dict[str, tuple[float, int]] | None = None,
    amazon_items_page_size: int = 100,
    graphql_bucket: tuple[float, float] = (1000.0, 50.0),
    carrier_speed: float = 1.0,
    lwa_lifetime_s: float = 3600.0,
) -> SandboxServer:
    """Build a sandbox with every channel API mounted; ``port=0`` picks a free port (see ``.url``).

    Each channel API sells from its own simulated shop (its own order stream, seeded from
    ``seed``), with the same clock, rates and fault knobs. Credentials: Shopify and Amazon take
    ``token`` as the access token; WooCommerce takes ``woo_key`` and ``token`` as consumer key and secret.
    ``amazon_rates`` overrides SP-API's quotas per operation (requests per second, burst);
    ``graphql_bucket`` is Shopify GraphQL's cost bucket (maximum points, restore per second).
    Shopify GraphQL sells from its own shop too, so a demo with both Shopify kinds has no twins.
    EasyPost, Shippo and AfterShip (``token`` is their API key) track every parcel the shops ship,
    and any other number from when they first hear of it; ``carrier_speed`` makes journeys faster.
    """
    faults = faults or FaultConfig()

    def shop(offset: int) -> World:
        return World(seed=seed * 1000 + offset if offset else seed, now=now, time_scale=time_scale,
                     orders_per_minute=orders_per_minute, backlog=backlog, malformed_rate=faults.malformed_rate)

    world = shop(0)
    server = SandboxServer(host, port, world, Faults(faults, seed))
    server.worlds["woocommerce"] = woo = shop(1)
    server.worlds["shopify_graphql"] = gql = shop(3)
    rest = ShopifyApi(world, server.faults, token, bucket_size=bucket_size, leak_per_s=leak_per_s)
    graphql = ShopifyGraphqlApi(gql, server.faults, token, maximum=graphql_bucket[0], restore=graphql_bucket[1])
    server.add_route(SHOPIFY_PREFIX, ShopifyAdmin(rest, graphql))
    server.add_route(WOO_PREFIX, WooCommerceApi(woo, server.faults, woo_key, token))
    server.worlds["amazon"] = amazon = shop(2)
    # Login with Amazon: client id lwa_api.CLIENT_ID, client secret ``token``, refresh token lwa_api.REFRESH_TOKEN.
    server.lwa = LwaIssuer(token, lifetime_s=lwa_lifetime_s)
    server.add_route(LWA_PATH, server.lwa)
    server.add_route(AMAZON_PREFIX, AmazonApi(amazon, server.faults, token, rates=amazon_rates,
                                              items_page_size=amazon_items_page_size, lwa=server.lwa,
                                              search=search_orders))
    server.parcels = Parcels(server.worlds, world.now, seed=seed, speed=carrier_speed,
                             malformed_rate=faults.malformed_rate)
    mount_carriers(server.add_route, server.parcels, server.faults, token)
    return server
