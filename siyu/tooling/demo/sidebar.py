"""A demo WeCom customer group with posts waiting for staff, so the chat-toolbar sidebar (/sidebar/) has
something to show in ``siyu demo``: sign in as ``c001`` and open http://127.0.0.1:8000/sidebar/.

The demo connector points at no real WeCom (its API base refuses connections) and nothing is queued for it:
every post here waits for staff (``can_wait=False``), which is what the sidebar lists. Posts go through the
communities dispatcher like any other, so the demo shows the real path.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import transaction

from siyu.channels.models import ChannelKind
from siyu.channels.services import bulk as channels_bulk
from siyu.communities.models import Community, GroupDelivery, JoinScene
from siyu.communities.services import bulk as communities_bulk
from siyu.communities.services.dispatch import dispatch
from siyu.communities.services.joining import join_community
from siyu.members.models import Member
from siyu.org.models import Brand, Store

DEMO_CONNECTOR_NAME = "演示企业微信（侧边栏）"
DEMO_CHAT_ID = "wrDemoSidebarGroup0001"
DEMO_GROUP_SUFFIX = "企微宝妈群1"
Kind = GroupDelivery.Kind


def seed_demo_sidebar(brand: Brand, now: datetime) -> Community | None:
    """Create the demo WeCom group of the first open store and its waiting posts, once (None: no store)."""
    store = Store.objects.filter(brand=brand, status=Store.Status.OPEN).order_by("code").first()
    if store is None:
        return None
    existing = Community.objects.filter(connector__name=DEMO_CONNECTOR_NAME, external_id=DEMO_CHAT_ID).first()
    if existing is not None:
        return existing
    with transaction.atomic():
        connector = channels_bulk.create_demo_connector(
            brand,
            kind=ChannelKind.WECOM,
            name=DEMO_CONNECTOR_NAME,
            config={
                "corp_id": "wwdemo0000000001",
                "corp_secret": "demo",
                "agent_id": "1000002",
                "api_base": "http://127.0.0.1:9",
                "store_code": store.code,
            },
        )
        group = communities_bulk.open_channel_group_as_system(
            brand,
            store,
            connector=connector,
            external_id=DEMO_CHAT_ID,
            name=f"{store.name}·{DEMO_GROUP_SUFFIX}",
            hard_cap=500,
            created_at=now - timedelta(days=3),
        )
        members = list(Member.objects.filter(brand=brand, home_store=store).order_by("id")[:3])
        for member in members:
            # As WeCom reports a member already in the group (no live code): through the joining service,
            # so counts, events and the welcome are as in production.
            join_community(group, member, scene=JoinScene.CHANNEL)
        posts: list[tuple[str, dict[str, Any], str]] = [
            (
                Kind.PROGRAMME,
                {"text": "【午间好物】今天 12:00 推荐：北欧陶瓷杯，门店自提更方便～"},
                "programme-1",
            ),
            (
                Kind.RELAY,
                {"text": "【秒杀接龙】限时秒杀 · 人气好物\n1. 王** 北欧陶瓷杯 ×2\n2. 李** 香薰蜡烛 ×1"},
                "relay-1",
            ),
            (Kind.RELAY, {"text": "【秒杀接龙】限时秒杀 · 人气好物\n3. 张** 北欧陶瓷杯 ×1"}, "relay-2"),
            (
                Kind.CARD,
                {
                    "card": {
                        "title": "北欧陶瓷杯 · 会员价",
                        "description": "门店自提，下单后到店出示取货码",
                        "url": "/h5/mall/",
                        "image_url": "",
                    }
                },
                "card-1",
            ),
        ]
        for kind, content, key in posts:
            dispatch(group, content, kind=kind, key=f"demo-sidebar:{key}", can_wait=False)
    return group
