"""channels: connectors (plain rows through factory_boy; the fakes in tests/fakes give them a server)."""

from __future__ import annotations

import factory

from siyu.channels.models import Connector
from tests.factories.org import BrandFactory


class ConnectorFactory(factory.django.DjangoModelFactory):
    """A web connector; pass ``kind``/``config`` for others, e.g. ``kind="telegram",
    config={"bot_token": BOT_TOKEN, "webhook_secret": "s", "api_base": fake.url}``."""

    class Meta:
        model = Connector

    brand = factory.SubFactory(BrandFactory)
    kind = "web"
    name = factory.LazyAttribute(lambda o: o.kind)
    config = factory.LazyFunction(dict)
