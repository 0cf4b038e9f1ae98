"""The certificate PDF, read back: its text, its fonts, its QR code and its layout.

Renders of a normal and of a long-name certificate are saved to test-artifacts/certificates/
for a person to look at."""

from __future__ import annotations

import io
import unicodedata
from dataclasses import replace
from datetime import date
from pathlib import Path

import pypdfium2 as pdfium
import pytest
import zxingcpp
from pypdf import PdfReader
from pypdf.generic import DictionaryObject

from app.certificates.pdf import CertificateView, date_line, render_certificate

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "certificates"

# The 14 standard fonts a PDF may use without embedding them.
STANDARD_FONTS = {
    "Courier",
    "Courier-Bold",
    "Courier-Oblique",
    "Courier-BoldOblique",
    "Helvetica",
    "Helvetica-Bold",
    "Helvetica-Oblique",
    "Helvetica-BoldOblique",
    "Times-Roman",
    "Times-Bold",
    "Times-Italic",
    "Times-BoldItalic",
    "Symbol",
    "ZapfDingbats",
}

NORMAL = CertificateView(
    serial="BDHAI-3-2026-000042",
    holder_name="Nguyễn Thị Hồng Nhung",
    level_number=3,
    level_title="Mô hình tư duy chuyên nghiệp",
    outcomes=[
        "Vận dụng các mô hình tư duy 5W1H, SWOT, 5 câu hỏi tại sao, tư duy nguyên bản cùng AI.",
        "Phân tích một vấn đề thực tế theo từng bước và tìm ra nguyên nhân gốc.",
        "Dùng AI để so sánh phương án và ra quyết định có căn cứ.",
        "Vẽ lại và tối ưu hóa một quy trình công việc.",
        "Tự đánh giá và phản biện kết quả AI đưa ra.",
    ],
    unit_name="Xã Tân Phú",
    authority="ỦY BAN NHÂN DÂN XÃ TÂN PHÚ",
    place="Tân Phú",
    issued_on=date(2026, 11, 23),
    verify_url="https://hoc.example.vn/verify/BDHAI-3-2026-000042",
)

LONG_NAME = "Công Tằng Tôn Nữ Hoàng Phương Khuê Huyền Trân"  # 45 characters


def _long_outcome(i: int) -> str:
    text = (
        f"Kết quả {i + 1}: hướng dẫn được người dân trong thôn, ấp sử dụng trợ lý trí tuệ nhân "
        "tạo an toàn, biết kiểm chứng thông tin và bảo vệ dữ liệu cá nhân của mình"
    )
    return text[:120]


LONG = replace(
    NORMAL,
    serial="BDHAI-5-2026-123456",
    holder_name=LONG_NAME,
    level_number=5,
    level_title="Sáng tạo và đổi mới",
    outcomes=[_long_outcome(i) for i in range(8)],
    unit_name="Trường Trung học cơ sở Tân Phú",
    authority="Ủy ban nhân dân xã Tân Phú, huyện Đồng Phú",
    verify_url="https://hoc.example.vn/verify/BDHAI-5-2026-123456",
)


def _text(pdf: bytes) -> str:
    """The page's text, NFC-normalised, with runs of whitespace as single spaces."""
    text = PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
    return " ".join(unicodedata.normalize("NFC", text).split())


def _first_words(sentence: str, count: int = 5) -> str:
    return " ".join(sentence.split()[:count])


def _save_png(pdf: bytes, name: str, dpi: int = 100) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page = pdfium.PdfDocument(pdf)[0]
    page.render(scale=dpi / 72).to_pil().save(path)
    return path


@pytest.fixture(scope="module")
def normal_pdf() -> bytes:
    pdf = render_certificate(NORMAL)
    _save_png(pdf, "normal")
    return pdf


@pytest.fixture(scope="module")
def long_pdf() -> bytes:
    pdf = render_certificate(LONG)
    _save_png(pdf, "long-name")
    return pdf


def test_text_with_diacritics(normal_pdf: bytes) -> None:
    text = _text(normal_pdf)
    for expected in (
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "Độc lập - Tự do - Hạnh phúc",
        "ỦY BAN NHÂN DÂN",
        "GIẤY CHỨNG NHẬN",
        "Hoàn thành Bậc 3 – Mô hình tư duy chuyên nghiệp",
        "Bình dân học AI",
        "Chứng nhận Ông/Bà:",
        "Nguyễn Thị Hồng Nhung",
        "Số hiệu: BDHAI-3-2026-000042",
        "Tân Phú, ngày 23 tháng 11 năm 2026",
        "ĐƠN VỊ CẤP CHỨNG NHẬN",
        "Xã Tân Phú",
        "Quét mã để kiểm tra chứng nhận",
        NORMAL.verify_url,
    ):
        assert expected in text, expected
    for outcome in NORMAL.outcomes:
        assert _first_words(outcome) in text, outcome


