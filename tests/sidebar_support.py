"""Fixtures for the WeCom chat-toolbar sidebar tests (registered as a pytest plugin in tests/conftest.py):
a fake WeCom server, a WeCom connector pointing at it, and a WeCom customer group in store A and in store B.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import cache

from siyu.channels.models import ChannelKind, Connector
from siyu.communities.models import Community, GroupDelivery
from siyu.communities.services.dispatch import dispatch
from tests.factories import make_group
from tests.wecom_support import connect_wecom

SIDEBAR_AGENT_ID = "1000002"


@pytest.fixture
def sidebar_fake(fake_wecom):
    """A running fake WeCom server (tickets, OAuth codes); the token cache starts empty."""
    cache.clear()
    return fake_wecom


@pytest.fixture
def sidebar_connector(sidebar_fake, brand) -> Connector:
    return connect_wecom(sidebar_fake, agent_id=SIDEBAR_AGENT_ID)


@pytest.fixture
def wecom_group_a(store_a, sidebar_connector) -> Community:
    return make_group(
        store_a, channel=ChannelKind.WECOM, connector=sidebar_connector, external_id="wrChatA", name="宝妈群1"
    )


@pytest.fixture
def wecom_group_b(store_b, sidebar_connector) -> Community:
    return make_group(
        store_b,
        channel=ChannelKind.WECOM,
        connector=sidebar_connector,
        external_id="wrChatB",
        name="宝妈群B1",
    )


def wait_for_staff(community: Community, content: dict[str, Any], *, kind: str, key: str) -> GroupDelivery:
    """A post that cannot wait, dispatched on the group's WeCom connector: it waits for staff."""
    delivery = dispatch(community, content, kind=kind, key=key, can_wait=False)
    assert delivery is not None and delivery.status == GroupDelivery.Status.WAITING_STAFF
    return delivery
