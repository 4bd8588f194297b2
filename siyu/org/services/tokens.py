"""Staff API tokens: created once (the secret is shown only then), stored as a hash, revocable."""

from __future__ import annotations

import hashlib
import secrets

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.common.errors import NotFound, ValidationFailed
from siyu.org.models import ApiToken, Staff
from siyu.org.services.access import require_staff
from siyu.org.services.audit import record_audit

TOKEN_PREFIX = "sy_"  # noqa: S105 -- a public marker that makes leaked tokens easy to scan for, not a secret


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@transaction.atomic
def create_token(staff: Staff, name: str) -> tuple[ApiToken, str]:
    """Create a token for ``staff``; returns (token row, secret). The secret is not stored."""
    require_staff(staff)
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise ValidationFailed(_("Give the token a name of at most 100 characters."), field="name")
    key = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(staff=staff, name=name, prefix=key[:10], key_hash=_hash(key))
    record_audit(staff, "token.create", target_type="api_token", target_id=token.pk, detail={"name": name})
    return token, key


@transaction.atomic
def revoke_token(staff: Staff, token_id: int) -> ApiToken:
    """Revoke one of ``staff``'s own tokens (HQ admins may revoke anyone's). Idempotent."""
    require_staff(staff)
    qs = ApiToken.objects.select_for_update()
    if not (staff.is_superuser or staff.role == "hq_admin"):
        qs = qs.filter(staff=staff)
    token = qs.filter(pk=token_id).first()
    if token is None:
        raise NotFound(_("No such token."), field="token")
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        record_audit(staff, "token.revoke", target_type="api_token", target_id=token.pk)
    return token


def authenticate_token(key: str) -> ApiToken | None:
    """The unrevoked token ``key`` (with its active ``staff`` loaded), or None."""
    if not key or not key.startswith(TOKEN_PREFIX) or len(key) > 200:
        return None
    token = (
        ApiToken.objects.select_related("staff")
        .filter(key_hash=_hash(key), revoked_at__isnull=True, staff__is_active=True)
        .first()
    )
    if token is None:
        return None
    now = timezone.now()
    # Touch last_used_at at most once a minute: a hot token should not write on every request.
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token
