"""Member profiles: find, list with filters, create, update, reveal the mobile number.

Every function takes the acting staff member and checks scope first: a store role sees and
changes only members whose home store it serves (others look like they do not exist: 404).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.analytics.services.events import record_event
from siyu.common.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from siyu.common.mobile import mask_mobile, normalize_mobile
from siyu.members.models import AgeBand, Gender, Member, Source
from siyu.org.models import Staff, Store
from siyu.org.services.access import can_reveal_mobile, check_store_access, require_staff, store_scope
from siyu.org.services.audit import record_audit
from siyu.org.services.brand import current_brand_id

EDITABLE_FIELDS = ("name", "gender", "birthday", "occupation", "district", "home_store")


def age_band_for(birthday: date | None, today: date | None = None) -> str:
    """The age band (``AgeBand`` value) of someone born on ``birthday``; "" when unknown."""
    if birthday is None:
        return AgeBand.UNKNOWN
    today = today or timezone.localdate()
    age = today.year - birthday.year - ((today.month, today.day) < (birthday.month, birthday.day))
    if age < 18:
        return AgeBand.UNDER_18
    for upper, band in (
        (24, AgeBand.A18_24),
        (34, AgeBand.A25_34),
        (44, AgeBand.A35_44),
        (54, AgeBand.A45_54),
    ):
        if age <= upper:
            return band
    return AgeBand.A55_64 if age <= 64 else AgeBand.A65_PLUS


def scoped_members(staff: Staff) -> QuerySet[Member]:
    """Members ``staff`` may see: all for HQ, those whose home store it serves for store roles."""
    scope = store_scope(staff)
    qs = Member.objects.all()
    if scope is not None:
        qs = qs.filter(home_store_id__in=scope)
    return qs


def get_member(staff: Staff, member_id: Any) -> Member:
    """The member with ``member_id`` if ``staff`` may see it; raises NotFound otherwise."""
    try:
        pk = int(member_id)
    except (TypeError, ValueError):
        raise NotFound(_("No such member."), field="member") from None
    member = scoped_members(staff).select_related("home_store").filter(pk=pk).first()
    if member is None:
        raise NotFound(_("No such member."), field="member")
    return member


@dataclass
class MemberFilter:
    """Filters shared by the console list, the API list and exports."""

    store_id: int | None = None
    tag_id: int | None = None
    age_band: str | None = None
    gender: str | None = None
    joined_from: date | None = None
    joined_to: date | None = None
    q: str | None = None
    include_erased: bool = False


def filter_members(staff: Staff, f: MemberFilter) -> QuerySet[Member]:
    """Members in ``staff``'s scope matching ``f``, newest first."""
    qs = scoped_members(staff).select_related("home_store")
    if not f.include_erased:
        qs = qs.filter(erased_at__isnull=True)
    if f.store_id:
        qs = qs.filter(home_store_id=f.store_id)
    if f.tag_id:
        qs = qs.filter(member_tags__tag_id=f.tag_id)
    if f.age_band:
        if f.age_band not in AgeBand.values:
            raise ValidationFailed(_("Unknown age band."), field="age_band")
        qs = qs.filter(age_band=f.age_band)
    if f.gender:
        if f.gender not in Gender.values:
            raise ValidationFailed(_("Unknown gender."), field="gender")
        qs = qs.filter(gender=f.gender)
    if f.joined_from:
        qs = qs.filter(joined_at__gte=_start_of(f.joined_from))
    if f.joined_to:
        qs = qs.filter(joined_at__lt=_start_of(f.joined_to) + timedelta(days=1))
    if f.q:
        text = f.q.strip()[:50]
        cond = Q(name__icontains=text)
        digits = "".join(ch for ch in text if ch.isdigit())
        if digits and len(digits) >= 4:
            # Full numbers match exactly; a fragment matches the end (staff usually know the last 4 digits).
            cond |= Q(mobile=digits) if len(digits) == 11 else Q(mobile__endswith=digits)
        qs = qs.filter(cond)
    return qs.order_by("-joined_at", "-id")


def _start_of(day: date) -> datetime:
    return timezone.make_aware(datetime(day.year, day.month, day.day))


def display_mobile(staff: Staff, member: Member) -> str:
    """The mobile number as ``staff`` sees it in lists: always masked (reveal is a separate, audited act)."""
    return mask_mobile(member.mobile)


def _clean_profile(data: dict[str, Any], *, staff: Staff) -> dict[str, Any]:
    clean: dict[str, Any] = {}
    unknown = set(data) - set(EDITABLE_FIELDS) - {"mobile", "source", "joined_at"}
    if unknown:
        raise ValidationFailed(_("Unknown field."), field=sorted(unknown)[0])
    if "name" in data:
        name = (data["name"] or "").strip()
        if len(name) > 50:
            raise ValidationFailed(_("Name is too long (50 characters at most)."), field="name")
        clean["name"] = name
    if "gender" in data:
        gender = data["gender"] or Gender.UNKNOWN
        if gender not in Gender.values:
            raise ValidationFailed(_("Gender must be m, f or u."), field="gender")
        clean["gender"] = gender
    if "birthday" in data:
        birthday = data["birthday"]
        if isinstance(birthday, str):
            try:
                birthday = date.fromisoformat(birthday) if birthday else None
            except ValueError:
                raise ValidationFailed(
                    _("Birthday must be a date like 1990-05-01."), field="birthday"
                ) from None
        if birthday is not None and not isinstance(birthday, date):
            raise ValidationFailed(_("Birthday must be a date like 1990-05-01."), field="birthday")
        if birthday and not (date(1900, 1, 1) <= birthday <= timezone.localdate()):
            raise ValidationFailed(_("Birthday is out of range."), field="birthday")
        clean["birthday"] = birthday
        clean["age_band"] = age_band_for(birthday)
    for field in ("occupation", "district"):
        if field in data:
            value = (data[field] or "").strip()
            if len(value) > 50:
                raise ValidationFailed(_("Too long (50 characters at most)."), field=field)
            clean[field] = value
    if "home_store" in data:
        store_ref = data["home_store"]
        store = None
        if store_ref not in (None, ""):
            store = _resolve_store(store_ref)
        check_store_access(staff, store.pk if store else None)
        clean["home_store"] = store
    return clean


