"""Typed errors raised by services.

Every service raises one of these for a request it refuses; the API turns them into
``{"code", "message", "field"}`` with the class's HTTP status, the console into a message
or a 403/404 page. A service that raises has changed nothing (it runs in one transaction).
"""

from __future__ import annotations


class ServiceError(Exception):
    """Base: a refused request. ``code`` is stable and machine-readable."""

    status = 400
    code = "invalid"

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        if code:
            self.code = code

    def as_dict(self) -> dict[str, str | None]:
        return {"code": self.code, "message": str(self.message), "field": self.field}


class ValidationFailed(ServiceError):
    status = 400
    code = "invalid"


class NotAuthenticated(ServiceError):
    status = 401
    code = "not_authenticated"


class PermissionDenied(ServiceError):
    status = 403
    code = "forbidden"


class NotFound(ServiceError):
    status = 404
    code = "not_found"


class Conflict(ServiceError):
    status = 409
    code = "conflict"


class RateLimited(ServiceError):
    status = 429
    code = "rate_limited"


class ChannelUnavailable(ServiceError):
    """An outside service (SMS provider, WeChat, WeCom…) refused or could not be reached.

    Not the caller's fault, so not a 4xx: the request may be retried later.
    """

    status = 502
    code = "channel_unavailable"
