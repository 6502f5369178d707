"""Which screens exist, who may open them, and where each role lands after signing in."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import streamlit as st

from core.auth import Actor
from core.enums import Permission, Role


@dataclass(frozen=True)
class Screen:
    """One page of the desk and the permission needed to see it at all."""

    key: str
    title: str
    path: str  # relative to app.py
    permission: Permission
    icon: str
    section: str = "Orders"


# The order of this table is the order of the menu. Later screens slot in here, e.g.
#   Screen("sla" / "kpi", ..., Permission.VIEW_KPIS), Screen("connectors", ..., Permission.MANAGE_CHANNELS),
#   Screen("admin", ..., Permission.MANAGE_USERS)
SCREENS: tuple[Screen, ...] = (
    Screen("queue", "Order queue", "pages/queue.py", Permission.VIEW_ORDERS, ":material/view_list:"),
    # Everyone who reads orders may read the holds; what they may do there is checked per action.
    Screen("holds", "Exceptions & holds", "pages/holds.py", Permission.VIEW_ORDERS, ":material/report:"),
    Screen("lookup", "Order lookup", "pages/lookup.py", Permission.VIEW_ORDERS, ":material/search:"),
    # Everyone who reads orders may read returns; each step is checked per action (receive, inspect, authorise...).
    Screen("returns", "Returns", "pages/returns.py", Permission.VIEW_ORDERS, ":material/assignment_return:"),
    # Everyone who reads orders may read stock; changing it is checked per action (ADJUST_STOCK).
    Screen("inventory", "Inventory", "pages/inventory.py", Permission.VIEW_ORDERS, ":material/inventory_2:",
           section="Stock"),
    Screen("stock-integrity", "Stock integrity", "pages/stock_alerts.py", Permission.ADJUST_STOCK,
           ":material/fact_check:", section="Stock"),
    # Everyone on the desk sees when an integration is sick; pausing, polling and replaying are checked per action.
    Screen("connectors", "Connector health", "pages/connectors.py", Permission.VIEW_ORDERS, ":material/hub:",
           section="Connectors"),
    Screen("sla", "SLA", "pages/sla.py", Permission.VIEW_KPIS, ":material/timer:", section="Reports"),
    Screen("kpi", "KPI overview", "pages/kpi.py", Permission.VIEW_KPIS, ":material/monitoring:", section="Reports"),
    Screen("hold-rules", "Hold rules", "pages/hold_rules.py", Permission.MANAGE_SETTINGS, ":material/tune:",
           section="Admin"),
    Screen("channels", "Channels", "pages/channels.py", Permission.MANAGE_CHANNELS, ":material/storefront:",
           section="Admin"),
    Screen("carriers", "Carriers", "pages/carriers.py", Permission.MANAGE_CHANNELS, ":material/local_shipping:",
           section="Admin"),
    Screen("locations", "Locations", "pages/locations.py", Permission.MANAGE_CHANNELS, ":material/warehouse:",
           section="Admin"),
    Screen("users", "Users", "pages/users.py", Permission.MANAGE_USERS, ":material/group:", section="Admin"),
    Screen("sla-policies", "SLA policies", "pages/sla_policies.py", Permission.MANAGE_CHANNELS, ":material/schedule:",
           section="Admin"),
)

# Where each role starts: the ops side works the queue, the customer side looks orders up.
LANDING: dict[Role, str] = {
    Role.OPS_LEAD: "holds",  # the ops lead works the exception queue (DESIGN.md section 1)
    Role.MANAGER: "kpi",  # managers read the KPI pages (DESIGN.md section 1)
    Role.ADMIN: "queue",
    Role.SUPPORT: "lookup",
    Role.CLERK: "returns",  # the returns clerk receives and grades returns (DESIGN.md section 1)
}

LOOKUP_PATH = "pages/lookup.py"


def screens_for(actor: Actor) -> list[Screen]:
    """The screens this actor may see, in menu order."""
    return [s for s in SCREENS if actor.can(s.permission)]


def landing_for(actor: Actor, screens: list[Screen]) -> Screen | None:
    """The actor's default screen: their role's landing page if they may see it, else the first one."""
    wanted = LANDING.get(actor.role) if actor.role else None
    return next((s for s in screens if s.key == wanted), screens[0] if screens else None)


def gate_pages(login: Callable[[], None]) -> list[st.Page]:
    """What a visitor who is not signed in can reach: the sign-in form, at every screen's address.

    A shared link (say /lookup?order=42) then shows the form instead of "page not found", and
    after signing in the same address is the real screen, so the link still works.
    """
    pages = [st.Page(login, title="Sign in", url_path="login", default=True)]
    pages += [st.Page(login, title="Sign in", url_path=screen.key) for screen in SCREENS]
    return pages


def navigation_pages(actor: Actor) -> dict[str, list[st.Page]]:
    """st.Page objects for exactly the screens the actor may see: the rest are not registered at all,
    so their URLs lead nowhere for this role.

    The default page ("/") is a hidden hop to the role's landing screen, so every screen keeps
    its own address (/queue, /lookup?order=42) and a shared link means the same for every role.
    """
    screens = screens_for(actor)
    landing = landing_for(actor, screens)
    if landing is None:
        return {}
    sections: dict[str, list[st.Page]] = {}
    for screen in screens:
        sections.setdefault(screen.section, []).append(
            st.Page(screen.path, title=screen.title, icon=screen.icon, url_path=screen.key)
        )
    can_lookup = any(screen.path == LOOKUP_PATH for screen in screens)
    landing_path = landing.path

    def home() -> None:
        order = st.query_params.get("order")
        if order and can_lookup:  # "/?order=42": a link that lost its screen on the way
            st.switch_page(LOOKUP_PATH, query_params={"order": order})
        st.switch_page(landing_path)

    next(iter(sections.values())).append(
        st.Page(home, title="OpsDesk", url_path="home", default=True, visibility="hidden")
    )
    return sections