def test_metadata(normal_pdf: bytes) -> None:
    meta = PdfReader(io.BytesIO(normal_pdf)).metadata
    assert meta is not None
    assert meta.title == "Giấy chứng nhận – Nguyễn Thị Hồng Nhung"
    assert meta.author == "Xã Tân Phú"
    assert meta.subject and "Bậc 3 – Mô hình tư duy chuyên nghiệp" in meta.subject


def test_date_line_is_administrative_style() -> None:
    assert date_line("Tân Phú", date(2026, 3, 5)) == "Tân Phú, ngày 05 tháng 03 năm 2026"
    assert date_line("Tân Phú", date(2026, 11, 23)) == "Tân Phú, ngày 23 tháng 11 năm 2026"


def test_every_font_is_embedded(normal_pdf: bytes) -> None:
    page = PdfReader(io.BytesIO(normal_pdf)).pages[0]
    fonts = page["/Resources"].get_object()["/Font"].get_object()
    assert len(fonts) > 0
    for key, ref in fonts.items():
        font = ref.get_object()
        assert isinstance(font, DictionaryObject)
        base = str(font["/BaseFont"]).lstrip("/")
        assert base.split("+")[-1] not in STANDARD_FONTS, base
        if font["/Subtype"] == "/Type0":  # a composite font: the descriptor is its descendant's
            font = font["/DescendantFonts"][0].get_object()
        descriptor = font["/FontDescriptor"].get_object()
        assert any(k in descriptor for k in ("/FontFile2", "/FontFile3", "/FontFile")), key
        assert "NotoSerif" in base


def test_qr_code_links_to_the_verify_page(normal_pdf: bytes) -> None:
    page = pdfium.PdfDocument(normal_pdf)[0]
    image = page.render(scale=175 / 72).to_pil()
    codes = [c for c in zxingcpp.read_barcodes(image) if c.format == zxingcpp.BarcodeFormat.QRCode]
    assert [c.text for c in codes] == [NORMAL.verify_url]


def _boxes(pdf: bytes, needle: str) -> list[tuple[float, float, float, float]]:
    """The boxes (left, bottom, right, top, in points) of each character of the first match
    of `needle` on the page."""
    textpage = pdfium.PdfDocument(pdf)[0].get_textpage()
    match = textpage.search(needle, match_case=True).get_next()
    assert match is not None, needle
    start, count = match
    return [textpage.get_charbox(i, loose=True) for i in range(start, start + count)]


def test_long_name_and_many_long_outcomes_fit_on_one_page(long_pdf: bytes) -> None:
    assert len(LONG_NAME) == 45
    assert all(len(o) == 120 for o in LONG.outcomes)
    assert len(PdfReader(io.BytesIO(long_pdf)).pages) == 1
    assert len(pdfium.PdfDocument(long_pdf)) == 1
    text = _text(long_pdf)
    assert LONG_NAME in text
    assert "Hoàn thành Bậc 5 – Sáng tạo và đổi mới" in text
    assert "TRƯỜNG TRUNG HỌC CƠ SỞ TÂN PHÚ" in text
    for outcome in LONG.outcomes:
        assert _first_words(outcome) in text, outcome

    # Nothing runs out of the frame (the border's inner line is 31 pt from the page's edge) ...
    width, height = pdfium.PdfDocument(long_pdf)[0].get_size()
    textpage = pdfium.PdfDocument(long_pdf)[0].get_textpage()
    for i in range(textpage.count_chars()):
        left, bottom, right, top = textpage.get_charbox(i)
        if right > left:  # spaces and line breaks have empty boxes
            assert 34 < left < right < width - 34 and 34 < bottom < top < height - 34
    # ... the name is on one line, and the list ends above the date line.
    name = [b for b in _boxes(long_pdf, LONG_NAME) if b[2] > b[0]]
    assert max(b[1] for b in name) - min(b[1] for b in name) < 1
    last_outcome_bottom = min(b[1] for b in _boxes(long_pdf, LONG.outcomes[-1][-15:]))
    date_top = max(b[3] for b in _boxes(long_pdf, "ngày 23 tháng 11"))
    assert last_outcome_bottom > date_top


def test_decomposed_input_renders_composed_text() -> None:
    view = replace(NORMAL, holder_name=unicodedata.normalize("NFD", NORMAL.holder_name))
    assert "Nguyễn Thị Hồng Nhung" in _text(render_certificate(view))


def test_same_view_same_bytes(normal_pdf: bytes) -> None:
    assert render_certificate(NORMAL) == normal_pdf
    assert render_certificate(replace(NORMAL, serial="BDHAI-3-2026-000043")) != normal_pdf
