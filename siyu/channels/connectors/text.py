"""Text within a provider's byte limits (WeCom counts UTF-8 bytes)."""

from __future__ import annotations


def truncate_utf8(text: str, limit: int, *, ellipsis: str = "…") -> str:
    """``text`` cut to at most ``limit`` UTF-8 bytes at a character boundary, marked with ``ellipsis``."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    room = limit - len(ellipsis.encode("utf-8"))
    if room <= 0:
        return data[:limit].decode("utf-8", "ignore")
    # "ignore" drops the partial multi-byte character the byte cut may leave at the end.
    return data[:room].decode("utf-8", "ignore") + ellipsis
