"""Which of a WeCom live code's groups its join way (群活码) lists, and asking channels to re-sync it.

channels keeps the join way itself (``siyu.channels.services.wecom_joinway``): it asks for the list through
the ``join_way_spec`` hook (answered by ``join_way_spec`` here, registered in ``CommunitiesConfig.ready``)
when the outbox runs the ``join_way_sync`` action, so the list is computed from the groups as they are then.
"""

from __future__ import annotations

from django.db.models import Max

from siyu.channels.hooks import JoinWaySpec
from siyu.channels.models import ChannelKind, OutboxMessage
from siyu.channels.services import wecom_joinway
from siyu.communities.models import Community, LiveCode


def room_base_name(code: LiveCode) -> str:
    """Prefix of the groups WeCom auto-creates for a code: the same ``<store>·<base name>`` as Siyu's own."""
    return f"{code.store.name}·{code.template.base_name}"[:40]


def set_groups(code: LiveCode) -> list[Community]:
    """The code's WeCom groups to list in the join way: open, created on WeCom, with room — those under
    their recommended size, else those under the hard cap — fullest first, at most 5."""
    groups = list(
        Community.objects.filter(
            store_id=code.store_id,
            template_id=code.template_id,
            channel=ChannelKind.WECOM,
            connector=code.connector,
            status=Community.Status.OPEN,
        )
        .exclude(external_id="")
        .order_by("-member_count", "sequence", "id")
    )
    roomy = [g for g in groups if g.member_count < g.recommended_size]
    if not roomy:
        roomy = [g for g in groups if g.member_count < g.hard_cap]
    return roomy[:5]


def join_way_spec(live_code_id: int) -> JoinWaySpec | None:
    """``channels.hooks.join_way_spec`` handler: what the live code's join way should list (None for a code
    that is not on WeCom)."""
    code = LiveCode.objects.select_related("store", "template", "connector").filter(pk=live_code_id).first()
    if code is None or code.channel != ChannelKind.WECOM or code.connector is None:
        return None
    top = Community.objects.filter(
        store_id=code.store_id, template_id=code.template_id, channel=ChannelKind.WECOM
    ).aggregate(m=Max("sequence"))["m"]
    return JoinWaySpec(
        connector=code.connector,
        chat_ids=[g.external_id for g in set_groups(code)],
        remark=code.name[:30],
        room_base_name=room_base_name(code),
        room_base_id=(top or 0) + 1,
    )


def request_sync_for_community(community: Community) -> list[OutboxMessage]:
    """Queue join-way syncs for every WeCom live code whose set ``community`` belongs to (call inside the
    transaction that changed the set)."""
    if community.channel != ChannelKind.WECOM or community.connector is None:
        return []
    codes = LiveCode.objects.filter(
        store_id=community.store_id,
        template_id=community.template_id,
        channel=ChannelKind.WECOM,
        connector=community.connector,
        active=True,
    ).values_list("id", flat=True)
    rows = [wecom_joinway.request_sync(community.connector, code_id) for code_id in codes]
    return [r for r in rows if r is not None]
