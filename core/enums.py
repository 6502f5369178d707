"""Every status, code, role and permission of OpsDesk, defined once.

The UI reads labels from here; the store keeps the enum values as short strings.
"""

from __future__ import annotations

from enum import StrEnum


class LabelledEnum(StrEnum):
    """A string enum whose members carry a human label."""

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()


class OrderStatus(LabelledEnum):
    NEW = "new"
    ON_HOLD = "on_hold"
    READY = "ready"
    ALLOCATED = "allocated"
    BACKORDERED = "backordered"
    PARTIALLY_SHIPPED = "partially_shipped"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"

    @property
    def is_open(self) -> bool:
        """Open orders still need the desk: they are the live queue."""
        return self not in CLOSED_STATUSES


FULFILLED_STATUSES = (OrderStatus.SHIPPED, OrderStatus.DELIVERED)  # everything has left
CLOSED_STATUSES = frozenset({*FULFILLED_STATUSES, OrderStatus.CANCELLED})
OPEN_STATUSES = tuple(s for s in OrderStatus if s not in CLOSED_STATUSES)


class FinancialStatus(LabelledEnum):
    PENDING = "pending"
    AUTHORIZED = "authorized"
    PARTIALLY_PAID = "partially_paid"
    PAID = "paid"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"
    VOIDED = "voided"
    UNKNOWN = "unknown"


class ChannelKind(LabelledEnum):
    SHOPIFY = "shopify"
    SHOPIFY_GRAPHQL = "shopify_graphql"
    WOOCOMMERCE = "woocommerce"
    AMAZON = "amazon"


class AmazonOrdersApi(LabelledEnum):
    """The SP-API Orders version an Amazon channel polls: v2026-01-01 for new channels; v0 (getOrders plus one
    getOrderItems call per order) is what channels added before it keep, until Amazon removes it in March 2027."""

    V2026 = "2026-01-01"
    V0 = "v0"

    @property
    def label(self) -> str:
        return {"2026-01-01": "2026-01-01 (searchOrders: items and parcels included)",
                "v0": "v0 (getOrders + getOrderItems; removed March 2027)"}[self.value]


class CarrierKind(LabelledEnum):
    """The tracking APIs OpsDesk can poll (connectors.carriers.CARRIERS has one module each)."""

    EASYPOST = "easypost"
    SHIPPO = "shippo"
    AFTERSHIP = "aftership"

    @property
    def label(self) -> str:
        return {"easypost": "EasyPost", "shippo": "Shippo", "aftership": "AfterShip"}[self.value]


class LocationKind(LabelledEnum):
    WAREHOUSE = "warehouse"
    STORE = "store"
    THREE_PL = "3pl"


class MovementKind(LabelledEnum):
    RECEIPT = "receipt"
    ADJUSTMENT = "adjustment"
    RESERVATION = "reservation"
    RELEASE = "release"
    SHIPMENT = "shipment"
    RETURN_RESTOCK = "return_restock"
    COUNT = "count"


class AdjustmentReason(LabelledEnum):
    """Why an ops lead changed on-hand stock by hand."""

    DAMAGED = "damaged"
    LOST = "lost"
    FOUND = "found"
    CYCLE_COUNT = "cycle_count"
    CORRECTION = "correction"
    OTHER = "other"


class AllocationStatus(LabelledEnum):
    RESERVED = "reserved"
    SHIPPED = "shipped"
    RELEASED = "released"


class HoldCode(LabelledEnum):
    HIGH_VALUE = "HIGH_VALUE"
    PAYMENT_PENDING = "PAYMENT_PENDING"
    FRAUD_RISK = "FRAUD_RISK"
    ADDRESS_INVALID = "ADDRESS_INVALID"
    OUT_OF_ZONE = "OUT_OF_ZONE"
    DUPLICATE_SUSPECT = "DUPLICATE_SUSPECT"
    MANUAL = "MANUAL"
    BACKORDER = "BACKORDER"
    SLA_AT_RISK = "SLA_AT_RISK"
    SLA_BREACHED = "SLA_BREACHED"
    CARRIER_EXCEPTION = "CARRIER_EXCEPTION"
    TRACKING_STALE = "TRACKING_STALE"
    SYNC_ERROR = "SYNC_ERROR"
    STOCK_INTEGRITY = "STOCK_INTEGRITY"  # a stock invariant is broken (order_id is None); never auto-repaired

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize().replace("Sla ", "SLA ")

    @property
    def blocking(self) -> bool:
        """Blocking items stop fulfilment; the others only ask for attention."""
        return self in _BLOCKING_HOLDS


_BLOCKING_HOLDS = frozenset(
    {
        HoldCode.HIGH_VALUE,
        HoldCode.PAYMENT_PENDING,
        HoldCode.FRAUD_RISK,
        HoldCode.ADDRESS_INVALID,
        HoldCode.OUT_OF_ZONE,
        HoldCode.DUPLICATE_SUSPECT,
        HoldCode.MANUAL,
    }
)


class SlaState(LabelledEnum):
    """Where an unshipped order stands against its ship-by (DESIGN.md section 4, SLA)."""

    ON_TRACK = "on_track"
    AT_RISK = "at_risk"
    BREACHED = "breached"


class HoldState(LabelledEnum):
    OPEN = "open"
    RESOLVED = "resolved"


