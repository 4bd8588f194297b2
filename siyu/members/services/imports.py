"""Member import from a POS export (CSV or XLSX) and member list export.

Import is all-or-nothing per file: every row is checked first; if one is wrong nothing is written
and the ``MemberImport`` row lists each problem by spreadsheet row number (header = row 1) and
column. A good file is applied in one transaction with bulk statements, and re-importing the same
file changes nothing (upsert by mobile number).
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import zipfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Prefetch, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.analytics.models import Event
from siyu.analytics.services.events import bulk_record_events
from siyu.common.errors import Conflict, ValidationFailed
from siyu.common.mobile import mask_mobile, normalize_mobile
from siyu.members.models import AgeBand, Gender, Member, MemberImport, MemberTag, Source, Tag, TagGroup
from siyu.members.services.profiles import MemberFilter, age_band_for, filter_members
from siyu.org.models import Brand, Staff, Store
from siyu.org.services.access import can_reveal_mobile, check_capability, has_capability, store_scope
from siyu.org.services.audit import record_audit

MAX_FILE_BYTES = 10 * 1024 * 1024
MAX_ROWS = 20_000
# Rows read including blank ones; a sheet can declare a million empty rows.
MAX_SCANNED_ROWS = 5 * MAX_ROWS
# Uncompressed size allowed inside an XLSX: a 10 MB zip must not expand into gigabytes (zip bomb).
MAX_XLSX_UNCOMPRESSED = 200 * 1024 * 1024
# Columns read from a sheet; a POS export has a few dozen at most.
MAX_COLUMNS = 200
MAX_REPORTED_ERRORS = 1000
MAX_TAG_LENGTH = 50
# Bare tag names (no "group/") that do not exist yet are created in this group. Stored data, not UI text.
IMPORT_TAG_GROUP = "导入"
BATCH_SIZE = 1000
# Keeps IN (...) lists under SQLite's bound-parameter limit.
LOOKUP_CHUNK = 900

CSV_CONTENT_TYPE = "text/csv; charset=utf-8"
XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

COLUMNS = ("mobile", "name", "gender", "birthday", "store_code", "tags")
# Header spellings accepted per column, compared after _header_key() (lower case, no spaces/_/-).
HEADER_ALIASES: dict[str, tuple[str, ...]] = {
    "mobile": (
        "mobile",
        "mobilephone",
        "mobileno",
        "phone",
        "cellphone",
        "手机号",
        "手机",
        "手机号码",
        "会员手机号",
    ),
    "name": ("name", "membername", "姓名", "会员姓名", "名字"),
    "gender": ("gender", "sex", "性别"),
    "birthday": ("birthday", "birthdate", "dateofbirth", "dob", "生日", "出生日期"),
    "store_code": ("storecode", "store", "门店编码", "门店代码", "门店编号", "所属门店编码"),
    "tags": ("tags", "tag", "标签"),
}
TEMPLATE_HEADERS = ("手机号", "姓名", "性别", "生日", "门店编码", "标签")
TEMPLATE_EXAMPLE = ("13800138000", "张三", "女", "1990-05-01", "A001", "兴趣/咖啡;新客")

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
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass
class _Row:
    number: int
    mobile: str = ""
    name: str = ""
    gender: str = ""
    birthday: date | None = None
    store_code: str = ""
    tags: list[tuple[str | None, str]] = field(default_factory=list)


class _Rejected(Exception):
    def __init__(self, errors: list[dict[str, Any]], row_count: int) -> None:
        super().__init__("rejected")
        self.errors = errors
        self.row_count = row_count


class _Errors:
    """Row problems in the order found; the total is kept even past the reporting cap."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def add(self, row: int, column: str, reason: str) -> None:
        self.items.append({"row": row, "column": column, "reason": str(reason)})

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


# --- reading files ------------------------------------------------------------------------------


def _file_error(message: str) -> ValidationFailed:
    return ValidationFailed(message, field="file")


