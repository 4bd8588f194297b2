"""Payment codes (付款码) a member shows at the counter to pay with stored value.

- **What.** 18 digits (``66`` then 16 random digits from a CSPRNG: 10¹⁶ codes), shown as a QR and grouped
  for reading (``6612 3456 7890 1234 56``). The clerk may scan or type it; spaces and dashes do not matter.
- **Stored.** Only an HMAC-SHA256 of the digits keyed with the secret key (``code_hash``): someone reading the
  database can neither use a live code nor test guesses offline.
- **Short-lived, single use.** A code works for ``CODE_TTL`` (60 s) after it was issued and once: the counter
  claims it with one conditional UPDATE (``used_at IS NULL AND expires_at > now``,
  ``siyu.loyalty.services.balance_counter``). The member's page asks for a fresh code before the old one runs
  out (htmx); codes already shown stay valid until they expire, so a clerk typing one is not cut off.
- **Issuing is limited** to ``MAX_CODES_PER_WINDOW`` codes per member in ``ISSUE_WINDOW`` (a page left open
  refreshes about once a minute); more answers RateLimited.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.common.errors import NotFound, RateLimited
from siyu.loyalty.models import BalancePayCode
from siyu.loyalty.services.stored_value import SvBalance, balance_of
from siyu.members.models import Member

PREFIX = "66"
CODE_LENGTH = 18
CODE_TTL = timedelta(seconds=60)
REFRESH_SECONDS = 45  # the member's page fetches a fresh code this often (before the shown one expires)
ISSUE_WINDOW = timedelta(minutes=10)
MAX_CODES_PER_WINDOW = 30
_IGNORED = str.maketrans("", "", " -\u2010\u2011\u2012\u2013\u2014\u3000\t")


@dataclass(frozen=True)
class IssuedCode:
    code: str  # the 18 digits (QR content); never stored
    expires_at: datetime
    balance: SvBalance

    @property
    def grouped(self) -> str:
        return " ".join(self.code[i : i + 4] for i in range(0, len(self.code), 4))


def code_hash(code: str) -> str:
    key = hashlib.sha256(("siyu.loyalty.pay-code:" + settings.SECRET_KEY).encode()).digest()
    return hmac.new(key, code.encode(), hashlib.sha256).hexdigest()


def normalise_code(raw: object) -> str | None:
    """What a clerk typed or scanned, as a payment code (digits only), or None when it cannot be one."""
    if not isinstance(raw, str) or len(raw) > 4 * CODE_LENGTH:
        return None
    code = raw.translate(_IGNORED)
    if len(code) != CODE_LENGTH or not code.isascii() or not code.isdigit() or not code.startswith(PREFIX):
        return None
    return code


def might_be_pay_code(raw: object) -> bool:
    return normalise_code(raw) is not None


def _draw() -> str:
    return PREFIX + "".join(secrets.choice("0123456789") for _ in range(CODE_LENGTH - len(PREFIX)))


def issue_code(member: Member, *, now: datetime | None = None) -> IssuedCode:
    """A fresh payment code for ``member`` (see module). NotFound for an erased member; RateLimited when the
    member asked for too many codes lately."""
    if member.erased_at is not None:
        raise NotFound(_("No such member."), field="member")
    now = now or timezone.now()
    recent = BalancePayCode.objects.filter(member=member, created_at__gt=now - ISSUE_WINDOW).count()
    if recent >= MAX_CODES_PER_WINDOW:
        raise RateLimited(_("Too many payment codes; wait a few minutes."), field="code")
    code = _draw()
    BalancePayCode.objects.create(
        brand_id=member.brand_id,
        member=member,
        code_hash=code_hash(code),
        created_at=now,
        expires_at=now + CODE_TTL,
    )
    return IssuedCode(code=code, expires_at=now + CODE_TTL, balance=balance_of(member, now=now))
