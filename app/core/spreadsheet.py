"""Writing CSV and XLSX files people open in Excel: CSV in UTF-8 with a BOM (so the
Vietnamese text shows as it is), XLSX written row by row (memory stays flat for large
exports), and text a spreadsheet would run as a formula kept as text. Every export goes
through `csv_bytes` or `xlsx_bytes`.

Formula-like text (a name typed as "=HYPERLINK(…)", "=cmd|…", "+84…", "@SUM(…)") is kept
from running in each format's own way:

- CSV has no cell types, so such a value gets a leading apostrophe (OWASP's advice for
  values starting with =, +, -, @, tab or carriage return); the apostrophe is visible.
- XLSX has them: the value is stored exactly as typed in a string cell (never a formula
  cell) with the "quote prefix" style, which Excel does not show and which keeps the cell
  text when someone edits it.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Collection, Iterable, Sequence

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# Characters XML 1.0, and so an XLSX file, cannot hold (openpyxl refuses them).
_NOT_IN_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def safe_cell(value: object) -> object:
    """For CSV: text a spreadsheet would run as a formula is kept as text with a leading
    apostrophe."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def csv_bytes(rows: Iterable[Sequence[object]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerows([safe_cell(v) for v in row] for row in rows)
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _xlsx_cell(sheet: WriteOnlyWorksheet, value: object, font: Font | None) -> object:
    """A value for `sheet.append`: text as a string cell whatever it starts with; a plain
    value where nothing needs saying."""
    if isinstance(value, str):
        value = _NOT_IN_XML.sub("", value)
        if not value.startswith(_FORMULA_START) and font is None:
            return value
        cell = WriteOnlyCell(sheet, value=value)
        cell.data_type = "s"  # openpyxl makes any text starting with "=" a formula
        if value.startswith(_FORMULA_START):
            cell.quotePrefix = True
    elif font is None:
        return value
    else:
        cell = WriteOnlyCell(sheet, value=value)
    if font is not None:
        cell.font = font
    return cell


def xlsx_bytes(
    title: str,
    rows: Iterable[Sequence[object]],
    *,
    widths: Sequence[int] = (),
    bold_rows: Collection[int] = (),
) -> bytes:
    """One sheet named `title`; the rows whose index is in `bold_rows` are bold (titles,
    headers)."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet(title[:31])
    for index, width in enumerate(widths):
        sheet.column_dimensions[chr(ord("A") + index)].width = width
    bold = Font(bold=True)
    for index, row in enumerate(rows):
        font = bold if index in bold_rows else None
        sheet.append([_xlsx_cell(sheet, v, font) for v in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