def _header_key(value: Any) -> str:
    text = _cell_text(value).lstrip("\ufeff").lower()
    # "手机号*" or "生日(YYYY-MM-DD)": required markers and hints are not part of the name.
    text = re.split(r"[(（]", text, maxsplit=1)[0]
    return re.sub(r"[\s_\-*:：]", "", text)


def _header_lookup() -> dict[str, str]:
    lookup = {alias: column for column, aliases in HEADER_ALIASES.items() for alias in aliases}
    # The export's own headers (in the current language) are accepted too, so an export can be re-imported.
    for column, label in _export_labels().items():
        if column in COLUMNS:
            lookup.setdefault(_header_key(label), column)
    return lookup


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value).strip()


def _read_rows(file_name: str, content: bytes) -> Iterator[list[Any]]:
    """Rows of cells (header first) as the user sees them; raises ValidationFailed(field="file")."""
    ext = file_name.rsplit(".", 1)[-1].lower() if "." in file_name else ""
    if content.startswith(b"PK\x03\x04"):
        return _read_xlsx(content)
    if content.startswith(b"\xd0\xcf\x11\xe0") or ext == "xls":
        raise _file_error(_("Old Excel .xls files cannot be read. Save the file as .xlsx or CSV."))
    if ext in ("xlsx", "xlsm"):
        raise _file_error(_("This is not a valid .xlsx file."))
    if ext not in ("", "csv", "txt", "tsv"):
        raise _file_error(_("Upload a CSV or XLSX file."))
    return _read_csv(content)


def _decode(content: bytes) -> str:
    if content.startswith(b"\xef\xbb\xbf"):
        encodings: tuple[str, ...] = ("utf-8-sig",)
    elif content.startswith((b"\xff\xfe", b"\xfe\xff")):
        encodings = ("utf-16",)  # Excel's "Unicode text" export
    else:
        # Chinese Windows tools write GBK (GB18030 is its superset). UTF-8 first: it rarely fits by accident.
        encodings = ("utf-8", "gb18030")
    for encoding in encodings:
        try:
            text = content.decode(encoding)
        except (UnicodeDecodeError, LookupError):
            continue
        if "\x00" in text or any(ch in text for ch in "\x01\x02\x03\x04\x05\x06\x07\x08\x0e\x0f"):
            break  # control bytes: a binary file that happens to decode
        return text
    raise _file_error(_("The file cannot be read. Save it as CSV (UTF-8) or XLSX."))


def _read_csv(content: bytes) -> Iterator[list[Any]]:
    text = _decode(content)
    first_line = text.split("\n", 1)[0]
    delimiter = max((",", "\t", ";"), key=first_line.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)

    def rows() -> Iterator[list[Any]]:
        try:
            for row in reader:
                yield row[:MAX_COLUMNS]
        except csv.Error:
            raise _file_error(_("The file cannot be read. Save it as CSV (UTF-8) or XLSX.")) from None

    return rows()


def _read_xlsx(content: bytes) -> Iterator[list[Any]]:
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except Exception:  # zipfile raises several types on damaged archives
        raise _file_error(_("This is not a valid .xlsx file.")) from None
    if unpacked > MAX_XLSX_UNCOMPRESSED:
        raise _file_error(_("The file is too large (10 MB at most)."))

    def rows() -> Iterator[list[Any]]:
        from openpyxl import load_workbook

        # Broad catches: openpyxl raises many exception types on malformed files; all mean "unreadable".
        try:
            workbook = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
        except Exception:
            raise _file_error(_("This is not a valid .xlsx file.")) from None
        try:
            sheet = workbook.worksheets[0] if workbook.worksheets else None
            if sheet is None:
                raise _file_error(_("The file is empty."))
            try:
                for row in sheet.iter_rows(max_col=MAX_COLUMNS, values_only=True):
                    yield list(row)
            except ValidationFailed:
                raise
            except Exception:
                raise _file_error(_("This is not a valid .xlsx file.")) from None
        finally:
            workbook.close()

    return rows()


