"""Fraud rules for referral invites (default on; thresholds per campaign, docs/referrals.md "Fraud rules").

Each rule looks at the invite being recorded together with earlier invites and answers with evidence —
``{"rule", "value", "invite_ids", "size", "limit"}`` — when it fires:

- ``velocity``: the inviter's invites in this campaign within the last hour reach ``velocity_per_hour + 1``
  (the 21st invite within an hour with the default 20); only the new invite is held.
- ``device``: invites of the campaign from one device fingerprint reach ``device_cluster``.
- ``ip``: invites of the campaign from one IP range (/24, /48) within an hour reach ``ip_cluster``.
- ``sequential``: invitees of the campaign whose mobile numbers lie within ``SEQUENTIAL_SPAN`` of each
  other reach ``sequential_cluster``.
- ``burst``: joins through one live code within ten minutes reach ``burst_per_10_minutes + 1``.

For the cluster rules (device, ip, sequential) every invite of the cluster still waiting to count is held
with the same evidence, not just the newest; invites already counted keep their reward and are named in the
evidence. Callers hold the campaign's row lock, so the counts are exact under concurrency.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from siyu.referrals.models import Invite, InviteStatus, ReferralCampaign

SEQUENTIAL_SPAN = 10
MAX_EVIDENCE_IDS = 50
CLUSTER_RULES = ("device", "ip", "sequential")


def _evidence(rule: str, value: str, ids: list[int], size: int, limit: int) -> dict[str, Any]:
    return {"rule": rule, "value": value, "invite_ids": ids[:MAX_EVIDENCE_IDS], "size": size, "limit": limit}


def evaluate(
    campaign: ReferralCampaign,
    *,
    inviter_id: int,
    live_code_id: int,
    device_hash: str,
    ip_prefix: str,
    mobile: str,
    now: datetime,
) -> list[dict[str, Any]]:
    """The rules a new invite with these facts trips (empty: none, or the campaign's checks are off)."""
    if not campaign.fraud_checks:
        return []
    found: list[dict[str, Any]] = []
    invites = Invite.objects.filter(campaign=campaign)
    hour_ago = now - timedelta(hours=1)

    recent = list(
        invites.filter(inviter_id=inviter_id, created_at__gte=hour_ago)
        .order_by("id")
        .values_list("id", flat=True)
    )
    if len(recent) + 1 > campaign.velocity_per_hour:
        found.append(
            _evidence("velocity", str(inviter_id), recent, len(recent) + 1, campaign.velocity_per_hour)
        )
    if device_hash:
        same = list(invites.filter(device_hash=device_hash).order_by("id").values_list("id", flat=True))
        if len(same) + 1 >= campaign.device_cluster:
            found.append(_evidence("device", device_hash[:12], same, len(same) + 1, campaign.device_cluster))
    if ip_prefix:
        same = list(
            invites.filter(ip_prefix=ip_prefix, created_at__gte=hour_ago)
            .order_by("id")
            .values_list("id", flat=True)
        )
        if len(same) + 1 >= campaign.ip_cluster:
            found.append(_evidence("ip", ip_prefix, same, len(same) + 1, campaign.ip_cluster))
    if len(mobile) == 11 and mobile.isdigit():
        number = int(mobile)
        near = [
            pk
            for pk, other in invites.filter(invitee_mobile__startswith=mobile[:8])
            .order_by("id")
            .values_list("id", "invitee_mobile")
            if other.isdigit() and abs(int(other) - number) <= SEQUENTIAL_SPAN
        ]
        if len(near) + 1 >= campaign.sequential_cluster:
            span = f"{mobile[:3]}****{mobile[7:9]}xx"
            found.append(_evidence("sequential", span, near, len(near) + 1, campaign.sequential_cluster))
    burst = list(
        Invite.objects.filter(live_code_id=live_code_id, created_at__gte=now - timedelta(minutes=10))
        .order_by("id")
        .values_list("id", flat=True)
    )
    if len(burst) + 1 > campaign.burst_per_10_minutes:
        found.append(
            _evidence("burst", str(live_code_id), burst, len(burst) + 1, campaign.burst_per_10_minutes)
        )
    return found


def hold_clusters(invite: Invite, evidence: list[dict[str, Any]]) -> int:
    """Hold the other invites of ``invite``'s clusters that still wait to count, adding the evidence that
    names them; returns how many were held now."""
    held = 0
    for item in evidence:
        if item["rule"] not in CLUSTER_RULES:
            continue
        shared = {**item, "invite_ids": sorted({*item["invite_ids"], invite.pk})[:MAX_EVIDENCE_IDS]}
        for other in Invite.objects.filter(
            pk__in=item["invite_ids"], status__in=[InviteStatus.PENDING, InviteStatus.HELD]
        ):
            rules = {e.get("rule") for e in other.evidence or []}
            if item["rule"] in rules:
                continue
            changed = Invite.objects.filter(
                pk=other.pk, status__in=[InviteStatus.PENDING, InviteStatus.HELD]
            ).update(status=InviteStatus.HELD, evidence=[*(other.evidence or []), shared])
            if changed and other.status == InviteStatus.PENDING:
                held += 1
        item["invite_ids"] = shared["invite_ids"]
    return held
