"""Earn rules as head office sets them up: create, edit, list (the console form and the API).

Guarantees: changing a rule needs the capability ``loyalty.manage`` (head office); every value is checked
here, so a form and the API refuse the same things with the same message (``ValidationFailed`` naming the
field): a name, points 0–100,000, a window whose end is after its start, stores of the brand, caps ≥ 1 or
empty; for check-in rules streak bonuses as whole days 2–365 → points, and a make-up cost and window.
Reading is open to every staff member of the brand. Changes are audited (``loyalty.rule``).
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils.translation import gettext as _

from siyu.common.errors import NotFound, ValidationFailed
from siyu.common.validators import MAX_DB_ID, clean_int, clean_text, optional_aware_datetime
from siyu.loyalty.models import EarnRule
from siyu.org.models import Staff, Store
from siyu.org.services.access import check_capability, require_staff
from siyu.org.services.audit import record_audit
from siyu.org.services.brand import current_brand_id
from siyu.org.services.stores import brand_stores

MAX_RULE_POINTS = 100_000
MAX_CAP = 10_000
MAX_STREAK_DAY = 365
FIELDS = (
    "kind",
    "name",
    "points",
    "starts_at",
    "ends_at",
    "store_ids",
    "daily_cap",
    "member_cap",
    "active",
    "streak_bonus",
    "makeup_cost",
    "makeup_days",
)


def list_rules(staff: Staff, *, kind: str | None = None) -> QuerySet[EarnRule]:
    require_staff(staff)
    qs = EarnRule.objects.filter(brand_id=current_brand_id(staff)).prefetch_related("stores")
    if kind:
        qs = qs.filter(kind=kind)
    return qs.order_by("kind", "-active", "id")


def get_rule(staff: Staff, rule_id: Any) -> EarnRule:
    pk = clean_int(rule_id, "rule", 1, MAX_DB_ID, from_text=True)
    rule = list_rules(staff).filter(pk=pk).first()
    if rule is None:
        raise NotFound(_("No such earn rule."), field="rule")
    return rule


def _optional_cap(value: Any, field: str) -> int | None:
    if value in (None, ""):
        return None
    return clean_int(
        value, field, 1, MAX_CAP, _("Leave empty, or give a whole number from 1 to 10,000."), from_text=True
    )


def clean_streak_bonus(value: Any) -> dict[str, int]:
    """``{"7": 20, "30": 100}`` from a dict, or from a list of ``{"days", "points"}`` rows (the form's)."""
    if value in (None, "", [], {}):
        return {}
    rows: list[tuple[Any, Any]]
    if isinstance(value, dict):
        rows = list(value.items())
    elif isinstance(value, list):
        rows = []
        for row in value:
            if not isinstance(row, dict):
                raise ValidationFailed(_("Each streak bonus needs days and points."), field="streak_bonus")
            rows.append((row.get("days"), row.get("points")))
    else:
        raise ValidationFailed(_("Each streak bonus needs days and points."), field="streak_bonus")
    if len(rows) > 20:
        raise ValidationFailed(_("At most 20 streak bonuses."), field="streak_bonus")
    out: dict[str, int] = {}
    for days, pts in rows:
        d = clean_int(
            days, "streak_bonus", 2, MAX_STREAK_DAY, _("A streak is 2 to 365 days in a row."), from_text=True
        )
        p = clean_int(
            pts, "streak_bonus", 1, MAX_RULE_POINTS, _("A bonus is 1 to 100,000 points."), from_text=True
        )
        if str(d) in out:
            raise ValidationFailed(_("Each streak length can have one bonus."), field="streak_bonus")
        out[str(d)] = p
    return dict(sorted(out.items(), key=lambda kv: int(kv[0])))


def _clean(
    staff: Staff, data: dict[str, Any], rule: EarnRule | None
) -> tuple[dict[str, Any], list[Store] | None]:
    unknown = set(data) - set(FIELDS)
    if unknown:
        raise ValidationFailed(_("Unknown field."), field=sorted(unknown)[0])
    kind = data.get("kind", rule.kind if rule else None)
    if kind not in EarnRule.Kind.values:
        raise ValidationFailed(_("Choose what the rule rewards."), field="kind")
    values: dict[str, Any] = {"kind": kind}
    if rule is None or "name" in data:
        values["name"] = clean_text(data.get("name"), "name", 60, required=True)
    if rule is None or "points" in data:
        values["points"] = clean_int(
            data.get("points", 0),
            "points",
            0,
            MAX_RULE_POINTS,
            _("Points must be a whole number from 0 to 100,000."),
            from_text=True,
        )
    for field in ("starts_at", "ends_at"):
        if rule is None or field in data:
            values[field] = optional_aware_datetime(data.get(field), field)
    starts = values.get("starts_at", rule.starts_at if rule else None)
    ends = values.get("ends_at", rule.ends_at if rule else None)
    if starts and ends and ends <= starts:
        raise ValidationFailed(_("The rule must end after it starts."), field="ends_at")
    for field in ("daily_cap", "member_cap"):
        if rule is None or field in data:
            values[field] = _optional_cap(data.get(field), field)
    if "active" in data:
        if not isinstance(data["active"], bool):
            raise ValidationFailed(_("Give true or false."), field="active")
        values["active"] = data["active"]
    config = dict(rule.config or {}) if rule else {}
    if kind == EarnRule.Kind.CHECKIN:
        if "streak_bonus" in data:
            config["streak_bonus"] = clean_streak_bonus(data["streak_bonus"])
        if "makeup_cost" in data:
            cost = data["makeup_cost"]
            config["makeup_cost"] = (
                0
                if cost in (None, "")
                else clean_int(
                    cost,
                    "makeup_cost",
                    0,
                    MAX_RULE_POINTS,
                    _("A make-up cost is 0 to 100,000 points."),
                    from_text=True,
                )
            )
        if "makeup_days" in data:
            days = data["makeup_days"]
            config["makeup_days"] = (
                7
                if days in (None, "")
                else clean_int(days, "makeup_days", 1, 31, _("Make-up days: 1 to 31."), from_text=True)
            )
    else:
        for field in ("streak_bonus", "makeup_cost", "makeup_days"):
            if data.get(field) not in (None, "", [], {}, 0):
                raise ValidationFailed(
                    _("Only check-in rules have streak bonuses and make-up days."), field=field
                )
        config = {}
    values["config"] = config
    stores: list[Store] | None = None
    if rule is None or "store_ids" in data:
        stores = brand_stores(current_brand_id(staff), data.get("store_ids"))
    return values, stores


def create_rule(staff: Staff, data: dict[str, Any]) -> EarnRule:
    """A new earn rule of the staff member's brand (active unless ``active`` is false)."""
    check_capability(staff, "loyalty.manage")
    values, stores = _clean(staff, data, None)
    with transaction.atomic():
        rule = EarnRule.objects.create(brand_id=current_brand_id(staff), **values)
        if stores:
            rule.stores.set(stores)
        record_audit(
            staff, "loyalty.rule", target_type="earn_rule", target_id=rule.pk, detail={"created": True}
        )
    return rule


def update_rule(staff: Staff, rule_id: Any, data: dict[str, Any]) -> EarnRule:
    """Change the fields given (the kind cannot change)."""
    check_capability(staff, "loyalty.manage")
    rule = get_rule(staff, rule_id)
    if "kind" in data and data["kind"] != rule.kind:
        raise ValidationFailed(_("A rule's kind cannot change; make a new rule."), field="kind")
    values, stores = _clean(staff, data, rule)
    with transaction.atomic():
        for key, value in values.items():
            setattr(rule, key, value)
        rule.save()
        if stores is not None:
            rule.stores.set(stores)
        record_audit(
            staff,
            "loyalty.rule",
            target_type="earn_rule",
            target_id=rule.pk,
            detail={"changed": sorted(data)},
        )
    return get_rule(staff, rule.pk)
