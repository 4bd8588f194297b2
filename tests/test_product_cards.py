"""Product cards posted into groups by the robot: the link goes to the group's store listing, WeCom groups
get an outbox row with an absolute link, scope is enforced before anything is posted, stores that cannot
sell the product are skipped, retries post nothing new; the console action and the API endpoint."""

from __future__ import annotations

import uuid

import pytest
from django.urls import reverse

from siyu.catalog.models import StoreListing
from siyu.catalog.services import cards, publication, stock
from siyu.channels.models import ChannelKind, Connector, OutboxMessage
from siyu.common.errors import Conflict, NotFound, ValidationFailed
from siyu.communities.models import Community, GroupDelivery, Message
from siyu.org.models import AuditEntry
from tests.api_support import ApiClient, assert_error
from tests.factories import BrandFactory, StaffFactory, StoreFactory, make_product

pytestmark = pytest.mark.django_db


@pytest.fixture
def cup(hq_admin, store_a, store_b):
    """A cup with two SKUs (member prices 35.00 and 55.00) published everywhere, in stock at A and B."""
    product = make_product(hq_admin, "北欧陶瓷杯", codes=("CUP-W", "CUP-B"))
    _cheap, dear = product.skus.order_by("id")
    dear.price_fen, dear.member_price_fen = 5900, 5500
    dear.save()
    product.subtitle = "手工烧制 350ml"
    product.image_url = "https://img.example.com/cup.jpg"
    product.save()
    publication.publish(hq_admin, product.pk, scope="all")
    for listing in StoreListing.objects.filter(sku__product=product):
        stock.set_stock(hq_admin, listing.pk, 5, idempotency_key=uuid.uuid4().hex)
    return product


def listing(store, product, code="CUP-W") -> StoreListing:
    return StoreListing.objects.get(store=store, sku__product=product, sku__code=code)


@pytest.fixture
def wecom_group(brand, store_a):
    connector = Connector.objects.create(brand=brand, kind=ChannelKind.WECOM, name="企微")
    return Community.objects.create(
        brand=brand,
        store=store_a,
        name="企微群",
        channel=ChannelKind.WECOM,
        connector=connector,
        external_id="wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA",
        channel_owner="owner01",
        hard_cap=500,
    )


def post(staff, product, groups, key="k1", **kw):
    return cards.post_product_card(
        staff, product_id=product.pk, community_ids=[g.pk for g in groups], idempotency_key=key, **kw
    )


# --- service ------------------------------------------------------------------------------------


def test_web_group_gets_robot_card_linking_to_its_store_listing(hq_admin, cup, group_a, store_a):
    posts = post(hq_admin, cup, [group_a])
    assert posts.skipped == []
    [message] = posts
    assert message.community_id == group_a.pk
    assert message.sender_kind == Message.SenderKind.ROBOT and message.kind == Message.Kind.CARD
    cheapest = listing(store_a, cup, "CUP-W")
    assert message.card == {
        "title": "北欧陶瓷杯",
        "description": "Member price from ¥35.00 (¥39.00) · 手工烧制 350ml",
        "url": f"/h5/mall/p/{cheapest.pk}/?g={group_a.pk}",
        "image_url": "https://img.example.com/cup.jpg",
    }
    assert not OutboxMessage.objects.exists()  # the web chat is the channel
    audit = AuditEntry.objects.get(action="product.card_posted")
    assert audit.actor_id == hq_admin.pk and audit.store_id == store_a.pk
    assert audit.detail == {"community_id": group_a.pk, "listing_id": cheapest.pk, "message_id": message.pk}


def test_card_picks_the_cheapest_sku_in_stock(hq_admin, cup, group_a, store_a):
    cheap = listing(store_a, cup, "CUP-W")
    stock.set_stock(hq_admin, cheap.pk, 0, idempotency_key=uuid.uuid4().hex)
    [message] = post(hq_admin, cup, [group_a])
    dear = listing(store_a, cup, "CUP-B")
    assert message.card["url"] == f"/h5/mall/p/{dear.pk}/?g={group_a.pk}"
    assert message.card["description"].startswith("Member price ¥55.00 (¥59.00)")


