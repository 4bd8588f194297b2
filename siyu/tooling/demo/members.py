"""The demo chain's members: profiles spread over two years, consent history, staff notes, tags (manual,
imported and one rule tag) and events. Written through ``siyu.members.services.bulk`` and the event log's
``bulk_record_events``."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.utils import timezone

from siyu.analytics.models import Event
from siyu.analytics.services.events import bulk_record_events
from siyu.communities.models import Message
from siyu.members.models import ConsentRecord, Gender, Member, MemberNote, MemberTag, Source
from siyu.members.services import bulk
from siyu.members.services.profiles import age_band_for
from siyu.members.services.tags import recompute_rule_tag
from siyu.org.models import Brand, Store
from siyu.tooling.demo.data import (
    AGE_RANGES,
    CURATED_STORES,
    HISTORY_DAYS,
    INTERESTS,
    LIFECYCLE,
    NEIGHBOUR_DISTRICTS,
    NOTES,
    OCCUPATIONS_SENIOR,
    OCCUPATIONS_WORKING,
    OCCUPATIONS_YOUNG,
    RULE_TAG_GROUP,
    RULE_TAG_NAME,
    RULE_TAG_RULE,
    SPENDING,
    UNKNOWN_BIRTHDAY_SHARE,
)
from siyu.tooling.demo.org import StoreInfo
from siyu.tooling.demo.people import (
    NICKNAMES,
    avatar_png,
    below,
    local,
    mobile,
    nickname_for,
    person_name,
    weighted_index,
    years_before,
)

CONSENT_SOURCE_BY_MEMBER_SOURCE: dict[str, str] = {
    Source.POS_IMPORT: "import",
    Source.H5: "h5",
    Source.WECOM: "wecom",
    Source.STAFF: "store",
}


@dataclass
class MemberPlan:
    member: Member
    store: StoreInfo
    age: int | None
    lifecycle: str = ""


def _age_and_birthday(rng: random.Random, today: date) -> tuple[int | None, date | None]:
    if rng.random() < UNKNOWN_BIRTHDAY_SHARE:
        return None, None
    r = rng.random()
    acc = 0.0
    low, high = AGE_RANGES[-1][0], AGE_RANGES[-1][1]
    for lo, hi, share in AGE_RANGES:
        acc += share
        if r < acc:
            low, high = lo, hi
            break
    age = rng.randint(low, high)
    # Born between (age+1) years and age years ago, so the age on ``today`` is exactly ``age``.
    latest = years_before(today, age)
    earliest = years_before(today, age + 1) + timedelta(days=1)
    birthday = earliest + timedelta(days=below(rng, (latest - earliest).days + 1))
    return age, birthday


def _occupation(rng: random.Random, age: int | None, gender: str) -> str:
    if rng.random() < 0.2:
        return ""
    if age is None or 25 <= age < 55:
        if gender == Gender.FEMALE and age is not None and age < 45 and rng.random() < 0.08:
            return "全职妈妈"
        return rng.choice(OCCUPATIONS_WORKING)
    return rng.choice(OCCUPATIONS_YOUNG if age < 25 else OCCUPATIONS_SENIOR)


def plan_members(
    rng: random.Random, brand: Brand, infos: list[StoreInfo], count: int, used_mobiles: set[str]
) -> list[MemberPlan]:
    """``count`` unsaved members spread over the open stores (flagships busier), sign-ups growing over two
    years, with marketing consent as first given."""
    now = timezone.now()
    today = timezone.localdate(now)
    open_infos = [i for i in infos if i.store.status == Store.Status.OPEN] or infos
    # Flagships are busier than neighbourhood stores.
    weights = [
        rng.uniform(0.6, 1.6) * (1.3 if n < len(CURATED_STORES) else 1.0) for n, _ in enumerate(open_infos)
    ]
    cumulative = []
    total = 0.0
    for w in weights:
        total += w
        cumulative.append(total)
    # Mobile numbers already held by other members are skipped so the insert cannot collide.
    used_mobiles.update(m for m in Member.objects.exclude(mobile=None).values_list("mobile", flat=True) if m)
    sources = [Source.POS_IMPORT, Source.H5, Source.WECOM, Source.STAFF]
    source_cum = [0.45, 0.70, 0.92, 1.0]
    plans: list[MemberPlan] = []
    for _n in range(count):
        info = open_infos[weighted_index(rng, cumulative)]
        r = rng.random()
        gender = Gender.FEMALE if r < 0.70 else Gender.MALE if r < 0.97 else Gender.UNKNOWN
        age, birthday = _age_and_birthday(rng, today)
        if rng.random() < 0.75:
            district = info.district
        else:
            district = rng.choice(NEIGHBOUR_DISTRICTS.get(info.district, [info.district]))
        # Membership grows over time: sign-ups per day rise linearly to three times the rate of two
        # years ago (inverse of the CDF (x + x²)/2 of the density 1 + 2x, x = 1 - days_ago/HISTORY_DAYS).
        x = (-1 + (1 + 8 * rng.random()) ** 0.5) / 2
        days_ago = 1 + int((HISTORY_DAYS - 1) * (1 - x))
        source = sources[weighted_index(rng, source_cum)]
        if source == Source.H5:
            hour = rng.choice([8, 9, 12, 13, 18, 19, 20, 21, 21, 22, 23])
        else:
            hour = rng.randint(10, 21)
        joined_at = local(today - timedelta(days=days_ago), hour, rng.randrange(60), rng.randrange(60))
        number = mobile(rng, used_mobiles)
        member = Member(
            brand=brand,
            mobile=number,
            name=person_name(rng, gender, age),
            nickname=nickname_for(number)[0],
            gender=gender,
            birthday=birthday,
            age_band=age_band_for(birthday, today),
            occupation=_occupation(rng, age, gender),
            district=district,
            home_store=info.store,
            joined_at=joined_at,
            source=source,
        )
        plans.append(MemberPlan(member=member, store=info, age=age))
    for plan in plans:
        if rng.random() < 0.62:
            plan.member.marketing_consent = True
            plan.member.consent_updated_at = plan.member.joined_at
    return plans


def plan_consents(rng: random.Random, plans: list[MemberPlan]) -> list[ConsentRecord]:
    """The consent history of the consenting members: granted when they joined; a few withdraw later
    (their member row then says so)."""
    now = timezone.now()
    records: list[ConsentRecord] = []
    for plan in plans:
        m = plan.member
        if not m.marketing_consent:
            continue
        recorded_by = plan.store.clerk_id if m.source == Source.STAFF else None
        records.append(
            ConsentRecord(
                member=m,
                action=ConsentRecord.Action.GRANTED,
                source=CONSENT_SOURCE_BY_MEMBER_SOURCE.get(m.source, "demo"),
                recorded_by_id=recorded_by,
                occurred_at=m.joined_at,
            )
        )
        # A few change their mind later, typically after a burst of marketing messages.
        if rng.random() < 0.04:
            span = max(60, int((now - m.joined_at).total_seconds()) - 60)
            at = min(m.joined_at + timedelta(seconds=60 + below(rng, span - 59)), now)
            records.append(
                ConsentRecord(member=m, action=ConsentRecord.Action.WITHDRAWN, source="h5", occurred_at=at)
            )
            m.marketing_consent = False
            m.consent_updated_at = at
    return records


def create_members(
    rng: random.Random, brand: Brand, infos: list[StoreInfo], count: int, used_mobiles: set[str]
) -> tuple[list[MemberPlan], int]:
    """Plan and insert the members with their consent history; (plans, consent records)."""
    plans = plan_members(rng, brand, infos, count, used_mobiles)
    consents = plan_consents(rng, plans)
    bulk.bulk_add_members(brand, [p.member for p in plans], consent_records=consents)
    return plans, len(consents)


def create_notes(rng: random.Random, plans: list[MemberPlan]) -> int:
    """Staff notes on about 3 % of members, written by their store's clerk or manager after they joined."""
    now = timezone.now()
    notes: list[MemberNote] = []
    for plan in plans:
        if rng.random() >= 0.03:
            continue
        author = plan.store.clerk_id if rng.random() < 0.7 else plan.store.manager_id
        span = max(1, int((now - plan.member.joined_at).total_seconds()))
        notes.append(
            MemberNote(
                member=plan.member,
                author_id=author or None,
                text=rng.choice(NOTES),
                created_at=plan.member.joined_at + timedelta(seconds=below(rng, span)),
            )
        )
    return len(bulk.bulk_add_notes(notes))


