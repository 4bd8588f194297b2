"""Recharge tiers and the stored-value policy as head office sets them up (the console form and the API).

Guarantees: changing needs the capability ``stored_value.manage`` (head office); every value is checked here
so a form and the API refuse the same things with the same message (``ValidationFailed`` naming the field): a
name, a threshold of ¥0.01–¥100,000, a bonus of ¥0–¥100,000 and/or a gift (at least one of them), a window
whose end is after its start, stores of the brand. Reading is open to every staff member of the brand. Rules
are never deleted (recharges name them): ``active: false`` switches one off. Changes are audited
(``stored_value.rule``, ``stored_value.policy``).
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils.translation import gettext as _

from siyu.catalog.models import Sku
from siyu.common.errors import NotFound, ValidationFailed
from siyu.common.validators import MAX_DB_ID, clean_int, clean_text, fen_to_yuan, optional_aware_datetime
from siyu.loyalty.models import RechargeRule, StoredValuePolicy
from siyu.loyalty.services.stored_value import MAX_AMOUNT_FEN
from siyu.org.models import Staff
from siyu.org.services.access import check_capability, require_staff
from siyu.org.services.audit import record_audit
from siyu.org.services.brand import current_brand_id
from siyu.org.services.stores import brand_stores

FIELDS = ("name", "threshold_fen", "bonus_fen", "gift", "starts_at", "ends_at", "store_ids", "active")
POLICY_FIELDS = (
    "cap_fen",
    "bonus_spend",
    "bonus_expiry_days",
    "forfeit_bonus_on_refund",
    "custody_fen",
    "custody_percent",
    "recharge_sku_id",
)
MAX_CAP_FEN = 10_000_000
MAX_CUSTODY_FEN = 10**13


def list_rules(staff: Staff, *, active_only: bool = False) -> QuerySet[RechargeRule]:
    require_staff(staff)
    qs = RechargeRule.objects.filter(brand_id=current_brand_id(staff)).prefetch_related("stores")
    if active_only:
        qs = qs.filter(active=True)
    return qs.order_by("-active", "threshold_fen", "id")


def get_rule(staff: Staff, rule_id: Any) -> RechargeRule:
    pk = clean_int(rule_id, "rule", 1, MAX_DB_ID, from_text=True)
    rule = list_rules(staff).filter(pk=pk).first()
    if rule is None:
        raise NotFound(_("No such recharge tier."), field="rule")
    return rule


def _fen(value: Any, field: str, low: int) -> int:
    return clean_int(
        value,
        field,
        low,
        MAX_AMOUNT_FEN,
        _("Give an amount from ¥%(low)s to ¥%(high)s.")
        % {"low": fen_to_yuan(low), "high": fen_to_yuan(MAX_AMOUNT_FEN)},
        from_text=True,
    )


def _clean(staff: Staff, data: dict[str, Any], rule: RechargeRule | None) -> dict[str, Any]:
    unknown = set(data) - set(FIELDS)
    if unknown:
        raise ValidationFailed(_("Unknown field."), field=sorted(unknown)[0])
    merged: dict[str, Any] = {}
    if rule is not None:
        merged = {
            "name": rule.name,
            "threshold_fen": rule.threshold_fen,
            "bonus_fen": rule.bonus_fen,
            "gift": rule.gift,
            "starts_at": rule.starts_at,
            "ends_at": rule.ends_at,
            "active": rule.active,
        }
    merged.update(data)
    out: dict[str, Any] = {
        "name": clean_text(merged.get("name"), "name", 60, required=True),
        "threshold_fen": _fen(merged.get("threshold_fen"), "threshold_fen", 1),
        "bonus_fen": _fen(merged.get("bonus_fen") or 0, "bonus_fen", 0),
        "gift": clean_text(merged.get("gift") or "", "gift", 100, required=False) or "",
        "starts_at": optional_aware_datetime(merged.get("starts_at"), "starts_at"),
        "ends_at": optional_aware_datetime(merged.get("ends_at"), "ends_at"),
        "active": bool(merged.get("active", True)),
    }
    if not out["bonus_fen"] and not out["gift"]:
        raise ValidationFailed(_("A tier gives a bonus, a gift, or both."), field="bonus_fen")
    if out["starts_at"] and out["ends_at"] and out["ends_at"] <= out["starts_at"]:
        raise ValidationFailed(_("The end must be after the start."), field="ends_at")
    if "store_ids" in data or rule is None:
        out["stores"] = brand_stores(current_brand_id(staff), data.get("store_ids"))
    return out


def create_rule(staff: Staff, data: dict[str, Any]) -> RechargeRule:
    """A new recharge tier (``stored_value.manage``)."""
    check_capability(staff, "stored_value.manage")
    clean = _clean(staff, data, None)
    stores = clean.pop("stores")
    with transaction.atomic():
        rule = RechargeRule.objects.create(brand_id=current_brand_id(staff), **clean)
        rule.stores.set(stores)
        record_audit(
            staff,
            "stored_value.rule",
            target_type="recharge_rule",
            target_id=rule.pk,
            detail={"created": True, "threshold_fen": rule.threshold_fen, "bonus_fen": rule.bonus_fen},
        )
    return rule


def update_rule(staff: Staff, rule_id: Any, data: dict[str, Any]) -> RechargeRule:
    """Change the fields given (``stored_value.manage``)."""
    check_capability(staff, "stored_value.manage")
    rule = get_rule(staff, rule_id)
    clean = _clean(staff, data, rule)
    stores = clean.pop("stores", None)
    with transaction.atomic():
        RechargeRule.objects.filter(pk=rule.pk).update(**clean)
        if stores is not None:
            rule.stores.set(stores)
        record_audit(
            staff,
            "stored_value.rule",
            target_type="recharge_rule",
            target_id=rule.pk,
            detail={k: str(v) for k, v in clean.items()},
        )
    return get_rule(staff, rule.pk)


# --- the policy ---------------------------------------------------------------------------------------


def get_policy(staff: Staff) -> StoredValuePolicy:
    require_staff(staff)
    brand_id = current_brand_id(staff)
    return StoredValuePolicy.objects.filter(brand_id=brand_id).first() or StoredValuePolicy(brand_id=brand_id)


def recharge_sku_choices(staff: Staff) -> list[Sku]:
    """SKUs of the brand's products that may carry online recharge orders."""
    require_staff(staff)
    return list(
        Sku.objects.filter(product__brand_id=current_brand_id(staff))
        .select_related("product")
        .order_by("code")[:500]
    )