def test_wecom_group_gets_a_card_delivery_with_absolute_link(hq_admin, cup, wecom_group, store_a, settings):
    settings.SIYU_PUBLIC_URL = "https://shop.example.com/"
    [message] = post(hq_admin, cup, [wecom_group], base_url="http://ignored.example/")
    url = f"https://shop.example.com/h5/mall/p/{listing(store_a, cup).pk}/?g={wecom_group.pk}"
    assert message.card["url"] == url
    # WeCom: no robot in a customer group — the card waits for the owner's mass message (a link attachment).
    assert not OutboxMessage.objects.filter(community_id=wecom_group.pk).exists()
    delivery = GroupDelivery.objects.get(community=wecom_group)
    assert delivery.message_id == message.pk and delivery.kind == GroupDelivery.Kind.CARD
    assert (delivery.path, delivery.status) == (
        GroupDelivery.Path.OWNER_CONFIRM,
        GroupDelivery.Status.PENDING,
    )
    assert delivery.content["card"]["url"] == url and delivery.content["card"]["title"] == "北欧陶瓷杯"


def test_channel_group_link_uses_request_base_or_is_skipped(hq_admin, cup, wecom_group, group_a, settings):
    settings.SIYU_PUBLIC_URL = ""
    posts = post(hq_admin, cup, [group_a, wecom_group], key="no-base")
    assert [m.community_id for m in posts] == [group_a.pk]
    assert posts.skipped == [cards.SkippedGroup(wecom_group.pk, cards.SKIP_NO_PUBLIC_URL)]
    assert not OutboxMessage.objects.filter(community_id=wecom_group.pk).exists()
    [message] = post(hq_admin, cup, [wecom_group], key="with-base", base_url="http://testserver/")
    assert message.card["url"].startswith("http://testserver/h5/mall/p/")


def test_uploaded_picture_without_web_path_is_left_out(hq_admin, cup, group_a):
    cup.image_url = ""
    cup.save()
    [message] = post(hq_admin, cup, [group_a])
    assert message.card["image_url"] == ""


def test_out_of_scope_group_is_404_and_nothing_posted(clerk_a, cup, group_a, group_b):
    with pytest.raises(NotFound):
        post(clerk_a, cup, [group_a, group_b])
    assert not Message.objects.filter(sender_kind="robot", kind="card").exists()
    assert not AuditEntry.objects.filter(action="product.card_posted").exists()
    [message] = post(clerk_a, cup, [group_a])  # their own store's group is fine
    assert message.community_id == group_a.pk


def test_group_of_another_brand_is_404(hq_admin, cup):
    other = StoreFactory(code="X001", brand=BrandFactory(code="other-brand", name="别家"))
    group = Community.objects.create(brand=other.brand, store=other, name="别家群")
    with pytest.raises(NotFound):
        post(hq_admin, cup, [group])


def test_store_that_delisted_or_sold_out_is_skipped(hq_admin, cup, group_a, group_b, store_b):
    for lst in StoreListing.objects.filter(store=store_b, sku__product=cup):
        stock.set_listed(hq_admin, lst.pk, False)
    posts = post(hq_admin, cup, [group_a, group_b])
    assert [m.community_id for m in posts] == [group_a.pk]
    assert posts.skipped == [cards.SkippedGroup(group_b.pk, cards.SKIP_NOT_OFFERED)]
    assert not Message.objects.filter(community=group_b, kind="card").exists()
    assert AuditEntry.objects.filter(action="product.card_posted").count() == 1


def test_sold_out_everywhere_is_conflict_and_nothing_posted(hq_admin, cup, group_a, group_b, wecom_group):
    for lst in StoreListing.objects.filter(sku__product=cup):
        stock.set_stock(hq_admin, lst.pk, 0, idempotency_key=uuid.uuid4().hex)
    with pytest.raises(Conflict) as exc:
        post(hq_admin, cup, [group_a, group_b, wecom_group], base_url="https://shop.example.com")
    assert exc.value.code == "unavailable"
    assert not Message.objects.filter(kind="card").exists() and not OutboxMessage.objects.exists()


def test_archived_group_is_skipped(hq_admin, cup, group_a, group_b):
    Community.objects.filter(pk=group_b.pk).update(status=Community.Status.ARCHIVED)
    posts = post(hq_admin, cup, [group_a, group_b])
    assert posts.skipped == [cards.SkippedGroup(group_b.pk, cards.SKIP_CLOSED)]


