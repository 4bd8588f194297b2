"""Locale: Chinese first.

Django's LocaleMiddleware follows the browser's Accept-Language, so a store clerk whose phone is set
to English would get English. Siyu is zh-Hans first: the language is the one the user chose with the
language switch (Django's language cookie), else ``settings.LANGUAGE_CODE``.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from django.middleware.locale import LocaleMiddleware
from django.utils import translation


class ChineseFirstLocaleMiddleware(LocaleMiddleware):
    def process_request(self, request: HttpRequest) -> None:
        chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)
        language = chosen if chosen and translation.check_for_language(chosen) else settings.LANGUAGE_CODE
        language = translation.get_supported_language_variant(language)
        translation.activate(language)
        request.LANGUAGE_CODE = translation.get_language()
