"""Writing CSV and XLSX files people open in Excel: CSV in UTF-8 with a BOM (so the
Vietnamese text shows as it is), XLSX written row by row (memory stays flat for large
exports), and text a spreadsheet would run as a formula kept as text."""

from __future__ import annotations

import csv
import io
from collections.abc import Collection, Iterable, Sequence

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> object:
    """Text a spreadsheet would run as a formula (a name typed as "=HYPERLINK(…)") is kept
    as text with a leading apostrophe."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def csv_bytes(rows: Iterable[Sequence[object]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerows([safe_cell(v) for v in row] for row in rows)
    return ("\ufeff" + out.getvalue()).encode("utf-8")


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
        cells = [safe_cell(v) for v in row]
        if index in bold_rows:
            styled = []
            for value in cells:
                cell = WriteOnlyCell(sheet, value=value)
                cell.font = bold
                styled.append(cell)
            sheet.append(styled)
        else:
            sheet.append(cells)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
