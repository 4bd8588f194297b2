"""Staff accounts: who may list whom, and creation and changes by HQ admins (validated and audited)."""

from __future__ import annotations

import re
import secrets
from typing import Any

from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils.translation import gettext as _

from siyu.common.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from siyu.common.validators import MAX_DB_ID, parse_id
from siyu.org.models import Role, Staff, Store
from siyu.org.services.access import check_capability, has_capability, require_staff, store_scope
from siyu.org.services.audit import record_audit
from siyu.org.services.brand import current_brand_id

STORE_ROLES = (Role.STORE_MANAGER, Role.CLERK)
CREATE_FIELDS = {
    "username",
    "display_name",
    "role",
    "store_ids",
    "password",
    "can_reveal_mobile",
    "wecom_userid",
}
UPDATE_FIELDS = {
    "display_name",
    "role",
    "store_ids",
    "is_active",
    "can_reveal_mobile",
    "password",
    "wecom_userid",
}
# A WeCom member UserID (成员账号): letters, digits and _ - . @, at most 64.
_WECOM_USERID_RE = re.compile(r"[A-Za-z0-9_.@-]{1,64}")


def list_staff(staff: Staff) -> QuerySet[Staff]:
    """Staff accounts ``staff`` may see: all with ``staff.list_all`` (HQ roles); with ``staff.list_store``
    (store managers) those serving its stores and itself; otherwise (clerks) only itself."""
    require_staff(staff)
    qs = Staff.objects.all()
    if not has_capability(staff, "staff.list_all"):
        if has_capability(staff, "staff.list_store"):
            serving = Staff.objects.filter(stores__in=store_scope(staff) or set()).values("pk")
            qs = qs.filter(pk__in=serving) | qs.filter(pk=staff.pk)
        else:
            qs = qs.filter(pk=staff.pk)
    return qs.prefetch_related("stores").order_by("username")


def get_staff(staff: Staff, staff_id: Any) -> Staff:
    """The account ``staff_id`` if ``staff`` may see it; NotFound otherwise."""
    pk = parse_id(staff_id, "staff", _("No such staff member."))
    found = list_staff(staff).filter(pk=pk).first()
    if found is None:
        raise NotFound(_("No such staff member."), field="staff")
    return found


def _clean_stores(ids: Any) -> list[Store]:
    if not isinstance(ids, list | tuple) or not all(
        isinstance(i, int) and not isinstance(i, bool) for i in ids
    ):
        raise ValidationFailed(_("Give a list of store ids."), field="store_ids")
    wanted = set(ids)
    stores = list(Store.objects.filter(pk__in=[i for i in wanted if 0 < i <= MAX_DB_ID]))
    if len(stores) != len(wanted):
        raise ValidationFailed(_("No such store."), field="store_ids")
    return stores


def _clean_password(password: Any, user: Staff) -> str:
    if not isinstance(password, str) or not password:
        raise ValidationFailed(_("A password is required."), field="password")
    try:
        validate_password(password, user)
    except DjangoValidationError as exc:
        raise ValidationFailed(" ".join(str(m) for m in exc.messages), field="password") from None
    return password


def _clean_bool(data: dict[str, Any], field: str) -> bool:
    value = data[field]
    if not isinstance(value, bool):
        raise ValidationFailed(_("Must be true or false."), field=field)
    return value


def _clean_display_name(value: Any) -> str:
    name = str(value or "").strip()
    if len(name) > 50:
        raise ValidationFailed(_("Too long (50 characters at most)."), field="display_name")
    return name


def _clean_wecom_userid(value: Any) -> str:
    userid = str(value or "").strip()
    if userid and not _WECOM_USERID_RE.fullmatch(userid):
        raise ValidationFailed(
            _("A WeCom user ID has at most 64 letters, digits and _ - . @ characters."), field="wecom_userid"
        )
    return userid


def _wecom_userid_in_use(brand_id: int | None, userid: str, *, exclude_pk: int | None = None) -> bool:
    rows = Staff.objects.filter(wecom_userid=userid)
    rows = rows.filter(brand__isnull=True) if brand_id is None else rows.filter(brand_id=brand_id)
    if exclude_pk is not None:
        rows = rows.exclude(pk=exclude_pk)
    return bool(userid) and rows.exists()


