"""H5 recharge slots (预定充值名额): a slot campaign's page (what the slot gives, then "buy" through the
flash-sale page and its purchase path, paid in the cashier), and 我的名额 (my slots: held / converted /
refunded / forfeited, the deadline, the store, what to do next and the code to show at the counter).

Thin callers of ``siyu.campaigns.services.recharge_slots``."""

from __future__ import annotations

from urllib.parse import urlencode

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from siyu.campaigns.models import CampaignStatus, RechargeSlotCampaign
from siyu.campaigns.services import flash_sales
from siyu.campaigns.services.recharge_slots import member as slot_member
from siyu.campaigns.services.recharge_slots.setup import member_slot_campaigns, slots_for_sale
from siyu.common.validators import fen_to_yuan
from siyu.members.services import signin
from siyu.org.services.brand import brand_name


def _login(request: HttpRequest) -> HttpResponse:
    return redirect(f"{reverse('h5:login')}?{urlencode({'next': request.get_full_path()})}")


@never_cache
@require_GET
def slot_campaign(request: HttpRequest, campaign_id: int) -> HttpResponse:
    """A published (or cancelled) slot campaign of the member's brand; 404 otherwise."""
    member = signin.member_from_session(request)
    if member is None:
        return _login(request)
    sc = (
        RechargeSlotCampaign.objects.filter(campaign_id=campaign_id, campaign__brand_id=member.brand_id)
        .exclude(campaign__status=CampaignStatus.DRAFT)
        .select_related("campaign")
        .first()
    )
    if sc is None:
        raise Http404
    campaign = sc.campaign
    phase = flash_sales.phase(campaign, timezone.now())
    item = campaign.flash_items.first()
    left = flash_sales.units_left(campaign, [item]) if item is not None else None
    context = {
        "brand_name": brand_name(),
        "sc": sc,
        "campaign": campaign,
        "phase": phase,
        "deposit": fen_to_yuan(sc.deposit_fen),
        "threshold": fen_to_yuan(sc.threshold_fen),
        "slots": slots_for_sale(sc),
        "left": (left or {}).get(item.pk) if item is not None else None,
        "stores": list(flash_sales.sale_stores(campaign)),
        "buy_url": reverse("h5:flash_sale", args=[campaign.pk]),
    }
    return render(request, "h5/slots/campaign.html", context)


@never_cache
@require_GET
def my_slots(request: HttpRequest) -> HttpResponse:
    """我的名额: the member's slots, and the slot campaigns on sale now."""
    member = signin.member_from_session(request)
    if member is None:
        return _login(request)
    rows = [
        {
            "mine": row,
            "deposit": fen_to_yuan(row.slot.deposit_fen),
            "threshold": fen_to_yuan(row.slot.slot_campaign.threshold_fen),
        }
        for row in slot_member.my_slots(member)
    ]
    context = {
        "brand_name": brand_name(),
        "rows": rows,
        "on_sale": member_slot_campaigns(member.brand_id),
    }
    return render(request, "h5/slots/mine.html", context)