def _interests(rng: random.Random, gender: str, age: int | None) -> list[str]:
    female = gender == Gender.FEMALE
    a = age if age is not None else 35
    chances = {
        "宝妈": 0.38 if female and 26 <= a <= 42 else 0.0,
        "健康养生": 0.40 if a >= 45 else 0.12,
        "时尚穿搭": (0.35 if a < 35 else 0.15) if female else 0.04,
        "美食": 0.22,
        "家居收纳": 0.34 if female else 0.15,
        "户外运动": (0.30 if not female else 0.12) if a < 50 else 0.06,
    }
    return [name for name in INTERESTS if rng.random() < chances[name]]


def _spending(rng: random.Random, age: int | None) -> str | None:
    if rng.random() < 0.15:
        return None  # not enough purchase history yet
    high = 0.22 if age is not None and 35 <= age < 55 else 0.12
    r = rng.random()
    if r < high:
        return "高消费"
    return "中消费" if r < high + 0.5 else "价格敏感"


def _lifecycle(rng: random.Random, joined_at: datetime, today: date) -> str:
    days = (today - timezone.localdate(joined_at)).days
    chance = rng.random()  # drawn even for new members, so later draws do not depend on the date
    if days <= 30:
        return "新客"
    return "活跃" if chance < 0.75 - 0.4 * days / HISTORY_DAYS else "沉睡"