def _wecom_userid_taken() -> Conflict:
    return Conflict(_("Another staff account already has this WeCom user ID."), field="wecom_userid")


def _clean_role(value: Any) -> str:
    if value not in Role.values:
        raise ValidationFailed(_("Unknown role."), field="role")
    return str(value)


def _check_unknown(data: dict[str, Any], allowed: set[str]) -> None:
    unknown = set(data) - allowed
    if unknown:
        raise ValidationFailed(_("Unknown field."), field=sorted(unknown)[0])


@transaction.atomic
def create_staff(actor: Staff, data: dict[str, Any], *, ip: str | None = None) -> Staff:
    """Create a staff account (HQ admins only).

    ``username`` is unique (case-insensitive); ``password`` must pass Django's password validators;
    store roles need at least one store, HQ roles serve the whole chain and get no store list.
    Raises Conflict for a taken username; nothing is written then. The password is never audited.
    """
    check_capability(actor, "staff.manage")
    _check_unknown(data, CREATE_FIELDS)
    username = str(data.get("username") or "").strip()
    if not username or len(username) > 150:
        raise ValidationFailed(_("A username has 1 to 150 characters."), field="username")
    try:
        UnicodeUsernameValidator()(username)
    except DjangoValidationError:
        raise ValidationFailed(
            _("A username has only letters, digits and @ . + - _ characters."), field="username"
        ) from None
    role = _clean_role(data.get("role", Role.CLERK))
    stores = _clean_stores(data.get("store_ids") or [])
    if role in STORE_ROLES and not stores:
        raise ValidationFailed(_("Choose at least one store for a store role."), field="store_ids")
    if role not in STORE_ROLES:
        stores = []
    reveal = _clean_bool(data, "can_reveal_mobile") if "can_reveal_mobile" in data else False
    user = Staff(
        username=username,
        display_name=_clean_display_name(data.get("display_name")),
        role=role,
        brand_id=current_brand_id(actor),
        can_reveal_mobile=reveal,
        wecom_userid=_clean_wecom_userid(data.get("wecom_userid")),
    )
    password = _clean_password(data.get("password"), user)
    if Staff.objects.filter(username__iexact=username).exists():
        raise Conflict(_("This username is taken."), field="username")
    if _wecom_userid_in_use(user.brand_id, user.wecom_userid):
        raise _wecom_userid_taken()
    user.set_password(password)
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError:
        if _wecom_userid_in_use(user.brand_id, user.wecom_userid):
            raise _wecom_userid_taken() from None
        raise Conflict(_("This username is taken."), field="username") from None
    user.stores.set(stores)
    record_audit(
        actor,
        "staff.create",
        target_type="staff",
        target_id=user.pk,
        detail={
            "username": username,
            "role": role,
            "stores": sorted(s.pk for s in stores),
            "can_reveal_mobile": reveal,
        },
        ip=ip,
    )
    return user