def test_retry_posts_nothing_new_even_after_selling_out(hq_admin, cup, group_a, wecom_group, store_a):
    first = post(hq_admin, cup, [group_a, wecom_group], key="retry", base_url="https://shop.example.com")
    for lst in StoreListing.objects.filter(store=store_a, sku__product=cup):
        stock.set_stock(hq_admin, lst.pk, 0, idempotency_key=uuid.uuid4().hex)
    again = post(hq_admin, cup, [group_a, wecom_group], key="retry", base_url="https://shop.example.com")
    assert [m.pk for m in again] == [m.pk for m in first] and again.skipped == []
    assert Message.objects.filter(kind="card").count() == 2
    assert GroupDelivery.objects.filter(community=wecom_group).count() == 1
    assert AuditEntry.objects.filter(action="product.card_posted").count() == 2
    # Another key is another posting (and now the store has sold out).
    with pytest.raises(Conflict):
        post(hq_admin, cup, [group_a], key="retry-2")


@pytest.mark.parametrize(
    "ids",
    [[], None, "1", [True], ["abc"], [0], [-1], [2**63], [1.5e300], [[1]], list(range(1, 300))],
)
def test_junk_group_ids_are_refused(hq_admin, cup, ids):
    with pytest.raises((ValidationFailed, NotFound)):
        cards.post_product_card(hq_admin, product_id=cup.pk, community_ids=ids, idempotency_key="k")
    assert not Message.objects.exists()


@pytest.mark.parametrize("key", ["", "   ", None, 5, "x" * 256])
def test_junk_keys_and_products_are_refused(hq_admin, cup, group_a, key):
    with pytest.raises(ValidationFailed):
        cards.post_product_card(hq_admin, product_id=cup.pk, community_ids=[group_a.pk], idempotency_key=key)
    for junk in (None, "x", 0, 2**70, 999999):
        with pytest.raises(NotFound):
            cards.post_product_card(
                hq_admin, product_id=junk, community_ids=[group_a.pk], idempotency_key="k"
            )
    assert not Message.objects.exists()


def test_description_without_member_price_and_long_text(hq_admin, group_a, store_a):
    product = make_product(hq_admin, "长描述商品", codes=("LONG",), price=1000)
    sku = product.skus.get()
    sku.member_price_fen = None
    sku.save()
    product.description = "很长的描述 " * 40
    product.save()
    publication.publish(hq_admin, product.pk, scope="all")
    stock.set_stock(hq_admin, listing(store_a, product, "LONG").pk, 1, idempotency_key=uuid.uuid4().hex)
    [message] = post(hq_admin, product, [group_a])
    description = message.card["description"]
    assert description.startswith("¥10.00 · 很长的描述") and description.endswith("…")
    assert len(description) <= len("¥10.00 · ") + cards.SHORT_TEXT


# --- console --------------------------------------------------------------------------------------


def _detail(product) -> str:
    return reverse("console:product_detail", args=[product.pk])


def test_console_lists_groups_by_store_and_posts(client, clerk_a, cup, group_a, group_b, store_a):
    client.force_login(clerk_a)
    html = client.get(_detail(cup)).content.decode()
    assert 'id="post-cards"' in html and group_a.name in html and store_a.name in html
    assert f'value="{group_b.pk}"' not in html  # another store's group is not offered
    form = {"action": "post_cards", "key": "console-1", "communities": [str(group_a.pk)]}
    response = client.post(_detail(cup), form, follow=True)
    assert response.status_code == 200
    assert "Posted to 1 group, skipped 0." in response.content.decode()
    client.post(_detail(cup), form)  # a double submit
    assert Message.objects.filter(community=group_a, kind="card").count() == 1
    # A group of another store, forged into the form: 404, nothing posted.
    forged = {"action": "post_cards", "key": "console-2", "communities": [str(group_b.pk)]}
    assert client.post(_detail(cup), forged).status_code == 404
    assert not Message.objects.filter(community=group_b).exists()


def test_console_marks_stores_that_cannot_sell_and_reports_skips(
    client, hq_admin, cup, group_a, group_b, store_b
):
    for lst in StoreListing.objects.filter(store=store_b, sku__product=cup):
        stock.set_stock(hq_admin, lst.pk, 0, idempotency_key=uuid.uuid4().hex)
    client.force_login(hq_admin)
    html = client.get(_detail(cup)).content.decode()
    assert "sold out at its store" in html
    assert f'name="communities" value="{group_b.pk}" disabled' in html
    form = {"action": "post_cards", "key": "console-3", "communities": [str(group_a.pk), str(group_b.pk)]}
    page = client.post(_detail(cup), form, follow=True).content.decode()
    assert "Posted to 1 group, skipped 1." in page and group_b.name in page
    # Nothing chosen, or junk: a message, nothing posted, never a 500.
    for junk in ({"action": "post_cards", "key": "k"}, {"action": "post_cards", "communities": ["x"]}):
        response = client.post(_detail(cup), junk, follow=True)
        assert response.status_code == 200 and list(response.context["messages"])
    assert Message.objects.filter(kind="card").count() == 1


