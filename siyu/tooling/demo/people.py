"""Random draws the demo generators share: people's names, unique mobile numbers, weighted picks and
date arithmetic that keeps the data the same from one day to the next."""

from __future__ import annotations

import random
from bisect import bisect_right
from datetime import date, datetime

from django.utils import timezone

from siyu.members.models import Gender
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
