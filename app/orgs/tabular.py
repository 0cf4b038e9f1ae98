"""Read an uploaded CSV or XLSX into rows of text keyed by normalised column names."""

from __future__ import annotations

import csv
import io
import zipfile
from dataclasses import dataclass

from app.core.errors import Invalid
from app.core.text import fold

MAX_XLSX_UNPACKED = 60 * 1024 * 1024


@dataclass(frozen=True)
class Row:
    line: int  # the line (CSV) or row (XLSX) number a person sees in their editor
    values: dict[str, str]


def header_key(text: str) -> str:
    return "_".join(fold(text).replace("-", " ").replace("/", " ").split())


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return str(value).strip()


def _decode(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Invalid(
            "Tệp CSV phải được lưu với bảng mã UTF-8 (trong Excel: Lưu thành → CSV UTF-8).",
            code="bad_file",
        ) from exc


def _too_many(max_rows: int) -> Invalid:
    return Invalid(
        f"Tệp có hơn {max_rows} dòng, vượt quá giới hạn {max_rows} dòng mỗi lần nhập. "
        "Hãy chia nhỏ tệp.",
        status_code=413,
        code="too_many_rows",
    )


def _row(line: int, header: list[str], cells: list[str]) -> Row:
    return Row(line, {h: (cells[i] if i < len(cells) else "") for i, h in enumerate(header) if h})


def _read_csv(data: bytes, max_rows: int) -> tuple[list[str], list[Row]]:
    text = _decode(data)
    if "\x00" in text:
        raise Invalid("Tệp CSV chứa ký tự không hợp lệ.", code="bad_file")
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(
            text[:4096], delimiters=",;\t"
        )
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text), dialect)
    header: list[str] | None = None
    rows: list[Row] = []
    try:
        for record in reader:
            cells = [cell.strip() for cell in record]
            if header is None:
                header = [header_key(h) for h in cells]
                continue
            if not any(cells):
                continue
            if len(rows) == max_rows:
                raise _too_many(max_rows)
            # the line where the record ends is what an editor shows for a one-line record
            rows.append(_row(reader.line_num, header, cells))
    except csv.Error as exc:
        raise Invalid(f"Tệp CSV không đọc được: {exc}.", code="bad_file") from exc
    if header is None:
        raise Invalid("Tệp trống.", code="bad_file")
    return header, rows


def _read_xlsx(data: bytes, max_rows: int) -> tuple[list[str], list[Row]]:
    from openpyxl import load_workbook

    broken = Invalid("Tệp XLSX bị hỏng hoặc không đúng định dạng.", code="bad_file")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except zipfile.BadZipFile as exc:
        raise broken from exc
    if unpacked > MAX_XLSX_UNPACKED:
        raise Invalid("Tệp XLSX quá lớn sau khi giải nén.", code="bad_file")
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a broken file
        raise broken from exc
    try:
        if not workbook.worksheets:
            raise Invalid("Tệp trống.", code="bad_file")
        header: list[str] | None = None
        rows: list[Row] = []
        for index, record in enumerate(workbook.worksheets[0].iter_rows(values_only=True), 1):
            cells = [_cell_text(c) for c in record]
            if header is None:
                header = [header_key(h) for h in cells]
                continue
            if not any(cells):
                continue
            if len(rows) == max_rows:
                raise _too_many(max_rows)
            rows.append(_row(index, header, cells))
        if header is None:
            raise Invalid("Tệp trống.", code="bad_file")
        return header, rows
    except Invalid:
        raise
    except Exception as exc:  # a sheet whose XML is cut off or malformed
        raise broken from exc
    finally:
        workbook.close()


def read_table(
    filename: str, data: bytes, *, max_bytes: int, max_rows: int
) -> tuple[list[str], list[Row]]:
    """Header keys and non-empty rows of a CSV (UTF-8/UTF-16; comma, semicolon or tab) or
    XLSX file (its first sheet); Invalid with a Vietnamese message for anything else."""
    if not data:
        raise Invalid("Tệp trống.", code="bad_file")
    if len(data) > max_bytes:
        raise Invalid(
            f"Tệp quá lớn (tối đa {max_bytes // (1024 * 1024)} MB). Hãy chia nhỏ tệp.",
            status_code=413,
            code="too_large",
        )
    name = filename.lower().rsplit("/", 1)[-1]
    extension = name.rsplit(".", 1)[-1] if "." in name else ""
    if data.startswith(b"PK") or extension == "xlsx":
        return _read_xlsx(data, max_rows)
    if extension in ("csv", "txt", ""):
        return _read_csv(data, max_rows)
    raise Invalid("Chỉ nhận tệp .csv hoặc .xlsx.", code="bad_file")