def _recharge_sku(brand_id: int, value: Any) -> int | None:
    if value in (None, "", 0):
        return None
    pk = clean_int(
        value, "recharge_sku_id", 1, MAX_DB_ID, _("Choose a product from the list."), from_text=True
    )
    if not Sku.objects.filter(pk=pk, product__brand_id=brand_id).exists():
        raise ValidationFailed(_("Choose a product from the list."), field="recharge_sku_id")
    return pk


def update_policy(staff: Staff, data: dict[str, Any]) -> StoredValuePolicy:
    """Change the brand's cap, how bonus is spent and expires, the refund rule and the custody figures."""
    check_capability(staff, "stored_value.manage")
    unknown = set(data) - set(POLICY_FIELDS)
    if unknown:
        raise ValidationFailed(_("Unknown field."), field=sorted(unknown)[0])
    clean: dict[str, Any] = {}
    if "cap_fen" in data:
        clean["cap_fen"] = clean_int(
            data["cap_fen"], "cap_fen", 100, MAX_CAP_FEN, _("Give a cap from ¥1 to ¥100,000."), from_text=True
        )
    if "bonus_spend" in data:
        if data["bonus_spend"] not in StoredValuePolicy.BonusSpend.values:
            raise ValidationFailed(_("Choose how bonus is spent from the list."), field="bonus_spend")
        clean["bonus_spend"] = data["bonus_spend"]
    if "bonus_expiry_days" in data:
        clean["bonus_expiry_days"] = clean_int(
            data["bonus_expiry_days"],
            "bonus_expiry_days",
            0,
            3650,
            _("Give 0 (never) to 3,650 days."),
            from_text=True,
        )
    if "forfeit_bonus_on_refund" in data:
        clean["forfeit_bonus_on_refund"] = bool(data["forfeit_bonus_on_refund"])
    if "custody_fen" in data:
        clean["custody_fen"] = clean_int(
            data["custody_fen"], "custody_fen", 0, MAX_CUSTODY_FEN, from_text=True
        )
    if "custody_percent" in data:
        clean["custody_percent"] = clean_int(
            data["custody_percent"],
            "custody_percent",
            0,
            100,
            _("Give a percentage from 0 to 100."),
            from_text=True,
        )
    brand_id = current_brand_id(staff)
    if "recharge_sku_id" in data:
        clean["recharge_sku_id"] = _recharge_sku(brand_id, data["recharge_sku_id"])
    with transaction.atomic():
        policy, _created = StoredValuePolicy.objects.update_or_create(brand_id=brand_id, defaults=clean)
        record_audit(
            staff,
            "stored_value.policy",
            target_type="brand",
            target_id=brand_id,
            detail={k: str(v) for k, v in clean.items()},
        )
    return policy
