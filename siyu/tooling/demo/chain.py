"""The demo chain: a deterministic, realistic Beijing home-goods chain for trying Siyu out.

``seed_demo`` builds the brand 木棉家居 with regions, stores in real Beijing malls, HQ and store
staff, members with profiles, tags, consent history, notes and events, groups with a history, a catalog,
a running flash sale and a group buy. The same seed gives the same stores, staff, names and mobile numbers
(dates are laid out relative to today so the data always looks current). Every row is written by the
owning app's services (bulk inserts where there are thousands) inside one transaction: a failed run leaves
nothing behind.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field

from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.common.errors import Conflict, ValidationFailed
from siyu.members.models import Member
from siyu.org.models import Brand, Role, Staff, Store
from siyu.org.services import bulk as org_bulk
from siyu.tooling.demo import members as demo_members
from siyu.tooling.demo import org as demo_org
from siyu.tooling.demo.catalog import seed_catalog_demo
from siyu.tooling.demo.communities import seed_community_demo
from siyu.tooling.demo.events import seed_demo_event
from siyu.tooling.demo.flash_sale import seed_demo_flash_sale
from siyu.tooling.demo.group_buy import seed_demo_group_buy
from siyu.tooling.demo.incentives import seed_demo_incentives
from siyu.tooling.demo.loyalty import seed_demo_loyalty
from siyu.tooling.demo.referrals import seed_demo_referrals
from siyu.tooling.demo.sidebar import seed_demo_sidebar
from siyu.tooling.demo.slots import seed_demo_slots

DEMO_BRAND_CODE = "mumian"
DEMO_BRAND_NAME = "木棉家居"
DEFAULT_PASSWORD = "siyu-demo-2026"  # noqa: S105 -- the published demo password, printed on every run
MAX_STORES = 2000
MAX_MEMBERS = 1_000_000


@dataclass
class DemoSummary:
    """What ``seed_demo`` did (``created``) or found (the brand already existed)."""

    created: bool
    brand_code: str
    brand_name: str
    stores: int = 0
    staff: int = 0
    members: int = 0
    member_tags: int = 0
    rule_tag_members: int = 0
    consents: int = 0
    notes: int = 0
    events: int = 0
    communities: int = 0
    memberships: int = 0
    messages: int = 0
    products: int = 0
    seconds: float = 0.0
    logins: list[tuple[str, str]] = field(default_factory=list)


def seed_demo(*, stores: int = 20, members: int = 16_000, seed: int = 1, password: str) -> DemoSummary:
    """Create the demo chain, or do nothing if the demo brand already exists.

    Guarantees: the same ``seed`` (and sizes) gives the same stores, staff and members (names and
    mobile numbers); every account can sign in with ``password``; all or nothing is written.
    Raises ValidationFailed for bad sizes or a weak password, Conflict when another brand is set up
    or demo usernames/store codes are already taken.
    """
    started = time.monotonic()
    existing = Brand.objects.filter(code=DEMO_BRAND_CODE).first()
    if existing is not None:
        # A demo made before groups existed gets its groups now; otherwise nothing changes.
        with transaction.atomic():
            seed_community_demo(existing, seed=seed)
            seed_catalog_demo(existing, seed=seed)
            _seed_campaigns(existing)
        return _existing_summary(existing, stores)
    if not 1 <= stores <= MAX_STORES:
        raise ValidationFailed(_("The demo has 1 to %(max)d stores.") % {"max": MAX_STORES}, field="stores")
    if not 0 <= members <= MAX_MEMBERS:
        raise ValidationFailed(
            _("The demo has 0 to %(max)d members.") % {"max": MAX_MEMBERS}, field="members"
        )
    try:
        password_validation.validate_password(password)
    except ValidationError as exc:
        raise ValidationFailed(" ".join(str(m) for m in exc.messages), field="password") from None
    if Brand.objects.exists():
        raise Conflict(
            _("Another brand is already set up here; the demo chain needs an empty database."),
            field="brand",
        )
    try:
        with transaction.atomic():
            summary = _build(stores=stores, members=members, seed=seed, password=password)
    except IntegrityError:
        # A concurrent run created the brand first: report it as already there.
        existing = Brand.objects.filter(code=DEMO_BRAND_CODE).first()
        if existing is None:
            raise
        return _existing_summary(existing, stores)
    summary.seconds = time.monotonic() - started
    return summary


def _seed_campaigns(brand: Brand) -> None:
    """The demo's running flash sale and group buy, a WeCom group for the sidebar, its loyalty (rules,
    tiers, points mall, the demo member's points), an in-store event, a ¥11 recharge-slot
    campaign, a referral campaign and staff incentives — each created once."""
    now = timezone.now()
    seed_demo_flash_sale(brand, now)
    seed_demo_group_buy(brand, now)
    seed_demo_sidebar(brand, now)
    seed_demo_loyalty(brand, now)
    seed_demo_event(brand, now)
    seed_demo_slots(brand, now)
    seed_demo_referrals(brand, now)
    seed_demo_incentives(brand, now)


def demo_logins(stores: int = 1) -> list[tuple[str, str]]:
    """The demo accounts to print: (username, role label)."""
    logins = [("admin", str(Role.HQ_ADMIN.label)), ("operator", str(Role.HQ_OPERATOR.label))]
    if stores >= 1:
        logins += [("m001", str(Role.STORE_MANAGER.label)), ("c001", str(Role.CLERK.label))]
    return logins


def _existing_summary(brand: Brand, stores: int) -> DemoSummary:
    return DemoSummary(
        created=False,
        brand_code=brand.code,
        brand_name=brand.name,
        stores=Store.objects.filter(brand=brand).count(),
        staff=Staff.objects.filter(brand=brand).count(),
        members=Member.objects.filter(brand=brand).count(),
        logins=demo_logins(stores),
    )


def _build(*, stores: int, members: int, seed: int, password: str) -> DemoSummary:
    rng = random.Random(seed)
    brand = org_bulk.create_brand(DEMO_BRAND_CODE, DEMO_BRAND_NAME)
    regions = demo_org.create_regions(brand)
    store_infos = demo_org.create_stores(rng, brand, regions, stores)
    used_mobiles: set[str] = set()
    staff_count = demo_org.create_staff(rng, brand, store_infos, password, used_mobiles)
    plans, consents = demo_members.create_members(rng, brand, store_infos, members, used_mobiles)
    notes = demo_members.create_notes(rng, plans)
    tag_count, rule_total = demo_members.create_tags(rng, brand, plans)
    events = demo_members.create_events(rng, plans)
    groups = seed_community_demo(brand, seed=seed)
    demo_members.create_avatars(brand)
    catalog = seed_catalog_demo(brand, seed=seed)
    _seed_campaigns(brand)
    return DemoSummary(
        created=True,
        brand_code=brand.code,
        brand_name=brand.name,
        stores=len(store_infos),
        staff=staff_count,
        members=len(plans),
        member_tags=tag_count,
        rule_tag_members=rule_total,
        consents=consents,
        notes=notes,
        events=events,
        communities=groups.communities,
        memberships=groups.memberships,
        messages=groups.messages,
        products=catalog.products,
        logins=demo_logins(stores),
    )
