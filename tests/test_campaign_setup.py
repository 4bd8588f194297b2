"""Flash-sale setup: creating, editing, publishing and cancelling (head office only, validated, audited,
nothing changed on refusal); store scoping of what staff see and of the live numbers; the robot's warm-up
and start posts (once per group, however often and however concurrently the job runs); the demo sale.

Admission runs on the database backend here (``REDIS_URL`` cleared, fixture ``database_admission``) except
where a test asks for ``redis_backend``; admission itself is tested in tests/test_flash_admission.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone

from siyu.campaigns.models import Campaign, FlashSaleItem
from siyu.campaigns.services import flash_admission, flash_sales, posts
from siyu.catalog.models import Sku
from siyu.common.errors import Conflict, NotFound, PermissionDenied, ServiceError, ValidationFailed
from siyu.communities.models import Community, Message
from siyu.orders.models import Order
from siyu.org.models import AuditEntry, Store
from siyu.tooling.demo.flash_sale import seed_demo_flash_sale
from tests.factories import BrandFactory, StaffFactory, StoreFactory, buy, running_sale, sale_data
from tests.race_support import is_postgres, run_threads

pytestmark = pytest.mark.usefixtures("database_admission")


def _audits(action: str) -> int:
    return AuditEntry.objects.filter(action=action).count()


# --- create ---------------------------------------------------------------------------------------------


def test_create_draft_with_defaults_and_audit(hq_operator, skus, store_a, group_a):
    data = sale_data(skus, community_ids=[group_a.pk], warmup_at=timezone.now() + timedelta(minutes=30))
    campaign = flash_sales.create_flash_sale(hq_operator, data)
    assert campaign.status == "draft" and campaign.kind == "flash_sale"
    assert campaign.created_by == hq_operator and campaign.published_at is None
    assert campaign.pickup_until == campaign.ends_at + timedelta(days=3)
    assert list(campaign.communities.all()) == [group_a]
    assert not campaign.stores.exists()  # every open store
    items = list(campaign.flash_items.order_by("position"))
    assert [(i.sku.code, i.price_fen, i.stock, i.per_member_limit, i.sold) for i in items] == [
        ("CUP-W", 990, 100, 2, 0),
        ("CUP-B", 1990, 50, 1, 0),
    ]
    entry = AuditEntry.objects.get(action="campaign.create")
    assert entry.actor == hq_operator and entry.target_id == str(campaign.pk)
    assert entry.detail["items"][0] == [skus["CUP-W"].pk, 990, 100, 2]


def test_items_as_tuples_and_chosen_stores(hq_admin, skus, store_b):
    data = sale_data(
        skus, store_ids=[store_b.pk], items=[(skus["CANDLE"].pk, 2990, 10, 3), (skus["CUP-W"].pk, 990, 5, 1)]
    )
    campaign = flash_sales.create_flash_sale(hq_admin, data)
    assert list(campaign.stores.all()) == [store_b]
    assert list(flash_sales.sale_stores(campaign)) == [store_b]
    assert campaign.flash_items.count() == 2


def _bad(skus, brand, store_a, store_b, group_b, case: str) -> tuple[dict[str, Any], str]:
    now = timezone.now()
    cup, cup_b = skus["CUP-W"].pk, skus["CUP-B"].pk

    def item(**kw: Any) -> list[dict[str, Any]]:
        return [{"sku_id": cup, "price_fen": 990, "stock": 10, "per_member_limit": 1, **kw}]

    cases: dict[str, tuple[dict[str, Any], str]] = {
        "end_before_start": ({"ends_at": now + timedelta(minutes=30)}, "ends_at"),
        "end_in_past": (
            {"starts_at": now - timedelta(hours=3), "ends_at": now - timedelta(hours=1)},
            "ends_at",
        ),
        "too_long": ({"ends_at": now + timedelta(days=120)}, "ends_at"),
        "naive_start": ({"starts_at": datetime(2030, 1, 1, 20, 0)}, "starts_at"),
        "text_start": ({"starts_at": "2030-01-01T20:00:00+08:00"}, "starts_at"),
        "pickup_before_end": ({"pickup_until": now + timedelta(hours=2)}, "pickup_until"),
        "warmup_after_start": ({"warmup_at": now + timedelta(hours=2)}, "warmup_at"),
        "empty_title": ({"title": "  "}, "title"),
        "title_not_text": ({"title": 5}, "title"),
        "unknown_field": ({"colour": "red"}, "colour"),
        "relay_not_bool": ({"relay_enabled": "yes"}, "relay_enabled"),
        "no_items": ({"items": []}, "items"),
        "items_not_list": ({"items": "CUP-W"}, "items"),
        "duplicate_sku": ({"items": item() + item()}, "items.1.sku_id"),
        "unknown_sku": ({"items": item(sku_id=987654)}, "items.0.sku_id"),
        "sku_not_int": ({"items": item(sku_id="CUP-W")}, "items.0.sku_id"),
        "price_zero": ({"items": item(price_fen=0)}, "items.0.price_fen"),
        "price_float": ({"items": item(price_fen=9.9)}, "items.0.price_fen"),
        "price_bool": ({"items": item(price_fen=True)}, "items.0.price_fen"),
        "price_above_normal": ({"items": item(price_fen=3901)}, "items.0.price_fen"),
        "stock_zero": ({"items": item(stock=0)}, "items.0.stock"),
        "stock_huge": ({"items": item(stock=100_001)}, "items.0.stock"),
        "limit_zero": ({"items": item(per_member_limit=0)}, "items.0.per_member_limit"),
        "limit_100": ({"items": item(per_member_limit=100)}, "items.0.per_member_limit"),
        "item_unknown_key": ({"items": item(colour=1)}, "items.0.colour"),
        "unpublished_everywhere": (
            {"items": [{"sku_id": skus["CANDLE"].pk, "price_fen": 990, "stock": 1, "per_member_limit": 1}]},
            "items.0.sku_id",
        ),
        "other_brand_store": (
            {"store_ids": [StoreFactory(brand=BrandFactory(code="other-brand")).pk]},
            "store_ids",
        ),
        "closed_store": (
            {"store_ids": [StoreFactory(brand=brand, status=Store.Status.CLOSED).pk]},
            "store_ids",
        ),
        "store_ids_junk": ({"store_ids": ["a"]}, "store_ids"),
        "group_of_other_store": (
            {"store_ids": [store_a.pk], "community_ids": [group_b.pk]},
            "community_ids",
        ),
        "unknown_group": ({"community_ids": [987654]}, "community_ids"),
        "second_item_bad": (
            {
                "items": [
                    {"sku_id": cup, "price_fen": 990, "stock": 10, "per_member_limit": 1},
                    {"sku_id": cup_b, "price_fen": -5, "stock": 10, "per_member_limit": 1},
                ]
            },
            "items.1.price_fen",
        ),
    }
    return cases[case]


BAD_CASES = [
    "end_before_start",
    "end_in_past",
    "too_long",
    "naive_start",
    "text_start",
    "pickup_before_end",
    "warmup_after_start",
    "empty_title",
    "title_not_text",
    "unknown_field",
    "relay_not_bool",
    "no_items",
    "items_not_list",
    "duplicate_sku",
    "unknown_sku",
    "sku_not_int",
    "price_zero",
    "price_float",
    "price_bool",
    "price_above_normal",
    "stock_zero",
    "stock_huge",
    "limit_zero",
    "limit_100",
    "item_unknown_key",
    "unpublished_everywhere",
    "other_brand_store",
    "closed_store",
    "store_ids_junk",
    "group_of_other_store",
    "unknown_group",
    "second_item_bad",
]


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_input_refused_with_field_and_nothing_written(
    case, hq_admin, skus, brand, store_a, store_b, group_b
):
    override, field = _bad(skus, brand, store_a, store_b, group_b, case)
    audits = AuditEntry.objects.count()
    with pytest.raises(ValidationFailed) as caught:
        flash_sales.create_flash_sale(hq_admin, sale_data(skus, **override))
    assert caught.value.field == field, (case, caught.value.field, caught.value.message)
    assert not Campaign.objects.exists() and not FlashSaleItem.objects.exists()
    assert AuditEntry.objects.count() == audits


def test_inactive_sku_refused(hq_admin, skus):
    Sku.objects.filter(pk=skus["CUP-B"].pk).update(active=False)
    with pytest.raises(ValidationFailed) as caught:
        flash_sales.create_flash_sale(hq_admin, sale_data(skus))
    assert caught.value.field == "items.1.sku_id"


def test_sku_published_to_chosen_store_only_is_fine_there(hq_admin, skus, store_a, store_b):
    only_b = [{"sku_id": skus["CANDLE"].pk, "price_fen": 990, "stock": 1, "per_member_limit": 1}]
    assert flash_sales.create_flash_sale(hq_admin, sale_data(skus, store_ids=[store_b.pk], items=only_b))
    with pytest.raises(ValidationFailed):
        flash_sales.create_flash_sale(hq_admin, sale_data(skus, store_ids=[store_a.pk], items=only_b))


@pytest.mark.parametrize("who", ["clerk_a", "manager_a"])
def test_store_staff_cannot_set_up(request, who, hq_admin, skus):
    staff = request.getfixturevalue(who)
    with pytest.raises(PermissionDenied):
        flash_sales.create_flash_sale(staff, sale_data(skus))
    draft = flash_sales.create_flash_sale(hq_admin, sale_data(skus))
    for action in (
        lambda: flash_sales.update_flash_sale(staff, draft.pk, {"title": "x"}),
        lambda: flash_sales.publish_flash_sale(staff, draft.pk),
        lambda: flash_sales.cancel_flash_sale(staff, draft.pk),
    ):
        with pytest.raises(PermissionDenied):
            action()
    draft.refresh_from_db()
    assert draft.status == "draft" and draft.title == "周五秒杀"
    assert Campaign.objects.count() == 1


def test_other_brand_staff_sees_nothing(hq_admin, skus):
    other = BrandFactory(code="other-brand")
    outsider = StaffFactory(brand=other, username="outsider", role="hq_admin")
    campaign = flash_sales.create_flash_sale(hq_admin, sale_data(skus))
    with pytest.raises(NotFound):
        flash_sales.get_campaign(outsider, campaign.pk)
    with pytest.raises(NotFound):
        flash_sales.publish_flash_sale(outsider, campaign.pk)
    assert not flash_sales.visible_campaigns(outsider).exists()


@pytest.mark.parametrize("junk", [0, -1, "abc", None, True, 2**70, "1e3"])
def test_junk_ids_are_not_found(hq_admin, junk):
    with pytest.raises(NotFound):
        flash_sales.get_campaign(hq_admin, junk)


# --- edit -----------------------------------------------------------------------------------------------


def test_draft_is_editable_in_full(hq_admin, skus, store_b):
    campaign = flash_sales.create_flash_sale(hq_admin, sale_data(skus))
    new_end = campaign.ends_at + timedelta(hours=1)
    flash_sales.update_flash_sale(
        hq_admin,
        campaign.pk,
        {
            "title": "周六秒杀",
            "ends_at": new_end,
            "items": [{"sku_id": skus["CUP-B"].pk, "price_fen": 1500, "stock": 7, "per_member_limit": 3}],
        },
    )
    campaign.refresh_from_db()
    assert campaign.title == "周六秒杀" and campaign.ends_at == new_end
    assert campaign.pickup_until == new_end + timedelta(days=3)  # the default follows the end
    assert [(i.sku.code, i.stock) for i in campaign.flash_items.all()] == [("CUP-B", 7)]
    entry = AuditEntry.objects.get(action="campaign.update")
    assert set(entry.detail["changes"]) == {"title", "ends_at", "pickup_until", "items"}
    # The same values again: nothing written, nothing audited.
    flash_sales.update_flash_sale(hq_admin, campaign.pk, {"title": "周六秒杀"})
    assert _audits("campaign.update") == 1
    # A refused edit changes nothing.
    with pytest.raises(ValidationFailed):
        flash_sales.update_flash_sale(hq_admin, campaign.pk, {"title": "新", "items": []})
    campaign.refresh_from_db()
    assert campaign.title == "周六秒杀" and campaign.flash_items.count() == 1
    # Items and stores are checked together: the candle is published to store B only.
    candle = [{"sku_id": skus["CANDLE"].pk, "price_fen": 990, "stock": 5, "per_member_limit": 1}]
    with pytest.raises(ValidationFailed) as caught:
        flash_sales.update_flash_sale(hq_admin, campaign.pk, {"items": candle})
    assert caught.value.field == "items.0.sku_id"
    flash_sales.update_flash_sale(hq_admin, campaign.pk, {"items": candle, "store_ids": [store_b.pk]})
    with pytest.raises(ValidationFailed) as caught:
        flash_sales.update_flash_sale(hq_admin, campaign.pk, {"store_ids": []})  # back to every store
    assert caught.value.field == "items.0.sku_id"
    assert list(campaign.stores.all()) == [store_b]


def test_published_sale_is_fixed_but_can_be_extended(hq_admin, skus):
    campaign = running_sale(hq_admin, skus)
    for change in (
        {"title": "x"},
        {"items": [{"sku_id": skus["CUP-W"].pk, "price_fen": 1, "stock": 1}]},
        {"starts_at": timezone.now()},
        {"store_ids": []},
    ):
        with pytest.raises(Conflict) as caught:
            flash_sales.update_flash_sale(hq_admin, campaign.pk, change)
        assert caught.value.code == "published"
    with pytest.raises(Conflict):
        flash_sales.update_flash_sale(
            hq_admin, campaign.pk, {"ends_at": campaign.ends_at - timedelta(minutes=5)}
        )
    later = campaign.ends_at + timedelta(days=1)
    flash_sales.update_flash_sale(hq_admin, campaign.pk, {"ends_at": later, "description": "延长一天"})
    campaign.refresh_from_db()
    assert campaign.ends_at == later and campaign.pickup_until == later + timedelta(days=3)
    assert campaign.description == "延长一天" and campaign.status == "published"


# --- publish / cancel -----------------------------------------------------------------------------------


def test_publish_opens_admission_once(hq_admin, skus, store_a, member_a):
    campaign = flash_sales.create_flash_sale(
        hq_admin, sale_data(skus, starts_at=timezone.now() - timedelta(minutes=1))
    )
    with pytest.raises(flash_admission.SaleNotRunning):
        buy(campaign, member_a, store_a)  # a draft takes no purchase
    published = flash_sales.publish_flash_sale(hq_admin, campaign.pk)
    assert published.status == "published" and published.published_at is not None
    assert published.admission_backend == "database"
    assert flash_sales.publish_flash_sale(hq_admin, campaign.pk).published_at == published.published_at
    assert _audits("campaign.publish") == 1
    admission = buy(published, member_a, store_a, quantity=2)
    assert admission.remaining == 98
    assert Order.objects.filter(campaign_id=campaign.pk).count() == 1


def test_publish_rechecks_and_refuses_ended_or_cancelled(hq_admin, skus):
    campaign = flash_sales.create_flash_sale(hq_admin, sale_data(skus))
    Sku.objects.filter(pk=skus["CUP-W"].pk).update(active=False)
    with pytest.raises(ValidationFailed) as caught:
        flash_sales.publish_flash_sale(hq_admin, campaign.pk)
    assert caught.value.field == "items.0.sku_id"
    Sku.objects.filter(pk=skus["CUP-W"].pk).update(active=True)
    with pytest.raises(Conflict) as ended:
        flash_sales.publish_flash_sale(hq_admin, campaign.pk, now=campaign.ends_at + timedelta(seconds=1))
    assert ended.value.code == "ended"
    flash_sales.cancel_flash_sale(hq_admin, campaign.pk)
    with pytest.raises(Conflict) as cancelled:
        flash_sales.publish_flash_sale(hq_admin, campaign.pk)
    assert cancelled.value.code == "cancelled"
    campaign.refresh_from_db()
    assert campaign.status == "cancelled" and _audits("campaign.publish") == 0


def test_cancel_stops_purchases_and_keeps_orders(hq_admin, skus, store_a, member_a, member_b):
    campaign = running_sale(hq_admin, skus)
    buy(campaign, member_a, store_a)
    cancelled = flash_sales.cancel_flash_sale(hq_admin, campaign.pk, reason="供应商缺货")
    assert cancelled.status == "cancelled"
    with pytest.raises(flash_admission.SaleNotRunning):
        buy(campaign, member_b, store_a)
    assert Order.objects.filter(campaign_id=campaign.pk).count() == 1  # the written order stays
    entry = AuditEntry.objects.get(action="campaign.cancel")
    assert entry.detail == {"from": "published", "reason": "供应商缺货"}
    assert flash_sales.cancel_flash_sale(hq_admin, campaign.pk).status == "cancelled"  # again: no change
    assert _audits("campaign.cancel") == 1
    with pytest.raises(Conflict) as caught:
        flash_sales.update_flash_sale(hq_admin, campaign.pk, {"description": "x"})
    assert caught.value.code == "cancelled"


def test_cancel_after_end_refused(hq_admin, skus):
    campaign = running_sale(hq_admin, skus)
    with pytest.raises(Conflict) as caught:
        flash_sales.cancel_flash_sale(hq_admin, campaign.pk, now=campaign.ends_at)
    assert caught.value.code == "ended"
    with pytest.raises(ValidationFailed):
        flash_sales.cancel_flash_sale(hq_admin, campaign.pk, reason="x" * 201)
    campaign.refresh_from_db()
    assert campaign.status == "published"


# --- scope and live numbers -----------------------------------------------------------------------------


def test_store_staff_see_published_sales_of_their_stores_only(hq_admin, clerk_a, skus, store_a, store_b):
    everywhere = running_sale(hq_admin, skus)
    only_b = running_sale(hq_admin, skus, store_ids=[store_b.pk])
    only_a = running_sale(hq_admin, skus, store_ids=[store_a.pk])
    draft = flash_sales.create_flash_sale(hq_admin, sale_data(skus))
    assert set(flash_sales.visible_campaigns(clerk_a)) == {everywhere, only_a}
    assert set(flash_sales.visible_campaigns(hq_admin)) == {everywhere, only_a, only_b, draft}
    for hidden in (only_b, draft):
        with pytest.raises(NotFound):
            flash_sales.get_campaign(clerk_a, hidden.pk)
        with pytest.raises(NotFound):
            flash_sales.live_stats(clerk_a, hidden.pk)


def test_live_numbers_are_scoped_to_the_clerks_stores(
    hq_admin, clerk_a, skus, store_a, store_b, member_a, member_b
):
    campaign = running_sale(hq_admin, skus)
    buy(campaign, member_a, store_a, quantity=2)
    buy(campaign, member_b, store_b, quantity=1)
    hq = flash_sales.live_stats(hq_admin, campaign.pk)
    clerk = flash_sales.live_stats(clerk_a, campaign.pk)
    assert (hq.scoped, clerk.scoped) == (False, True)
    assert hq.orders_written == 2 and clerk.orders_written == 1
    assert [i.sold for i in hq.items] == [3, 0] and [i.sold for i in clerk.items] == [2, 0]
    assert [i.remaining for i in hq.items] == [i.remaining for i in clerk.items] == [97, 50]
    assert hq.orders_last_window == 2 and hq.orders_per_second == 0.2
    assert sum(hq.series_counts) == 2 and len(hq.series_counts) == flash_sales.BUCKETS
    totals = {
        c.pk: (c.sold_total, c.stock_total)
        for c in flash_sales.annotate_totals(clerk_a, flash_sales.visible_campaigns(clerk_a))
    }
    assert totals[campaign.pk] == (2, 150)
    totals = {
        c.pk: (c.sold_total, c.stock_total)
        for c in flash_sales.annotate_totals(hq_admin, flash_sales.visible_campaigns(hq_admin))
    }
    assert totals[campaign.pk] == (3, 150)


def test_phase_and_running_list(hq_admin, skus, brand):
    campaign = running_sale(hq_admin, skus)
    now = timezone.now()
    assert flash_sales.phase(campaign, now) == "running"
    assert flash_sales.phase(campaign, campaign.starts_at - timedelta(seconds=1)) == "scheduled"
    assert flash_sales.phase(campaign, campaign.ends_at) == "ended"
    assert flash_sales.running_flash_sales(brand.pk) == [campaign]
    assert flash_sales.running_flash_sales(brand.pk, now=campaign.ends_at) == []


# --- robot posts ----------------------------------------------------------------------------------------


def _campaign_posts(group: Community, kind: str) -> list[Message]:
    return list(
        Message.objects.filter(
            community=group, sender_kind="robot", client_msg_id__startswith="robot:campaign:"
        ).filter(client_msg_id__contains=f":{kind}")
    )


def test_warmup_and_start_posted_once_per_group(hq_admin, skus, store_a, store_b, group_a, group_b):
    now = timezone.now()
    data = sale_data(
        skus,
        starts_at=now + timedelta(hours=1),
        warmup_at=now + timedelta(minutes=10),
        community_ids=[group_a.pk, group_b.pk],
        warmup_text="周五晚 8 点开抢！",
    )
    campaign = flash_sales.create_flash_sale(hq_admin, data)
    assert posts.run_due_posts(now=now + timedelta(minutes=20)) == 0  # a draft posts nothing
    flash_sales.publish_flash_sale(hq_admin, campaign.pk)
    assert posts.run_due_posts(now=now) == 0  # not due yet
    assert posts.run_due_posts(now=now + timedelta(minutes=20)) == 2
    for _ in range(3):
        assert posts.run_due_posts(now=now + timedelta(minutes=21)) == 0
    warm = _campaign_posts(group_a, "warmup")
    assert len(warm) == 1 and len(_campaign_posts(group_b, "warmup")) == 1
    text = warm[0].text
    assert "周五晚 8 点开抢！" in text and "周五秒杀" in text and "¥9.90" in text and "¥39.00" in text
    # The start: a card and a text per group, once.
    start = campaign.starts_at + timedelta(seconds=5)
    assert posts.run_due_posts(now=start) == 4
    assert posts.run_due_posts(now=start + timedelta(minutes=1)) == 0
    cards = [m for m in _campaign_posts(group_a, "start") if m.kind == "card"]
    texts = [m for m in _campaign_posts(group_a, "start") if m.kind == "text"]
    assert len(cards) == 1 and len(texts) == 1
    assert cards[0].card["url"] == f"/h5/flash/{campaign.pk}/"
    assert cards[0].card["title"] == "周五秒杀"
    assert cards[0].card["image_url"] == "https://img.example.com/cup.jpg"
    campaign.refresh_from_db()
    assert campaign.warmup_posted_at is not None and campaign.start_posted_at is not None


def test_late_posts_are_skipped(hq_admin, skus, group_a):
    now = timezone.now()
    data = sale_data(
        skus,
        starts_at=now + timedelta(minutes=5),
        ends_at=now + timedelta(minutes=30),
        warmup_at=now + timedelta(minutes=1),
        community_ids=[group_a.pk],
    )
    campaign = flash_sales.create_flash_sale(hq_admin, data)
    flash_sales.publish_flash_sale(hq_admin, campaign.pk)
    # The scheduler was down until after the end: neither the warm-up nor the start goes out.
    assert posts.run_due_posts(now=now + timedelta(hours=1)) == 0
    assert (
        not Message.objects.filter(community=group_a, sender_kind="robot")
        .exclude(client_msg_id__startswith="robot:welcome")
        .filter(client_msg_id__startswith="robot:campaign:")
    )
    # Cancelled sales post nothing either.
    other = flash_sales.create_flash_sale(hq_admin, {**data, "title": "另一场"})
    flash_sales.publish_flash_sale(hq_admin, other.pk)
    flash_sales.cancel_flash_sale(hq_admin, other.pk)
    assert posts.run_due_posts(now=now + timedelta(minutes=6)) == 2  # only the first sale's start
    assert Message.objects.filter(client_msg_id__startswith=f"robot:campaign:{other.pk}:").count() == 0


def test_archived_group_is_skipped(hq_admin, skus, group_a, group_b):
    now = timezone.now()
    campaign = running_sale(hq_admin, skus, community_ids=[group_a.pk, group_b.pk])
    Community.objects.filter(pk=group_b.pk).update(status=Community.Status.ARCHIVED)
    assert posts.run_due_posts(now=now) == 2
    assert Message.objects.filter(client_msg_id__startswith=f"robot:campaign:{campaign.pk}:").count() == 2


@pytest.mark.django_db(transaction=True)
def test_concurrent_schedulers_post_once(hq_admin, skus, group_a, group_b):
    if not is_postgres():
        pytest.skip("needs PostgreSQL")
    campaign = running_sale(hq_admin, skus, community_ids=[group_a.pk, group_b.pk])
    results = run_threads(4, lambda i: posts.run_due_posts())
    assert all(isinstance(r, int) for r in results), results
    assert sum(results) == 4  # type: ignore[arg-type]
    assert Message.objects.filter(client_msg_id__startswith=f"robot:campaign:{campaign.pk}:").count() == 4


# --- demo -----------------------------------------------------------------------------------------------


def test_demo_flash_sale_is_idempotent(hq_admin, brand, store_a, store_b, group_a, group_b, skus):
    now = timezone.now()
    campaign = seed_demo_flash_sale(brand, now)
    assert campaign is not None
    assert campaign.status == "published" and campaign.starts_at == now.astimezone(UTC)
    assert campaign.ends_at - campaign.starts_at == timedelta(days=7)
    items = list(campaign.flash_items.order_by("position"))
    assert [i.stock for i in items] == [200, 300, 500][: len(items)]
    assert all(i.per_member_limit == 2 and 0 < i.price_fen <= i.sku.price_fen for i in items)
    assert set(campaign.communities.values_list("pk", flat=True)) == {group_a.pk, group_b.pk}
    assert not campaign.stores.exists()
    assert seed_demo_flash_sale(brand, now + timedelta(hours=1)) == campaign
    assert Campaign.objects.count() == 1
    assert posts.run_due_posts() == 4


def test_demo_without_catalog_does_nothing(brand):
    assert seed_demo_flash_sale(brand, timezone.now()) is None
    assert not Campaign.objects.exists()


def test_service_errors_carry_fields(hq_admin, skus):
    # A quick guard that every refusal is one of the house error classes.
    try:
        flash_sales.create_flash_sale(hq_admin, "not a dict")  # type: ignore[arg-type]
    except ServiceError as exc:
        assert exc.status == 400
    else:  # pragma: no cover
        raise AssertionError("expected a refusal")


# --- on the Redis backend ---------------------------------------------------------------------------------


def test_publish_and_live_numbers_on_redis(
    redis_backend, hq_admin, clerk_a, skus, store_a, store_b, member_a, member_b
):
    campaign = running_sale(hq_admin, skus)
    assert campaign.admission_backend == "redis"
    buy(campaign, member_a, store_a, quantity=2)
    buy(campaign, member_b, store_b, quantity=1)
    stats = flash_sales.live_stats(hq_admin, campaign.pk)
    assert [i.remaining for i in stats.items] == [97, 50]  # admitted, maybe not written yet
    assert [i.admitted for i in stats.items] == [3, 0]
    # Extending a running sale reloads the counters without losing a unit.
    later = campaign.ends_at + timedelta(hours=1)
    flash_sales.update_flash_sale(hq_admin, campaign.pk, {"ends_at": later})
    assert flash_admission.remaining_units(campaign.pk)[stats.items[0].item.pk] == 97
    assert flash_sales.live_stats(clerk_a, campaign.pk).items[0].remaining == 97
