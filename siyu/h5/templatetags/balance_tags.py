"""Template filters of the H5 balance pages: ``{{ fen|yuan }}`` → ``123.45``."""

from __future__ import annotations

from django import template

from siyu.common.validators import fen_to_yuan

register = template.Library()


@register.filter
def yuan(fen: int | None) -> str:
    return fen_to_yuan(fen)
