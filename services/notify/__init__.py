"""Alerts to maintenance engineers: routing, escalation, reminders and a durable outbox."""

from services.notify.channels import DeliveryError
from services.notify.outbox import Alert, Outbox, OutboxError
from services.notify.service import NotifyService

__all__ = ["Alert", "DeliveryError", "NotifyService", "Outbox", "OutboxError"]
