"""The built-in web channel: messages are written straight to the database, so there is nothing to call."""

from __future__ import annotations

from typing import Any

from siyu.channels.connectors.base import Capability, ChannelConnector
from siyu.channels.models import Connector


class WebConnector(ChannelConnector):
    """Every action succeeds at once: the web chat already shows what the services stored."""

    kind = "web"
    capabilities = frozenset(set(Capability))

    def __init__(self, connector: Connector | None = None) -> None:
        self.connector = connector

    def perform(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        return {}