def _parse_file(file_name: str, content: bytes) -> tuple[dict[str, int], list[tuple[int, list[Any]]]]:
    """(column → index, [(row number, cells)…]) for non-blank data rows."""
    if len(content) > MAX_FILE_BYTES:
        raise _file_error(_("The file is too large (10 MB at most)."))
    if not content.strip():
        raise _file_error(_("The file is empty."))
    rows = _read_rows(file_name, content)
    lookup = _header_lookup()
    columns: dict[str, int] | None = None
    data: list[tuple[int, list[Any]]] = []
    too_many = _file_error(_("The file has more than %(max)d member rows; split it.") % {"max": MAX_ROWS})
    for number, cells in enumerate(rows, start=1):
        if number > MAX_SCANNED_ROWS:
            raise too_many  # mostly blank rows: do not walk a million of them
        if not any(_cell_text(c) for c in cells):
            continue
        if columns is None:
            columns = {}
            for index, cell in enumerate(cells):
                column = lookup.get(_header_key(cell))
                if column is None:
                    continue  # POS exports carry many other columns (points, level…): ignored
                if column in columns:
                    raise _file_error(
                        _("Two columns of the header row mean %(column)s; keep one.") % {"column": column}
                    )
                columns[column] = index
            if "mobile" not in columns:
                raise _file_error(
                    _("The header row (row %(row)d) has no mobile number column (手机号 / mobile).")
                    % {"row": number}
                )
            continue
        data.append((number, cells))
        if len(data) > MAX_ROWS:
            raise too_many
    if columns is None:
        raise _file_error(_("The file is empty."))
    if not data:
        raise _file_error(_("The file has a header row but no member rows."))
    return columns, data


# --- checking rows ------------------------------------------------------------------------------


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
    text = _cell_text(value)
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


def _check_cells(number: int, cells: list[Any], columns: dict[str, int], errors: _Errors) -> _Row:
    """Checks that need no database; problems go to ``errors``."""
    row = _Row(number=number)

    def cell(column: str) -> Any:
        index = columns.get(column)
        return cells[index] if index is not None and index < len(cells) else None

    raw_mobile = _cell_text(cell("mobile"))
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

    name = _cell_text(cell("name"))
    if len(name) > 1 and name[0] == "'" and name[1] in "=+-@":
        name = name[1:]  # undo the formula guard our own export adds
    if len(name) > 50:
        errors.add(number, "name", _("Name is too long (50 characters at most)."))
    row.name = name

    gender = _cell_text(cell("gender"))
    if gender:
        code = GENDER_VALUES.get(gender.lower()) or _gender_labels().get(gender.lower())
        if code is None:
            errors.add(number, "gender", _("Gender must be 男/女/未知 (or m/f/u)."))
        else:
            row.gender = code

    birthday = cell("birthday")
    if _cell_text(birthday):
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

    row.store_code = _cell_text(cell("store_code"))

    tags = _cell_text(cell("tags"))
    if tags:
        try:
            row.tags = _parse_tags(tags)
        except ValueError as exc:
            errors.add(number, "tags", str(exc))
    return row


def _gender_labels() -> dict[str, str]:
    return {str(label).lower(): value for value, label in Gender.choices}


def _chunks(items: list[Any], size: int = LOOKUP_CHUNK) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@dataclass
class _Outcome:
    created: int = 0
    updated: int = 0
    tags_added: int = 0
    tags_created: int = 0
    new_tags: list[str] = field(default_factory=list)
    store_ids: set[int] = field(default_factory=set)


