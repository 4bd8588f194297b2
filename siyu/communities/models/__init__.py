"""Communities (社群): templates, groups, memberships, live codes, messages, moderation.

Split by topic; each submodule's models are re-exported here so Django finds them.
"""

from siyu.communities.models.deliveries import GroupDelivery, MassQuota  # noqa: F401
from siyu.communities.models.groups import (  # noqa: F401
    Community,
    CommunityMembership,
    GroupTemplate,
    JoinScene,
    MemberRole,
    StaffTask,
    Theme,
)
from siyu.communities.models.livecodes import JoinRequest, LiveCode  # noqa: F401
from siyu.communities.models.messages import Message, ScheduledPost  # noqa: F401
from siyu.communities.models.moderation import (  # noqa: F401
    Appeal,
    BlocklistEntry,
    ModerationAction,
    ModerationPolicy,
    ModerationRule,
)
