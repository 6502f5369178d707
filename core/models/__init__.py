"""The whole OpsDesk domain as SQLAlchemy 2 typed models (DESIGN.md section 4)."""

from core.models.audit import Event, Setting, User
from core.models.base import Base, utcnow
from core.models.carriers import CarrierAccount
from core.models.channels import Channel, ConnectorRun, DeadLetter, SyncCursor
from core.models.fulfilment import Hold, Shipment, ShipmentLine, TrackingEvent
from core.models.inventory import Allocation, InventoryLevel, InventoryMovement, Location
from core.models.orders import Order, OrderLine
from core.models.reports import ParcelDurationDay, RollupMark, ShippedHour
from core.models.returns import Return, ReturnLine

__all__ = [
    "Allocation",
    "Base",
    "CarrierAccount",
    "Channel",
    "ConnectorRun",
    "DeadLetter",
    "Event",
    "Hold",
    "InventoryLevel",
    "InventoryMovement",
    "Location",
    "Order",
    "OrderLine",
    "ParcelDurationDay",
    "Return",
    "ReturnLine",
    "RollupMark",
    "Setting",
    "Shipment",
    "ShippedHour",
    "ShipmentLine",
    "SyncCursor",
    "TrackingEvent",
    "User",
    "utcnow",
]