def _apply(staff: Staff, brand_id: int, rows: list[_Row], errors: _Errors) -> _Outcome:
    """Check rows against the database, then write everything. Must run inside a transaction;
    raises _Rejected (before any write) if a row is wrong."""
    scope = store_scope(staff)

    codes = sorted({r.store_code for r in rows if r.store_code})
    stores: dict[str, Store] = {}
    for chunk in _chunks(codes):
        stores.update({s.code: s for s in Store.objects.filter(code__in=chunk)})

    mobiles = [r.mobile for r in rows if r.mobile]
    existing: dict[str, Member] = {}
    for chunk in _chunks(mobiles):
        # Locked so that a concurrent edit cannot be overwritten with values checked against stale rows.
        existing.update(
            {m.mobile or "": m for m in Member.objects.select_for_update().filter(mobile__in=chunk)}
        )

    tag_map = _resolve_tags(staff, brand_id, rows, errors)

    for row in rows:
        store = stores.get(row.store_code) if row.store_code else None
        if row.store_code:
            if store is None:
                errors.add(row.number, "store_code", _("No store has this code."))
            elif scope is not None and store.pk not in scope:
                errors.add(row.number, "store_code", _("You do not serve this store."))
        member = existing.get(row.mobile) if row.mobile else None
        if member is not None and scope is not None and member.home_store_id not in scope:
            errors.add(row.number, "mobile", _("This member belongs to another store."))
        if member is None and row.mobile and not row.store_code and scope is not None:
            errors.add(row.number, "store_code", _("Give the code of one of your stores for a new member."))
    if errors:
        raise _Rejected(errors.report(), len(rows))

    outcome = _Outcome()
    now = timezone.now()
    new_members: list[Member] = []
    changed: dict[int, tuple[Member, list[str]]] = {}
    for row in rows:
        store = stores.get(row.store_code) if row.store_code else None
        member = existing.get(row.mobile)
        if member is None:
            member = Member(
                brand_id=brand_id,
                mobile=row.mobile,
                name=row.name,
                gender=row.gender or Gender.UNKNOWN,
                birthday=row.birthday,
                age_band=age_band_for(row.birthday),
                home_store=store,
                joined_at=now,
                source=Source.POS_IMPORT,
                created_at=now,
                updated_at=now,
            )
            new_members.append(member)
            existing[row.mobile] = member
            continue
        # "Unknown" gender carries no information, so it never overwrites a known one.
        values: dict[str, Any] = {
            "name": row.name or None,
            "gender": row.gender if row.gender and row.gender != Gender.UNKNOWN else None,
            "birthday": row.birthday,
            "home_store_id": store.pk if store else None,
        }
        if row.birthday is not None:
            values["age_band"] = age_band_for(row.birthday)
        fields = [k for k, v in values.items() if v is not None and getattr(member, k) != v]
        if fields:
            for k in fields:
                setattr(member, k, values[k])
            if member.pk in changed:
                fields = sorted({*changed[member.pk][1], *fields})
            changed[member.pk] = (member, fields)

    if new_members:
        Member.objects.bulk_create(new_members, batch_size=BATCH_SIZE)
        if any(m.pk is None for m in new_members):  # backends without RETURNING
            ids = {}
            for chunk in _chunks([m.mobile for m in new_members]):
                ids.update(dict(Member.objects.filter(mobile__in=chunk).values_list("mobile", "id")))
            for m in new_members:
                m.pk = ids[m.mobile]
    if changed:
        field_names = sorted({f for _m, fields in changed.values() for f in fields})
        members = [m for m, _fields in changed.values()]
        for m in members:
            m.updated_at = now
        Member.objects.bulk_update(members, [*field_names, "updated_at"], batch_size=BATCH_SIZE)

    tag_links = _link_tags(staff, brand_id, rows, existing, tag_map, outcome)
    store_of = {m.pk: m.home_store_id for m in existing.values()}

    events: list[Event] = []
    for m in new_members:
        events.append(
            Event(
                type="member.created",
                member_id=m.pk,
                store_id=m.home_store_id,
                occurred_at=now,
                payload={"source": Source.POS_IMPORT.value},
            )
        )
    for m, fields in changed.values():
        events.append(
            Event(
                type="member.updated",
                member_id=m.pk,
                store_id=m.home_store_id,
                occurred_at=now,
                payload={"fields": sorted(f.removesuffix("_id") for f in fields), "source": "import"},
            )
        )
    for link in tag_links:
        events.append(
            Event(
                type="member.tagged",
                member_id=link.member_id,
                store_id=store_of.get(link.member_id),
                occurred_at=now,
                payload={"tag": link.tag_id, "origin": MemberTag.Origin.IMPORT.value},
            )
        )
    bulk_record_events(events)

    tagged_existing = {link.member_id for link in tag_links} - {m.pk for m in new_members}
    outcome.created = len(new_members)
    outcome.updated = len(set(changed) | tagged_existing)
    outcome.store_ids = {m.home_store_id for m in existing.values() if m.home_store_id}
    return outcome


