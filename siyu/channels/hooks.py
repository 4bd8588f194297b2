"""What channels hears from the outside world, and how the apps above it listen.

channels sits below communities and members and never imports them. When a WeCom callback or a Telegram
update says something happened — a person joined or left a chat, a message arrived, a group was created,
renamed or dismissed — channels turns it into a typed payload and *sends* it on a hook here. communities
and members register handlers in their ``AppConfig.ready()``; a test can register a fake one with
``Hook.connected``.

Two shapes, one class:

- **notifications** (``send``): every handler runs, in registration order, in the caller's transaction — so
  what a handler writes commits or rolls back with channels' own bookkeeping (``InboundEvent``,
  ``WeComContact``). A handler with a side effect outside the database (a welcome post, a push) defers it
  with ``transaction.on_commit`` itself. A handler that raises aborts the event: channels keeps the error on
  the stored event and tries again (WeCom ``process_pending_events``), exactly as before hooks existed.
- **questions** (``ask``): channels needs an answer only an app above can give (which member is this channel
  user? which groups should a live code's join way list?). The first handler that answers (returns
  something other than None) wins; with no answer channels does what it does for a stranger.

Everything here is data: payloads carry ids and strings, never another app's model.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from django.db import transaction

from siyu.channels.models import Connector

P = TypeVar("P")
R = TypeVar("R")


class Hook(Generic[P, R]):
    """A named point other apps register handlers into (payload ``P``, handler result ``R``)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._handlers: list[Callable[[P], R]] = []

    def __repr__(self) -> str:
        return f"<Hook {self.name}: {len(self._handlers)} handler(s)>"

    @property
    def handlers(self) -> tuple[Callable[[P], R], ...]:
        return tuple(self._handlers)

    def register(self, handler: Callable[[P], R]) -> Callable[[P], R]:
        """Add ``handler`` (once: registering it again changes nothing). Usable as a decorator."""
        if handler not in self._handlers:
            self._handlers.append(handler)
        return handler

    def unregister(self, handler: Callable[[P], R]) -> None:
        if handler in self._handlers:
            self._handlers.remove(handler)

    @contextmanager
    def connected(self, handler: Callable[[P], R]) -> Iterator[Callable[[P], R]]:
        """Register ``handler`` for the duration of a ``with`` block (tests)."""
        added = handler not in self._handlers
        self.register(handler)
        try:
            yield handler
        finally:
            if added:
                self.unregister(handler)

    def send(self, payload: P) -> list[R]:
        """Run every handler now, in the caller's transaction; their results in registration order."""
        return [handler(payload) for handler in list(self._handlers)]

    def send_on_commit(self, payload: P) -> None:
        """Run every handler after the current transaction commits (at once outside one)."""
        transaction.on_commit(lambda: self.send(payload), robust=True)

    def ask(self, payload: P) -> R | None:
        """The first answer (a result other than None) of the handlers, in registration order."""
        for handler in list(self._handlers):
            answer = handler(payload)
            if answer is not None:
                return answer
        return None


# --- payloads ------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ChannelUser:
    """A person as a channel knows them (WeCom external userid, Telegram user id), in ``brand_id``'s channel.

    ``claimed_member_id`` is a member the channel has reason to believe this is (a personal Telegram invite
    link named after the member; a WeCom contact sharing the unionid of a member who just signed in).
    """

    brand_id: int
    channel: str  # ChannelKind value: "wecom", "telegram"
    external_id: str
    unionid: str = ""
    claimed_member_id: int | None = None


@dataclass(frozen=True, kw_only=True)
class ChatEvent:
    """Something about one chat (``chat_id`` as the provider names it) of one connector."""

    connector: Connector
    chat_id: str


@dataclass(frozen=True, kw_only=True)
class GroupSeen(ChatEvent):
    """A WeCom customer group was created or changed. ``owner_userid``: the group owner's WeCom userid
    (``groupchat/get`` → ``owner``), who sends the group's mass messages."""

    name: str = ""
    owner_userid: str = ""


@dataclass(frozen=True, kw_only=True)
class GroupRenamed(ChatEvent):
    name: str


@dataclass(frozen=True, kw_only=True)
class GroupDismissed(ChatEvent):
    pass


@dataclass(frozen=True, kw_only=True)
class MemberJoined(ChatEvent):
    """A known member is in the chat now. ``live_code_id``: the live code whose join way they came through."""

    member_id: int
    live_code_id: int | None = None


@dataclass(frozen=True, kw_only=True)
class MemberLeft(ChatEvent):
    """A known member left the chat (``removed``: an admin removed them)."""

    member_id: int
    removed: bool = False
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class RosterSeen(ChatEvent):
    """The chat's current people (``present``: external ids on ``channel``). Anyone Siyu seats in the chat
    who has an identity on this channel and is not among them has left."""

    channel: str
    present: frozenset[str] = field(default_factory=frozenset)
    removed: bool = False


@dataclass(frozen=True, kw_only=True)
class MessageReceived(ChatEvent):
    """A known member wrote ``text`` in the chat; ``external_id`` is unique per message within the chat."""

    member_id: int
    text: str = ""
    external_id: str = ""


