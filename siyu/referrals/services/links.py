"""Personal invite links: ``/h5/r/<token>/`` where the token names (campaign, inviter) and is signed, so a
link cannot be edited to credit someone else."""

from __future__ import annotations

import hashlib
import ipaddress

from django.urls import reverse
from django.utils.crypto import constant_time_compare, salted_hmac

from siyu.common.errors import NotFound
from siyu.referrals.models import ReferralCampaign

_SALT = "siyu.referrals.invite-link"
DEVICE_COOKIE = "siyu_did"


def _sig(campaign_id: int, member_id: int) -> str:
    return salted_hmac(_SALT, f"{campaign_id}-{member_id}").hexdigest()[:12]


def invite_token(campaign_id: int, member_id: int) -> str:
    """``<campaign>-<member>-<signature>``."""
    return f"{int(campaign_id)}-{int(member_id)}-{_sig(campaign_id, member_id)}"


def parse_token(token: str) -> tuple[int, int]:
    """(campaign id, inviter member id) of a token, or NotFound for anything forged or malformed."""
    parts = str(token or "")[:60].split("-")
    if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit():
        raise NotFound("invite link", field="token")
    campaign_id, member_id = int(parts[0]), int(parts[1])
    if not (0 < campaign_id < 2**62 and 0 < member_id < 2**62) or not constant_time_compare(
        parts[2], _sig(campaign_id, member_id)
    ):
        raise NotFound("invite link", field="token")
    return campaign_id, member_id


def invite_path(campaign: ReferralCampaign, member_id: int) -> str:
    return reverse("h5:invite-link", kwargs={"token": invite_token(campaign.pk, member_id)})


def invite_url(campaign: ReferralCampaign, member_id: int, base_url: str) -> str:
    """The absolute invite URL a member shares (and the poster's QR carries)."""
    return base_url.rstrip("/") + invite_path(campaign, member_id)


def device_hash(device_id: str, user_agent: str) -> str:
    """The device fingerprint: the first-party cookie's device id with the user agent, hashed; blank
    without a device id (a user agent alone would tie together everyone with the same phone model)."""
    device_id = str(device_id or "").strip()[:64]
    if not device_id:
        return ""
    return hashlib.sha256(f"{device_id}|{str(user_agent or '')[:400]}".encode()).hexdigest()


def ip_prefix(ip: str | None) -> str:
    """The network an address is in: ``/24`` for IPv4, ``/48`` for IPv6; blank when unknown."""
    try:
        address = ipaddress.ip_address(str(ip or "").strip())
    except ValueError:
        return ""
    bits = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{bits}", strict=False))
