"""Member sign-in for the H5 pages: one-time SMS codes, WeChat web authorization, the member session.

Members are not Django users (staff are): a signed-in member is a member id in the session under
``SESSION_KEY``. Codes are kept only as an HMAC with SECRET_KEY, are single-use, expire, and allow a
limited number of attempts; requests are rate-limited per number and per IP from the ``OtpCode`` rows,
so the limits hold across processes.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.http import HttpRequest
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext as _

from siyu.analytics.services.events import record_event
from siyu.channels import wechat_oauth
from siyu.channels.sms import SmsNotConfigured, get_sms_sender
from siyu.common.errors import (
    ChannelUnavailable,
    Conflict,
    NotFound,
    PermissionDenied,
    RateLimited,
    ValidationFailed,
)
from siyu.common.mobile import mask_mobile, normalize_mobile
from siyu.members.models import ChannelIdentity, Member, OtpCode, Source
from siyu.members.services.identities import link_channel_contacts
from siyu.members.services.public_profile import nickname_from_wechat
from siyu.org.services.brand import current_brand_id

logger = logging.getLogger("siyu.signin")

SESSION_KEY = "siyu_member_id"
# WeChat identity info waiting for the member to prove their number (see wechat_sign_in).
WECHAT_PENDING_KEY = "siyu_wechat_pending"
CODE_LENGTH = 6
_HASH_SALT = "siyu.members.signin.otp"


# --- one-time codes ---------------------------------------------------------------------------


def _hash_code(mobile: str, code: str) -> str:
    # Keyed with SECRET_KEY and bound to the number: a leaked table cannot be brute-forced offline
    # without the key, and one code's hash is useless for another number.
    return salted_hmac(_HASH_SALT, f"{mobile}:{code}", algorithm="sha256").hexdigest()


def _new_code() -> str:
    return f"{secrets.randbelow(10**CODE_LENGTH):0{CODE_LENGTH}d}"


def _serialize_on(*keys: str) -> None:
    """Serialise concurrent transactions that check-then-insert for the same keys.

    PostgreSQL: transaction-scoped advisory locks (taken in a fixed order, so no deadlock). SQLite runs
    our transactions as BEGIN IMMEDIATE (settings), which already serialises writers.
    """
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for key in keys:
            lock_id = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [lock_id])


def _check_rate_limits(mobile: str, ip: str | None, now: datetime) -> None:
    hour_ago = now - timedelta(hours=1)
    recent = OtpCode.objects.filter(created_at__gte=hour_ago)
    latest = (
        OtpCode.objects.filter(mobile=mobile).order_by("-created_at").values_list("created_at", flat=True)
    )
    last_at = latest.first()
    interval = timedelta(seconds=settings.SIYU_OTP_MIN_INTERVAL_SECONDS)
    if last_at is not None and now - last_at < interval:
        wait = int((last_at + interval - now).total_seconds()) + 1
        raise RateLimited(
            _("Please wait %(seconds)s seconds before requesting another code.") % {"seconds": wait},
            field="mobile",
        )
    if recent.filter(mobile=mobile).count() >= settings.SIYU_OTP_PER_MOBILE_PER_HOUR:
        raise RateLimited(
            _("Too many codes were requested for this number. Try again in an hour."), field="mobile"
        )
    if ip and recent.filter(ip=ip).count() >= settings.SIYU_OTP_PER_IP_PER_HOUR:
        raise RateLimited(_("Too many codes were requested from your network. Try again later."))


def request_code(mobile_raw: str, *, ip: str | None) -> OtpCode:
    """Send a new 6-digit sign-in code to a mainland mobile number.

    Guarantees: at most ``SIYU_OTP_PER_MOBILE_PER_HOUR`` codes per number and ``SIYU_OTP_PER_IP_PER_HOUR``
    per IP in any hour, at least ``SIYU_OTP_MIN_INTERVAL_SECONDS`` apart per number (RateLimited
    otherwise, nothing sent); only a keyed hash of the code is stored; once the SMS is accepted, earlier
    unused codes for the number stop working. If the provider refuses, ChannelUnavailable is raised and
    no code row is left behind (the attempt does not use up the member's quota). Call it outside any
    transaction: it commits the code before the (slow) provider call.
    """
    mobile = normalize_mobile(mobile_raw)
    try:
        sender = get_sms_sender()
    except SmsNotConfigured as exc:
        logger.error("SMS delivery is not configured: %s", exc)
        raise ChannelUnavailable(_("Text messages cannot be sent at the moment."), field="mobile") from exc

    # Order of operations (why not transaction.on_commit): the row is committed first so that the rate
    # limits, checked under a lock in the same transaction, count it before any other request can pass;
    # the SMS is sent after commit with no lock or transaction held during the HTTP call; a failed send
    # deletes the row again. Sending inside the transaction would hold SQLite's write lock (and the
    # PostgreSQL advisory locks) for up to the provider's timeout; on_commit would swallow the failure
    # after the caller already had its answer.
    code = _new_code()
    now = timezone.now()
    with transaction.atomic():
        _serialize_on(*([f"otp:ip:{ip}"] if ip else []), f"otp:mobile:{mobile}")
        _check_rate_limits(mobile, ip, now)
        otp = OtpCode.objects.create(
            mobile=mobile,
            code_hash=_hash_code(mobile, code),
            ip=ip or None,
            created_at=now,
            expires_at=now + timedelta(seconds=settings.SIYU_OTP_TTL_SECONDS),
        )

    result = sender.send_code(mobile, code)
    if not result.ok:
        OtpCode.objects.filter(pk=otp.pk).delete()
        logger.warning(
            "SMS to %s failed via %s: %s %s",
            mask_mobile(mobile),
            result.provider,
            result.error_code,
            result.error_message,
        )
        raise ChannelUnavailable(
            _("The text message could not be sent. Please try again later."), field="mobile"
        )
    # Only now: had the send failed, the member's previous code would still be the one in their inbox.
    OtpCode.objects.filter(mobile=mobile, used_at__isnull=True, expires_at__gt=now).exclude(pk=otp.pk).update(
        expires_at=now
    )
    return otp


def _wrong_code() -> ValidationFailed:
    return ValidationFailed(_("The code is wrong or has expired. Request a new one."), field="code")


def verify_code(mobile_raw: str, code: str, *, ip: str | None) -> Member:
    """Check a sign-in code and return the member holding the number (created if new).

    Guarantees: a code works once (an atomic conditional UPDATE claims it, so of two concurrent
    verifications exactly one succeeds), only before it expires, and only within ``SIYU_OTP_MAX_ATTEMPTS``
    tries (every try, right or wrong, is counted atomically and that count is kept even when the try is
    refused — the one deliberate exception to "a refused request changes nothing"). Wrong, expired, used
    or exhausted codes raise ValidationFailed(field="code"). A new member gets source h5, the brand and no
    home store; events ``member.created`` (if new) and ``member.signed_in`` are recorded.
    """
    mobile = normalize_mobile(mobile_raw)
    code = "".join((code or "").split())
    if len(code) != CODE_LENGTH or not code.isdigit():
        raise ValidationFailed(_("Enter the 6-digit code from the text message."), field="code")
    now = timezone.now()
    otp = (
        OtpCode.objects.filter(mobile=mobile, used_at__isnull=True, expires_at__gt=now)
        .order_by("-created_at", "-id")
        .first()
    )
    if otp is None:
        raise _wrong_code()
    counted = OtpCode.objects.filter(
        pk=otp.pk, used_at__isnull=True, attempts__lt=settings.SIYU_OTP_MAX_ATTEMPTS
    ).update(attempts=F("attempts") + 1)
    if not counted:
        if OtpCode.objects.filter(pk=otp.pk, used_at__isnull=True).exists():
            raise ValidationFailed(
                _("Too many wrong attempts. Request a new code."), field="code", code="too_many_attempts"
            )
        raise _wrong_code()  # used meanwhile by a concurrent verification
    if not hmac.compare_digest(otp.code_hash, _hash_code(mobile, code)):
        raise _wrong_code()
    with transaction.atomic():
        claimed = OtpCode.objects.filter(pk=otp.pk, used_at__isnull=True, expires_at__gt=now).update(
            used_at=timezone.now()
        )
        if not claimed:
            raise _wrong_code()
        member, created = _member_for_mobile(mobile)
        record_event(
            "member.signed_in", member_id=member.pk, store_id=member.home_store_id, payload={"method": "sms"}
        )
    logger.info("Member %s signed in by SMS code%s", member.pk, " (new)" if created else "")
    return member


def _member_for_mobile(mobile: str) -> tuple[Member, bool]:
    member = Member.objects.select_related("home_store").filter(mobile=mobile).first()
    if member is not None:
        return member, False
    try:
        brand_id = current_brand_id()
    except Conflict:
        raise Conflict(_("Membership is not open yet."), field="mobile") from None
    try:
        with transaction.atomic():
            member = Member.objects.create(
                brand_id=brand_id, mobile=mobile, source=Source.H5, home_store=None
            )
    except IntegrityError:
        # Another sign-in created the member meanwhile (the unique number decides).
        return Member.objects.select_related("home_store").get(mobile=mobile), False
    record_event("member.created", member_id=member.pk, payload={"source": Source.H5})
    return member, True


# --- WeChat web authorization ------------------------------------------------------------------


def wechat_sign_in(
    code: str | None, state: str | None, expected_state: str | None, *, scope: str = wechat_oauth.SCOPE_BASE
) -> tuple[Member | None, dict[str, Any]]:
    """Finish a WeChat authorization callback.

    Checks ``state`` against the one stored before the redirect (CSRF), exchanges the code, refuses
    snapshot-page virtual accounts (PermissionDenied), and finds the member by the WeChat openid or, failing
    that, by the unionid of any of their channel identities (then the openid is linked to them). Returns
    ``(member, info)`` for a known member (event ``member.signed_in``) and ``(None, info)`` for an unknown
    one: the caller asks for the mobile number and, after ``verify_code``, calls ``link_wechat_identity``.
    With ``snsapi_userinfo``, a member without a nickname gets their WeChat nickname (never overwriting one).
    """
    if not expected_state or not state or not hmac.compare_digest(str(state), str(expected_state)):
        raise ValidationFailed(_("The sign-in link has expired. Please try again."), field="state")
    if not code:
        raise ValidationFailed(_("WeChat sign-in was cancelled."), field="code")
    try:
        user = wechat_oauth.authenticate(code, scope=scope)
    except wechat_oauth.WeChatNotConfigured as exc:
        logger.error("WeChat sign-in is not configured: %s", exc)
        raise ChannelUnavailable(_("WeChat sign-in is not available.")) from exc
    except wechat_oauth.WeChatSnapshotUser as exc:
        raise PermissionDenied(
            _("Open this page in WeChat and tap 'Use full service' to sign in."), code="wechat_snapshot_user"
        ) from exc
    except wechat_oauth.WeChatOAuthError as exc:
        if exc.is_bad_code:
            raise ValidationFailed(
                _("The sign-in link has expired. Please try again."), field="code"
            ) from exc
        logger.warning("WeChat sign-in failed: %s", exc)
        raise ChannelUnavailable(_("WeChat could not be reached. Please try again later.")) from exc
    info = user.as_dict()
    with transaction.atomic():
        member = _member_for_wechat(user.openid, user.unionid)
        if member is not None:
            nickname_from_wechat(member, user.nickname)
            record_event(
                "member.signed_in",
                member_id=member.pk,
                store_id=member.home_store_id,
                payload={"method": "wechat"},
            )
    return member, info


def _member_for_wechat(openid: str, unionid: str) -> Member | None:
    identity = (
        ChannelIdentity.objects.select_related("member", "member__home_store")
        .filter(channel=ChannelIdentity.Channel.WECHAT, external_id=openid, member__erased_at__isnull=True)
        .first()
    )
    if identity is not None:
        if unionid and not identity.unionid:
            ChannelIdentity.objects.filter(pk=identity.pk).update(unionid=unionid)
        return identity.member
    if not unionid:
        return None
    # One person has one unionid across the brand's WeChat apps (mini program, WeCom contacts, …).
    member_ids = set(
        ChannelIdentity.objects.filter(unionid=unionid, member__erased_at__isnull=True).values_list(
            "member_id", flat=True
        )
    )
    if len(member_ids) != 1:
        return None  # unknown, or ambiguous: let the member prove their number instead of guessing
    member = Member.objects.select_related("home_store").get(pk=member_ids.pop())
    _link(member, openid, unionid)
    return member


def _link(member: Member, openid: str, unionid: str) -> ChannelIdentity:
    try:
        with transaction.atomic():
            identity = ChannelIdentity.objects.create(
                member=member, channel=ChannelIdentity.Channel.WECHAT, external_id=openid, unionid=unionid
            )
    except IntegrityError:
        identity = ChannelIdentity.objects.get(channel=ChannelIdentity.Channel.WECHAT, external_id=openid)
        if identity.member_id != member.pk:
            raise Conflict(
                _("This WeChat account is already linked to another member."), field="wechat"
            ) from None
        return identity
    record_event(
        "member.identity_linked",
        member_id=member.pk,
        store_id=member.home_store_id,
        payload={"channel": ChannelIdentity.Channel.WECHAT},
    )
    if unionid:
        # WeCom group members seen before this member signed in share the unionid: seat them now.
        transaction.on_commit(lambda: _link_wecom_contacts(member.pk))
    return identity


def _link_wecom_contacts(member_id: int) -> None:
    member = Member.objects.filter(pk=member_id).first()
    if member is not None:
        link_channel_contacts(member)


@transaction.atomic
def link_wechat_identity(member: Member, info: dict[str, Any]) -> ChannelIdentity:
    """Link the WeChat openid in ``info`` (from ``wechat_sign_in``) to ``member``. Idempotent for the same
    member; Conflict if the openid already belongs to another member; the member keeps other openids."""
    openid = str(info.get("openid") or "")
    if not openid:
        raise ValidationFailed(_("WeChat sign-in was cancelled."), field="wechat")
    if member.erased_at:
        raise Conflict(_("This member's data was erased."), field="member")
    existing = ChannelIdentity.objects.filter(
        channel=ChannelIdentity.Channel.WECHAT, external_id=openid
    ).first()
    unionid = str(info.get("unionid") or "")
    if existing is not None:
        if existing.member_id != member.pk:
            raise Conflict(_("This WeChat account is already linked to another member."), field="wechat")
        if unionid and not existing.unionid:
            existing.unionid = unionid
            existing.save(update_fields=["unionid"])
        nickname_from_wechat(member, info.get("nickname"))
        return existing
    identity = _link(member, openid, unionid)
    nickname_from_wechat(member, info.get("nickname"))
    return identity


# --- the member session -------------------------------------------------------------------------


def member_from_session(request: HttpRequest) -> Member | None:
    """The signed-in member, or None. A member erased since signing in is signed out."""
    member_id = request.session.get(SESSION_KEY)
    if member_id is None:
        return None
    member = (
        Member.objects.select_related("home_store")
        .filter(Q(pk=member_id) & Q(erased_at__isnull=True))
        .first()
    )
    if member is None:
        request.session.pop(SESSION_KEY, None)
    return member


def login_member(request: HttpRequest, member: Member) -> None:
    """Sign ``member`` in on this session. The session key changes (no fixation); a staff sign-in on the
    same browser is left alone."""
    if member.pk is None or member.erased_at:
        raise NotFound(_("No such member."), field="member")
    request.session.cycle_key()
    request.session[SESSION_KEY] = member.pk


def logout_member(request: HttpRequest) -> None:
    """Sign the member out of this session (and forget a pending WeChat link)."""
    request.session.pop(SESSION_KEY, None)
    request.session.pop(WECHAT_PENDING_KEY, None)
    request.session.cycle_key()
