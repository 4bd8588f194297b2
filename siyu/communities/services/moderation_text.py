"""The text rules of group moderation: forbidden words, external links and contact details in a message.

Pure functions on text (no database): full-width characters are normalised and case folded first, and
separators spammers put between characters ("代 购", "微.信") are ignored. See docs/moderation.md.
"""

from __future__ import annotations

import re
import unicodedata


def normalize_text(text: str) -> str:
    """Full-width → half-width (NFKC) and case-folded, so ＡＢＣ, abc and ABC compare equal."""
    return unicodedata.normalize("NFKC", text or "").casefold()


def squeeze(normalized: str) -> str:
    """Only the letters, digits and CJK characters of ``normalized`` text.

    Spammers split words with spaces, dots or emoji ("代 购", "微.信"); squeezing defeats that, and makes
    "全场五折！" and "全场五折" the same message.
    """
    return "".join(ch for ch in normalized if ch.isalnum())


def match_keyword(text: str, keywords: tuple[str, ...] | list[str]) -> str | None:
    """The first forbidden keyword found in ``text`` (case/width-insensitive, ignoring separators)."""
    norm = normalize_text(text)
    squeezed = squeeze(norm)
    for kw in keywords:
        k = normalize_text(kw).strip()
        if not k:
            continue
        if k in norm or squeeze(k) in squeezed:
            return kw
    return None


_TLDS = (
    "com|cn|net|org|cc|co|io|me|top|xyz|vip|shop|info|biz|tv|link|site|online|club|app|ink|wang|ltd|pub|"
    "live|store|tech|fun|icu|ai|hk|tw|mo|jp|kr|uk|us|ru|de|mobi|pro|asia|work|life|cloud|red|kim|love|"
    "group|xin|ren|gov|edu|so|ly|gl|gd|to|in"
)
_URL_RE = re.compile(r"(?:https?|ftp)://([^\s/?#:]+)", re.IGNORECASE)
_DOMAIN_RE = re.compile(
    rf"(?<![a-z0-9@.-])((?:[a-z0-9](?:[a-z0-9-]{{0,61}}[a-z0-9])?\.)+(?:{_TLDS}))(?![a-z0-9-])",
    re.IGNORECASE,
)
# "abc。com" (ideographic full stop) is read as "abc.com".
_IDEOGRAPHIC_DOT_RE = re.compile(r"(?<=[a-z0-9])。(?=[a-z])")


def find_external_link(text: str, allowed_hosts: list[str] | tuple[str, ...] | None = None) -> str | None:
    """The first link host in ``text`` that is not one of ``allowed_hosts`` (or their subdomains).

    Recognises http(s) URLs, ``www.`` hosts and bare domains such as ``abc.com`` or ``t.cn/xyz`` inside
    Chinese text; full-width characters are normalised first.
    """
    norm = _IDEOGRAPHIC_DOT_RE.sub(".", normalize_text(text))
    allowed = [h.strip().lower().lstrip(".") for h in (allowed_hosts or ()) if h and h.strip()]
    hosts = [m.group(1) for m in _URL_RE.finditer(norm)]
    hosts += [m.group(1) for m in _DOMAIN_RE.finditer(_URL_RE.sub(" ", norm))]
    for host in hosts:
        host = host.lower().rstrip(".")
        if not any(host == a or host.endswith("." + a) for a in allowed):
            return host
    return None


_MOBILE_IN_TEXT_RE = re.compile(r"(?<!\d)(?:\+?86)?1[3-9]\d{9}(?!\d)")
_DIGIT_GAP_RE = re.compile(r"(?<=\d)[\s\-_.·()（）]+(?=\d)")
_WECHAT_RE = re.compile(
    r"(?:微信|威信|薇信|徽信|v信|vx|wx|weixin|wechat|加我|加v|qq|扣扣|企鹅)"
    r"[\s:：号是为=]*"
    r"([a-z][-_a-z0-9]{5,19}|\d{5,12})",
    re.IGNORECASE,
)
_EMAIL_RE = re.compile(r"[a-z0-9._%+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)+", re.IGNORECASE)


def find_contact(text: str) -> str | None:
    """A phone number, WeChat/QQ id offer or e-mail address in ``text`` (the matched fragment), or None.

    11-digit mainland mobiles are found even when split by spaces or dashes; WeChat ids are an id-like token
    (a letter then 5–19 letters/digits/_/-, or 5–12 digits) after 微信 / vx / V信 / wx / 加我 / QQ.
    """
    norm = normalize_text(text)
    joined = _DIGIT_GAP_RE.sub("", norm)
    for regex, source in ((_MOBILE_IN_TEXT_RE, joined), (_WECHAT_RE, norm), (_EMAIL_RE, norm)):
        m = regex.search(source)
        if m:
            return m.group(0)
    return None
