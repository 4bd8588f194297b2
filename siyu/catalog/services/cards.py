"""Product cards: the group robot posts a product into chosen groups, linking to the member mall.

For each group the card points at the product's listing at *that group's store* (members of a group shop at
its store): the cheapest in-stock SKU members can buy there (effective price = member price when set, else
price; ties by SKU id). A group whose store does not offer the product, or has it only sold out, is skipped —
not an error for the other groups. The link is ``/h5/mall/p/<listing_id>/?g=<community_id>``: relative in
the web chat (same origin), absolute for WeCom/Telegram groups (their apps open links outside Siyu), built
from ``settings.SIYU_PUBLIC_URL`` when set, else the ``base_url`` the caller took from its request.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from siyu.catalog.models import Product, StoreListing
from siyu.catalog.services import products as product_services
from siyu.catalog.services.queries import available_listings, member_unit_fen
from siyu.channels.models import ChannelKind
from siyu.common.errors import Conflict, NotFound, ValidationFailed
from siyu.common.validators import clean_idempotency_key, fen_to_yuan, parse_id
from siyu.communities.models import Community, GroupDelivery, Message
from siyu.communities.services import robot
from siyu.org.models import Staff
from siyu.org.services.access import require_staff, store_scope
from siyu.org.services.audit import record_audit
from siyu.org.services.brand import current_brand_id

MAX_GROUPS = 200
SHORT_TEXT = 80

# Why a group was skipped.
SKIP_NOT_OFFERED = "not_offered"  # the store does not offer the product (not published, delisted, inactive)
SKIP_SOLD_OUT = "sold_out"  # offered, but every SKU is sold out at the store
SKIP_CLOSED = "closed"  # the group is archived
SKIP_NO_PUBLIC_URL = "no_public_url"  # a WeCom/Telegram group, and no absolute site address is known

_ABSOLUTE_RE = re.compile(r"https?://[^\s/]+/?", re.IGNORECASE)


@dataclass(frozen=True)
class SkippedGroup:
    community_id: int
    reason: str


class CardPosts(list[Message]):
    """The robot's card messages, one per group posted to (in the order asked), plus ``skipped``."""

    def __init__(self, messages: list[Message], skipped: list[SkippedGroup]) -> None:
        super().__init__(messages)
        self.skipped = skipped


def _clean_ids(community_ids: Any) -> list[int]:
    invalid = ValidationFailed(_("Choose the groups to post to."), field="community_ids")
    if not isinstance(community_ids, list | tuple) or not community_ids:
        raise invalid
    try:
        ids = list(dict.fromkeys(parse_id(value, "community_ids") for value in community_ids))
    except NotFound:
        raise invalid from None
    if len(ids) > MAX_GROUPS:
        raise ValidationFailed(
            _("Post to at most %(n)s groups at once.") % {"n": MAX_GROUPS}, field="community_ids"
        )
    return ids


def _groups(staff: Staff, ids: list[int]) -> list[Community]:
    """The groups, in the order asked; NotFound if any is missing, of another brand or out of scope."""
    qs = Community.objects.select_related("store", "connector").filter(
        pk__in=ids, brand_id=current_brand_id(staff)
    )
    scope = store_scope(staff)
    if scope is not None:
        qs = qs.filter(store_id__in=scope)
    found = {c.pk: c for c in qs}
    if len(found) != len(ids):
        raise NotFound(_("No such group."), field="community_ids")
    return [found[pk] for pk in ids]


def _unit_fen(listing: StoreListing) -> int:
    return member_unit_fen(listing.sku)


def pick_listing(product: Product, store_id: int) -> tuple[StoreListing | None, str, bool]:
    """The listing of ``product`` a card in a group of ``store_id`` links to: the cheapest in-stock SKU
    members of the store can buy (effective price, ties by SKU id), and whether the in-stock SKUs there have
    several prices. ``(None, reason, False)`` when there is none: reason ``not_offered`` or ``sold_out``."""
    rows = list(available_listings(store_id).filter(sku__product_id=product.pk))
    if not rows:
        return None, SKIP_NOT_OFFERED, False
    in_stock = [r for r in rows if r.stock > 0]
    if not in_stock:
        return None, SKIP_SOLD_OUT, False
    chosen = min(in_stock, key=lambda r: (_unit_fen(r), r.sku_id))
    return chosen, "", len({_unit_fen(r) for r in in_stock}) > 1


def card_description(product: Product, listing: StoreListing, *, several_prices: bool) -> str:
    """Price line (member price first) and the product's subtitle or the start of its description."""
    sku = listing.sku
    values = {"price": fen_to_yuan(_unit_fen(listing)), "was": fen_to_yuan(sku.price_fen)}
    if sku.member_price_fen and sku.member_price_fen < sku.price_fen:
        if several_prices:
            price = _("Member price from ¥%(price)s (¥%(was)s)") % values
        else:
            price = _("Member price ¥%(price)s (¥%(was)s)") % values
    else:
        price = (_("From ¥%(price)s") if several_prices else _("¥%(price)s")) % values
    short = (product.subtitle or " ".join(product.description.split())).strip()
    if len(short) > SHORT_TEXT:
        short = short[: SHORT_TEXT - 1].rstrip() + "…"
    return f"{price} · {short}" if short else price