def _resolve_tags(
    staff: Staff, brand_id: int, rows: list[_Row], errors: _Errors
) -> dict[tuple[str | None, str], Tag | tuple[str, str]]:
    """Map each tag reference to an existing Tag, or to (group, name) to create.

    Unknown tags are row errors for staff who may not manage tags; rule tags are never set by import.
    """
    wanted = {pair for r in rows for pair in r.tags}
    if not wanted:
        return {}
    groups = {g for g, _n in wanted if g} | {IMPORT_TAG_GROUP}
    names = {n for _g, n in wanted}
    by_group: dict[tuple[str, str], Tag] = {}
    by_name: dict[str, list[Tag]] = {}
    for chunk in _chunks(sorted(names)):
        for found in Tag.objects.select_related("group").filter(group__brand_id=brand_id, name__in=chunk):
            by_name.setdefault(found.name, []).append(found)
            if found.group.name in groups:
                by_group[(found.group.name, found.name)] = found

    may_create = has_capability(staff, "tags.manage")
    resolved: dict[tuple[str | None, str], Tag | tuple[str, str]] = {}
    problems: dict[tuple[str | None, str], str] = {}
    for pair in wanted:
        group, name = pair
        label = f"{group}/{name}" if group else name
        tag: Tag | None
        if group:
            tag = by_group.get((group, name))
        else:
            candidates = by_name.get(name, [])
            tag = by_group.get((IMPORT_TAG_GROUP, name)) or (candidates[0] if len(candidates) == 1 else None)
            if tag is None and len(candidates) > 1:
                problems[pair] = _("Several tag groups have a tag “%(tag)s”; write group/tag.") % {
                    "tag": label
                }
                continue
        if tag is not None:
            if tag.is_rule_based:
                problems[pair] = _("Tag “%(tag)s” is computed by a rule and cannot be imported.") % {
                    "tag": label
                }
            else:
                resolved[pair] = tag
        elif may_create:
            resolved[pair] = (group or IMPORT_TAG_GROUP, name)
        else:
            problems[pair] = _("There is no tag “%(tag)s”, and your role may not create tags.") % {
                "tag": label
            }
    for row in rows:
        for pair in row.tags:
            if pair in problems:
                errors.add(row.number, "tags", problems[pair])
    return resolved


