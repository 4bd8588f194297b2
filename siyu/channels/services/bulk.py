"""Set-up of connectors for the demo chain and benchmarks, where no person configures them.

The console and CLI go through ``connectors.add_wecom_connector`` / ``add_telegram_connector``, which check
real credentials; a demo connector has none (its API base points nowhere and its config says ``demo``).
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from siyu.channels.models import ChannelKind, Connector
from siyu.common.errors import ValidationFailed
from siyu.org.models import Brand


def create_demo_connector(brand: Brand, *, kind: str, name: str, config: dict[str, Any]) -> Connector:
    """A connector of ``brand`` marked ``demo`` (it never reaches a provider)."""
    if kind not in ChannelKind.values:
        raise ValidationFailed(_("Unknown channel."), field="kind")
    return Connector.objects.create(brand=brand, kind=kind, name=name, config={**config, "demo": True})