@dataclass(frozen=True, kw_only=True)
class ContactChanged:
    """A WeCom external contact was added, edited or removed by a staff member (``change_type`` as WeCom
    names it: add_external_contact, del_external_contact, del_follow_user, …)."""

    connector: Connector
    change_type: str
    external_userid: str
    staff_userid: str = ""
    state: str = ""


@dataclass(frozen=True, kw_only=True)
class Delivery:
    """The outcome of one outbox row: sent (``ok``) or failed for good."""

    outbox_id: int
    action: str
    community_id: int | None
    ok: bool
    error: str = ""
    result: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class MassChatResult:
    """What became of one group in a WeCom mass message: ``status`` as WeCom reports it (0 not sent, 1 sent,
    2 not a friend, 3 already received another mass message), or ``expired`` when Siyu cancelled the
    unsent message; ``send_time`` when sent."""

    chat_id: str
    status: int
    send_time: datetime | None = None
    expired: bool = False
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class MassResults:
    """Outcomes read back for the groups of one WeCom mass message (``msgid``) of ``connector``."""

    connector: Connector
    msgid: str
    sender: str
    chats: tuple[MassChatResult, ...]


@dataclass(frozen=True, kw_only=True)
class JoinWaySpec:
    """What a WeCom live code's join way should list: up to 5 chat ids, the remark, and the name pattern
    WeCom gives the groups it auto-creates (``room_base_name`` + ``room_base_id``)."""

    connector: Connector
    chat_ids: list[str]
    remark: str
    room_base_name: str
    room_base_id: int


# --- the hooks -----------------------------------------------------------------------------------

# Questions
identity_seen: Hook[ChannelUser, int | None] = Hook("channels.identity_seen")
"""Which member is this channel user? Members answers with a member id (linking the identity when the user
is claimed or shares a unionid); no answer means a stranger (WeCom keeps a ``WeComContact``)."""

group_seen: Hook[GroupSeen, bool | None] = Hook("channels.group_seen")
"""A WeCom group was created or changed. Communities places it (a waiting group, or a new one) and answers
True when Siyu did not know the group before — channels then seats everyone in it — False when it did.
A handler that cannot place the group raises (the event is kept and retried)."""

join_way_spec: Hook[int, JoinWaySpec | None] = Hook("channels.join_way_spec")
"""For a live code id: the groups its WeCom join way should list (None: not a WeCom code)."""

communities_in_stores: Hook[frozenset[int], Iterable[int] | None] = Hook("channels.communities_in_stores")
"""For store ids: the ids of their communities (scopes the failed outbox rows store staff see)."""

# Notifications
group_renamed: Hook[GroupRenamed, None] = Hook("channels.group_renamed")
group_dismissed: Hook[GroupDismissed, None] = Hook("channels.group_dismissed")
member_joined: Hook[MemberJoined, bool | None] = Hook("channels.member_joined")
"""Handlers return True when they seated the member (counted by ``link_wecom_contacts``)."""
member_left: Hook[MemberLeft, None] = Hook("channels.member_left")
roster_seen: Hook[RosterSeen, None] = Hook("channels.roster_seen")
message_received: Hook[MessageReceived, None] = Hook("channels.message_received")
contact_changed: Hook[ContactChanged, None] = Hook("channels.contact_changed")
delivery_confirmed: Hook[Delivery, None] = Hook("channels.delivery_confirmed")
delivery_failed: Hook[Delivery, None] = Hook("channels.delivery_failed")
mass_results: Hook[MassResults, None] = Hook("channels.mass_results")
"""Outcomes of a WeCom mass message's groups, read back from WeCom (sent, refused, expired); communities
records them on the groups' deliveries. Only chats whose outcome is final are sent (status ≠ 0 or expired)."""

ALL_HOOKS: tuple[Hook[Any, Any], ...] = (
    identity_seen,
    group_seen,
    join_way_spec,
    communities_in_stores,
    group_renamed,
    group_dismissed,
    member_joined,
    member_left,
    roster_seen,
    message_received,
    contact_changed,
    delivery_confirmed,
    delivery_failed,
    mass_results,
)


# --- WeCom group welcome templates (appended: staff messages and store robots) ------------------------


@dataclass(frozen=True, kw_only=True)
class WelcomeTemplateQuery:
    """Which welcome should the WeCom corp of ``connector`` hold for the Siyu group template?"""

    connector: Connector
    group_template_id: int


@dataclass(frozen=True, kw_only=True)
class WelcomeTemplateSpec:
    """A WeCom group welcome template: text (``%NICKNAME%`` for the joiner), an optional link attachment
    ``{"title", "url", "desc"?, "picurl"?}``, and whether WeCom should ask staff to apply it (``notify``)."""

    text: str
    link: dict[str, str] | None = None
    notify: bool = True


welcome_template_spec: Hook[WelcomeTemplateQuery, WelcomeTemplateSpec | None] = Hook(
    "channels.welcome_template_spec"
)
"""For a connector and a group template id: the welcome WeCom should hold (None: none — delete it)."""

ALL_HOOKS = (*ALL_HOOKS, welcome_template_spec)
