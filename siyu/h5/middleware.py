"""H5 middleware: links Siyu posts in groups carry ``?g=<group id>``; opening one is an activity signal.

On channels where Siyu cannot read messages (WeCom customer groups), opening a card or link posted in the
group is one of the few things Siyu sees a member do. Cards are tagged when they are dispatched
(``communities.services.dispatch`` → ``activity.tag_link``); this middleware records the open
(``activity.record_link_open``: once per member, group, page and day; only for active members of that group)
for any member page, before the page itself runs. A visitor not signed in is sent to sign in with the full
address as ``next``, so the open is recorded when they arrive.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from siyu.communities.services import activity
from siyu.members.services import signin

H5_PREFIX = "/h5/"


class GroupLinkOpenMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method == "GET" and "g" in request.GET and request.path.startswith(H5_PREFIX):
            member = signin.member_from_session(request)
            if member is not None:
                activity.record_link_open(member, request.GET.get("g"), request.path)
        return self.get_response(request)