def _link_tags(
    staff: Staff,
    brand_id: int,
    rows: list[_Row],
    members: dict[str, Member],
    tag_map: dict[tuple[str | None, str], Tag | tuple[str, str]],
    outcome: _Outcome,
) -> list[MemberTag]:
    """Create the missing groups and tags, then add the import tags members do not have yet."""
    if not tag_map:
        return []
    to_create = sorted({v for v in tag_map.values() if isinstance(v, tuple)})
    if to_create:
        group_names = sorted({g for g, _n in to_create})
        groups = {g.name: g for g in TagGroup.objects.filter(brand_id=brand_id, name__in=group_names)}
        missing = [TagGroup(brand_id=brand_id, name=g) for g in group_names if g not in groups]
        if missing:
            TagGroup.objects.bulk_create(missing)
            groups = {g.name: g for g in TagGroup.objects.filter(brand_id=brand_id, name__in=group_names)}
        Tag.objects.bulk_create([Tag(group=groups[g], name=n) for g, n in to_create])
        wanted_pairs = set(to_create)
        created = {
            (t.group.name, t.name): t
            for t in Tag.objects.select_related("group").filter(group__in=groups.values())
            if (t.group.name, t.name) in wanted_pairs
        }
        for pair, value in list(tag_map.items()):
            if isinstance(value, tuple):
                tag_map[pair] = created[value]
        outcome.tags_created = len(to_create)
        outcome.new_tags = [f"{g}/{n}" for g, n in to_create[:50]]

    wanted: set[tuple[int, int]] = set()
    for row in rows:
        member = members[row.mobile]
        for pair in row.tags:
            tag = tag_map[pair]
            assert isinstance(tag, Tag)
            wanted.add((member.pk, tag.pk))
    member_ids = sorted({m for m, _t in wanted})
    have: set[tuple[int, int]] = set()
    for chunk in _chunks(member_ids):
        # Filtered by member only: a file may name more distinct tags than one query may bind.
        have.update(MemberTag.objects.filter(member_id__in=chunk).values_list("member_id", "tag_id"))
    links = [
        MemberTag(member_id=m, tag_id=t, origin=MemberTag.Origin.IMPORT, added_by=staff)
        for m, t in sorted(wanted - have)
    ]
    MemberTag.objects.bulk_create(links, batch_size=BATCH_SIZE, ignore_conflicts=True)
    outcome.tags_added = len(links)
    return links


def _brand_id(staff: Staff) -> int:
    brand_id = staff.brand_id or Brand.objects.values_list("id", flat=True).first()
    if not brand_id:
        raise ValidationFailed(_("Set up the brand before importing members."), field="file")
    return brand_id


def import_members(staff: Staff, file_name: str, content: bytes, *, ip: str | None = None) -> MemberImport:
    """Import members from a CSV (UTF-8, UTF-8 with BOM, GBK/GB18030) or XLSX file.

    Guarantees:
    - Requires ``members.import``; a store role imports only into, and updates only members of, its stores.
    - A file that cannot be read, is empty, has no mobile column, more than 20,000 rows or more than 10 MB
      raises ValidationFailed(field="file") and records nothing.
    - All or nothing: if any row is wrong, no member, tag or event is written and the returned
      ``MemberImport`` has status ``rejected`` and ``errors`` = [{"row", "column", "reason"}…] with the
      spreadsheet row number (header = 1). At most 1,000 problems are listed; if there are more, a last entry
      with ``row`` None says how many were left out.
    - Otherwise members are upserted by mobile number in one transaction: new ones are created (source
      import); existing ones get only the non-empty cells of the row ("未知" gender never overwrites a known
      one); tags are added with origin import. Re-importing the same file changes nothing
      (``created_count`` and ``updated_count`` 0). Every call returns a new ``MemberImport`` row and writes
      one ``member.import`` audit entry.
    """
    check_capability(staff, "members.import")
    file_name = re.split(r"[/\\]", file_name or "")[-1].strip()[:255] or "upload"
    content = content or b""
    sha256 = hashlib.sha256(content).hexdigest()
    columns, data = _parse_file(file_name, content)
    brand_id = _brand_id(staff)

    errors = _Errors()
    rows: list[_Row] = []
    first_row: dict[str, int] = {}
    for number, cells in data:
        row = _check_cells(number, cells, columns, errors)
        if row.mobile:
            if row.mobile in first_row:
                errors.add(
                    number,
                    "mobile",
                    _("This mobile number is also on row %(row)d.") % {"row": first_row[row.mobile]},
                )
            else:
                first_row[row.mobile] = number
        rows.append(row)

    try:
        with transaction.atomic():
            outcome = _apply(staff, brand_id, rows, errors)
            record = MemberImport.objects.create(
                brand_id=brand_id,
                file_name=file_name,
                sha256=sha256,
                status=MemberImport.Status.IMPORTED,
                row_count=len(rows),
                created_count=outcome.created,
                updated_count=outcome.updated,
                created_by=staff,
            )
            record_audit(
                staff,
                "member.import",
                target_type="member_import",
                target_id=record.pk,
                store_id=next(iter(outcome.store_ids)) if len(outcome.store_ids) == 1 else None,
                detail={
                    "file_name": file_name,
                    "sha256": sha256,
                    "status": record.status,
                    "rows": len(rows),
                    "created": outcome.created,
                    "updated": outcome.updated,
                    "tags_added": outcome.tags_added,
                    "tags_created": outcome.tags_created,
                    "new_tags": outcome.new_tags,
                },
                ip=ip,
            )
            return record
    except _Rejected as rejected:
        with transaction.atomic():
            record = MemberImport.objects.create(
                brand_id=brand_id,
                file_name=file_name,
                sha256=sha256,
                status=MemberImport.Status.REJECTED,
                row_count=rejected.row_count,
                errors=rejected.errors,
                created_by=staff,
            )
            record_audit(
                staff,
                "member.import",
                target_type="member_import",
                target_id=record.pk,
                detail={
                    "file_name": file_name,
                    "sha256": sha256,
                    "status": record.status,
                    "rows": rejected.row_count,
                    "errors": len(errors.items),
                },
                ip=ip,
            )
            return record
    except IntegrityError:
        # Another import or sign-up created one of these numbers meanwhile; everything was rolled back.
        raise Conflict(
            _("Some of these members were changed at the same time. Import the file again."), field="file"
        ) from None