def _resolve_store(ref: Any) -> Store:
    if isinstance(ref, Store):
        return ref
    store = None
    if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
        store = Store.objects.filter(pk=int(ref)).first()
    if store is None and isinstance(ref, str):
        store = Store.objects.filter(code=ref.strip()).first()
    if store is None:
        raise ValidationFailed(_("No such store."), field="home_store")
    return store


def mobile_taken(staff: Staff) -> Conflict:
    """The refusal for a mobile number that already belongs to a member (ADR 0010). Head office sees the
    whole chain, so it is told plainly; a store role gets one answer that names no member and no store, the
    same whether the member is its own or another store's."""
    if store_scope(staff) is None:
        return Conflict(_("A member with this mobile number already exists."), field="mobile")
    return Conflict(
        _("This mobile number cannot be added here. Search your members for it, or ask head office."),
        field="mobile",
    )


@transaction.atomic
def create_member(staff: Staff, data: dict[str, Any], *, ip: str | None = None) -> Member:
    """Create a member from ``data`` (mobile required; store roles must give one of their stores).

    Raises Conflict(field="mobile") when the mobile number already belongs to a member; nothing is written
    then. For a store role the answer is the same whether that member is one of its stores' or another
    store's (``mobile_taken``, ADR 0010).
    """
    require_staff(staff)
    mobile = normalize_mobile(data.get("mobile"))
    clean = _clean_profile(
        {k: v for k, v in data.items() if k not in ("mobile", "source", "joined_at")}, staff=staff
    )
    if store_scope(staff) is not None and not clean.get("home_store"):
        raise ValidationFailed(_("Choose the member's home store."), field="home_store")
    source = data.get("source") or Source.STAFF
    if source not in Source.values:
        raise ValidationFailed(_("Unknown source."), field="source")
    if Member.objects.filter(mobile=mobile).exists():
        raise mobile_taken(staff)
    brand_id = current_brand_id(staff)
    try:
        with transaction.atomic():
            member = Member.objects.create(brand_id=brand_id, mobile=mobile, source=source, **clean)
    except IntegrityError:
        raise mobile_taken(staff) from None
    record_audit(
        staff,
        "member.create",
        target_type="member",
        target_id=member.pk,
        store_id=member.home_store_id,
        ip=ip,
    )
    record_event(
        "member.created", member_id=member.pk, store_id=member.home_store_id, payload={"source": source}
    )
    return member


@transaction.atomic
def update_member(staff: Staff, member_id: Any, data: dict[str, Any], *, ip: str | None = None) -> Member:
    """Change profile fields of a member in ``staff``'s scope. Mobile numbers are changed only by
    ``change_mobile``; erased members cannot be edited."""
    member = get_member(staff, member_id)
    if member.erased_at:
        raise Conflict(_("This member's data was erased."), field="member")
    if "mobile" in data:
        raise ValidationFailed(_("Use the change-mobile action to change a mobile number."), field="mobile")
    clean = _clean_profile(data, staff=staff)
    changed = {k: v for k, v in clean.items() if getattr(member, k) != v}
    if not changed:
        return member
    for k, v in changed.items():
        setattr(member, k, v)
    member.save(update_fields=[*changed.keys(), "updated_at"])
    record_audit(
        staff,
        "member.update",
        target_type="member",
        target_id=member.pk,
        store_id=member.home_store_id,
        detail={"fields": sorted(changed)},
        ip=ip,
    )
    record_event(
        "member.updated",
        member_id=member.pk,
        store_id=member.home_store_id,
        payload={"fields": sorted(changed)},
    )
    return member


@transaction.atomic
def reveal_mobile(staff: Staff, member_id: Any, *, ip: str | None = None) -> str:
    """The full mobile number, for staff with the reveal permission; every reveal is audited."""
    member = get_member(staff, member_id)
    if not can_reveal_mobile(staff):
        raise PermissionDenied(_("You may not see full mobile numbers."), field="mobile")
    record_audit(
        staff,
        "member.reveal_mobile",
        target_type="member",
        target_id=member.pk,
        store_id=member.home_store_id,
        ip=ip,
    )
    return member.mobile or ""


def adopt_home_store(member: Member, store_id: int) -> bool:
    """Give ``member`` ``store_id`` as home store if they have none yet (a member who signed up online gets
    the store whose group they join, so that the store's staff can see and serve them). Returns whether it
    was set; a home store already set — even concurrently — is never replaced."""
    if member.home_store_id is not None:
        return False
    if Member.objects.filter(pk=member.pk, home_store__isnull=True).update(home_store_id=store_id):
        member.home_store_id = store_id
        return True
    return False