@transaction.atomic
def update_staff(actor: Staff, staff_id: Any, data: dict[str, Any], *, ip: str | None = None) -> Staff:
    """Change a staff account's role, stores, active flag, display name, reveal permission, WeCom user ID
    (unique within the brand: Conflict) or password
    (HQ admins only). Admins cannot deactivate or demote themselves (so the chain keeps an admin), and
    only a superuser may change a superuser. Changes are audited by field name (never the password).
    """
    check_capability(actor, "staff.manage")
    _check_unknown(data, UPDATE_FIELDS)
    user = get_staff(actor, staff_id)
    user = Staff.objects.select_for_update().get(pk=user.pk)
    if user.is_superuser and not actor.is_superuser:
        raise PermissionDenied(_("Only a superuser may change a superuser."))
    changes: dict[str, Any] = {}
    if "display_name" in data:
        name = _clean_display_name(data["display_name"])
        if name != user.display_name:
            changes["display_name"] = name
    if "role" in data:
        role = _clean_role(data["role"])
        if role != user.role:
            changes["role"] = role
    if "is_active" in data:
        active = _clean_bool(data, "is_active")
        if active != user.is_active:
            changes["is_active"] = active
    if "can_reveal_mobile" in data:
        reveal = _clean_bool(data, "can_reveal_mobile")
        if reveal != user.can_reveal_mobile:
            changes["can_reveal_mobile"] = reveal
    if "wecom_userid" in data:
        userid = _clean_wecom_userid(data["wecom_userid"])
        if userid != user.wecom_userid:
            if _wecom_userid_in_use(user.brand_id, userid, exclude_pk=user.pk):
                raise _wecom_userid_taken()
            changes["wecom_userid"] = userid
    if user.pk == actor.pk and (
        changes.get("is_active") is False or ("role" in changes and not _keeps_admin(actor, changes["role"]))
    ):
        raise ValidationFailed(_("You cannot deactivate or demote your own account."), field="role")
    new_role = changes.get("role", user.role)
    current_stores = set(user.stores.values_list("pk", flat=True))
    new_stores: set[int] | None = None
    if "store_ids" in data:
        new_stores = {s.pk for s in _clean_stores(data["store_ids"])}
    if new_role not in STORE_ROLES:
        new_stores = set()
    elif new_stores is None:
        new_stores = current_stores
    if new_role in STORE_ROLES and not new_stores:
        raise ValidationFailed(_("Choose at least one store for a store role."), field="store_ids")
    password_changed = False
    if "password" in data:
        user.set_password(_clean_password(data["password"], user))
        password_changed = True
    for k, v in changes.items():
        setattr(user, k, v)
    update_fields = [*changes, *(["password"] if password_changed else [])]
    if update_fields:
        try:
            with transaction.atomic():
                user.save(update_fields=update_fields)
        except IntegrityError:
            raise _wecom_userid_taken() from None  # the only unique field here (a concurrent change)
    if new_stores != current_stores:
        user.stores.set(list(new_stores))
        changes["store_ids"] = sorted(new_stores)
    if changes or password_changed:
        record_audit(
            actor,
            "staff.update",
            target_type="staff",
            target_id=user.pk,
            detail={"changes": changes, "password_changed": password_changed},
            ip=ip,
        )
    return user


def _keeps_admin(actor: Staff, role: str) -> bool:
    # Judged on a copy so that a refused self-demotion leaves the actor object untouched.
    probe = Staff(role=role, is_active=True, is_superuser=actor.is_superuser)
    return has_capability(probe, "staff.manage")


# Letters and digits a person reads aloud and types without confusion (no 0/O, 1/l/I).
_PASSWORD_ALPHABET = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # noqa: S105
GENERATED_PASSWORD_LENGTH = 12


def generated_password() -> str:
    """A random password of 12 unambiguous letters and digits, for an account whose admin lets Siyu choose."""
    return "".join(secrets.choice(_PASSWORD_ALPHABET) for _i in range(GENERATED_PASSWORD_LENGTH))


@transaction.atomic
def reset_password(
    actor: Staff, staff_id: Any, password: str | None = None, *, ip: str | None = None
) -> tuple[Staff, str | None]:
    """Give a staff account a new password (HQ admins only): ``password`` when given (it must pass the
    password validators), otherwise a generated one that is returned once — the caller shows it and
    forgets it. Returns (account, generated password or None). Audited without the password.
    """
    check_capability(actor, "staff.manage")
    user = get_staff(actor, staff_id)
    user = Staff.objects.select_for_update().get(pk=user.pk)
    if user.is_superuser and not actor.is_superuser:
        raise PermissionDenied(_("Only a superuser may change a superuser."))
    generated = None
    if password in (None, ""):
        generated = generated_password()
        new_password = generated
    else:
        new_password = _clean_password(password, user)
    user.set_password(new_password)
    user.save(update_fields=["password"])
    record_audit(
        actor,
        "staff.password_reset",
        target_type="staff",
        target_id=user.pk,
        detail={"generated": generated is not None},
        ip=ip,
    )
    return user, generated


def set_active(actor: Staff, staff_id: Any, active: bool, *, ip: str | None = None) -> Staff:
    """Deactivate (signs the account out everywhere: it can no longer sign in or use its tokens) or
    reactivate a staff account (HQ admins only; never one's own account). Audited as ``staff.update``."""
    return update_staff(actor, staff_id, {"is_active": active}, ip=ip)
