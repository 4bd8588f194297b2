"""H5 "enter the group" page (``/h5/g/<id>/``): how a member gets into a WeCom or Telegram group Siyu seated
them in — the group's QR code, a personal invite link, or a "being prepared" note with a retry.

A thin caller of ``siyu.communities.services.entry``. Only members of the group see it (404 otherwise);
web groups go straight to the chat.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.http import Http404, HttpRequest
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from siyu.common.errors import ChannelUnavailable, NotFound
from siyu.communities.services import entry as entries
from siyu.members.services import signin
from siyu.org.services.brand import brand_name

# How long the browser waits before retrying by itself while the group or its QR is being prepared.
PENDING_REFRESH_SECONDS = 60


@never_cache
@require_GET
def enter(request: HttpRequest, community_id: int) -> HttpResponseBase:
    """The group card and the way in for the signed-in member (sign-in first, with ``next``)."""
    member = signin.member_from_session(request)
    if member is None:
        return redirect(f"{reverse('h5:login')}?{urlencode({'next': request.get_full_path()})}")
    try:
        community, _membership = entries.member_group(community_id, member)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    context = {"brand_name": brand_name(), "community": community, "refresh": PENDING_REFRESH_SECONDS}
    try:
        way_in = entries.channel_entry(community, member)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    except ChannelUnavailable as exc:
        # The member gets the page with the reason and a retry button, not a server error.
        response = render(request, "h5/entry.html", {**context, "error": exc.message}, status=exc.status)
        response["Retry-After"] = str(PENDING_REFRESH_SECONDS)
        return response
    if way_in.kind == entries.WEB:
        return redirect(way_in.url)
    return render(request, "h5/entry.html", {**context, "entry": way_in})


def entry_url(community_id: int) -> str:
    """The "enter the group" page of a group (``/h5/g/<id>/``)."""
    return reverse("h5:entry", args=[community_id])