def create_tags(rng: random.Random, brand: Brand, plans: list[MemberPlan]) -> tuple[int, int]:
    """Interest, spending and lifecycle tags, and the rule tag filled by its rule; (member tags in all,
    members of the rule tag)."""
    today = timezone.localdate()
    tags = {}
    for group_name, names in (("兴趣", INTERESTS), ("消费力", SPENDING), ("生命周期", LIFECYCLE)):
        tags.update(bulk.create_tag_group(brand, group_name, names))
    rule_tag = bulk.create_tag_group(brand, RULE_TAG_GROUP, [RULE_TAG_NAME], rule=RULE_TAG_RULE)[
        RULE_TAG_NAME
    ]
    rows: list[MemberTag] = []
    for plan in plans:
        m = plan.member
        for name in _interests(rng, m.gender, plan.age):
            # Interests are noted by store staff in conversation; the clerk usually does it.
            rows.append(
                MemberTag(
                    member=m, tag=tags[name], origin=MemberTag.Origin.MANUAL, added_by_id=plan.store.clerk_id
                )
            )
        spending = _spending(rng, plan.age)
        if spending:
            rows.append(MemberTag(member=m, tag=tags[spending], origin=MemberTag.Origin.IMPORT))
        plan.lifecycle = _lifecycle(rng, m.joined_at, today)
        rows.append(MemberTag(member=m, tag=tags[plan.lifecycle], origin=MemberTag.Origin.IMPORT))
    bulk.bulk_tag_members(rows)
    rule_total = recompute_rule_tag(None, rule_tag.pk)["total"]
    return len(rows) + rule_total, rule_total


def create_events(rng: random.Random, plans: list[MemberPlan]) -> int:
    """``member.created`` for everyone when they joined, and recent sign-ins of active H5/WeChat users."""
    now = timezone.now()
    events: list[Event] = []
    for plan in plans:
        m = plan.member
        events.append(
            Event(
                type="member.created",
                member_id=m.pk,
                store_id=m.home_store_id,
                occurred_at=m.joined_at,
                payload={"source": m.source},
            )
        )
    for plan in plans:
        m = plan.member
        # Active members who use the H5 pages or WeChat sign in now and then.
        if plan.lifecycle == "沉睡" or m.source not in (Source.H5, Source.WECOM) or rng.random() >= 0.5:
            continue
        window = min(60 * 86400, int((now - m.joined_at).total_seconds()))
        for _i in range(rng.randint(1, 3)):
            at = now - timedelta(seconds=60 + below(rng, max(1, window - 60)))
            events.append(
                Event(
                    type="member.signed_in",
                    member_id=m.pk,
                    store_id=m.home_store_id,
                    occurred_at=at,
                    payload={"channel": "h5" if m.source == Source.H5 else "wechat"},
                )
            )
    bulk_record_events(events)
    return len(events)


def create_avatars(brand: Brand, *, share: float = 0.7) -> int:
    """Generated avatars (initials on a colour) for about ``share`` of the members with a nickname who wrote
    in a demo group, so the demo chat shows faces. Chosen from each member's mobile number (deterministic).
    Returns how many were set."""
    writers = set(
        Message.objects.filter(community__brand=brand, member__isnull=False).values_list(
            "member_id", flat=True
        )
    )
    avatars: list[tuple[int, bytes]] = []
    for member_id, number, nickname in (
        Member.objects.filter(pk__in=writers).exclude(nickname="").values_list("id", "mobile", "nickname")
    ):
        key = number or str(member_id)
        if random.Random(f"avatar:{key}").random() >= share:
            continue
        initials = next((i for n, i in NICKNAMES if n == nickname), nickname[:1])
        avatars.append((member_id, avatar_png(initials, key)))
    return bulk.bulk_set_avatars(avatars)
