"""What communities tells the apps above it (incentives, referrals, …); they register in ``ready()``.

- ``member_joined``: a member started a stay in a group (``joining._create_membership``: live code, share
  link, staff adding them, the channel's own join). Sent after the join commits (``send_on_commit``), so a
  handler's failure never refuses the join; handlers must be idempotent on ``membership_id``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from siyu.channels.hooks import Hook


@dataclass(frozen=True, kw_only=True)
class MemberJoined:
    membership_id: int
    member_id: int
    brand_id: int
    store_id: int
    community_id: int
    scene: str
    inviter_id: int | None
    referrer_id: int | None
    live_code_id: int | None
    joined_at: datetime


member_joined: Hook[MemberJoined, None] = Hook("communities.member_joined")
