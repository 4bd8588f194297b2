"""Reading an uploaded member file (CSV or XLSX) into rows of cells, with bounded memory and time.

Limits hold before anything is parsed: 10 MB per file, 200 columns, and rows are produced one at a time (a
sheet declaring a million blank rows is not walked; the caller stops at ``MAX_SCANNED_ROWS``). An XLSX is a
zip of XML files, so a small upload can unpack into gigabytes (a 0.2 MB file with one huge shared string
once drove a worker to 692 MB): before openpyxl sees it, the archive's directory is checked (at most 1,000
entries, 100 MB unpacked in all, 16 MB for any part other than a worksheet — the shared strings are loaded
whole — and no part over 1 MB compressed more than 100 times), then every XML part is streamed through a
scanner that keeps a few counters and no text (no DTD or entities, no run of 256 KB without a tag, no text
over 32,767 characters — Excel's own cell limit —, at most 16,384 cells and 1 MB of text per row, 400,000
shared strings, nesting 64 deep). Encodings Chinese tools write (UTF-8 with or without BOM, UTF-16,
GBK/GB18030) are recognised. Every problem is ValidationFailed(field="file").
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterator
from datetime import date, datetime
from typing import IO, Any
from xml.parsers import expat

from django.utils.translation import gettext as _

from siyu.common.errors import ValidationFailed

MAX_FILE_BYTES = 10 * 1024 * 1024
MAX_ROWS = 20_000
# Rows read including blank ones; a sheet can declare a million empty rows.
MAX_SCANNED_ROWS = 5 * MAX_ROWS
# Uncompressed size allowed inside an XLSX: a 10 MB zip must not expand into gigabytes (zip bomb).
MAX_XLSX_UNCOMPRESSED = 100 * 1024 * 1024
# Parts openpyxl loads whole (shared strings, styles, workbook…); worksheets are streamed row by row.
MAX_XLSX_PART = 16 * 1024 * 1024
MAX_XLSX_ENTRIES = 1000
# Compression ratio refused for parts over 1 MB: real sheets compress 5–30 times, bombs a thousand.
MAX_XLSX_RATIO = 100
XLSX_RATIO_FLOOR = 1024 * 1024
# What the XML scanner allows (see the module docstring).
MAX_XML_RUN = 256 * 1024
MAX_TEXT_CHARS = 32_767
MAX_CELLS_PER_ROW = 16_384
MAX_ROW_TEXT = 1024 * 1024
MAX_SHARED_STRINGS = 400_000
MAX_XML_DEPTH = 64
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
    too_large = _("The file unpacks to too much data to be a member list.")
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            infos = archive.infolist()
            if len(infos) > MAX_XLSX_ENTRIES:
                raise file_error(_("This is not a valid .xlsx file."))
            if sum(info.file_size for info in infos) > MAX_XLSX_UNCOMPRESSED:
                raise file_error(too_large)
            for info in infos:
                is_sheet = info.filename.startswith("xl/worksheets/")
                if not is_sheet and info.file_size > MAX_XLSX_PART:
                    raise file_error(too_large)
                if info.file_size > XLSX_RATIO_FLOOR and info.file_size > MAX_XLSX_RATIO * max(
                    info.compress_size, 1
                ):
                    raise file_error(too_large)
            for info in infos:
                if info.filename.endswith((".xml", ".rels")):
                    with archive.open(info) as part:
                        _scan_xml(part, too_large)
    except ValidationFailed:
        raise
    except Exception:  # zipfile and expat raise several types on damaged archives
        raise file_error(_("This is not a valid .xlsx file.")) from None

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


class _XmlScan:
    """Counters for one XML part, fed by expat callbacks; raises ``file_error(message)`` past a limit."""

    def __init__(self, message: str) -> None:
        self.message = message
        self.depth = 0
        self.text = 0  # characters of the current text node
        self.row_cells = 0
        self.row_text = 0
        self.in_row = False
        self.shared = 0

    def refuse(self, *_args: Any) -> None:
        raise file_error(self.message)

    def start(self, name: str, _attrs: Any) -> None:
        self.depth += 1
        self.text = 0
        if self.depth > MAX_XML_DEPTH:
            self.refuse()
        local = name.rsplit(":", 1)[-1]
        if local == "row":
            self.in_row, self.row_cells, self.row_text = True, 0, 0
        elif local == "c" and self.in_row:
            self.row_cells += 1
            if self.row_cells > MAX_CELLS_PER_ROW:
                self.refuse()
        elif local == "si":
            self.shared += 1
            if self.shared > MAX_SHARED_STRINGS:
                self.refuse()

    def end(self, name: str) -> None:
        self.depth -= 1
        self.text = 0
        if name.rsplit(":", 1)[-1] == "row":
            self.in_row = False

    def chars(self, data: str) -> None:
        self.text += len(data)
        if self.text > MAX_TEXT_CHARS:
            self.refuse()
        if self.in_row:
            self.row_text += len(data)
            if self.row_text > MAX_ROW_TEXT:
                self.refuse()


def _scan_xml(stream: IO[bytes], message: str) -> None:
    """Stream one XML part of an XLSX through expat in 64 KB pieces, keeping counters only (memory stays
    bounded whatever the part holds); raises ValidationFailed(field="file") past a limit."""
    scan = _XmlScan(message)
    parser = expat.ParserCreate()
    parser.buffer_text = False
    parser.StartElementHandler = scan.start
    parser.EndElementHandler = scan.end
    parser.CharacterDataHandler = scan.chars
    # No XLSX part has a DTD; refusing it also refuses entity expansion ("billion laughs").
    parser.StartDoctypeDeclHandler = scan.refuse
    parser.EntityDeclHandler = scan.refuse
    run = 0  # bytes since the last "<": expat holds a whole tag in memory, so none may be huge
    while chunk := stream.read(64 * 1024):
        pieces = chunk.split(b"<")
        run += len(pieces[0])
        if max(run, max((len(p) for p in pieces[1:-1]), default=0)) > MAX_XML_RUN:
            scan.refuse()
        if len(pieces) > 1:
            run = len(pieces[-1])
        parser.Parse(chunk, False)
    parser.Parse(b"", True)
