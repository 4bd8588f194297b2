"""Strict request parsing: JSON bodies must say they are JSON, uploads must be multipart."""

from __future__ import annotations

import json
import re
from typing import Any, cast

from django.http import HttpRequest
from django.utils.datastructures import MultiValueDict
from django.utils.translation import gettext as _
from ninja.parser import Parser

from siyu.api.errors import MalformedJson, UnsupportedMediaType
from siyu.common.errors import ValidationFailed

# PostgreSQL text cannot hold NUL, and a lone surrogate (legal as a JSON "\ud800" escape) cannot be
# encoded as UTF-8 at all; no legitimate text needs either, so both are refused at the door.
_BAD_TEXT = re.compile(r"[\x00\ud800-\udfff]")


def _reject_constant(name: str) -> Any:
    # NaN and Infinity are not JSON; Python's json module accepts them unless told otherwise.
    raise ValueError(f"{name} is not valid JSON")


def _find_bad_text(value: Any, path: tuple[str, ...] = ()) -> tuple[str, ...] | None:
    """Where text that cannot be stored hides in parsed JSON (keys included), or None.

    Iterative, because the JSON may be nested as deep as the parser allowed."""
    stack: list[tuple[Any, tuple[str, ...]]] = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            if _BAD_TEXT.search(item):
                return where
        elif isinstance(item, dict):
            for k, v in item.items():
                if _BAD_TEXT.search(k):
                    return where
                stack.append((v, (*where, k)))
        elif isinstance(item, list):
            stack.extend((v, (*where, str(i))) for i, v in enumerate(item))
    return None


def _refuse_bad_text(where: tuple[str, ...]) -> ValidationFailed:
    return ValidationFailed(
        _("Text may not contain NUL characters or unpaired surrogates."), field=".".join(where) or None
    )


def _is_json(content_type: str) -> bool:
    return content_type == "application/json" or (
        content_type.startswith("application/") and content_type.endswith("+json")
    )


class StrictJsonParser(Parser):
    def parse_body(self, request: HttpRequest) -> dict[str, Any]:
        content_type = getattr(request, "content_type", None)
        # ninja re-enters here with a bare HttpRequest (content_type None) for multipart fields.
        if content_type is not None and not _is_json(content_type):
            raise UnsupportedMediaType(
                _("Send the body as JSON with Content-Type: application/json."), field="Content-Type"
            )
        try:
            data = json.loads(request.body, parse_constant=_reject_constant)
        except (ValueError, RecursionError):  # includes JSONDecodeError and UnicodeDecodeError
            raise MalformedJson(_("The request body is not valid JSON (UTF-8).")) from None
        where = _find_bad_text(data)
        if where is not None:
            raise _refuse_bad_text(where)
        return cast(dict[str, Any], data)

    def parse_querydict(
        self, data: MultiValueDict, list_fields: list[str], request: HttpRequest
    ) -> dict[str, Any]:
        # ninja reads file parameters from request.FILES, which is silently empty unless the body is
        # multipart: say what is wrong instead of "field required".
        if (
            request.method not in ("GET", "HEAD", "OPTIONS")
            and data is getattr(request, "_files", None)
            and not (request.content_type or "").startswith("multipart/form-data")
        ):
            raise UnsupportedMediaType(_("Upload the file as multipart/form-data."), field="Content-Type")
        for key, values in data.lists():
            if _BAD_TEXT.search(key) or any(isinstance(v, str) and _BAD_TEXT.search(v) for v in values):
                raise _refuse_bad_text((key,))
        return super().parse_querydict(data, list_fields, request)
