"""Which column of a member file is which: the accepted header spellings (Chinese POS exports, English,
and Siyu's own export headers, so an export can be re-imported), the import template's headers, and finding
the header row and the data rows of a file.
"""

from __future__ import annotations

import re
from typing import Any

from django.utils.translation import gettext as _

from siyu.members.services.import_files import (
    MAX_FILE_BYTES,
    MAX_ROWS,
    MAX_SCANNED_ROWS,
    cell_text,
    file_error,
    read_rows,
)
from siyu.members.services.member_export import export_labels

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
# The sample row names the demo chain's first store and two of its tags, so it imports as is in the demo.
TEMPLATE_EXAMPLE = ("13800138000", "张三", "女", "1990-05-01", "BJ001", "兴趣/美食;生命周期/新客")


class ColumnMap(dict[str, int]):
    """column → cell index, remembering each column's header as written in the file (``headers``), so
    that a problem is reported under the name the person sees in their spreadsheet."""

    def __init__(self) -> None:
        super().__init__()
        self.headers: dict[str, str] = {}


def _header_key(value: Any) -> str:
    text = cell_text(value).lstrip("\ufeff").lower()
    # "手机号*" or "生日(YYYY-MM-DD)": required markers and hints are not part of the name.
    text = re.split(r"[(（]", text, maxsplit=1)[0]
    return re.sub(r"[\s_\-*:：]", "", text)


def _header_lookup() -> dict[str, str]:
    lookup = {alias: column for column, aliases in HEADER_ALIASES.items() for alias in aliases}
    # The export's own headers (in the current language) are accepted too, so an export can be re-imported.
    for column, label in export_labels().items():
        if column in COLUMNS:
            lookup.setdefault(_header_key(label), column)
    return lookup


def parse_file(file_name: str, content: bytes) -> tuple[ColumnMap, list[tuple[int, list[Any]]]]:
    """(column → index with the file's own headers, [(row number, cells)…]) for non-blank data rows."""
    if len(content) > MAX_FILE_BYTES:
        raise file_error(_("The file is too large (10 MB at most)."))
    if not content.strip():
        raise file_error(_("The file is empty."))
    rows = read_rows(file_name, content)
    lookup = _header_lookup()
    columns: ColumnMap | None = None
    data: list[tuple[int, list[Any]]] = []
    too_many = file_error(_("The file has more than %(max)d member rows; split it.") % {"max": MAX_ROWS})
    for number, cells in enumerate(rows, start=1):
        if number > MAX_SCANNED_ROWS:
            raise too_many  # mostly blank rows: do not walk a million of them
        if not any(cell_text(c) for c in cells):
            continue
        if columns is None:
            columns = ColumnMap()
            for index, cell in enumerate(cells):
                column = lookup.get(_header_key(cell))
                if column is None:
                    continue  # POS exports carry many other columns (points, level…): ignored
                if column in columns:
                    raise file_error(
                        _("Columns “%(first)s” and “%(second)s” of the header row mean the same; keep one.")
                        % {"first": columns.headers[column], "second": cell_text(cell)}
                    )
                columns[column] = index
                columns.headers[column] = cell_text(cell).lstrip("\ufeff")
            if "mobile" not in columns:
                raise file_error(
                    _("The header row (row %(row)d) has no mobile number column (手机号 / mobile).")
                    % {"row": number}
                )
            continue
        data.append((number, cells))
        if len(data) > MAX_ROWS:
            raise too_many
    if columns is None:
        raise file_error(_("The file is empty."))
    if not data:
        raise file_error(_("The file has a header row but no member rows."))
    return columns, data