# --- export -------------------------------------------------------------------------------------


def _export_labels() -> dict[str, str]:
    return {
        "id": _("Member ID"),
        "mobile": _("Mobile"),
        "name": _("Name"),
        "gender": _("Gender"),
        "birthday": _("Birthday"),
        "age_band": _("Age band"),
        "store_code": _("Store code"),
        "store_name": _("Store name"),
        "joined_at": _("Joined at"),
        "source": _("Source"),
        "marketing_consent": _("Marketing consent"),
        "tags": _("Tags"),
    }


def _safe_text(value: str) -> str:
    # Names come from members themselves; a leading "=" would run as a formula in Excel (CSV injection).
    return "'" + value if value.startswith(_FORMULA_START) else value


def _export_rows(staff: Staff, f: MemberFilter) -> Iterator[list[Any]]:
    """One list of cell values per member, in the order of ``_export_labels``; dates stay dates."""
    reveal = can_reveal_mobile(staff)
    tags = Prefetch(
        "member_tags",
        queryset=MemberTag.objects.select_related("tag__group").order_by("tag__group_id", "tag_id"),
    )
    genders = dict(Gender.choices)
    bands = dict(AgeBand.choices)
    sources = dict(Source.choices)
    yes, no = _("Yes"), _("No")
    shanghai = timezone.get_default_timezone()
    qs = filter_members(staff, f).prefetch_related(tags)
    for m in qs.iterator(chunk_size=2000):
        store = m.home_store
        yield [
            m.pk,
            (m.mobile or "") if reveal else mask_mobile(m.mobile),
            _safe_text(m.name),
            str(genders.get(m.gender, m.gender)),
            m.birthday,
            str(bands.get(m.age_band, m.age_band)) if m.age_band else "",
            _safe_text(store.code) if store else "",
            _safe_text(store.name) if store else "",
            timezone.localtime(m.joined_at, shanghai).replace(tzinfo=None, microsecond=0),
            str(sources.get(m.source, m.source)),
            yes if m.marketing_consent else no,
            _safe_text(";".join(f"{mt.tag.group.name}/{mt.tag.name}" for mt in m.member_tags.all())),
        ]


def _csv_bytes(header: list[str], rows: Iterator[list[Any]] | list[list[Any]]) -> tuple[bytes, int]:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    count = 0
    for row in rows:
        writer.writerow(
            [
                v.strftime("%Y-%m-%d %H:%M:%S")
                if isinstance(v, datetime)
                else v.isoformat()
                if isinstance(v, date)
                else v
                for v in row
            ]
        )
        count += 1
    # The BOM makes Excel on Windows read UTF-8 (otherwise Chinese shows as mojibake).
    return ("\ufeff" + out.getvalue()).encode("utf-8"), count


