"""The bulk services tooling writes through (org, members, catalog, communities, campaigns): their guarantees,
and that tooling itself writes no table directly."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth import authenticate
from django.utils import timezone

from siyu.campaigns.models import CampaignStatus, GroupBuy
from siyu.campaigns.services import group_buy_system
from siyu.catalog.models import Category, Product, Sku, StockMovement, StoreListing
from siyu.catalog.services import bulk as catalog_bulk
from siyu.common.errors import Conflict, ValidationFailed
from siyu.communities.models import Community, CommunityMembership, Message, ModerationAction, Theme
from siyu.communities.services import bulk as communities_bulk
from siyu.members.models import ConsentRecord, Member, MemberNote, MemberTag
from siyu.members.services import bulk as members_bulk
from siyu.org.models import Brand, Role, Staff, Store
from siyu.org.services import bulk as org_bulk
from tests.factories import MemberFactory, StoreFactory

PASSWORD = "bulk-pass-2026"
TOOLING = Path(__file__).resolve().parent.parent / "siyu" / "tooling"


def test_tooling_writes_no_table_directly():
    # Tooling reads freely but every write goes through the owning app's services. (A model's ``save()``
    # takes no positional argument; Pillow's ``image.save(out, format=…)`` writes a picture to a buffer.)
    write = re.compile(
        r"\.objects\.(create|bulk_create|bulk_update|update|get_or_create|update_or_create)\("
        r"|\.save\((\)|update_fields|force_|using)"
    )
    offenders = [
        f"{path.relative_to(TOOLING)}:{n}"
        for path in TOOLING.rglob("*.py")
        for n, line in enumerate(path.read_text().splitlines(), start=1)
        if write.search(line)
    ]
    assert offenders == []


@pytest.mark.django_db
def test_org_bulk_stores_and_staff(brand):
    [store] = org_bulk.bulk_create_stores(brand, [Store(code="BK001", name="批量门店")])
    assert store.pk and store.brand_id == brand.pk
    with pytest.raises(Conflict, match="BK001"):
        org_bulk.bulk_create_stores(brand, [Store(code="BK002", name="新"), Store(code="BK001", name="重")])
    assert not Store.objects.filter(code="BK002").exists()

    [manager, admin] = org_bulk.bulk_create_staff(
        brand,
        [
            (Staff(username="bkm", role=Role.STORE_MANAGER), [store]),
            (Staff(username="bka", role=Role.HQ_ADMIN), []),
        ],
        password=PASSWORD,
    )
    assert list(manager.stores.all()) == [store] and not admin.stores.exists()
    assert authenticate(username="bka", password=PASSWORD) == admin
    with pytest.raises(Conflict, match="bkm"):
        org_bulk.bulk_create_staff(brand, [(Staff(username="bkm", role=Role.CLERK), [])], password=PASSWORD)
    other = Brand.objects.create(code="other", name="别家")
    foreign = StoreFactory(brand=other, code="OT001")
    with pytest.raises(Conflict):
        org_bulk.bulk_create_staff(
            brand, [(Staff(username="bkx", role=Role.CLERK), [foreign])], password=PASSWORD
        )
    assert not Staff.objects.filter(username="bkx").exists()


@pytest.mark.django_db
def test_members_bulk_keeps_consent_with_its_history(brand, store_a):
    now = timezone.now()
    granted = Member(home_store=store_a, mobile="13500000001", name="甲", marketing_consent=True)
    withdrawn = Member(home_store=store_a, mobile="13500000002", name="乙")
    records = [
        ConsentRecord(member=granted, action=ConsentRecord.Action.GRANTED, source="h5", occurred_at=now),
        ConsentRecord(
            member=withdrawn,
            action=ConsentRecord.Action.GRANTED,
            source="h5",
            occurred_at=now - timedelta(days=2),
        ),
        ConsentRecord(
            member=withdrawn,
            action=ConsentRecord.Action.WITHDRAWN,
            source="h5",
            occurred_at=now - timedelta(days=1),
        ),
    ]
    created = members_bulk.bulk_add_members(brand, [granted, withdrawn], consent_records=records)
    assert all(m.pk and m.brand_id == brand.pk for m in created)
    assert ConsentRecord.objects.filter(member=withdrawn).count() == 2

    # Consent without a record, or a mobile already used: refused, nothing written.
    with pytest.raises(ValidationFailed):
        members_bulk.bulk_add_members(
            brand, [Member(home_store=store_a, mobile="13500000003", name="丙", marketing_consent=True)]
        )
    with pytest.raises(Conflict):
        members_bulk.bulk_add_members(brand, [Member(mobile="13500000004"), Member(mobile="13500000001")])
    with pytest.raises(Conflict):
        members_bulk.bulk_add_members(brand, [Member(mobile="13500000005"), Member(mobile="13500000005")])
    assert Member.objects.count() == 2


@pytest.mark.django_db
def test_members_bulk_notes_keep_their_date_and_tags_stay_in_brand(brand, store_a):
    member = MemberFactory(brand=brand, home_store=store_a)
    at = timezone.now() - timedelta(days=100)
    [note] = members_bulk.bulk_add_notes([MemberNote(member=member, text="老顾客", created_at=at)])
    note.refresh_from_db()
    assert note.created_at == at

    tags = members_bulk.create_tag_group(brand, "兴趣", ["美食", "宝妈"])
    assert members_bulk.bulk_tag_members([MemberTag(member=member, tag=tags["美食"])]) == 1
    other = Brand.objects.create(code="other", name="别家")
    foreign = members_bulk.create_tag_group(other, "兴趣", ["美食"])["美食"]
    with pytest.raises(ValidationFailed):
        members_bulk.bulk_tag_members([MemberTag(member_id=member.pk, tag=foreign)])
    with pytest.raises(ValidationFailed):
        members_bulk.create_tag_group(brand, "规则", ["x"], rule={"no_such_field": 1})


@pytest.mark.django_db
def test_catalog_bulk_opening_stock_is_a_movement(brand, store_a, store_b):
    categories = catalog_bulk.create_categories(brand, ["餐厨", "家纺"])
    assert [c.name for c in Category.objects.filter(brand=brand).order_by("position")] == ["餐厨", "家纺"]
    cup = Product(name="杯", category=categories["餐厨"])
    skus = catalog_bulk.add_products(
        brand, [(cup, [Sku(code="BK-1", price_fen=900), Sku(code="BK-2", price_fen=990)])]
    )
    assert [s.code for s in skus] == ["BK-1", "BK-2"] and cup.brand_id == brand.pk
    with pytest.raises(Conflict):
        catalog_bulk.add_products(brand, [(Product(name="碗"), [Sku(code="BK-1", price_fen=100)])])
    assert not Product.objects.filter(name="碗").exists()
    catalog_bulk.publish_to_all_stores([cup])
    assert (
        catalog_bulk.open_listings(
            [
                StoreListing(store=store_a, sku=skus[0], stock=7),
                StoreListing(store=store_b, sku=skus[0], stock=0),
            ]
        )
        == 2
    )
    for listing in StoreListing.objects.all():
        moved = sum(StockMovement.objects.filter(listing=listing).values_list("delta", flat=True))
        assert listing.stock == moved
    with pytest.raises(ValidationFailed):
        catalog_bulk.open_listings([StoreListing(store=store_a, sku=skus[1], stock=-1)])


@pytest.mark.django_db
def test_communities_bulk_counts_active_members(brand, store_a, member_a):
    template = communities_bulk.create_template_as_system(
        brand,
        name="宝妈群",
        theme=Theme.MOM,
        base_name="宝妈",
        audience=None,
        recommended_size=200,
        rules_text="",
        welcome_template="",
    )
    code = communities_bulk.create_live_code_as_system(brand, store_a, template, name="码")
    group = communities_bulk.open_web_group_as_system(
        brand, store_a, template, name="宝妈1", sequence=1, announcement="", created_at=timezone.now()
    )
    other_member = MemberFactory(brand=brand, home_store=store_a)
    communities_bulk.bulk_add_memberships(
        [
            CommunityMembership(community=group, member=member_a, live_code_id=code.pk),
            CommunityMembership(
                community=group,
                member=other_member,
                status=CommunityMembership.Status.LEFT,
                live_code_id=code.pk,
            ),
        ]
    )
    group.refresh_from_db()
    assert group.member_count == 1
    now = timezone.now()
    communities_bulk.bulk_add_messages(
        [
            Message(community=group, member=member_a, text="后", created_at=now),
            Message(community=group, member=member_a, text="先", created_at=now - timedelta(hours=1)),
        ]
    )
    assert list(Message.objects.filter(community=group).order_by("id").values_list("text", flat=True)) == [
        "先",
        "后",
    ]
    hidden = communities_bulk.record_caught_message(
        group, member_a.pk, text="广告", rule="link", reason="外部链接", notice="请勿发广告", at=now
    )
    assert hidden.hidden and ModerationAction.objects.get(message=hidden).action == "warn"
    other = Brand.objects.create(code="other", name="别家")
    with pytest.raises(ValidationFailed):
        communities_bulk.create_live_code_as_system(other, store_a, template, name="错")
    assert Community.objects.count() == 1


@pytest.mark.django_db
def test_group_buy_system_creates_published_and_keeps_it_running(brand, store_a):
    [sku] = catalog_bulk.add_products(brand, [(Product(name="香薰"), [Sku(code="GB-1", price_fen=6900)])])
    now = timezone.now()
    window = {
        "starts_at": now - timedelta(hours=1),
        "ends_at": now + timedelta(days=7),
        "pickup_until": now + timedelta(days=10),
    }
    common = {"sku": sku, "title": "拼团", "description": "", "min_size": 3, "max_size": 10, "team_hours": 24}
    with pytest.raises(ValidationFailed):
        group_buy_system.create_published_as_system(brand, price_fen=7000, now=now, **common, **window)
    campaign = group_buy_system.create_published_as_system(brand, price_fen=4800, now=now, **common, **window)
    assert (
        campaign.status == CampaignStatus.PUBLISHED
        and GroupBuy.objects.get(campaign=campaign).price_fen == 4800
    )

    later = now + timedelta(days=30)
    kept = group_buy_system.keep_running_as_system(
        campaign,
        starts_by=later - timedelta(hours=1),
        ends_after=later + timedelta(days=7),
        pickup_until=later + timedelta(days=10),
        now=later,
    )
    assert kept.starts_at == window["starts_at"] and kept.starts_at <= later < kept.ends_at
    assert kept.pickup_until >= kept.ends_at
