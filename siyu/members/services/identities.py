"""Members' channel identities (WeCom external userid, Telegram user id): who a channel user is, and
linking the ones a channel learns about. Only this module (and sign-in for WeChat) writes ``ChannelIdentity``.

channels asks through ``siyu.channels.hooks.identity_seen`` (registered in ``MembersConfig.ready``).
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import IntegrityError, transaction

from siyu.channels.hooks import ChannelUser
from siyu.channels.services.wecom_events import link_wecom_contacts
from siyu.members.models import ChannelIdentity, Member


def _owner(brand_id: int, channel: str, external_id: str) -> tuple[bool, Member | None]:
    """(whether the channel user has an identity, its member when active in ``brand_id``)."""
    ident = (
        ChannelIdentity.objects.select_related("member")
        .filter(channel=channel, external_id=external_id)
        .first()
    )
    if ident is None:
        return False, None
    member = ident.member
    return True, member if member.erased_at is None and member.brand_id == brand_id else None


def _link(member: Member, channel: str, external_id: str, unionid: str) -> Member | None:
    try:
        with transaction.atomic():
            ChannelIdentity.objects.create(
                member=member, channel=channel, external_id=external_id, unionid=unionid
            )
    except IntegrityError:
        # Linked concurrently (or to someone else): the existing link is the truth.
        return _owner(member.brand_id, channel, external_id)[1]
    return member


def identify_channel_user(
    brand_id: int,
    channel: str,
    external_id: str,
    *,
    unionid: str = "",
    claimed_member_id: int | None = None,
) -> Member | None:
    """The member behind a channel user of ``brand_id``, linking an identity when the channel knows enough.

    Guarantees: a user with an identity is its member — or nobody when that member is erased or of another
    brand (an existing link is never moved); otherwise a ``claimed_member_id`` that is an active member of
    the brand gets the identity; otherwise the oldest active member of the brand sharing ``unionid`` (a
    WeChat sign-in) gets it; otherwise None (a stranger). Linking is safe under concurrency (the unique
    channel + external id decides).
    """
    if not external_id:
        return None
    known, member = _owner(brand_id, channel, external_id)
    if known:
        return member
    if claimed_member_id is not None:
        claimed = Member.objects.filter(
            pk=claimed_member_id, brand_id=brand_id, erased_at__isnull=True
        ).first()
        if claimed is not None:
            return _link(claimed, channel, external_id, unionid)
    if unionid:
        ident = (
            ChannelIdentity.objects.select_related("member")
            .filter(unionid=unionid, member__brand_id=brand_id, member__erased_at__isnull=True)
            .order_by("id")
            .first()
        )
        if ident is not None:
            return _link(ident.member, channel, external_id, unionid)
    return None


def on_identity_seen(user: ChannelUser) -> int | None:
    """``channels.hooks.identity_seen`` handler: the member id, or None for a stranger."""
    member = identify_channel_user(
        user.brand_id,
        user.channel,
        user.external_id,
        unionid=user.unionid,
        claimed_member_id=user.claimed_member_id,
    )
    return member.pk if member is not None else None


def external_ids(member_ids: Iterable[int], channel: str) -> dict[int, set[str]]:
    """The ids each of ``member_ids`` has on ``channel`` (members without one are absent)."""
    out: dict[int, set[str]] = {}
    rows = ChannelIdentity.objects.filter(channel=channel, member_id__in=list(member_ids)).values_list(
        "member_id", "external_id"
    )
    for member_id, external_id in rows:
        out.setdefault(member_id, set()).add(external_id)
    return out


def link_channel_contacts(member: Member) -> int:
    """Seat ``member`` in the WeCom groups where they were seen before signing in: the WeCom contacts sharing
    one of their unionids become theirs (``channels.services.wecom_events.link_wecom_contacts``). Call after
    a WeChat sign-in. Returns the number of groups joined."""
    if member.erased_at is not None:
        return 0
    unionids = set(
        ChannelIdentity.objects.filter(member=member).exclude(unionid="").values_list("unionid", flat=True)
    )
    if not unionids:
        return 0
    return link_wecom_contacts(member.pk, brand_id=member.brand_id, unionids=unionids)
