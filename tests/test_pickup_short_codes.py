"""Short pickup codes (ADR 0010): format and normalisation, uniqueness among a store's open pickups, single
use, another store's staff, attempt limits per clerk and per store (429 + Retry-After on the API), the
console order page's hand-over, a group-buy order showing why there is no code yet; pickup window display."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from siyu.campaigns.services import group_buys
from siyu.common.errors import Conflict, NotFound, RateLimited, ValidationFailed
from siyu.orders.models import Order, PickupAttemptCount, PickupCode
from siyu.orders.services import checkout, pickup, pickup_codes, pickup_limits, transitions
from siyu.orders.services.pickup_codes import ALPHABET, format_short_code, normalise_short_code
from siyu.orders.windows import format_window
from siyu.tooling.management.commands.demo import demo_environment
from tests.api_support import ApiClient, assert_error
from tests.factories import StaffFactory, new_key, place_order, two_cups_at
from tests.h5_support import member_client
from tests.race_support import is_postgres, run_threads

place = place_order


@pytest.fixture
def listings(hq_admin, store_a, store_b):
    """CUP-W (39.00, member 35.00) and CUP-B (20.00) at store A, 10 in stock each (store B lists them too)."""
    return two_cups_at(hq_admin, store_a)


def open_team(member, offer, store):
    return group_buys.open_team(member, offer.pk, store_id=store.pk)


def short_of(order) -> str:
    return PickupCode.objects.get(order=order).short_code


@pytest.fixture
def order_a(member_a, store_a, listings):
    return place(member_a, store_a, [(listings[0].pk, 2), (listings[1].pk, 1)])  # pay at pickup: code now


@pytest.fixture
def clerk_b(brand, store_b):
    return StaffFactory(brand=brand, username="clerkb", role="clerk", stores=[store_b])


# --- format and normalisation ------------------------------------------------------------------------


def test_alphabet_has_no_ambiguous_characters():
    assert len(ALPHABET) == len(set(ALPHABET)) == 30
    assert not set("01OILU") & set(ALPHABET)
    codes = {pickup_codes.draw_short_code() for _ in range(200)}
    assert len(codes) == 200 and all(len(c) == 8 and set(c) <= set(ALPHABET) for c in codes)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("K7Q49XMP", "K7Q49XMP"),
        ("k7q4-9xmp", "K7Q49XMP"),
        (" k7q4 9xmp ", "K7Q49XMP"),
        ("K7-Q4 9X-MP", "K7Q49XMP"),
        ("K7Q4–9XMP", "K7Q49XMP"),  # an en dash from a phone keyboard
        ("K7Q49XM", None),  # too short
        ("K7Q49XMPP", None),
        ("K7Q4-9XM0", None),  # 0 is not in the alphabet
        ("K7Q4-9XMO", None),
        ("K7Q4-9XM1", None),
        ("K7Q4-9XMI", None),
        ("K7Q4-9XML", None),
        ("SY2026:abc", None),
        ("", None),
    ],
)
def test_normalise(typed, expected):
    assert normalise_short_code(typed) == expected


def test_format_groups_in_fours():
    assert format_short_code("K7Q49XMP") == "K7Q4-9XMP"


# --- issue and uniqueness ----------------------------------------------------------------------------


def test_every_pickup_code_has_a_short_code_of_its_store(order_a, store_a):
    row = PickupCode.objects.get(order=order_a)
    assert row.store_id == store_a.pk and normalise_short_code(row.short_code) == row.short_code
    assert row.closed_at is None


def test_open_short_codes_are_unique_per_store(order_a, member_a, store_a, store_b, listings, monkeypatch):
    taken = short_of(order_a)
    other = place(member_a, store_a, [(listings[0].pk, 1)])
    row = PickupCode.objects.get(order=other)
    with pytest.raises(IntegrityError), transaction.atomic():
        PickupCode.objects.filter(pk=row.pk).update(short_code=taken)
    # another store may hold the same code; a closed code may be drawn again
    PickupCode.objects.filter(pk=row.pk).update(store=store_b, short_code=taken)
    PickupCode.objects.filter(pk=row.pk).update(store=store_a, closed_at=timezone.now())
    # a clash when issuing is drawn again
    draws = iter([taken, taken, "ABCD2345"])
    monkeypatch.setattr(pickup_codes, "draw_short_code", lambda: next(draws))
    third = place(member_a, store_a, [(listings[0].pk, 1)])
    assert short_of(third) == "ABCD2345"


def test_batch_codes_avoid_clashes_in_the_batch_and_with_open_codes(
    order_a, member_a, store_a, listings, monkeypatch
):
    taken = short_of(order_a)
    orders = [place(member_a, store_a, [(listings[0].pk, 1)]) for _ in range(2)]
    PickupCode.objects.filter(order__in=orders).delete()
    draws = itertools.chain([taken, "ABCD2345", "ABCD2345"], itertools.repeat("WXYZ6789", 1), ["EFGH2345"])
    monkeypatch.setattr(pickup_codes, "draw_short_code", lambda: next(draws))
    rows = pickup_codes.new_pickup_codes(orders)
    codes = [r.short_code for r in rows]
    assert taken not in codes and len(set(codes)) == 2
    PickupCode.objects.bulk_create(rows)


def test_ending_an_order_closes_its_code(order_a, member_a):
    transitions.cancel(order_a.pk, member=member_a)
    assert PickupCode.objects.get(order=order_a).closed_at is not None


# --- verification ------------------------------------------------------------------------------------


def test_short_code_hands_over_once(order_a, clerk_a):
    short = short_of(order_a)
    typed = f" {short[:4].lower()} - {short[4:].lower()} "
    assert pickup.find_pickup(clerk_a, typed).pk == order_a.pk
    result = pickup.verify_pickup(clerk_a, typed)
    assert result.completed and result.order.status == "picked_up"
    row = PickupCode.objects.get(order=order_a)
    assert row.used_at and row.closed_at
    with pytest.raises(Conflict) as again:
        pickup.verify_pickup(clerk_a, short)
    assert again.value.code == "already_used"
    # the long QR code is spent too
    with pytest.raises(Conflict):
        pickup.verify_pickup(clerk_a, pickup_codes.code_of(order_a))


def test_another_stores_staff_cannot_use_it(order_a, clerk_b, hq_admin):
    short = short_of(order_a)
    for staff in (clerk_b, hq_admin):
        with pytest.raises(NotFound):
            pickup.verify_pickup(staff, short)
    order_a.refresh_from_db()
    assert order_a.status == "pending_payment"


def test_misses_are_limited_per_clerk(order_a, clerk_a, settings):
    settings.SIYU_PICKUP_MISSES_PER_STAFF = 3
    short = short_of(order_a)
    for _ in range(5):  # hits do not count
        pickup.find_pickup(clerk_a, short)
    for _ in range(3):
        with pytest.raises(NotFound):
            pickup.find_pickup(clerk_a, "ZZZZ-ZZZZ" if short != "ZZZZZZZZ" else "YYYY-YYYY")
    with pytest.raises(RateLimited) as limited:
        pickup.find_pickup(clerk_a, short)  # counted before the lookup: even a right code waits
    assert 1 <= limited.value.retry_after <= 60
    assert str(limited.value.retry_after) in limited.value.message
    with pytest.raises(RateLimited):
        pickup.verify_pickup(clerk_a, "not-a-code")
    # the next window starts afresh
    later = timezone.now() + timedelta(minutes=1)
    pickup_limits.release(pickup_limits.reserve(clerk_a, [order_a.store_id], now=later))


def test_misses_are_limited_per_store(order_a, clerk_a, brand, store_a, settings):
    settings.SIYU_PICKUP_MISSES_PER_STAFF = 10
    settings.SIYU_PICKUP_MISSES_PER_STORE = 4
    other = StaffFactory(brand=brand, username="clerka2", role="clerk", stores=[store_a])
    for staff in (clerk_a, clerk_a, clerk_a, other):
        with pytest.raises(NotFound):
            pickup.find_pickup(staff, "2222-2222")
    with pytest.raises(RateLimited) as limited:
        pickup.find_pickup(other, short_of(order_a))
    assert "store" in limited.value.message
    # the refused attempt claimed nothing: the staff counter of the second clerk stayed at 1
    assert PickupAttemptCount.objects.get(scope="staff", subject_id=other.pk).misses == 1


def test_api_answers_429_with_retry_after(order_a, clerk_a, settings):
    settings.SIYU_PICKUP_MISSES_PER_STAFF = 1
    api = ApiClient(clerk_a)
    assert_error(api.post("/pickup/verify", {"code": "2222-2222"}), 404)
    response = api.post("/pickup/verify", {"code": short_of(order_a)})
    assert_error(response, 429, "rate_limited", "code")
    assert 1 <= int(response["Retry-After"]) <= 60


def test_api_accepts_the_short_code(order_a, clerk_a):
    api = ApiClient(clerk_a)
    response = api.post("/pickup/verify", {"code": format_short_code(short_of(order_a)).lower()})
    assert response.status_code == 200, response.content
    assert response.json()["completed"] is True
    assert_error(api.post("/pickup/verify", {"code": short_of(order_a)}), 409, "already_used")


# --- pages -------------------------------------------------------------------------------------------


def test_counter_page_takes_the_short_code(client, order_a, clerk_a):
    client.force_login(clerk_a)
    short = format_short_code(short_of(order_a))
    html = client.post("/pickup/verify/", {"code": short.lower()}).content.decode()
    assert 'data-pickup-step="confirm"' in html
    lines = {f"qty-{line.pk}": line.quantity for line in order_a.lines.all()}
    html = client.post("/pickup/verify/", {"code": short, "confirm": "1", **lines}).content.decode()
    assert 'data-pickup-step="done"' in html
    response = client.post("/pickup/verify/", {"code": short})
    assert response.status_code == 400 and 'data-pickup-step="refused"' in response.content.decode()


def test_counter_page_says_when_to_retry(client, clerk_a, settings, db):
    settings.SIYU_PICKUP_MISSES_PER_STAFF = 1
    client.force_login(clerk_a)
    client.post("/pickup/verify/", {"code": "2222-2222"})
    response = client.post("/pickup/verify/", {"code": "2222-2222"})
    assert response.status_code == 429 and "Try again in" in response.content.decode()
    assert int(response["Retry-After"]) >= 1


def test_console_order_page_hands_over(client, order_a, clerk_a, member_a, store_a, listings):
    other = place(member_a, store_a, [(listings[0].pk, 1)])
    url = reverse("console:order_detail", args=[order_a.pk])
    client.force_login(clerk_a)
    html = client.get(url).content.decode()
    assert reverse("console:order_hand_over", args=[order_a.pk]) in html
    action = reverse("console:order_hand_over", args=[order_a.pk])
    # the other order's code does not hand this one over
    html = client.post(action, {"code": short_of(other)}, follow=True).content.decode()
    assert "another order" in html
    lines = {f"qty-{line.pk}": line.quantity for line in order_a.lines.all()}
    html = client.post(action, {"code": short_of(order_a), **lines}, follow=True).content.decode()
    assert "All items handed over" in html
    order_a.refresh_from_db()
    assert order_a.status == "picked_up"
    assert reverse("console:order_hand_over", args=[order_a.pk]) not in client.get(url).content.decode()


def test_hand_over_form_only_for_staff_of_the_store(client, order_a, hq_admin):
    client.force_login(hq_admin)
    html = client.get(reverse("console:order_detail", args=[order_a.pk])).content.decode()
    assert reverse("console:order_hand_over", args=[order_a.pk]) not in html


def test_member_page_shows_the_short_code_beside_the_qr(order_a, member_a):
    html = member_client(member_a).get(reverse("h5:order", args=[order_a.pk])).content.decode()
    assert format_short_code(short_of(order_a)) in html
    assert reverse("h5:order_qr", args=[order_a.pk]) in html


def test_group_buy_order_shows_why_no_code_before_forming(offer, people, store_a, clerk_a):
    leader = people[0]
    place_ = open_team(leader, offer, store_a)
    client = member_client(leader)
    response = client.get(reverse("h5:order", args=[place_.order.pk]))
    html = response.content.decode()
    assert 'data-testid="pickup-waiting"' in html and "once the group buy team forms" in html
    assert 'data-testid="short-code"' not in html
    assert reverse("h5:order_qr", args=[place_.order.pk]) not in html
    assert client.get(reverse("h5:order_qr", args=[place_.order.pk])).status_code == 404


# --- the pickup window -------------------------------------------------------------------------------


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("start", "end", "full", "short"),
    [
        # same Shanghai day
        (utc(2026, 12, 5, 11, 14), utc(2026, 12, 5, 13, 0), "2026-12-05 19:14–21:00", "12-05 19:14–21:00"),
        # the reported case: a flash-sale window running three days
        (
            utc(2026, 12, 5, 11, 14),
            utc(2026, 12, 8, 11, 4),
            "2026-12-05 19:14 – 2026-12-08 19:04",
            "12-05 19:14 – 12-08 19:04",
        ),
        # crossing midnight in Shanghai while the UTC date stays the same
        (utc(2026, 12, 5, 15, 30), utc(2026, 12, 5, 16, 30), "2026-12-05 23:30 – 2026-12-06 00:30", None),
        # ending exactly at midnight: the next day is named
        (utc(2026, 12, 5, 12, 0), utc(2026, 12, 5, 16, 0), "2026-12-05 20:00 – 2026-12-06 00:00", None),
        # across the new year: the short form keeps the year of the end
        (
            utc(2026, 12, 31, 12, 0),
            utc(2027, 1, 2, 12, 0),
            "2026-12-31 20:00 – 2027-01-02 20:00",
            "12-31 20:00 – 2027-01-02 20:00",
        ),
    ],
)
def test_pickup_window_display(start, end, full, short):
    assert format_window(start, end) == full
    if short:
        assert format_window(start, end, short=True) == short


def test_window_ending_before_it_starts_is_refused(member_a, store_a, listings, order_a):
    start = timezone.now() + timedelta(hours=2)
    with pytest.raises(ValidationFailed):
        checkout.create_order(
            member_a,
            store_id=store_a.pk,
            items=[(listings[0].pk, 1)],
            pickup_window=(start, start - timedelta(minutes=10)),
            idempotency_key=new_key(),
        )
    with pytest.raises(IntegrityError), transaction.atomic():  # the database refuses it too
        Order.objects.filter(pk=order_a.pk).update(pickup_window_end=order_a.pickup_window_start)


def test_flash_and_group_buy_pages_show_the_end_date(offer, people, store_a):
    place_ = open_team(people[0], offer, store_a)
    order = place_.order
    assert order.pickup_window_end > order.pickup_window_start
    html = member_client(people[0]).get(reverse("h5:order", args=[order.pk])).content.decode()
    local_end = timezone.localtime(order.pickup_window_end)
    if timezone.localtime(order.pickup_window_start).date() != local_end.date():
        assert local_end.strftime("%Y-%m-%d %H:%M") in html


# --- the demo ----------------------------------------------------------------------------------------


def test_demo_runs_with_the_sandbox_cashier_unless_told_otherwise():
    env: dict[str, str] = {}
    demo_environment(env)
    assert env["SIYU_PAYMENT_PROVIDER"] == "sandbox" and env["SIYU_DEBUG"] == "1"
    env = {"SIYU_PAYMENT_PROVIDER": "wechatpay"}
    demo_environment(env)
    assert env["SIYU_PAYMENT_PROVIDER"] == "wechatpay"


@pytest.mark.django_db(transaction=True)
def test_parallel_first_attempts_of_a_window_are_all_counted_not_refused(clerk_a, store_a):
    """Many clerks' first misses of a window race to create the counter rows: every one below the limit is
    admitted and counted (none refused because a parallel attempt created the row meanwhile)."""
    if not is_postgres():
        pytest.skip("needs PostgreSQL")
    now = timezone.now().replace(second=5)
    results = run_threads(8, lambda i: pickup_limits.reserve(clerk_a, [store_a.pk], now=now))
    assert all(isinstance(r, pickup_limits.Reservation) for r in results), results
    assert PickupAttemptCount.objects.get(scope="staff", subject_id=clerk_a.pk).misses == 8
    assert PickupAttemptCount.objects.get(scope="store", subject_id=store_a.pk).misses == 8
