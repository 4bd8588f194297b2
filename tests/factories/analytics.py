"""analytics: events recorded through the event log service (daily counts kept with them)."""

from __future__ import annotations

from typing import Any

from siyu.analytics.models import Event
from siyu.analytics.services.events import record_event


def make_event(type: str = "community.joined", **fields: Any) -> Event:
    """One event (``member_id``, ``store_id``, ``community_id``, ``occurred_at``, ``payload`` as keywords)."""
    return record_event(type, **fields)
