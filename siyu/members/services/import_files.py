"""Reading an uploaded member file (CSV or XLSX) into rows of cells, with bounded memory and time.

Limits hold before anything is parsed: 10 MB per file, 200 MB unpacked inside an XLSX (zip bombs), 200
columns, and rows are produced one at a time (a sheet declaring a million blank rows is not walked; the
caller stops at ``MAX_SCANNED_ROWS``). Encodings Chinese tools write (UTF-8 with or without BOM, UTF-16,
GBK/GB18030) are recognised. Every problem is ValidationFailed(field="file").
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

from django.utils.translation import gettext as _

from siyu.common.errors import ValidationFailed

MAX_FILE_BYTES = 10 * 1024 * 1024
MAX_ROWS = 20_000
# Rows read including blank ones; a sheet can declare a million empty rows.
MAX_SCANNED_ROWS = 5 * MAX_ROWS
# Uncompressed size allowed inside an XLSX: a 10 MB zip must not expand into gigabytes (zip bomb).
MAX_XLSX_UNCOMPRESSED = 200 * 1024 * 1024
# Columns read from a sheet; a POS export has a few dozen at most.
MAX_COLUMNS = 200


def file_error(message: str) -> ValidationFailed:
    """The error for a file that cannot be imported as a whole."""
    return ValidationFailed(message, field="file")


def cell_text(value: Any) -> str:
    """A cell as the user sees it: stripped text, whole numbers without ".0", dates in ISO form."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value).strip()


def read_rows(file_name: str, content: bytes) -> Iterator[list[Any]]:
    """Rows of cells (header first) as the user sees them; raises ValidationFailed(field="file")."""
    ext = file_name.rsplit(".", 1)[-1].lower() if "." in file_name else ""
    if content.startswith(b"PK\x03\x04"):
        return _read_xlsx(content)
    if content.startswith(b"\xd0\xcf\x11\xe0") or ext == "xls":
        raise file_error(_("Old Excel .xls files cannot be read. Save the file as .xlsx or CSV."))
    if ext in ("xlsx", "xlsm"):
        raise file_error(_("This is not a valid .xlsx file."))
    if ext not in ("", "csv", "txt", "tsv"):
        raise file_error(_("Upload a CSV or XLSX file."))
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
    raise file_error(_("The file cannot be read. Save it as CSV (UTF-8) or XLSX."))


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
            raise file_error(_("The file cannot be read. Save it as CSV (UTF-8) or XLSX.")) from None

    return rows()


def _read_xlsx(content: bytes) -> Iterator[list[Any]]:
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except Exception:  # zipfile raises several types on damaged archives
        raise file_error(_("This is not a valid .xlsx file.")) from None
    if unpacked > MAX_XLSX_UNCOMPRESSED:
        raise file_error(_("The file is too large (10 MB at most)."))

    def rows() -> Iterator[list[Any]]:
        from openpyxl import load_workbook

        # Broad catches: openpyxl raises many exception types on malformed files; all mean "unreadable".
        try:
            workbook = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
        except Exception:
            raise file_error(_("This is not a valid .xlsx file.")) from None
        try:
            sheet = workbook.worksheets[0] if workbook.worksheets else None
            if sheet is None:
                raise file_error(_("The file is empty."))
            try:
                for row in sheet.iter_rows(max_col=MAX_COLUMNS, values_only=True):
                    yield list(row)
            except ValidationFailed:
                raise
            except Exception:
                raise file_error(_("This is not a valid .xlsx file.")) from None
        finally:
            workbook.close()

    return rows()