class ShipmentStatus(LabelledEnum):
    LABEL_CREATED = "label_created"
    IN_TRANSIT = "in_transit"
    DELIVERED = "delivered"
    EXCEPTION = "exception"
    RETURNED = "returned"
    CANCELLED = "cancelled"


class TrackingStatus(LabelledEnum):
    PRE_TRANSIT = "pre_transit"
    IN_TRANSIT = "in_transit"
    OUT_FOR_DELIVERY = "out_for_delivery"
    AVAILABLE_FOR_PICKUP = "available_for_pickup"
    DELIVERED = "delivered"
    FAILED_ATTEMPT = "failed_attempt"
    EXCEPTION = "exception"
    RETURNED_TO_SENDER = "returned_to_sender"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"


class ReturnStatus(LabelledEnum):
    REQUESTED = "requested"
    IN_TRANSIT = "in_transit"
    RECEIVED = "received"
    INSPECTED = "inspected"
    CLOSED = "closed"


class ReturnReason(LabelledEnum):
    DAMAGED = "damaged"
    DEFECTIVE = "defective"
    WRONG_ITEM = "wrong_item"
    NOT_AS_DESCRIBED = "not_as_described"
    SIZE_OR_FIT = "size_or_fit"
    CHANGED_MIND = "changed_mind"
    ARRIVED_LATE = "arrived_late"
    OTHER = "other"


class Grade(LabelledEnum):
    A = "A"
    B = "B"
    C = "C"
    D = "D"
    MISSING = "MISSING"

    @property
    def label(self) -> str:
        return _GRADE_LABELS[self]


_GRADE_LABELS = {Grade.A: "A - resellable", Grade.B: "B - open box", Grade.C: "C - damaged",
                 Grade.D: "D - unusable", Grade.MISSING: "Missing"}


class Disposition(LabelledEnum):
    RESTOCK = "restock"
    RESTOCK_OPEN_BOX = "restock_open_box"
    REFURBISH = "refurbish"
    RETURN_TO_VENDOR = "return_to_vendor"
    DISPOSE = "dispose"


class ActorKind(LabelledEnum):
    USER = "user"
    WORKER = "worker"
    CHANNEL = "channel"
    SYSTEM = "system"


class RunStatus(LabelledEnum):
    RUNNING = "running"
    OK = "ok"
    PARTIAL = "partial"
    FAILED = "failed"  # the connector stopped on the channel's or carrier's error
    ABORTED = "aborted"  # stopped by an error on our side (the database away, a bug): not the remote's fault


FAILED_RUNS = (RunStatus.FAILED, RunStatus.ABORTED)  # what the health pages count as failed polls


class Role(LabelledEnum):
    OPS_LEAD = "ops_lead"
    SUPPORT = "support"
    MANAGER = "manager"
    ADMIN = "admin"
    CLERK = "clerk"


class Permission(LabelledEnum):
    VIEW_ORDERS = "view_orders"
    ADD_NOTE = "add_note"
    PLACE_MANUAL_HOLD = "place_manual_hold"
    RELEASE_HOLD = "release_hold"
    ASSIGN_HOLD = "assign_hold"
    CANCEL_ORDER = "cancel_order"
    EDIT_ORDER = "edit_order"
    ADJUST_STOCK = "adjust_stock"
    RECEIVE_RETURN = "receive_return"
    INSPECT_RETURN = "inspect_return"  # grade returned units; the proposed disposition applies
    OVERRIDE_DISPOSITION = "override_disposition"  # choose another disposition than the grade proposes
    DECIDE_REFUND = "decide_refund"  # set a return line's refund (the grade leaves C and D to a person)
    AUTHORISE_RETURN = "authorise_return"
    VIEW_KPIS = "view_kpis"
    MANAGE_CHANNELS = "manage_channels"
    MANAGE_USERS = "manage_users"
    MANAGE_SETTINGS = "manage_settings"  # hold-rule thresholds and other desk-wide settings (admin)
    OPERATE_CONNECTORS = "operate_connectors"  # pause / resume a channel, poll now, replay dead letters
    SHIP_ORDER = "ship_order"  # mark an allocation shipped from the desk (carrier, service, tracking number)


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.OPS_LEAD: frozenset(
        {
            Permission.VIEW_ORDERS,
            Permission.ADD_NOTE,
            Permission.PLACE_MANUAL_HOLD,
            Permission.RELEASE_HOLD,
            Permission.ASSIGN_HOLD,
            Permission.CANCEL_ORDER,
            Permission.EDIT_ORDER,
            Permission.ADJUST_STOCK,
            Permission.AUTHORISE_RETURN,
            Permission.OVERRIDE_DISPOSITION,
            Permission.DECIDE_REFUND,
            Permission.VIEW_KPIS,
            Permission.OPERATE_CONNECTORS,
            Permission.SHIP_ORDER,
        }
    ),
    Role.SUPPORT: frozenset(
        {
            Permission.VIEW_ORDERS,
            Permission.ADD_NOTE,
            Permission.PLACE_MANUAL_HOLD,
            Permission.AUTHORISE_RETURN,
        }
    ),
    Role.MANAGER: frozenset({Permission.VIEW_ORDERS, Permission.VIEW_KPIS}),
    Role.CLERK: frozenset({Permission.VIEW_ORDERS, Permission.RECEIVE_RETURN, Permission.INSPECT_RETURN}),
    Role.ADMIN: frozenset(Permission),
}
