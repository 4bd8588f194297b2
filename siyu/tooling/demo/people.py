"""Random draws the demo generators share: people's names, nicknames and generated avatars, unique mobile
numbers, weighted picks and date arithmetic that keeps the data the same from one day to the next."""

from __future__ import annotations

import random
from bisect import bisect_right
from datetime import date, datetime

from django.utils import timezone

from siyu.members.models import Gender
from siyu.members.services.public_profile import initials_picture
from siyu.tooling.demo.data import (
    FEMALE_GIVEN,
    MALE_GIVEN,
    MOBILE_PREFIXES,
    OLDER_FEMALE_GIVEN,
    OLDER_MALE_GIVEN,
    SURNAME_WEIGHTS,
    SURNAMES,
)


def weighted_index(rng: random.Random, cumulative: list[float]) -> int:
    """An index into ``cumulative`` (running totals of weights), drawn by weight."""
    return min(bisect_right(cumulative, rng.random() * cumulative[-1]), len(cumulative) - 1)


def person_name(rng: random.Random, gender: str, age: int | None) -> str:
    """A Chinese full name fitting ``gender`` and ``age`` (older people often have older given names)."""
    surname = rng.choices(SURNAMES, weights=SURNAME_WEIGHTS)[0]
    female = gender == Gender.FEMALE or (gender == Gender.UNKNOWN and rng.random() < 0.5)
    if age is not None and age >= 50 and rng.random() < 0.7:
        given = rng.choice(OLDER_FEMALE_GIVEN if female else OLDER_MALE_GIVEN)
    else:
        given = rng.choice(FEMALE_GIVEN if female else MALE_GIVEN)
    return surname + given


def mobile(rng: random.Random, used: set[str]) -> str:
    """A mobile number with a real carrier prefix, not in ``used`` (and added to it)."""
    while True:
        number = rng.choice(MOBILE_PREFIXES) + f"{rng.randrange(100_000_000):08d}"
        if number not in used:
            used.add(number)
            return number


def below(rng: random.Random, n: int) -> int:
    """A number in [0, n) drawing exactly one value from ``rng`` whatever ``n`` is.

    ``randrange`` draws a varying number of bits depending on ``n``; where ``n`` depends on today's
    date that would shift every later draw and make the data differ from one day to the next.
    """
    return min(int(rng.random() * n), n - 1) if n > 0 else 0


def years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def local(day: date, hour: int, minute: int, second: int) -> datetime:
    """That local time of ``day``, timezone-aware."""
    return timezone.make_aware(datetime(day.year, day.month, day.day, hour, minute, second))


# Nicknames members choose, with the initials their generated avatar shows (Pillow's built-in font has no
# Chinese characters, so a Chinese nickname comes with its pinyin initials).
NICKNAMES: tuple[tuple[str, str], ...] = (
    ("小鹿", "XL"),
    ("晴天", "QT"),
    ("咖啡不加糖", "KF"),
    ("阿杰", "AJ"),
    ("橙子", "CZ"),
    ("Lily", "L"),
    ("Coco", "C"),
    ("Leo", "L"),
    ("大白", "DB"),
    ("木木", "MM"),
    ("花生酱", "HS"),
    ("周末去露营", "ZM"),
    ("慢慢", "MM"),
    ("Amy", "A"),
    ("Kevin", "K"),
    ("小满", "XM"),
    ("一颗柠檬", "YK"),
    ("青柚", "QY"),
    ("团团妈", "TT"),
    ("豆豆爸", "DD"),
    ("喵小姐", "MX"),
    ("老陈", "LC"),
    ("小雨", "XY"),
    ("Anna", "A"),
    ("Jay", "J"),
    ("爱吃草莓", "AC"),
    ("云朵", "YD"),
    ("星星", "XX"),
    ("知足常乐", "ZZ"),
    ("阿宝", "AB"),
    ("Sunny", "S"),
    ("Momo", "M"),
    ("暖暖", "NN"),
    ("栗子", "LZ"),
    ("一米阳光", "YM"),
    ("小熊", "XX"),
)
NICKNAME_SHARE = 0.6
AVATAR_COLOURS = ("#2f6f8f", "#8f4a2f", "#2f8f5b", "#6a2f8f", "#8f2f5f", "#4a5d23", "#23575d", "#7a5c12")


def nickname_for(mobile_number: str) -> tuple[str, str]:
    """A member's demo nickname and its initials, or ("", "") for the members without one (about 40 %).

    Drawn from the member's own mobile number, not the demo's random stream, so adding nicknames changed
    no other generated value."""
    rng = random.Random(f"nickname:{mobile_number}")
    if rng.random() >= NICKNAME_SHARE:
        return "", ""
    return rng.choice(NICKNAMES)


def avatar_png(initials: str, key: str) -> bytes:
    """A demo avatar: ``initials`` in white on a colour chosen by ``key``."""
    return initials_picture(initials, AVATAR_COLOURS[sum(key.encode()) % len(AVATAR_COLOURS)])
