"""Checking one row of a member file without the database: mobile number, name, gender, birthday, store
code and tags, each problem recorded with its spreadsheet row number and column.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.common.errors import ValidationFailed
from siyu.common.mobile import normalize_mobile
from siyu.members.models import Gender
from siyu.members.services.import_columns import COLUMNS, TEMPLATE_HEADERS
from siyu.members.services.import_files import cell_text

MAX_REPORTED_ERRORS = 1000
MAX_TAG_LENGTH = 50

GENDER_VALUES: dict[str, str] = {
    "m": Gender.MALE,
    "male": Gender.MALE,
    "男": Gender.MALE,
    "f": Gender.FEMALE,
    "female": Gender.FEMALE,
    "女": Gender.FEMALE,
    "u": Gender.UNKNOWN,
    "unknown": Gender.UNKNOWN,
    "未知": Gender.UNKNOWN,
    "保密": Gender.UNKNOWN,
}

_TAG_SPLIT_RE = re.compile(r"[;；,，|、]")
_GROUP_SPLIT_RE = re.compile(r"[/／]")
_DATE_RE = re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?(?:[ T]00:00(?::00)?)?$")
_COMPACT_DATE_RE = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_SCIENTIFIC_RE = re.compile(r"^\d(?:\.\d+)?[eE]\+?\d+$")


@dataclass
class ImportRow:
    """One checked data row (``number`` is its spreadsheet row); cells that failed a check stay empty."""

    number: int
    mobile: str = ""
    name: str = ""
    gender: str = ""
    birthday: date | None = None
    store_code: str = ""
    tags: list[tuple[str | None, str]] = field(default_factory=list)


class RowErrors:
    """Row problems in the order found; the total is kept even past the reporting cap."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        # The file's own header per column (set from the parsed header row): errors name what the person
        # sees in their spreadsheet, e.g. “会员手机号”, not Siyu's internal column name.
        self.headers: dict[str, str] = {}

    def add(self, row: int, column: str, reason: str) -> None:
        header = self.headers.get(column) or _default_header(column)
        self.items.append({"row": row, "column": column, "header": header, "reason": str(reason)})

    def __bool__(self) -> bool:
        return bool(self.items)

    def report(self) -> list[dict[str, Any]]:
        items = sorted(self.items, key=lambda e: (e["row"], COLUMNS.index(e["column"])))
        if len(items) <= MAX_REPORTED_ERRORS:
            return items
        rest = len(items) - MAX_REPORTED_ERRORS
        return [
            *items[:MAX_REPORTED_ERRORS],
            {
                "row": None,
                "column": "",
                "reason": _("…and %(count)d more problems not listed.") % {"count": rest},
            },
        ]


def _parse_birthday(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
        if number.is_integer() and 19000101 <= number <= 29991231:
            value = str(int(number))  # YYYYMMDD typed into a numeric cell
        elif 1 <= number < 2958466:
            from openpyxl.utils.datetime import from_excel

            # An Excel date serial that lost its date format.
            converted: datetime = from_excel(number)
            return converted.date()
        else:
            raise ValueError
    text = cell_text(value)
    match = _DATE_RE.match(text) or _COMPACT_DATE_RE.match(text)
    if not match:
        raise ValueError
    year, month, day = (int(part) for part in match.groups())
    return date(year, month, day)


def _parse_tags(text: str) -> list[tuple[str | None, str]]:
    """[(group or None for a bare name, tag)…]; raises ValueError with a reason."""
    tags: list[tuple[str | None, str]] = []
    for token in _TAG_SPLIT_RE.split(text):
        token = token.strip()
        if not token:
            continue
        parts = _GROUP_SPLIT_RE.split(token)
        if len(parts) > 2 or any(not p.strip() for p in parts):
            raise ValueError(_("“%(tag)s” is not a tag; write tag or group/tag.") % {"tag": token})
        names = [p.strip() for p in parts]
        if any(len(n) > MAX_TAG_LENGTH for n in names):
            raise ValueError(
                _("Tag “%(tag)s” is too long (%(max)d characters at most).")
                % {"tag": token, "max": MAX_TAG_LENGTH}
            )
        pair: tuple[str | None, str] = (names[0], names[1]) if len(names) == 2 else (None, names[0])
        if pair not in tags:
            tags.append(pair)
    return tags


def _default_header(column: str) -> str:
    """The import template's header for ``column`` (for a column the file does not have)."""
    if column in COLUMNS:
        return TEMPLATE_HEADERS[COLUMNS.index(column)]
    return column


def check_cells(number: int, cells: list[Any], columns: dict[str, int], errors: RowErrors) -> ImportRow:
    """Checks that need no database; problems go to ``errors`` (under the file's own header names when
    ``columns`` is the ``ColumnMap`` from ``parse_file``)."""
    row = ImportRow(number=number)
    errors.headers.update(getattr(columns, "headers", {}))

    def cell(column: str) -> Any:
        index = columns.get(column)
        return cells[index] if index is not None and index < len(cells) else None

    raw_mobile = cell_text(cell("mobile"))
    if not raw_mobile:
        errors.add(number, "mobile", _("Mobile number is required."))
    elif _SCIENTIFIC_RE.match(raw_mobile):
        errors.add(
            number,
            "mobile",
            _("Excel turned this number into scientific notation; format the column as text and retype it."),
        )
    else:
        try:
            row.mobile = normalize_mobile(raw_mobile)
        except ValidationFailed as exc:
            errors.add(number, "mobile", exc.message)

    name = cell_text(cell("name"))
    if len(name) > 1 and name[0] == "'" and name[1] in "=+-@":
        name = name[1:]  # undo the formula guard our own export adds
    if len(name) > 50:
        errors.add(number, "name", _("Name is too long (50 characters at most)."))
    row.name = name

    gender = cell_text(cell("gender"))
    if gender:
        code = GENDER_VALUES.get(gender.lower()) or _gender_labels().get(gender.lower())
        if code is None:
            errors.add(number, "gender", _("Gender must be 男/女/未知 (or m/f/u)."))
        else:
            row.gender = code

    birthday = cell("birthday")
    if cell_text(birthday):
        try:
            row.birthday = _parse_birthday(birthday)
        except (ValueError, OverflowError):
            errors.add(
                number, "birthday", _("Birthday must be a date like 1990-05-01, 1990/05/01 or 19900501.")
            )
        else:
            if row.birthday > timezone.localdate():
                errors.add(number, "birthday", _("Birthday is in the future."))
                row.birthday = None
            elif row.birthday < date(1900, 1, 1):
                errors.add(number, "birthday", _("Birthday is out of range."))
                row.birthday = None

    row.store_code = cell_text(cell("store_code"))

    tags = cell_text(cell("tags"))
    if tags:
        try:
            row.tags = _parse_tags(tags)
        except ValueError as exc:
            errors.add(number, "tags", str(exc))
    return row


def _gender_labels() -> dict[str, str]:
    return {str(label).lower(): value for value, label in Gender.choices}
