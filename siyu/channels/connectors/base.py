"""The interface every channel connector implements, and what a connector can declare it lacks.

A connector turns Siyu's group actions into one provider's calls. It declares its capabilities;
callers check them and turn an action the channel cannot do (WeCom: create a group, remove a member)
into a ``StaffTask`` instead of calling. Connectors are called by the outbox dispatcher
(``siyu.channels.services.outbox``), never inside a database transaction.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, ClassVar


class Capability(enum.StrEnum):
    CREATE_GROUP = "create_group"
    JOIN_LINK = "join_link"
    POST_TEXT = "post_text"
    POST_MARKDOWN = "post_markdown"
    POST_IMAGE = "post_image"
    POST_CARD = "post_card"
    MUTE = "mute"
    REMOVE_MEMBER = "remove_member"
    RENAME = "rename"
    ANNOUNCE = "announce"
    RECEIVE_MEMBER_EVENTS = "receive_member_events"
    RECEIVE_MESSAGES = "receive_messages"


class DeliveryPath(enum.StrEnum):
    """How content reaches a group on a channel. A connector lists the paths it has, preferred first.

    - ``AUTO``: Siyu posts by API, silently (the built-in web chat, a Telegram bot).
    - ``OWNER_CONFIRM``: Siyu prepares a mass message that the group's owner confirms in the channel's own
      app before anything is sent (WeCom 群发, ``add_msg_template``), within the channel's quota.
    - ``STAFF``: a staff member puts prepared content into the group by hand, one tap in the chat-toolbar
      sidebar (WeCom ``sendChatMessage``) or copy and paste.
    """

    AUTO = "auto"
    OWNER_CONFIRM = "owner_confirm"
    STAFF = "staff"


class ChannelError(Exception):
    """A provider call failed. ``retryable`` says whether the outbox should try again later."""

    def __init__(
        self, message: str, *, retryable: bool = True, retry_after: float | None = None, code: Any = None
    ):
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after
        self.code = code


class Unsupported(ChannelError):
    """The channel has no API for this action (declared by the connector's capabilities)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False)


@dataclass(frozen=True)
class RateLimit:
    """At most ``count`` calls per ``seconds`` in one bucket (e.g. one group, one robot)."""

    count: int
    seconds: float


@dataclass
class Post:
    """Content for a group: exactly one of text, markdown, image (bytes + mime) or card."""

    text: str = ""
    markdown: str = ""
    image: bytes | None = None
    image_mime: str = ""
    card: dict[str, Any] = field(default_factory=dict)  # {"title", "description", "url", "image_url"}


class ChannelConnector:
    """Base class. Subclasses set ``kind``, ``capabilities`` and ``rate_limits`` and implement ``perform``."""

    kind: ClassVar[str] = ""
    capabilities: ClassVar[frozenset[Capability]] = frozenset()
    # How content reaches a group, preferred first (see ``DeliveryPath``); every post honours this.
    delivery_paths: ClassVar[tuple[DeliveryPath, ...]] = (DeliveryPath.AUTO,)
    # Per bucket prefix (the part before ":" of an outbox bucket), the documented limit.
    rate_limits: ClassVar[dict[str, RateLimit]] = {}

    def can(self, capability: Capability) -> bool:
        return capability in self.capabilities

    def can_deliver(self, path: DeliveryPath) -> bool:
        return path in self.delivery_paths

    def perform(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Carry out one outbox action; return the provider's useful result. Raise ChannelError on failure."""
        raise Unsupported(f"{self.kind} cannot {action}")
