"""Console flash-sale pages: the list, the set-up form (yuan typed, fen stored; item rows; refusals shown on
the row), detail with publish / cancel / edit, and the live fragment polled by htmx — store staff read only
and see only their stores' numbers."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from siyu.campaigns.models import Campaign, RelayPost
from siyu.campaigns.services import flash_sales
from siyu.common.errors import ValidationFailed
from siyu.communities.services.robot import post_to_group
from siyu.console.views_campaigns import yuan_to_fen
from siyu.org.models import AuditEntry
from tests.factories import buy, running_sale, sale_data

HX = {"HTTP_HX_REQUEST": "true"}


pytestmark = pytest.mark.usefixtures("database_admission")


def _html(response) -> str:
    assert response.status_code == 200, (response.status_code, response.content[:600])
    return response.content.decode()


def _local(moment) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M")


def _form(skus, **overrides: Any) -> dict[str, Any]:
    now = timezone.now()
    data: dict[str, Any] = {
        "sale-title": "周五秒杀",
        "sale-description": "人气好物",
        "sale-starts_at": _local(now + timedelta(hours=1)),
        "sale-ends_at": _local(now + timedelta(hours=3)),
        "sale-relay_enabled": "on",
        "rows": "3",
        "item-0-sku": str(skus["CUP-W"].pk),
        "item-0-price": "9.9",
        "item-0-stock": "100",
        "item-0-limit": "2",
        "item-1-sku": str(skus["CUP-B"].pk),
        "item-1-price": "19.90",
        "item-1-stock": "50",
        "item-1-limit": "1",
    }
    data.update(overrides)
    return data


@pytest.mark.parametrize(
    ("raw", "fen"), [("9.9", 990), ("9.90", 990), ("10", 1000), ("0.01", 1), ("¥12.5", 1250), (" 3 ", 300)]
)
def test_yuan_to_fen_is_exact(raw, fen):
    assert yuan_to_fen(raw, "price") == fen


@pytest.mark.parametrize("raw", ["", "abc", "9.999", "1e3", "-1", "9,9", "NaN", "1" * 9])
def test_yuan_to_fen_refuses_junk(raw):
    with pytest.raises(ValidationFailed):
        yuan_to_fen(raw, "price")


def test_pages_render_for_hq(client, hq_admin, skus, group_a):
    client.force_login(hq_admin)
    campaign = running_sale(hq_admin, skus, community_ids=[group_a.pk])
    html = _html(client.get(reverse("console:campaigns")))
    assert "周五秒杀" in html and reverse("console:campaign_flash_new") in html
    assert reverse("console:campaigns") in html  # the nav link
    html = _html(client.get(reverse("console:campaign_flash_new")))
    assert 'name="item-0-sku"' in html and "CUP-W" in html and 'type="datetime-local"' in html
    assert group_a.name in html
    html = _html(client.get(reverse("console:campaign_detail", args=[campaign.pk])))
    assert 'hx-trigger="every 2s"' in html and reverse("console:campaign_live", args=[campaign.pk]) in html
    assert "vendor/echarts/echarts.min.js" in html and "campaign-chart-data" in html
    assert reverse("console:campaign_cancel", args=[campaign.pk]) in html
    assert reverse("console:campaign_publish", args=[campaign.pk]) not in html


def test_create_then_publish_flow(client, hq_admin, skus, store_a, group_a):
    client.force_login(hq_admin)
    form = _form(skus, **{"sale-stores": [str(store_a.pk)], "sale-communities": [str(group_a.pk)]})
    response = client.post(reverse("console:campaign_flash_new"), form)
    assert response.status_code == 302, response.content[:800]
    campaign = Campaign.objects.get()
    assert response.url == reverse("console:campaign_detail", args=[campaign.pk])
    assert campaign.status == "draft" and campaign.title == "周五秒杀" and campaign.relay_enabled
    assert [(i.sku.code, i.price_fen, i.stock, i.per_member_limit) for i in campaign.flash_items.all()] == [
        ("CUP-W", 990, 100, 2),
        ("CUP-B", 1990, 50, 1),
    ]
    assert list(campaign.stores.all()) == [store_a] and list(campaign.communities.all()) == [group_a]
    html = _html(client.get(response.url))
    assert reverse("console:campaign_publish", args=[campaign.pk]) in html
    assert "every 2s" not in html  # no live view for a draft
    response = client.post(reverse("console:campaign_publish", args=[campaign.pk]))
    assert response.status_code == 302
    campaign.refresh_from_db()
    assert campaign.status == "published" and campaign.admission_backend == "database"
    assert AuditEntry.objects.filter(action__in=["campaign.create", "campaign.publish"]).count() == 2
    html = _html(client.get(response.url))
    assert "published" in html.lower() and 'hx-trigger="every 2s"' in html


def test_add_row_keeps_what_was_typed(client, hq_admin, skus):
    client.force_login(hq_admin)
    response = client.post(reverse("console:campaign_flash_new"), {**_form(skus), "add_row": "1"})
    html = _html(response)
    assert 'name="item-3-sku"' in html and 'value="9.9"' in html and 'value="周五秒杀"' in html
    assert not Campaign.objects.exists()


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"item-1-price": "9.999"}, "Give the amount in yuan"),
        ({"item-1-price": "99"}, "cannot be above the normal price"),
        ({"item-0-stock": "0"}, "The stock is a whole number"),
        ({"item-0-stock": "abc"}, "Give a whole number"),
        ({"item-1-sku": "987654"}, "No such SKU"),
    ],
)
def test_refusals_are_shown_on_the_row(client, hq_admin, skus, override, message):
    client.force_login(hq_admin)
    response = client.post(reverse("console:campaign_flash_new"), _form(skus, **override))
    assert response.status_code == 400
    html = response.content.decode()
    assert message in html and 'value="周五秒杀"' in html
    assert not Campaign.objects.exists()


def test_form_field_errors(client, hq_admin, skus, group_b, store_a):
    client.force_login(hq_admin)
    now = timezone.now()
    cases = [
        ({"sale-ends_at": _local(now + timedelta(minutes=30))}, "The sale must end after it starts."),
        ({"sale-starts_at": "not a date"}, "Enter a valid date/time."),
        (
            {"sale-stores": [str(store_a.pk)], "sale-communities": [str(group_b.pk)]},
            "Choose groups of the sale&#x27;s stores only.",
        ),
        (
            {k: "" for k in ("item-0-sku", "item-0-price", "item-0-stock", "item-0-limit")}
            | {k: "" for k in ("item-1-sku", "item-1-price", "item-1-stock", "item-1-limit")},
            "Add at least one item.",
        ),
    ]
    for override, message in cases:
        response = client.post(reverse("console:campaign_flash_new"), _form(skus, **override))
        assert response.status_code == 400
        assert message in response.content.decode(), message
    assert not Campaign.objects.exists()


def test_edit_draft_and_extend_published(client, hq_admin, skus):
    client.force_login(hq_admin)
    draft = flash_sales.create_flash_sale(hq_admin, sale_data(skus))
    html = _html(client.get(reverse("console:campaign_flash_edit", args=[draft.pk])))
    assert 'value="9.90"' in html and 'value="周五秒杀"' in html
    form = _form(skus, **{"sale-title": "周六秒杀"})
    response = client.post(reverse("console:campaign_flash_edit", args=[draft.pk]), form)
    assert response.status_code == 302, response.content[:600]
    draft.refresh_from_db()
    assert draft.title == "周六秒杀"
    sale = running_sale(hq_admin, skus)
    html = _html(client.get(reverse("console:campaign_flash_edit", args=[sale.pk])))
    assert "item-0-sku" not in html and "sale-ends_at" in html
    later = sale.ends_at + timedelta(days=1)
    response = client.post(
        reverse("console:campaign_flash_edit", args=[sale.pk]),
        {
            "sale-description": "延长",
            "sale-ends_at": _local(later),
            "sale-pickup_until": _local(later + timedelta(days=3)),
        },
    )
    assert response.status_code == 302, response.content[:600]
    sale.refresh_from_db()
    assert (
        sale.description == "延长"
        and timezone.localtime(sale.ends_at).strftime("%H:%M") == _local(later)[-5:]
    )
    response = client.post(
        reverse("console:campaign_flash_edit", args=[sale.pk]),
        {"sale-ends_at": _local(sale.ends_at - timedelta(hours=1)), "sale-pickup_until": _local(later)},
    )
    assert response.status_code == 400 and "can only be extended" in response.content.decode()


def test_cancel_from_the_page(client, hq_admin, skus, store_a, member_a):
    client.force_login(hq_admin)
    campaign = running_sale(hq_admin, skus)
    buy(campaign, member_a, store_a)
    response = client.post(
        reverse("console:campaign_cancel", args=[campaign.pk]), {"reason": "缺货"}, follow=True
    )
    html = _html(response)
    assert "Orders already placed stay" in html
    campaign.refresh_from_db()
    assert campaign.status == "cancelled"
    assert reverse("console:campaign_cancel", args=[campaign.pk]) not in html
    # Publishing a cancelled sale is refused with a message, not an error page.
    response = client.post(reverse("console:campaign_publish", args=[campaign.pk]), follow=True)
    assert response.status_code == 200 and "was cancelled" in response.content.decode()


def test_live_fragment_numbers_and_relay_log(client, hq_admin, skus, store_a, member_a, group_a):
    client.force_login(hq_admin)
    campaign = running_sale(hq_admin, skus, community_ids=[group_a.pk])
    buy(campaign, member_a, store_a, quantity=2)
    message = post_to_group(group_a, text="接龙\n1. 王** ×2", idempotency_key="relay-test")
    RelayPost.objects.create(campaign=campaign, community=group_a, first_seq=1, last_seq=1, message=message)
    url = reverse("console:campaign_live", args=[campaign.pk])
    html = _html(client.get(url, **HX))
    assert "<html" not in html  # a fragment
    assert "98" in html and "Orders written" in html and "campaign-chart-data" in html
    assert "接龙" in html and "1. 王** ×2" in html and group_a.name in html
    # A plain GET goes to the page.
    assert client.get(url).status_code == 302
    # Once the sale is over, htmx is told to stop polling (286).
    Campaign.objects.filter(pk=campaign.pk).update(ends_at=timezone.now() - timedelta(seconds=1))
    assert client.get(url, **HX).status_code == 286


def test_store_staff_read_only_and_scoped(
    client, hq_admin, clerk_a, skus, store_a, store_b, member_a, member_b, group_a, group_b
):
    campaign = running_sale(hq_admin, skus, community_ids=[group_a.pk, group_b.pk])
    only_b = running_sale(hq_admin, skus, store_ids=[store_b.pk])
    draft = flash_sales.create_flash_sale(hq_admin, sale_data(skus, title="草稿"))
    buy(campaign, member_a, store_a, quantity=2)
    buy(campaign, member_b, store_b, quantity=1)
    message = post_to_group(group_b, text="B 店接龙 secret", idempotency_key="relay-b")
    RelayPost.objects.create(campaign=campaign, community=group_b, first_seq=2, last_seq=2, message=message)
    client.force_login(clerk_a)
    html = _html(client.get(reverse("console:campaigns")))
    assert campaign.title in html and "草稿" not in html
    assert reverse("console:campaign_flash_new") not in html
    assert client.get(reverse("console:campaign_flash_new")).status_code == 403
    for hidden in (only_b, draft):
        assert client.get(reverse("console:campaign_detail", args=[hidden.pk])).status_code == 404
    html = _html(client.get(reverse("console:campaign_detail", args=[campaign.pk])))
    assert reverse("console:campaign_publish", args=[campaign.pk]) not in html
    assert reverse("console:campaign_cancel", args=[campaign.pk]) not in html
    assert "Units sold in your stores" in html
    live = _html(client.get(reverse("console:campaign_live", args=[campaign.pk]), **HX))
    assert "B 店接龙 secret" not in live  # another store's group
    stats = flash_sales.live_stats(clerk_a, campaign.pk)
    assert stats.orders_written == 1 and stats.sold_total == 2
    assert client.post(reverse("console:campaign_cancel", args=[campaign.pk])).status_code == 403
    assert client.post(reverse("console:campaign_publish", args=[draft.pk])).status_code == 403
    campaign.refresh_from_db()
    assert campaign.status == "published"


def test_sign_in_required(client, hq_admin, skus):
    campaign = running_sale(hq_admin, skus)
    for url in (reverse("console:campaigns"), reverse("console:campaign_detail", args=[campaign.pk])):
        response = client.get(url)
        assert response.status_code == 302 and "login" in response.url
