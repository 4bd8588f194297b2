"""Who may see and change what.

One rule, enforced here for the API and the console alike: HQ roles (admin, operator) act
on the whole chain; store roles (manager, clerk) act only on the stores they serve.
Capabilities beyond that are listed per role in ``CAPABILITIES``.
"""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from siyu.common.errors import NotAuthenticated, PermissionDenied
from siyu.org.models import Role, Staff, Store

# What each role may do on top of reading and writing members in its scope. Every "only head office /
# only managers may…" rule is one of these names; services call ``check_capability`` (or ``has_capability``
# to decide what a page shows) and never compare roles themselves.
_HQ_SHARED = frozenset(
    {
        "members.export",
        "members.import",
        "tags.manage",
        "catalog.manage",  # products, SKUs, publication to stores
        "campaigns.manage",  # flash sales, group buys, later every campaign kind
        "events.manage",  # in-store events (内购会): set up, sessions, publish
        "communities.manage",  # group templates and the group matrix plan
        "moderation.manage",  # the brand's default group rules
        "moderation.blocklist",  # block members in the stores served
        "moderation.blocklist_any",  # block by bare mobile number or channel id
        "loyalty.adjust",  # add or take a member's points, with a reason
        "loyalty.manage",  # earn rules and the red-packet points budget
        "loyalty.redpack",  # drop points red packets into groups (paid from the brand's budget)
        "loyalty.reports",  # points liability and coupon reports (store staff see their stores)
        "coupons.manage",  # coupon templates: create, edit, budgets
        "coupons.issue",  # give coupons to members in reach, one by one or to a segment
        "orders.return",  # take back a picked-up order and give its money back (退货退款)
        "operations.read",  # the background-work page: periodic jobs, write-behind backlog, failed calls
        "stored_value.manage",  # recharge tiers and the stored-value policy (cap, bonus, custody)
        "stored_value.recharge",  # counter recharge and handing over recharge gifts
        "stored_value.refund",  # principal back in cash; a counter balance payment back to the balance
        "stored_value.reports",  # outstanding balances and the quarterly issuer figures
        "referrals.manage",  # referral campaigns: tiers, when an invite counts, fraud thresholds
        "referrals.review",  # release or reject invites held by the fraud rules
        "communities.roles",  # appoint and remove KOLs and seed users of groups
        "incentives.manage",  # staff reward rules, generating and approving monthly statements
        "incentives.team",  # read the reward statements of the staff of the stores served
    }
)
CAPABILITIES: dict[str, frozenset[str]] = {
    Role.HQ_ADMIN: _HQ_SHARED
    | frozenset({"members.erase", "audit.read", "staff.manage", "tokens.manage", "staff.list_all"}),
    Role.HQ_OPERATOR: _HQ_SHARED | frozenset({"staff.list_all"}),
    Role.STORE_MANAGER: frozenset(
        {
            "members.export",
            "members.import",
            "moderation.blocklist",
            "staff.list_store",
            "loyalty.adjust",
            "loyalty.redpack",
            "loyalty.reports",
            "coupons.issue",
            "orders.return",
            "stored_value.recharge",
            "stored_value.refund",
            "stored_value.reports",
            "communities.roles",
            "incentives.team",
        }
    ),
    Role.CLERK: frozenset({"stored_value.recharge"}),
}
ALL_CAPABILITIES: frozenset[str] = frozenset().union(*CAPABILITIES.values())


def require_staff(staff: Staff | None) -> Staff:
    """Return an active staff account or raise NotAuthenticated."""
    if staff is None or not getattr(staff, "is_authenticated", False) or not staff.is_active:
        raise NotAuthenticated(_("Sign in first."))
    return staff


def has_capability(staff: Staff, capability: str) -> bool:
    """Whether ``staff`` may do ``capability`` (a name in ``CAPABILITIES``; a typo is a bug)."""
    assert capability in ALL_CAPABILITIES, f"unknown capability {capability!r}"
    return staff.is_active and (staff.is_superuser or capability in CAPABILITIES.get(staff.role, frozenset()))


def check_capability(
    staff: Staff | None, capability: str, *, message: str | None = None, field: str | None = None
) -> Staff:
    """Return ``staff``, or raise NotAuthenticated (signed out) or PermissionDenied (role lacks it)."""
    person = require_staff(staff)
    if not has_capability(person, capability):
        raise PermissionDenied(message or _("Your role does not allow this."), field=field)
    return person


def is_chain_wide(staff: Staff) -> bool:
    """True for HQ roles (and superusers), who act on every store."""
    return store_scope(staff) is None


def store_scope(staff: Staff) -> set[int] | None:
    """Store ids ``staff`` may act on, or None for the whole chain (HQ roles)."""
    require_staff(staff)
    if staff.is_superuser or staff.is_hq:
        return None
    return set(staff.stores.values_list("id", flat=True))


def visible_stores(staff: Staff) -> QuerySet[Store]:
    """Stores ``staff`` may see, in code order."""
    scope = store_scope(staff)
    qs = Store.objects.all()
    if scope is not None:
        qs = qs.filter(id__in=scope)
    return qs.order_by("code")


def can_access_store(staff: Staff, store_id: int | None) -> bool:
    scope = store_scope(staff)
    if scope is None:
        return True
    return store_id is not None and store_id in scope


def check_store_access(staff: Staff, store_id: int | None) -> None:
    """Raise PermissionDenied unless ``staff`` may act on ``store_id``."""
    if not can_access_store(staff, store_id):
        raise PermissionDenied(_("You do not serve this store."), field="store")


def can_reveal_mobile(staff: Staff) -> bool:
    return staff.is_active and (staff.is_superuser or staff.can_reveal_mobile)
