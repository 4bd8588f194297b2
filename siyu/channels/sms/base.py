"""The SMS sender interface shared by every provider."""

from __future__ import annotations

import abc
from dataclasses import dataclass

import httpx
from django.core.exceptions import ImproperlyConfigured

# Provider calls sit inside a member's request: fail fast rather than hold a worker.
HTTP_TIMEOUT = httpx.Timeout(10.0, connect=5.0)


class SmsNotConfigured(ImproperlyConfigured):
    """SMS delivery cannot work with the current settings (provider unknown, credentials missing,
    or the console provider outside DEBUG/TESTING)."""


@dataclass(frozen=True)
class SendResult:
    """The outcome of one send. ``ok`` False carries the provider's (or our) error code and message."""

    ok: bool
    provider: str
    message_id: str = ""
    error_code: str = ""
    error_message: str = ""


class SmsSender(abc.ABC):
    """Delivers one-time sign-in codes to mainland mobile numbers."""

    provider: str = ""

    @abc.abstractmethod
    def send_code(self, mobile: str, code: str) -> SendResult:
        """Send ``code`` to the 11-digit ``mobile``. Never raises for delivery failures: a refused or
        unreachable provider comes back as ``SendResult(ok=False, …)``."""

    def _transport_failure(self, exc: Exception) -> SendResult:
        # Timeouts and connection errors are reported like provider refusals so callers handle one shape.
        return SendResult(
            ok=False,
            provider=self.provider,
            error_code="network_error",
            error_message=f"{type(exc).__name__}: {exc}",
        )


def require_config(provider: str, config: dict[str, str], keys: dict[str, str]) -> None:
    """Raise SmsNotConfigured naming the environment variables for every empty entry of ``keys``."""
    missing = [env for key, env in keys.items() if not config.get(key)]
    if missing:
        raise SmsNotConfigured(f"SMS provider {provider!r} needs {', '.join(missing)} (see docs/sign-in.md).")
