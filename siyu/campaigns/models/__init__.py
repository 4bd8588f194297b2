"""Campaigns (营销活动): flash sales (秒杀) with their 接龙 relay, group buys (拼团) and recharge-slot
deposits (预定充值名额).

Split by topic; each submodule's models are re-exported here so Django finds them.
"""

from siyu.campaigns.models.base import Campaign, CampaignKind, CampaignStatus  # noqa: F401
from siyu.campaigns.models.flash import (  # noqa: F401
    FlashQuota,
    FlashReservation,
    FlashSaleItem,
    RelayCursor,
    RelayPost,
)
from siyu.campaigns.models.group_buys import GroupBuy, GroupBuyMember, GroupBuyTeam  # noqa: F401
from siyu.campaigns.models.slots import (  # noqa: F401
    RechargeSlot,
    RechargeSlotCampaign,
    SlotStatus,
    UnusedPolicy,
)
