"""H5 group chat (built-in web channel): the chat page, posting, history, live updates (SSE), pictures.

Thin callers of ``siyu.communities.services.messages`` and ``live``. A member sees only groups they are in:
every other group id answers 404.

Live updates are Server-Sent Events. Each open page holds one streaming response, and so one server thread
(the demo runs gunicorn gthread workers, 2 × 8 threads), for at most ``SIYU_CHAT_STREAM_SECONDS`` (5 min);
then the stream ends and the browser's EventSource reconnects with ``Last-Event-ID`` and gets what it missed.
"""

from __future__ import annotations

import json
import mimetypes
import time
from collections.abc import Callable, Iterator
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    JsonResponse,
    StreamingHttpResponse,
)
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from siyu.channels.models import ChannelKind
from siyu.common.errors import NotFound, ServiceError, ValidationFailed
from siyu.common.validators import optional_id
from siyu.communities.models import Community, CommunityMembership, MemberRole, Message
from siyu.communities.services import live, posting
from siyu.communities.services import messages as chat
from siyu.members.models import Member
from siyu.members.services import signin
from siyu.org.services.brand import brand_name

ChatView = Callable[..., HttpResponseBase]


def _stream_seconds() -> float:
    return float(getattr(settings, "SIYU_CHAT_STREAM_SECONDS", 300))


def _keepalive_seconds() -> float:
    return float(getattr(settings, "SIYU_CHAT_KEEPALIVE_SECONDS", 15))


def _poll_seconds() -> float:
    # Without Redis, messages posted in another server process reach this stream only by this database check.
    return float(getattr(settings, "SIYU_CHAT_POLL_SECONDS", 2))


def _json_error(exc: ServiceError) -> JsonResponse:
    return JsonResponse(
        {"error": exc.as_dict()}, status=exc.status, json_dumps_params={"ensure_ascii": False}
    )


def _member_page(view: ChatView) -> ChatView:
    """Pages: the signed-in member, else the sign-in page with ``next``; NotFound → 404."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        member = signin.member_from_session(request)
        if member is None:
            return redirect(f"{reverse('h5:login')}?{urlencode({'next': request.get_full_path()})}")
        try:
            return view(request, member, *args, **kwargs)
        except NotFound as exc:
            raise Http404(exc.message) from exc

    return wrapper


def _member_json(view: ChatView) -> ChatView:
    """JSON/stream endpoints: 401 when signed out; service errors as ``{"error": {code, message, field}}``."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        member = signin.member_from_session(request)
        if member is None:
            return JsonResponse(
                {"error": {"code": "not_authenticated", "message": _("Sign in first."), "field": None}},
                status=401,
            )
        try:
            return view(request, member, *args, **kwargs)
        except ServiceError as exc:
            return _json_error(exc)

    return wrapper


@never_cache
@require_GET
@_member_page
def my_groups(request: HttpRequest, member: Member) -> HttpResponse:
    """The member's groups ("我的社群"); web groups open the chat, other channels say where to chat."""
    memberships = chat.my_groups(member)
    return render(
        request,
        "h5/chat/groups.html",
        {"brand_name": brand_name(), "memberships": memberships, "web": ChannelKind.WEB},
    )


@never_cache
@require_GET
@_member_page
def room(request: HttpRequest, member: Member, community_id: int) -> HttpResponse:
    """The chat page: header, the latest messages, the composer; live updates come over ``events``."""
    community, membership = chat.open_chat(community_id, member)
    latest = chat.history(community, limit=chat.HISTORY_PAGE)
    payload = {
        "messages": [chat.serialize_message(m) for m in latest],
        "has_more": len(latest) == chat.HISTORY_PAGE,
    }
    muted_until = membership.muted_until if _is_muted(membership) else None
    return render(
        request,
        "h5/chat/room.html",
        {
            "brand_name": brand_name(),
            "community": community,
            "chat_payload": payload,
            "me": chat.sender_key(community.pk, member.pk),
            "muted_until": muted_until,
            "max_text": chat.MAX_TEXT,
            # A group's KOL may drop a points red packet (siyu.h5.views_loyalty.red_packet_drop).
            "is_kol": membership.role == MemberRole.KOL,
        },
    )


def _is_muted(membership: CommunityMembership) -> bool:
    return bool(membership.muted_until and membership.muted_until > timezone.now())


@never_cache
@require_GET
@_member_page
def rules(request: HttpRequest, member: Member, community_id: int) -> HttpResponse:
    """The group rules (群规) and the current announcement."""
    community, _membership = chat.open_chat(community_id, member)
    template = community.template
    rules_text = community.rules_text or (template.rules_text if template else "")
    return render(
        request,
        "h5/chat/rules.html",
        {"brand_name": brand_name(), "community": community, "rules_text": rules_text},
    )


@never_cache
@require_http_methods(["GET", "POST"])
@_member_json
def messages(request: HttpRequest, member: Member, community_id: int) -> HttpResponse:
    """GET ``?before=<id>``: an earlier page of history. POST (JSON or multipart form): post a message."""
    community, _membership = chat.open_chat(community_id, member)
    if request.method == "GET":
        before = optional_id(request.GET.get("before"))
        page = chat.history(community, before_id=before, limit=chat.HISTORY_PAGE)
        return JsonResponse(
            {
                "messages": [chat.serialize_message(m) for m in page],
                "has_more": len(page) == chat.HISTORY_PAGE,
            },
            json_dumps_params={"ensure_ascii": False},
        )
    text, client_msg_id, image, image_name = _read_post(request)
    message = posting.post_member_message(
        community, member, text=text, image=image, image_name=image_name, client_msg_id=client_msg_id
    )
    return JsonResponse(
        {"message": chat.serialize_message(message)}, status=201, json_dumps_params={"ensure_ascii": False}
    )


