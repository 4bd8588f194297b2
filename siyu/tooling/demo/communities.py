"""Demo groups for the demo chain: templates, live codes, groups with members and a history in every store.

Written through ``siyu.communities.services.bulk`` (which keeps ``member_count`` equal to the active member
memberships) and the event log's ``bulk_record_events``: no group is above its recommended size, every
membership is attributed (scene, inviter, live code), and every join and member message has its event.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from siyu.analytics.models import Event
from siyu.analytics.services.events import bulk_record_events
from siyu.communities.models import (
    Community,
    CommunityMembership,
    GroupTemplate,
    JoinScene,
    MemberRole,
    Message,
    ModerationRule,
    Theme,
)
from siyu.communities.services import bulk
from siyu.members.models import Member, Tag
from siyu.members.services.tags import rule_queryset
from siyu.org.models import Brand, Role, Staff, Store

RULES_TEXT = (
    "1. 友善交流，不发广告、外链和二维码；\n2. 不刷屏，不发与本群无关的内容；\n"
    "3. 活动和优惠以群公告为准；\n4. 违规将依次提醒、禁言、移出本群。"
)
WELCOME = (
    "欢迎 {name} 加入{group}！这里是{store}的会员群，每天有好物分享和专属福利。入群请先看群规：\n{rules}"
)

# name, theme, base name, audience (tag names resolved to ids, or member fields), groups per store at most
TEMPLATES: list[tuple[str, str, str, dict[str, Any], int]] = [
    ("宝妈育儿群", Theme.MOM, "宝妈群", {"tag": "宝妈"}, 2),
    ("健康养生群", Theme.HEALTH, "养生群", {"tag": "健康养生"}, 1),
    ("时尚穿搭群", Theme.FASHION, "穿搭群", {"gender": "f", "age_band": ["18-24", "25-34"]}, 1),
    ("VIP会员群", Theme.VIP, "VIP群", {"tag": "高消费"}, 1),
]
DAILY_PROGRAMME = [
    "☀️ 早安！今天门店上新北欧风陶瓷餐具，到店报群名享会员价～",
    "📢 新品剧透：明晚 8 点直播间首发收纳神器，提前关注不迷路！",
    "⚡ 限时秒杀预告：周五 20:00 抢 9.9 元香薰蜡烛，每人限 2 件。",
    "🎥 直播预告：本周六 19:30 店长带你逛新品，直播间抽奖送靠枕。",
    "🌙 晚安～明天早上 10 点开门，等你来店里坐坐。",
]
CHATTER = [
    "请问周末门店几点关门？",
    "昨天买的收纳盒很好用，推荐！",
    "有没有适合小户型的折叠桌？",
    "打卡～今天又来逛了",
    "这个香薰是什么味道的呀？",
    "宝宝的餐椅有推荐吗",
    "谢谢店长，已经到店自提啦",
    "想问下会员积分怎么查",
    "新品的颜色好好看！",
    "求链接，想买同款",
    "今天的活动还有吗？",
    "老板人真好，给我多送了一个袋子",
]
SPAM = "加我微信 vx12345678 领优惠 http://spam.example.com"


@dataclass
class CommunityDemoSummary:
    templates: int = 0
    live_codes: int = 0
    communities: int = 0
    memberships: int = 0
    messages: int = 0


def _create_templates(brand: Brand) -> list[tuple[GroupTemplate, int]]:
    tags = {t.name: t.pk for t in Tag.objects.filter(group__brand=brand)}
    templates = []
    for name, theme, base, audience, per_store in TEMPLATES:
        rule: dict[str, Any] = {k: v for k, v in audience.items() if k != "tag"}
        if "tag" in audience and audience["tag"] in tags:
            rule["has_tag"] = [tags[audience["tag"]]]
        template = bulk.create_template_as_system(
            brand,
            name=name,
            theme=theme,
            base_name=base,
            audience=rule or None,
            recommended_size=200,
            rules_text=RULES_TEXT,
            welcome_template=WELCOME,
        )
        templates.append((template, per_store))
    return templates


def seed_community_demo(brand: Brand, *, seed: int = 1, days: int = 14) -> CommunityDemoSummary:
    """Create templates, one live code per store and template, and web groups with history in every
    open store that has members. Does nothing if the brand already has group templates."""
    summary = CommunityDemoSummary()
    if GroupTemplate.objects.filter(brand=brand).exists():
        return summary
    rng = random.Random(seed * 7919)
    now = timezone.now()
    templates = _create_templates(brand)
    summary.templates = len(templates)

    staff_by_store: dict[int, list[Staff]] = {}
    for s in Staff.objects.filter(brand=brand, role__in=[Role.STORE_MANAGER, Role.CLERK]).prefetch_related(
        "stores"
    ):
        for store in s.stores.all():
            staff_by_store.setdefault(store.pk, []).append(s)

    memberships: list[CommunityMembership] = []
    messages: list[Message] = []
    events: list[Event] = []
    stores = [s for s in Store.objects.filter(brand=brand).order_by("code") if s.members.exists()]
    for store in stores:
        team = sorted(staff_by_store.get(store.pk, []), key=lambda s: (s.role != Role.STORE_MANAGER, s.pk))
        taken: set[int] = set()
        for template, per_store in templates:
            code = bulk.create_live_code_as_system(
                brand, store, template, name=f"{store.name}·{template.name}"
            )
            summary.live_codes += 1
            fitting = rule_queryset(template.audience or {}).filter(home_store=store)
            candidates = [
                m for m in fitting.order_by("id").values_list("id", "joined_at") if m[0] not in taken
            ]
            rng.shuffle(candidates)
            # About a third of the audience has joined so far, in groups under the recommended size.
            joined = candidates[: max(3, len(candidates) // 3)]
            size = template.recommended_size
            group_count = max(1, min(per_store, -(-len(joined) // size)))
            joined = joined[: group_count * size]
            for seq in range(1, group_count + 1):
                chunk = joined[(seq - 1) * size : seq * size]
                created_at = now - timedelta(days=days + rng.randint(5, 60))
                community = bulk.open_web_group_as_system(
                    brand,
                    store,
                    template,
                    name=f"{store.name}·{template.base_name}{seq}",
                    sequence=seq,
                    announcement=DAILY_PROGRAMME[0],
                    created_at=created_at,
                )
                summary.communities += 1
                for i, person in enumerate(team[:2]):
                    memberships.append(
                        CommunityMembership(
                            community=community,
                            staff=person,
                            role=MemberRole.OWNER if i == 0 else MemberRole.ADMIN,
                            scene=JoinScene.DIRECT,
                            joined_at=created_at,
                        )
                    )
                member_ids = []
                for member_id, member_joined in chunk:
                    taken.add(member_id)
                    member_ids.append(member_id)
                    joined_at = max(created_at, member_joined) + timedelta(
                        minutes=rng.randint(1, 60 * 24 * 10)
                    )
                    joined_at = min(joined_at, now - timedelta(minutes=rng.randint(5, 600)))
                    scene = rng.choice(
                        [JoinScene.STORE_QR] * 5 + [JoinScene.STAFF_SHARE] * 3 + [JoinScene.POSTER]
                    )
                    memberships.append(
                        CommunityMembership(
                            community=community,
                            member_id=member_id,
                            role=MemberRole.KOL if rng.random() < 0.02 else MemberRole.MEMBER,
                            scene=scene,
                            inviter=rng.choice(team) if team else None,
                            live_code_id=code.pk,
                            joined_at=joined_at,
                        )
                    )
                    events.append(
                        Event(
                            type="community.joined",
                            member_id=member_id,
                            store_id=store.pk,
                            community_id=community.pk,
                            occurred_at=joined_at,
                            payload={"scene": scene, "live_code": code.pk},
                        )
                    )
                _history(rng, community, member_ids, team, now, days, messages, events)
    summary.memberships = bulk.bulk_add_memberships(memberships)
    summary.messages = bulk.bulk_add_messages(messages)
    _moderation_examples(rng, brand)
    bulk_record_events(events)
    return summary


def _history(
    rng: random.Random,
    community: Community,
    member_ids: list[int],
    team: list[Staff],
    now: datetime,
    days: int,
    messages: list[Message],
    events: list[Event],
) -> None:
    """A daily programme by the robot and staff, and member chatter, over the last ``days`` days."""
    for day in range(days, -1, -1):
        base = timezone.localtime(now - timedelta(days=day)).replace(
            hour=8, minute=30, second=0, microsecond=0
        )
        if base > now:
            continue
        messages.append(
            Message(
                community=community,
                sender_kind=Message.SenderKind.ROBOT,
                text=DAILY_PROGRAMME[0],
                created_at=base,
            )
        )
        if team and rng.random() < 0.6:
            messages.append(
                Message(
                    community=community,
                    staff=rng.choice(team),
                    sender_kind=Message.SenderKind.STAFF,
                    text=rng.choice(DAILY_PROGRAMME[1:4]),
                    created_at=base + timedelta(hours=rng.randint(2, 9)),
                )
            )
        for _ in range(rng.randint(0, 4) if member_ids else 0):
            at = base + timedelta(minutes=rng.randint(30, 13 * 60))
            if at > now:
                continue
            member_id = rng.choice(member_ids)
            messages.append(
                Message(community=community, member_id=member_id, text=rng.choice(CHATTER), created_at=at)
            )
            events.append(
                Event(
                    type="community.message",
                    member_id=member_id,
                    store_id=community.store_id,
                    community_id=community.pk,
                    occurred_at=at,
                )
            )


def _moderation_examples(rng: random.Random, brand: Brand) -> None:
    """One ad caught by the robot in a few groups, so the moderation log has something to show."""
    for community in Community.objects.filter(brand=brand).order_by("id")[::5]:
        member_id = (
            CommunityMembership.objects.filter(community=community, member__isnull=False)
            .order_by("id")
            .values_list("member_id", flat=True)
            .first()
        )
        if member_id is None:
            continue
        name = Member.objects.get(pk=member_id).name
        # The most recent thing in the group, so the history stays in time order.
        bulk.record_caught_message(
            community,
            member_id,
            text=SPAM,
            rule=ModerationRule.LINK,
            reason="外部链接",
            notice=f"@{name} 请勿发送外部链接，已提醒一次。",
            at=timezone.now() - timedelta(minutes=rng.randint(3, 30)),
        )
