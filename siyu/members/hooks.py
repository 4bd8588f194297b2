"""What members tells the apps above it (communities, orders, …), which register in ``AppConfig.ready()``.

- ``member_erased``: a member's personal data was erased (``privacy.erase_member``). Handlers run in the
  erasure's transaction and erase what their own app holds about the member (communities: the text and
  pictures of their group messages), so the erasure is all or nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from siyu.channels.hooks import Hook


@dataclass(frozen=True, kw_only=True)
class MemberErased:
    member_id: int
    brand_id: int


member_erased: Hook[MemberErased, None] = Hook("members.member_erased")