def public_base(base_url: str | None = None) -> str:
    """The site's absolute address (``https://shop.example.com``, no trailing slash):
    ``settings.SIYU_PUBLIC_URL`` when set, else ``base_url``; empty when neither is an http(s) address."""
    for candidate in (getattr(settings, "SIYU_PUBLIC_URL", "") or "", base_url or ""):
        candidate = candidate.strip()
        if _ABSOLUTE_RE.match(candidate) and not any(c.isspace() for c in candidate):
            return candidate.rstrip("/")
    return ""


def _image_link(product: Product, base: str) -> str:
    """The product's picture as a card image link, or empty when it is not a usable web address."""
    picture = (product.picture or "").strip()
    if len(picture) > 900 or any(c.isspace() for c in picture):
        return ""  # the robot refuses such links; a card without its picture is still a card
    if re.match(r"https?://", picture, re.IGNORECASE):
        return picture
    if picture.startswith("/") and not picture.startswith("//"):
        return f"{base}{picture}"
    return ""  # an upload without a MEDIA_URL path: no image rather than a broken one


def _card_key(staff: Staff, product: Product, community: Community, key: str) -> str:
    digest = hashlib.sha256(f"{staff.pk}:{product.pk}:{community.pk}:{key}".encode()).hexdigest()[:40]
    return f"product-card:{digest}"


def post_product_card(
    staff: Staff,
    *,
    product_id: Any,
    community_ids: Any,
    idempotency_key: Any,
    base_url: str | None = None,
) -> CardPosts:
    """The robot posts a card of ``product_id`` into each group of ``community_ids``.

    Guarantees: every group must be of the staff's brand and (for store roles) one of their stores' —
    otherwise NotFound and nothing is posted; 1–200 groups. Each card links to the group's store listing
    chosen by ``pick_listing`` (``/h5/mall/p/<listing>/?g=<group>``; absolute for WeCom/Telegram groups,
    see ``public_base``); a group that cannot get a card (store does not offer it, sold out, group archived,
    no public address for a channel group) is skipped, listed in ``skipped`` with a reason; if no group can,
    Conflict ``unavailable`` and nothing is posted. Posts, outbox rows and audit entries
    (``product.card_posted``, one per group) are written in one transaction. The same
    ``idempotency_key`` again (same staff, product and group) returns the first messages and posts nothing
    more, even if the product has sold out meanwhile.
    """
    require_staff(staff)
    product = product_services.get_product(staff, product_id)
    ids = _clean_ids(community_ids)
    key = clean_idempotency_key(idempotency_key)
    groups = _groups(staff, ids)
    base = public_base(base_url)
    messages: list[Message] = []
    skipped: list[SkippedGroup] = []
    with transaction.atomic(), translation.override(settings.LANGUAGE_CODE):
        for community in groups:
            card_key = _card_key(staff, product, community, key)
            client_id = robot._robot_client_id(card_key)
            earlier = Message.objects.filter(community=community, client_msg_id=client_id).first()
            if earlier is not None:
                messages.append(earlier)  # a retry: the card is already there
                continue
            reason = _post_one(staff, product, community, card_key, base, messages)
            if reason:
                skipped.append(SkippedGroup(community.pk, reason))
        if not messages:
            raise Conflict(
                _("None of these groups' stores can sell this product now."),
                field="community_ids",
                code="unavailable",
            )
    return CardPosts(messages, skipped)


def _post_one(
    staff: Staff, product: Product, community: Community, card_key: str, base: str, out: list[Message]
) -> str:
    """Post one group's card (appended to ``out``); return the skip reason instead when it cannot."""
    if community.status == Community.Status.ARCHIVED:
        return SKIP_CLOSED
    listing, reason, several_prices = pick_listing(product, community.store_id)
    if listing is None:
        return reason
    path = f"{reverse('h5:mall_product', args=[listing.pk])}?g={community.pk}"
    prefix = ""
    if community.channel != ChannelKind.WEB:
        if not base:
            return SKIP_NO_PUBLIC_URL
        prefix = base
    card = {
        "title": product.name[:128],
        "description": card_description(product, listing, several_prices=several_prices)[:512],
        "url": f"{prefix}{path}",
        "image_url": _image_link(product, base if prefix else ""),
    }
    message = robot.post_to_group(
        community, card=card, idempotency_key=card_key, delivery_kind=GroupDelivery.Kind.CARD
    )
    record_audit(
        staff,
        "product.card_posted",
        target_type="product",
        target_id=product.pk,
        store_id=community.store_id,
        detail={"community_id": community.pk, "listing_id": listing.pk, "message_id": message.pk},
    )
    out.append(message)
    return ""