def _read_post(request: HttpRequest) -> tuple[str, str, bytes | None, str]:
    if (request.content_type or "").startswith("application/json"):
        try:
            body = json.loads(request.body or b"{}")
        except ValueError as exc:
            raise ValidationFailed(_("Invalid request."), field="body") from exc
        if not isinstance(body, dict):
            raise ValidationFailed(_("Invalid request."), field="body")
        return str(body.get("text") or ""), str(body.get("client_msg_id") or ""), None, ""
    upload = request.FILES.get("image")
    image: bytes | None = None
    name = ""
    if upload is not None:
        if upload.size and upload.size > chat.MAX_IMAGE_BYTES:
            # Refused before reading it into memory; the service checks every picture again.
            raise ValidationFailed(_("Pictures can be at most 5 MB."), field="image")
        image = upload.read(chat.MAX_IMAGE_BYTES + 1)
        name = upload.name or ""
    return request.POST.get("text", ""), request.POST.get("client_msg_id", ""), image, name


@never_cache
@require_GET
@_member_json
def image(request: HttpRequest, member: Member, community_id: int, message_id: int) -> HttpResponseBase:
    """A picture sent in a group, only to members of that group (MEDIA_ROOT itself is never served)."""
    community, _membership = chat.open_chat(community_id, member)
    message = chat.message_image(community, message_id)
    content_type = mimetypes.guess_type(message.image.name or "")[0] or "application/octet-stream"
    response = FileResponse(message.image.open("rb"), content_type=content_type)
    response["Cache-Control"] = "private, max-age=86400"
    response["Content-Disposition"] = "inline"
    return response


# --- Server-Sent Events ------------------------------------------------------------------------------


def _sse(event: str, data: dict[str, Any], event_id: int | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


@require_GET
@_member_json
def events(request: HttpRequest, member: Member, community_id: int) -> HttpResponseBase:
    """The live stream of one group (``text/event-stream``).

    Resumes after ``Last-Event-ID`` (set by the browser when it reconnects) or ``?after=<id>`` (the newest
    message the page already shows): those messages are sent first, so there are no gaps. Then new messages
    as they are posted, ``hidden`` events when moderation removes one, a keepalive comment every ~15 s, and
    the stream ends after ~5 minutes (or with a ``gone`` event when the member left the group).
    """
    community, _membership = chat.open_chat(community_id, member)
    after = optional_id(request.headers.get("Last-Event-ID"))
    if after is None:
        after = optional_id(request.GET.get("after"))
    if after is None:
        after = chat.latest_message_id(community)
    # Subscribe before reading the backlog: a message committed in between is then heard, not lost.
    subscription = live.subscribe(community.pk)
    response = StreamingHttpResponse(
        _stream(subscription, community, member, after), content_type="text/event-stream; charset=utf-8"
    )
    response["Cache-Control"] = "no-cache, no-store"
    response["X-Accel-Buffering"] = "no"  # nginx: pass each event through at once
    return response


def _stream(
    subscription: live.Subscription, community: Community, member: Member, after: int
) -> Iterator[str]:
    sent: set[int] = set()
    last = after

    def emit(messages: list[Message]) -> Iterator[str]:
        nonlocal last
        for m in messages:
            if m.pk in sent:
                continue
            sent.add(m.pk)
            last = max(last, m.pk)
            yield _sse("message", chat.serialize_message(m), last)

    try:
        yield "retry: 3000\n\n"
        yield from emit(chat.messages_after(community, after))
        start = time.monotonic()
        deadline = start + _stream_seconds()
        next_keepalive = start + _keepalive_seconds()
        next_membership_check = start + _keepalive_seconds()
        poll = None if live.uses_redis() else _poll_seconds()
        next_poll = start + poll if poll else deadline
        while not subscription.closed:
            now = time.monotonic()
            if now >= deadline:
                break
            wait = max(0.05, min(next_keepalive, next_poll, deadline) - now)
            event = subscription.get(timeout=wait)
            if event is not None:
                kind = event.get("type")
                if kind == "message" and isinstance(event.get("message"), dict):
                    message_id = int(event.get("id") or 0)
                    if message_id and message_id not in sent:
                        sent.add(message_id)
                        last = max(last, message_id)
                        yield _sse("message", event["message"], last)
                elif kind == "hidden":
                    yield _sse("hidden", {"id": event.get("id")})
            now = time.monotonic()
            if now >= next_poll:
                yield from emit(chat.messages_after(community, last))
                next_poll = now + (poll or _stream_seconds())
            if now >= next_membership_check:
                if not CommunityMembership.objects.filter(
                    community=community, member=member, status=CommunityMembership.Status.ACTIVE
                ).exists():
                    yield _sse("gone", {})
                    break
                next_membership_check = now + _keepalive_seconds()
            if now >= next_keepalive:
                yield ": keepalive\n\n"
                next_keepalive = now + _keepalive_seconds()
    finally:
        subscription.close()
