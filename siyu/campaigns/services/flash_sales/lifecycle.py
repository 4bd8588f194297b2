"""Creating, editing, publishing and cancelling flash sales (head office), audited.

See ``siyu.campaigns.services.flash_sales`` for the rules."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.campaigns.models import (
    Campaign,
    CampaignKind,
    CampaignStatus,
)
from siyu.campaigns.services import flash_admission
from siyu.campaigns.services.flash_sales.phases import FLASH_FIELDS, PUBLISHED_EDITABLE
from siyu.campaigns.services.flash_sales.sale_input import (
    _audit_value,
    _check_published,
    _clean,
    _current_items,
    _forget_config_on_commit,
    _locked,
    _sku_label,
    _text,
    _write_items,
)
from siyu.campaigns.services.flash_sales.visibility import require_manager, sale_stores
from siyu.common.errors import Conflict, ValidationFailed
from siyu.org.models import Staff
from siyu.org.services.audit import record_audit
from siyu.org.services.brand import current_brand_id

# --- create / update / publish / cancel ---------------------------------------------------------------


def create_flash_sale(staff: Staff, data: dict[str, Any], *, now: datetime | None = None) -> Campaign:
    """Create a draft flash sale (head office only).

    ``data``: title, description, starts_at, ends_at (after the start, in the future, ≤ 90 days long),
    pickup_until (≥ end; default end + 3 days), store_ids (none: every open store), community_ids (groups
    of those stores, not archived), warmup_at (before the start), warmup_text, start_text, relay_enabled,
    items: a list of ``{"sku_id", "price_fen", "stock", "per_member_limit"}`` (or 4-tuples) — 1 to 20
    items, no SKU twice, each SKU active and its product published to every pickup store, price 1 fen up
    to the SKU's normal price, stock 1–100000, limit 1–99.

    Guarantees: all or nothing; audited as ``campaign.create``; ValidationFailed names the first refused
    field (``items.<n>.<field>`` for an item).
    """
    return _create(staff, data, now=now)


def create_as_system(brand_id: int, data: dict[str, Any], *, now: datetime | None = None) -> Campaign:
    """``create_flash_sale`` without a staff actor (demo seeding, commands): same rules and guarantees,
    audited with no actor."""
    return _create(None, data, now=now, brand_id=brand_id)


def _create(
    staff: Staff | None, data: dict[str, Any], *, now: datetime | None, brand_id: int | None = None
) -> Campaign:
    if staff is not None:
        require_manager(staff)
        brand_id = current_brand_id(staff)
    assert brand_id is not None
    now = now or timezone.now()
    clean = _clean(data, brand_id=brand_id, current=None, now=now)
    with transaction.atomic():
        campaign = Campaign.objects.create(
            brand_id=brand_id,
            kind=CampaignKind.FLASH_SALE,
            created_by=staff if staff is not None and staff.pk else None,
            **clean.fields,
        )
        campaign.stores.set(clean.store_ids or [])
        campaign.communities.set(clean.community_ids or [])
        _write_items(campaign, clean.items or [])
        record_audit(
            staff,
            "campaign.create",
            target_type="campaign",
            target_id=campaign.pk,
            detail={
                "kind": campaign.kind,
                "title": campaign.title,
                "starts_at": campaign.starts_at.isoformat(),
                "ends_at": campaign.ends_at.isoformat(),
                "stores": clean.store_ids or [],
                "communities": clean.community_ids or [],
                "items": [spec.as_audit() for spec in clean.items or []],
            },
        )
    return campaign


def update_flash_sale(
    staff: Staff, campaign_id: Any, data: dict[str, Any], *, now: datetime | None = None
) -> Campaign:
    """Change a flash sale (head office only); only the fields given change, with the rules of
    ``create_flash_sale`` checked on the result (``items``, when given, replace all items).

    A draft is editable in full. A published sale only takes ``description``, a later ``ends_at`` and a
    later ``pickup_until`` (anything else: Conflict ``published``); a cancelled or ended one nothing
    (Conflict). Unchanged values write nothing; a change is audited as ``campaign.update``.
    """
    require_manager(staff)
    now = now or timezone.now()
    with transaction.atomic():
        campaign = _locked(staff, campaign_id)
        if campaign.status == CampaignStatus.CANCELLED:
            raise Conflict(_("This flash sale was cancelled."), field="status", code="cancelled")
        if campaign.status == CampaignStatus.PUBLISHED:
            if not isinstance(data, dict):
                raise ValidationFailed(_("Expected an object."))
            fixed = sorted(set(data) - PUBLISHED_EDITABLE)
            if fixed and set(fixed) <= set(FLASH_FIELDS):
                raise Conflict(
                    _(
                        "A published flash sale is fixed: only its description, end and pickup "
                        "deadline can change."
                    ),
                    field=fixed[0],
                    code="published",
                )
            if campaign.ends_at <= now:
                raise Conflict(_("This flash sale has ended."), field="ends_at", code="ended")
        clean = _clean(data, brand_id=campaign.brand_id, current=campaign, now=now)
        if campaign.status == CampaignStatus.PUBLISHED:
            for name in ("ends_at", "pickup_until"):
                if name in clean.fields and clean.fields[name] < getattr(campaign, name):
                    raise Conflict(
                        _("A published flash sale can only be extended."), field=name, code="published"
                    )
        changes: dict[str, Any] = {k: v for k, v in clean.fields.items() if getattr(campaign, k) != v}
        if clean.store_ids is not None and set(clean.store_ids) != set(
            campaign.stores.values_list("pk", flat=True)
        ):
            changes["store_ids"] = clean.store_ids
        if clean.community_ids is not None and set(clean.community_ids) != set(
            campaign.communities.values_list("pk", flat=True)
        ):
            changes["community_ids"] = clean.community_ids
        if clean.items is not None and [s.as_audit() for s in clean.items] != [
            s.as_audit() for s in _current_items(campaign)
        ]:
            changes["items"] = clean.items
        if not changes:
            return campaign
        for name, new in changes.items():
            if name in FLASH_FIELDS and name not in ("store_ids", "community_ids", "items"):
                setattr(campaign, name, new)
        campaign.save()
        if "store_ids" in changes:
            campaign.stores.set(changes["store_ids"])
        if "community_ids" in changes:
            campaign.communities.set(changes["community_ids"])
        if "items" in changes:
            _write_items(campaign, changes["items"])
        if campaign.status == CampaignStatus.PUBLISHED and {"ends_at", "pickup_until"} & set(changes):
            # The counters' lifetime follows the window: load them again (idempotent, under its lock).
            flash_admission.open_sale(campaign)
        _forget_config_on_commit(campaign.pk)
        record_audit(
            staff,
            "campaign.update",
            target_type="campaign",
            target_id=campaign.pk,
            detail={
                "changes": {
                    k: [s.as_audit() for s in v] if k == "items" else _audit_value(v)
                    for k, v in sorted(changes.items())
                }
            },
        )
    return campaign


def publish_flash_sale(staff: Staff, campaign_id: Any, *, now: datetime | None = None) -> Campaign:
    """Publish a draft flash sale (head office only): status published, ``published_at`` set, admission
    opened with ``flash_admission.open_sale`` — in one transaction, so a failure to open leaves the draft.

    Checks again that the sale has items, has not ended and that every item's SKU is still active and
    published to every pickup store. Publishing a published sale returns it unchanged; a cancelled one is
    Conflict ``cancelled``, an ended one Conflict ``ended``. Audited as ``campaign.publish``.
    """
    return _publish(staff, campaign_id, now=now)


def publish_as_system(campaign: Campaign, *, now: datetime | None = None) -> Campaign:
    """``publish_flash_sale`` without a staff actor (demo seeding, commands): same checks and
    guarantees, audited with no actor."""
    return _publish(None, campaign.pk, now=now, campaign=campaign)


def _publish(
    staff: Staff | None, campaign_id: Any, *, now: datetime | None, campaign: Campaign | None = None
) -> Campaign:
    if staff is not None:
        require_manager(staff)
    now = now or timezone.now()
    with transaction.atomic():
        if staff is not None:
            campaign = _locked(staff, campaign_id)
        else:
            assert campaign is not None
            campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if campaign.status == CampaignStatus.PUBLISHED:
            return campaign
        if campaign.status == CampaignStatus.CANCELLED:
            raise Conflict(_("This flash sale was cancelled."), field="status", code="cancelled")
        if campaign.ends_at <= now:
            raise Conflict(_("This flash sale has already ended."), field="ends_at", code="ended")
        items = _current_items(campaign)
        if not items:
            raise ValidationFailed(_("Add at least one item."), field="items")
        for i, spec in enumerate(items):
            if not (spec.sku.active and spec.sku.product.active):
                raise ValidationFailed(
                    _("%(sku)s is not active.") % {"sku": _sku_label(spec.sku)}, field=f"items.{i}.sku_id"
                )
        _check_published(items, list(sale_stores(campaign)))
        claimed = Campaign.objects.filter(pk=campaign.pk, status=CampaignStatus.DRAFT).update(
            status=CampaignStatus.PUBLISHED, published_at=now, updated_at=now
        )
        if not claimed:  # pragma: no cover - the row is locked; kept as the guard the rules ask for
            raise Conflict(_("This flash sale changed meanwhile; try again."), code="conflict")
        campaign.refresh_from_db()
        flash_admission.open_sale(campaign)  # fixes admission_backend; on Redis loads the counters
        campaign.refresh_from_db()
        _forget_config_on_commit(campaign.pk)
        record_audit(
            staff,
            "campaign.publish",
            target_type="campaign",
            target_id=campaign.pk,
            detail={"backend": campaign.admission_backend, "starts_at": campaign.starts_at.isoformat()},
        )
    return campaign


def cancel_flash_sale(
    staff: Staff, campaign_id: Any, *, reason: str = "", now: datetime | None = None
) -> Campaign:
    """Cancel a draft or published flash sale before its end (head office only): status cancelled, so
    admission refuses every further purchase (``not_running``). Orders already written stay; staff cancel
    or refund them one by one. Cancelling a cancelled sale returns it unchanged; an ended sale is Conflict
    ``ended``. ``reason`` (≤ 200 characters) goes into the audit entry ``campaign.cancel``."""
    require_manager(staff)
    now = now or timezone.now()
    reason = _text({"reason": reason}, "reason", 200)
    with transaction.atomic():
        campaign = _locked(staff, campaign_id)
        if campaign.status == CampaignStatus.CANCELLED:
            return campaign
        if campaign.status == CampaignStatus.PUBLISHED and campaign.ends_at <= now:
            raise Conflict(_("This flash sale has already ended."), field="ends_at", code="ended")
        previous = campaign.status
        claimed = Campaign.objects.filter(
            pk=campaign.pk, status__in=[CampaignStatus.DRAFT, CampaignStatus.PUBLISHED]
        ).update(status=CampaignStatus.CANCELLED, updated_at=now)
        if not claimed:  # pragma: no cover - the row is locked
            raise Conflict(_("This flash sale changed meanwhile; try again."), code="conflict")
        campaign.refresh_from_db()
        _forget_config_on_commit(campaign.pk)
        record_audit(
            staff,
            "campaign.cancel",
            target_type="campaign",
            target_id=campaign.pk,
            detail={"from": previous, "reason": reason},
        )
    return campaign