def _xlsx_bytes(
    header: list[str], rows: Iterator[list[Any]] | list[list[Any]], text_columns: tuple[int, ...] = ()
) -> tuple[bytes, int]:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet()
    sheet.append(header)
    count = 0
    for row in rows:
        cells = []
        for index, value in enumerate(row):
            cell = WriteOnlyCell(sheet, value=value)
            if isinstance(value, datetime):
                cell.number_format = "yyyy-mm-dd hh:mm:ss"
            elif isinstance(value, date):
                cell.number_format = "yyyy-mm-dd"
            elif index in text_columns:
                cell.number_format = "@"  # keeps 11-digit mobiles from turning into 1.38E+10
            cells.append(cell)
        sheet.append(cells)
        count += 1
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue(), count


def _filter_detail(f: MemberFilter) -> dict[str, Any]:
    return {
        k: v.isoformat() if isinstance(v, date) else v for k, v in asdict(f).items() if v not in (None, "")
    }


def export_members(
    staff: Staff, f: MemberFilter, fmt: str, *, ip: str | None = None
) -> tuple[bytes, str, str]:
    """The members ``staff`` may see that match ``f``, as a CSV (UTF-8 with BOM) or XLSX file.

    Returns (content, content type, download file name). Requires ``members.export``; mobile numbers
    are masked unless the staff may reveal them; cells that would start a spreadsheet formula are
    prefixed with '. One ``member.export_list`` audit entry records the filter and row count.
    """
    check_capability(staff, "members.export")
    fmt = (fmt or "").strip().lower()
    if fmt not in ("csv", "xlsx"):
        raise ValidationFailed(_("Export format must be csv or xlsx."), field="format")
    header = list(_export_labels().values())
    rows = _export_rows(staff, f)
    if fmt == "csv":
        content, count = _csv_bytes(header, rows)
        content_type = CSV_CONTENT_TYPE
    else:
        content, count = _xlsx_bytes(header, rows, text_columns=(1,))
        content_type = XLSX_CONTENT_TYPE
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    # Only a real store id goes into the audit row's foreign key; the filter itself is kept in detail.
    store_id = f.store_id if f.store_id and Store.objects.filter(pk=f.store_id).exists() else None
    with transaction.atomic():
        record_audit(
            staff,
            "member.export_list",
            target_type="member",
            store_id=store_id,
            detail={
                "filter": _filter_detail(f),
                "rows": count,
                "format": fmt,
                "mobile_revealed": can_reveal_mobile(staff),
            },
            ip=ip,
        )
    return content, content_type, f"members-{stamp}.{fmt}"


def import_template(fmt: str) -> tuple[bytes, str, str]:
    """An import template (Chinese headers and one example row) as (content, content type, file name)."""
    fmt = (fmt or "").strip().lower()
    if fmt == "csv":
        content, _count = _csv_bytes(list(TEMPLATE_HEADERS), [list(TEMPLATE_EXAMPLE)])
        return content, CSV_CONTENT_TYPE, "member-import-template.csv"
    if fmt == "xlsx":
        content, _count = _xlsx_bytes(list(TEMPLATE_HEADERS), [list(TEMPLATE_EXAMPLE)], text_columns=(0, 3))
        return content, XLSX_CONTENT_TYPE, "member-import-template.xlsx"
    raise ValidationFailed(_("Template format must be csv or xlsx."), field="format")


def visible_imports(staff: Staff) -> QuerySet[MemberImport]:
    """Member imports ``staff`` may read, newest first: all for HQ, one's own uploads for store roles.

    Import error reports quote spreadsheet rows (names, numbers), so store roles see only their own.
    Raises PermissionDenied without the ``members.import`` capability.
    """
    check_capability(staff, "members.import")
    qs = MemberImport.objects.select_related("created_by").order_by("-created_at", "-id")
    if store_scope(staff) is not None:
        qs = qs.filter(created_by=staff)
    return qs
