"""The WeCom chat-toolbar sidebar's channel side: which connector, JS-SDK tickets and signatures, staff OAuth.

The page itself lives in the console (``siyu.console.views_sidebar``); what it lists comes from
``siyu.communities.services.sidebar``. Protocol facts: /work/shared/specs/wecom.md, summarised in
docs/channels.md ("Sidebar (聊天工具栏)").
"""

from __future__ import annotations

import hmac
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.channels.connectors import wecom_jssdk
from siyu.channels.connectors.base import ChannelError
from siyu.channels.connectors.wecom import WeComConnector
from siyu.channels.models import ChannelKind, Connector, WeComTicket
from siyu.common.errors import ChannelUnavailable, NotAuthenticated, NotFound
from siyu.org.models import Staff
from siyu.org.services.brand import current_brand_id

logger = logging.getLogger("siyu.channels.wecom")

# A ticket is refreshed this long before WeCom says it expires (a page signed just before expiry still has
# time to register).
TICKET_REFRESH_MARGIN = timedelta(minutes=5)
_FETCHERS = {
    WeComTicket.Kind.CORP: wecom_jssdk.fetch_corp_ticket,
    WeComTicket.Kind.AGENT: wecom_jssdk.fetch_agent_ticket,
}


def sidebar_connector(connector_id: int | None = None) -> Connector:
    """The active WeCom connector the sidebar works with: the one named, or the brand's only one.

    Raises NotFound when there is none (or ``connector_id`` is not an active WeCom connector of the brand),
    and when the brand has several and none was named (the page URL in WeCom admin names it).
    """
    rows = Connector.objects.filter(brand_id=current_brand_id(), kind=ChannelKind.WECOM, active=True)
    if connector_id is not None:
        rows = rows.filter(pk=connector_id)
    found = list(rows[:2])
    if len(found) != 1:
        raise NotFound(_("No WeCom app is set up for the sidebar."), field="connector")
    return found[0]


# --- tickets --------------------------------------------------------------------------------------------


def jsapi_ticket(connector: Connector, kind: str, *, now: datetime | None = None) -> str:
    """A valid JS-SDK ticket of ``kind`` (``corp`` or ``agent``) for ``connector``.

    Guarantees: fetched from WeCom at most once per expiry across processes — the shared ``WeComTicket``
    row is re-read under its row lock (a conditional UPDATE takes it: ``SELECT … FOR UPDATE`` semantics on
    PostgreSQL, the write lock on SQLite), so concurrent callers wait for the one refreshing and reuse its
    ticket. A ticket is reused until ``TICKET_REFRESH_MARGIN`` before it expires. This is the one provider
    call made inside a transaction: a read without side effects, bounded by the HTTP timeout, and holding
    only this row. Raises ChannelUnavailable when WeCom refuses or cannot be reached (nothing stored).
    """
    fetch = _FETCHERS[WeComTicket.Kind(kind)]
    fresh_until = (now or timezone.now()) + TICKET_REFRESH_MARGIN
    cached = WeComTicket.objects.filter(connector=connector, kind=kind, expires_at__gt=fresh_until).first()
    if cached is not None and cached.ticket:
        return cached.ticket
    row, _created = WeComTicket.objects.get_or_create(connector=connector, kind=kind)
    impl = WeComConnector(connector)
    with transaction.atomic():
        # Take the row's lock first; whoever waited here finds the ticket the holder stored.
        WeComTicket.objects.filter(pk=row.pk).update(kind=kind)
        row = WeComTicket.objects.get(pk=row.pk)
        now = now or timezone.now()
        if row.ticket and row.expires_at > now + TICKET_REFRESH_MARGIN:
            return row.ticket
        try:
            got = fetch(impl)
        except ChannelError as exc:
            logger.warning("WeCom %s ticket for connector %s not fetched: %s", kind, connector.pk, exc)
            raise ChannelUnavailable(
                _("WeCom did not give a signature ticket just now. Please try again shortly.")
            ) from exc
        now = timezone.now()
        WeComTicket.objects.filter(pk=row.pk).update(
            ticket=got.ticket,
            expires_at=now + timedelta(seconds=got.expires_in),
            fetched_at=now,
            fetches=F("fetches") + 1,
        )
        return got.ticket


@dataclass(frozen=True)
class JsSignature:
    """What ``ww.register``'s ``getConfigSignature`` / ``getAgentConfigSignature`` return."""

    timestamp: int
    nonce_str: str
    signature: str

    def as_dict(self) -> dict[str, object]:
        return {"timestamp": self.timestamp, "nonceStr": self.nonce_str, "signature": self.signature}


def js_signature(connector: Connector, url: str, *, kind: str = WeComTicket.Kind.AGENT) -> JsSignature:
    """Sign ``url`` (the page URL without ``#fragment``) for the JS-SDK with the app (``agent``) or
    enterprise (``corp``) ticket; a fresh nonce and the current time each call."""
    ticket = jsapi_ticket(connector, kind)
    nonce = secrets.token_hex(8)
    timestamp = int(time.time())
    return JsSignature(timestamp, nonce, wecom_jssdk.jsapi_signature(ticket, nonce, timestamp, url))


# --- staff identity through WeCom OAuth ---------------------------------------------------------------


def new_oauth_state() -> str:
    """A fresh OAuth ``state`` (letters and digits, as WeCom allows) to keep in the session and check."""
    return secrets.token_hex(16)


def oauth_url(connector: Connector, redirect_uri: str, state: str) -> str:
    """Where to send a browser inside WeCom so WeCom vouches for the staff member (silent snsapi_base)."""
    try:
        return wecom_jssdk.oauth_authorize_url(WeComConnector(connector), redirect_uri, state)
    except ChannelError as exc:
        raise NotFound(_("The WeCom app is not fully set up (corp ID missing)."), field="connector") from exc


def state_matches(expected: str, given: str) -> bool:
    """The state WeCom sent back is the one this browser was given (constant-time; empty never matches)."""
    return bool(expected) and bool(given) and hmac.compare_digest(expected.encode(), given.encode())


class UnknownWeComUser(NotAuthenticated):
    """WeCom vouched for someone who is no Siyu staff member (or not an active one) of the brand."""

    code = "unknown_wecom_user"


def staff_for_code(connector: Connector, code: str) -> Staff:
    """The active staff member of the connector's brand whose ``wecom_userid`` WeCom names for ``code``.

    Guarantees: asks WeCom once (``auth/getuserinfo``; a code works once); raises UnknownWeComUser when WeCom
    names no corp member or a userid no active staff member of this brand has; ChannelUnavailable when WeCom
    refuses the code or cannot be reached. Changes nothing.
    """
    try:
        userid = wecom_jssdk.userid_from_code(WeComConnector(connector), code)
    except ChannelError as exc:
        logger.info("WeCom OAuth code refused for connector %s: %s", connector.pk, exc)
        raise ChannelUnavailable(
            _("WeCom could not confirm who you are. Please open the page again.")
        ) from exc
    staff = None
    if userid:
        staff = Staff.objects.filter(brand_id=connector.brand_id, wecom_userid=userid, is_active=True).first()
    if staff is None:
        raise UnknownWeComUser(
            _(
                "Your WeCom account (%(userid)s) is not linked to a staff account here. Ask your manager to "
                "enter your WeCom user ID on your staff page, then open the sidebar again."
            )
            % {"userid": userid or "?"}
        )
    return staff
