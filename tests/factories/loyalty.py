"""loyalty: points, earn rules, red packets (each helper's builders in their own block below)."""

from __future__ import annotations

from typing import Any

from siyu.communities.models import Community, CommunityMembership, MemberRole
from siyu.loyalty.models import EarnRule, PointsBudget, RedPacket
from siyu.loyalty.services import points, red_packets
from siyu.members.models import Member
from siyu.org.models import Brand, Staff

# --- redpack: red packets, budgets, rules -------------------------------------------------------------


def give_budget(brand: Brand, remaining: int) -> PointsBudget:
    """The brand's red-packet budget set to ``remaining`` points (a plain row)."""
    budget, _created = PointsBudget.objects.update_or_create(brand=brand, defaults={"remaining": remaining})
    return budget


def give_points(member: Member, amount: int, key: str = "seed") -> None:
    """Credit ``amount`` points to ``member`` through the ledger."""
    points.earn(member, amount, key=f"sys:test:{key}:{member.pk}", reason="test")


def make_kol(member: Member, group: Community) -> Member:
    """An active KOL membership of ``member`` in ``group`` (a plain row)."""
    CommunityMembership.objects.create(community=group, member=member, role=MemberRole.KOL)
    return member


def drop_packet(
    staff: Staff, group: Community, total: int = 100, shares: int = 10, **extra: Any
) -> RedPacket:
    """A red packet dropped by ``staff`` in ``group`` (the brand needs budget: ``give_budget``)."""
    return red_packets.drop_by_staff(
        staff,
        group.pk,
        total=total,
        shares=shares,
        key=extra.pop("key", f"rp-{group.pk}-{total}-{shares}"),
        **extra,
    )


def make_rule(brand: Brand, kind: str = EarnRule.Kind.CHECKIN, **fields: Any) -> EarnRule:
    """A plain earn rule row (check-in, 5 points unless given)."""
    return EarnRule.objects.create(
        brand=brand, kind=kind, name=fields.pop("name", "签到"), points=fields.pop("points", 5), **fields
    )


# --- end redpack --------------------------------------------------------------------------------------
