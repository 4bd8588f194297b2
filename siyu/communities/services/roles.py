"""Member roles in a group: appoint or remove a KOL (意见领袖) or seed user (种子用户).

Guarantees: store-scoped — a group of a store ``staff`` does not serve looks like it does not exist
(NotFound); needs ``communities.roles`` (head office and store managers); only a member in the group now
can be appointed (NotFound otherwise); the change is one conditional UPDATE of the active membership
(owners and admins are never demoted here), idempotent (appointing the role a member already has changes
nothing and writes no audit entry), and audited.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from siyu.common.errors import NotFound, ValidationFailed
from siyu.common.validators import parse_id
from siyu.communities.models import Community, CommunityMembership, MemberRole
from siyu.org.models import Staff
from siyu.org.services.access import can_access_store, check_capability
from siyu.org.services.audit import record_audit

APPOINTABLE = (MemberRole.KOL, MemberRole.SEED)


def get_scoped_community(staff: Staff, community_id: Any) -> Community:
    """The group ``community_id`` if ``staff`` serves its store, else NotFound."""
    pk = parse_id(community_id, "community", _("No such group."))
    community = Community.objects.select_related("store").filter(pk=pk).first()
    if (
        community is None
        or staff.brand_id not in (None, community.brand_id)
        or not can_access_store(staff, community.store_id)
    ):
        raise NotFound(_("No such group."), field="community")
    return community


def _active(community: Community, member_id: Any) -> CommunityMembership:
    pk = parse_id(member_id, "member", _("No such member in this group."))
    found = CommunityMembership.objects.filter(
        community=community, member_id=pk, status=CommunityMembership.Status.ACTIVE
    ).first()
    if found is None:
        raise NotFound(_("No such member in this group."), field="member")
    return found


def set_role(staff: Staff, community_id: Any, member_id: Any, role: Any) -> CommunityMembership:
    """Make the member ``role`` (``kol``, ``seed``) in the group, or a plain ``member`` again (removal)."""
    check_capability(staff, "communities.roles")
    if role not in (*APPOINTABLE, MemberRole.MEMBER):
        raise ValidationFailed(_("Choose KOL, seed user or member."), field="role")
    with transaction.atomic():
        community = get_scoped_community(staff, community_id)
        membership = _active(community, member_id)
        if membership.role == role:
            return membership
        changed = CommunityMembership.objects.filter(
            pk=membership.pk,
            status=CommunityMembership.Status.ACTIVE,
            role__in=(*APPOINTABLE, MemberRole.MEMBER),
        ).update(role=role)
        if not changed:
            raise ValidationFailed(_("Owners and admins keep their role."), field="member")
        record_audit(
            staff,
            "community.role",
            target_type="member",
            target_id=membership.member_id,
            store_id=community.store_id,
            detail={"community": community.pk, "from": membership.role, "to": role},
        )
        membership.refresh_from_db(fields=["role"])
        return membership


def appoint(staff: Staff, community_id: Any, member_id: Any, role: Any) -> CommunityMembership:
    """Appoint a KOL or seed user (see module guarantees)."""
    if role not in APPOINTABLE:
        raise ValidationFailed(_("Choose KOL or seed user."), field="role")
    return set_role(staff, community_id, member_id, role)


def remove(staff: Staff, community_id: Any, member_id: Any) -> CommunityMembership:
    """The member is a plain member of the group again."""
    return set_role(staff, community_id, member_id, MemberRole.MEMBER)


def appointed(community_ids: list[int] | None, *, brand_id: int) -> list[CommunityMembership]:
    """Active KOLs and seed users of the given groups (all of the brand's with None)."""
    qs = CommunityMembership.objects.select_related("community", "community__store", "member").filter(
        status=CommunityMembership.Status.ACTIVE, role__in=APPOINTABLE, community__brand_id=brand_id
    )
    if community_ids is not None:
        qs = qs.filter(community_id__in=community_ids)
    return list(qs.order_by("community_id", "role", "member_id"))
