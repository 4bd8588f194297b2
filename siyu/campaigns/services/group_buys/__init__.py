"""Group buys (拼团): head office sets up the offer; members open teams, join, pay; teams form or fail.

Rules (see docs/group-buys.md):

- A member opens a team for the campaign's SKU at the group price in their pickup store; the team's
  deadline is ``min(opened + team_hours, campaign.ends_at)``. Others join (at most ``max_size``; a full
  team answers Conflict ``team_full``). A member is in at most one live team per campaign (a database
  constraint); the leader is the team's first member. Opening and joining are idempotent per (member, team).
- Every place is an ordinary order (``source="group_buy"``) placed through ``checkout.create_order`` at the
  group price, so its unit is reserved at join time and goes back when the order is cancelled, expires or is
  refunded.
- A place counts (``paid_count``) once its order is paid online (``on_order_paid``, called by
  ``transitions.mark_paid``) or, with pay-at-pickup (no online provider), as soon as the member joins.
  The team forms when ``paid_count`` reaches ``min_size`` before the deadline (claimed once: open → formed).
- ``close_due_teams`` (periodic job ``group-buy-deadlines``) fails teams still open after their deadline
  (claimed once: open → failed) and settles every live place of a failed team exactly once: an unpaid order
  is cancelled, an online payment refunded automatically (``siyu.orders.services.refunds``). Work the payment
  provider could not do yet stays pending and is retried on the next run.
- Counters change only by conditional UPDATEs: ``joined_count < max_size`` to join, ``paid_count <
  joined_count`` to count a payment (the check constraint ``paid ≤ joined`` backs it up).
- The robot posts the team's progress in the team's group, each post once (idempotency keys): opened, each
  counted join, formed, failed.

Modules: ``rules`` (states, limits, input cleaning), ``offer_setup`` (head office), ``reads``,
``team_forming`` (open, join, share, count payments), ``team_closing`` (lapsed places, deadlines,
settlement), ``posts`` (the robot's progress posts), ``order_hooks`` (what group buys plug into orders).
This package re-exports the public functions so callers write ``group_buys.join_team(...)``.
"""

from siyu.campaigns.services.group_buys.offer_setup import (
    cancel_group_buy,
    create_group_buy,
    publish_group_buy,
)
from siyu.campaigns.services.group_buys.reads import (
    get_group_buy,
    get_team,
    joinable_teams,
    list_group_buys,
    list_teams,
    live_membership,
    membership_in,
    offer_for_member,
    pending_settlement,
    scoped_group_buys,
    scoped_teams,
    team_counts,
    team_for_member,
    team_formed_for,
    team_members,
)
from siyu.campaigns.services.group_buys.rules import (
    BATCH,
    CLOSE_GRACE,
    FAILED_REASON,
    JOINABLE,
    LIVE,
    MAX_CAMPAIGN_DAYS,
    MAX_DESCRIPTION,
    MAX_TEAM_HOURS,
    MAX_TEAM_SIZE,
    MAX_TITLE,
    SETTLE_WINDOW,
    is_running,
    masked_name,
    runs_in_store,
    still_needed,
)
from siyu.campaigns.services.group_buys.team_closing import close_due_teams, release_stale
from siyu.campaigns.services.group_buys.team_forming import (
    join_team,
    member_group,
    on_order_paid,
    open_team,
    share_team,
)

__all__ = [
    "BATCH",
    "CLOSE_GRACE",
    "FAILED_REASON",
    "JOINABLE",
    "LIVE",
    "MAX_CAMPAIGN_DAYS",
    "MAX_DESCRIPTION",
    "MAX_TEAM_HOURS",
    "MAX_TEAM_SIZE",
    "MAX_TITLE",
    "SETTLE_WINDOW",
    "cancel_group_buy",
    "close_due_teams",
    "create_group_buy",
    "get_group_buy",
    "get_team",
    "is_running",
    "join_team",
    "joinable_teams",
    "list_group_buys",
    "list_teams",
    "live_membership",
    "masked_name",
    "member_group",
    "membership_in",
    "offer_for_member",
    "on_order_paid",
    "open_team",
    "pending_settlement",
    "publish_group_buy",
    "release_stale",
    "runs_in_store",
    "scoped_group_buys",
    "scoped_teams",
    "share_team",
    "still_needed",
    "team_counts",
    "team_for_member",
    "team_formed_for",
    "team_members",
]
