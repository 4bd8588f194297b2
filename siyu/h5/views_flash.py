"""The H5 flash-sale page (秒杀): countdown, items with their flash price and units left, the pickup store,
and the "Buy now" button.

The page is an ordinary session view; buying goes through the purchase endpoints of
``siyu.h5.flash_buy`` from ``static/h5/flash.js``: the page embeds a signed ticket
(``siyu.campaigns.tickets.issue_ticket``) that the script sends in the ``X-Siyu-Ticket`` header, with a
fresh idempotency key per purchase intent (the same key again when the same tap is retried).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from siyu.campaigns.models import Campaign, CampaignKind, CampaignStatus, FlashSaleItem
from siyu.campaigns.services import flash_sales
from siyu.campaigns.tickets import issue_ticket
from siyu.common.validators import fen_to_yuan
from siyu.members.models import Member
from siyu.members.services import signin
from siyu.org.services.brand import brand_name


def _remaining(campaign: Campaign, items: list[FlashSaleItem], phase: str) -> dict[int, int]:
    """Units left per item; units not sold by written orders when the sale is cancelled or the counters
    cannot be read (the page still shows; the script asks again every 2 s)."""
    left = None if phase == flash_sales.Phase.CANCELLED else flash_sales.units_left(campaign, items)
    if left is None:
        return {i.pk: max(0, i.stock - i.sold) for i in items}
    return left


def _messages() -> dict[str, str]:
    """Texts the script shows, translated here."""
    return {
        "startsIn": _("Starts in"),
        "endsIn": _("Ends in"),
        "ended": _("This flash sale has ended."),
        "cancelled": _("This flash sale was cancelled."),
        "days": _("{d}d"),
        "chooseStore": _("Choose a pickup store first."),
        "buying": _("Buying…"),
        "creating": _("Got it! Creating your order…"),
        "slow": _("Your order is still being created. You will find it in My orders."),
        "sold_out": _("Sold out. Better luck next time!"),
        "limit_reached": _("You have reached the limit for this item."),
        "not_enough_left": _("Not that many left. Try a smaller quantity."),
        "not_running": _("The sale is not running right now."),
        "ticket": _("Your page has expired. Reload it to buy."),
        "network": _("Network problem. Tap again to retry."),
        "soldOutLabel": _("Sold out"),
        "buy": _("Buy now"),
    }


@never_cache
@require_GET
def flash_sale(request: HttpRequest, campaign_id: int) -> HttpResponse:
    """The sale page of a published (or cancelled) flash sale of the member's brand; 404 otherwise.
    Members not signed in go to the sign-in page and come back here."""
    member: Member | None = signin.member_from_session(request)
    if member is None:
        return redirect(f"{reverse('h5:login')}?{urlencode({'next': request.get_full_path()})}")
    campaign = (
        Campaign.objects.filter(pk=campaign_id, brand_id=member.brand_id, kind=CampaignKind.FLASH_SALE)
        .exclude(status=CampaignStatus.DRAFT)
        .first()
    )
    if campaign is None:
        raise Http404
    now = timezone.now()
    phase = flash_sales.phase(campaign, now)
    items = list(campaign.flash_items.select_related("sku__product").order_by("position", "id"))
    left = _remaining(campaign, items, phase)
    stores = list(flash_sales.sale_stores(campaign))
    store_ids = {s.pk for s in stores}
    selected: int | None
    if member.home_store_id in store_ids:
        selected = member.home_store_id
    else:
        selected = stores[0].pk if len(stores) == 1 else None
    rows: list[dict[str, Any]] = []
    for item in items:
        sku = item.sku
        rows.append(
            {
                "item": item,
                "name": sku.product.name,
                "spec": sku.spec,
                "picture": sku.product.picture,
                "price": fen_to_yuan(item.price_fen),
                "normal": fen_to_yuan(sku.price_fen),
                "remaining": left.get(item.pk, 0),
                "quantities": list(range(1, item.per_member_limit + 1)),
            }
        )
    config = {
        "campaign": campaign.pk,
        "ticket": issue_ticket(member.pk, campaign.pk),
        "buyUrl": reverse("h5:flash_buy", args=[campaign.pk]),
        "statusUrl": reverse("h5:flash_status", args=[campaign.pk]),
        "resultUrl": reverse("h5:flash_reservation", args=[campaign.pk, "__KEY__"]),
        "startsAt": campaign.starts_at.isoformat(),
        "endsAt": campaign.ends_at.isoformat(),
        "serverNow": now.isoformat(),
        "phase": phase,
        "messages": _messages(),
    }
    context = {
        "brand_name": brand_name(),
        "campaign": campaign,
        "phase": phase,
        "rows": rows,
        "stores": stores,
        "selected_store": selected,
        "config": config,
    }
    return render(request, "h5/flash/sale.html", context)