def test_console_product_edit_still_needs_hq(client, clerk_a, cup):
    client.force_login(clerk_a)
    response = client.post(_detail(cup), {"product-name": "改名"})
    assert response.status_code == 403


# --- API ------------------------------------------------------------------------------------------


def test_api_posts_cards_idempotently(as_admin, cup, group_a, group_b, store_b, hq_admin):
    for lst in StoreListing.objects.filter(store=store_b, sku__product=cup):
        stock.set_listed(hq_admin, lst.pk, False)
    path = f"/products/{cup.pk}/cards"
    body = {"community_ids": [group_a.pk, group_b.pk]}
    first = as_admin.post(path, body, headers={"Idempotency-Key": "api-1"})
    assert first.status_code == 201, first.content
    message = Message.objects.get(kind="card")
    assert first.json() == {
        "posted": [{"community_id": group_a.pk, "message_id": message.pk}],
        "skipped": [{"community_id": group_b.pk, "reason": "not_offered"}],
    }
    again = as_admin.post(path, body, headers={"Idempotency-Key": "api-1"})
    assert again.status_code == 200 and again.json() == first.json()
    assert Message.objects.filter(kind="card").count() == 1
    assert_error(
        as_admin.post(path, {"community_ids": [group_a.pk]}, headers={"Idempotency-Key": "api-1"}), 409
    )
    assert_error(as_admin.post(path, body), 400, "invalid", "Idempotency-Key")


def test_api_scope_and_junk(as_clerk, cup, group_a, group_b):
    path = f"/products/{cup.pk}/cards"
    key = {"Idempotency-Key": "api-2"}
    assert_error(as_clerk.post(path, {"community_ids": [group_a.pk, group_b.pk]}, headers=key), 404)
    assert not Message.objects.exists()
    for junk in ({}, {"community_ids": []}, {"community_ids": "1"}, {"community_ids": [0]}, {"x": 1}):
        assert_error(as_clerk.post(path, junk, headers=key), 400)
    assert_error(as_clerk.post("/products/999999/cards", {"community_ids": [group_a.pk]}, headers=key), 404)
    ok = as_clerk.post(path, {"community_ids": [group_a.pk]}, headers=key)
    assert ok.status_code == 201 and len(ok.json()["posted"]) == 1


def test_api_unavailable_is_409(as_admin, cup, group_a, store_a, hq_admin):
    for lst in StoreListing.objects.filter(store=store_a, sku__product=cup):
        stock.set_stock(hq_admin, lst.pk, 0, idempotency_key=uuid.uuid4().hex)
    response = as_admin.post(
        f"/products/{cup.pk}/cards", {"community_ids": [group_a.pk]}, headers={"Idempotency-Key": "api-3"}
    )
    assert_error(response, 409, "unavailable")
    # Refusals are not remembered: once restocked, the same key posts.
    stock.set_stock(hq_admin, listing(store_a, cup).pk, 3, idempotency_key=uuid.uuid4().hex)
    response = as_admin.post(
        f"/products/{cup.pk}/cards", {"community_ids": [group_a.pk]}, headers={"Idempotency-Key": "api-3"}
    )
    assert response.status_code == 201


def test_store_manager_of_other_store_cannot_see_group(brand, store_b, cup, group_a):
    manager_b = StaffFactory(brand=brand, username="managerb", role="store_manager", stores=[store_b])
    assert_error(
        ApiClient(manager_b).post(
            f"/products/{cup.pk}/cards", {"community_ids": [group_a.pk]}, headers={"Idempotency-Key": "m"}
        ),
        404,
    )


def test_picture_that_is_not_a_clean_link_is_left_out(hq_admin, cup, group_a):
    cup.image_url = "https://img.example.com/a cup.jpg"
    cup.save()
    [message] = post(hq_admin, cup, [group_a])
    assert message.card["image_url"] == "" and message.card["title"] == "北欧陶瓷杯"
