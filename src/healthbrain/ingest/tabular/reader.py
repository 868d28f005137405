"""Reading export files: CSV (UTF-8, UTF-8 with BOM, GB18030; any delimiter) and Excel .xlsx (openpyxl).

Rows keep the line (CSV) or row number (Excel) they came from, so that every error points at the
place in the file a person would look. A file that cannot be read at all raises `FileProblem`
with the line and column of the first undecodable byte, the broken header, or the sheet.
"""

from __future__ import annotations

import csv
import io
import unicodedata
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from healthbrain.core.errors import InvalidInput, Issue
from healthbrain.ingest.tabular.spec import SourceSpec

EXCEL_SUFFIXES = (".xlsx", ".xlsm")
MAX_CELL = 100_000
csv.field_size_limit(MAX_CELL)


class FileProblem(InvalidInput):
    code = "tabular.unreadable_file"


def problem(code: str, message: str, where: str) -> FileProblem:
    return FileProblem(f"{where}: {message}", issues=[Issue("error", "structure", message, where)], code=code)


@dataclass(frozen=True, slots=True)
class SourceRow:
    """One data row and the line (or sheet row) it starts on."""

    line: int
    cells: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Sheet:
    """What was read: the header texts, the data rows and how the file was read."""

    kind: str  # csv | excel
    headers: tuple[str, ...]
    header_line: int
    rows: tuple[SourceRow, ...]
    encoding: str | None = None
    sheet: str | None = None

    def column_label(self, index: int) -> str:
        """How a person finds column `index` (0-based): a letter in Excel, a number in a CSV file."""
        if self.kind == "excel":
            label, n = "", index + 1
            while n:
                n, rem = divmod(n - 1, 26)
                label = chr(65 + rem) + label
            return label
        return str(index + 1)


def clean_header(text: Any) -> str:
    """A header as compared: NFKC, no BOM or surrounding/inner whitespace runs, case-folded."""
    value = unicodedata.normalize("NFKC", str(text or "")).replace("\ufeff", "")
    return " ".join(value.split()).casefold()


def _decode(raw: bytes, encoding: str, name: str) -> tuple[str, str]:
    """(text, encoding used); `auto` honours a BOM, then tries UTF-8, then GB18030."""
    if encoding == "auto":
        if raw.startswith(b"\xef\xbb\xbf"):
            return _strict(raw[3:], "utf-8", name, offset=3), "utf-8-sig"
        if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
            return _strict(raw, "utf-16", name), "utf-16"
        try:
            return raw.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            return _strict(raw, "gb18030", name), "gb18030"
    if encoding == "utf-8-sig" or (encoding == "utf-8" and raw.startswith(b"\xef\xbb\xbf")):
        body = raw[3:] if raw.startswith(b"\xef\xbb\xbf") else raw
        return _strict(body, "utf-8", name, offset=len(raw) - len(body)), "utf-8-sig"
    return _strict(raw, encoding, name), encoding


def _strict(raw: bytes, encoding: str, name: str, offset: int = 0) -> str:
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as exc:
        start = exc.start + offset
        line = raw.count(b"\n", 0, start) + 1
        column = start - (raw.rfind(b"\n", 0, start) + 1) + 1
        raise problem(
            "tabular.bad_encoding",
            f"the file is not valid {encoding} (byte {start + 1}); save it as UTF-8 or GB18030",
            f"{name} line {line}, byte column {column}",
        ) from exc


def read_csv(path: Path, source: SourceSpec) -> Sheet:
    """Read a delimited text file."""
    raw = path.read_bytes()
    text, used = _decode(raw, source.encoding, path.name)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=source.delimiter)
    rows: list[SourceRow] = []
    headers: tuple[str, ...] | None = None
    header_line = source.header_row
    start = 1
    try:
        for record in reader:
            line, start = start, reader.line_num + 1
            if headers is None:
                if line < source.header_row:
                    continue
                headers = tuple(record)
                header_line = line
                continue
            rows.append(SourceRow(line, tuple(record)))
    except csv.Error as exc:
        raise problem(
            "tabular.malformed_csv", f"malformed CSV ({exc})", f"{path.name} line {reader.line_num}"
        ) from exc
    if headers is None or not any(h.strip() for h in headers):
        raise problem(
            "tabular.no_header", "the file has no header row", f"{path.name} line {source.header_row}"
        )
    return Sheet("csv", headers, header_line, tuple(rows), encoding=used)


def read_excel(path: Path, source: SourceSpec) -> Sheet:
    """Read one sheet of an .xlsx workbook (cell values, not formulas)."""
    import openpyxl

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise problem("tabular.bad_workbook", "not a readable .xlsx workbook", path.name) from exc
    try:
        if source.sheet is not None:
            if source.sheet not in book.sheetnames:
                raise problem("tabular.no_sheet", f"the workbook has no sheet '{source.sheet}'", path.name)
            ws = book[source.sheet]
        else:
            ws = book.worksheets[0]
        rows: list[SourceRow] = []
        headers: tuple[str, ...] | None = None
        header_line = source.header_row
        for number, values in enumerate(ws.iter_rows(values_only=True), start=1):
            if number < source.header_row:
                continue
            if headers is None:
                headers = tuple("" if v is None else str(v) for v in values)
                continue
            rows.append(SourceRow(number, tuple(values)))
        if headers is None or not any(h.strip() for h in headers):
            raise problem(
                "tabular.no_header", "the sheet has no header row", f"{path.name} row {source.header_row}"
            )
        return Sheet("excel", headers, header_line, tuple(rows), sheet=ws.title)
    finally:
        book.close()


def read_sheet(path: Path, source: SourceSpec) -> Sheet:
    """Read a CSV or Excel file; the legacy binary .xls format is refused with advice."""
    suffix = path.suffix.lower()
    if not path.is_file():
        raise problem("tabular.no_file", "no such file", path.name)
    if suffix == ".xls":
        raise problem(
            "tabular.xls", "the binary .xls format is not read; save the sheet as .xlsx or CSV", path.name
        )
    if suffix in EXCEL_SUFFIXES:
        return read_excel(path, source)
    return read_csv(path, source)
