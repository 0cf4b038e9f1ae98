"""The printable certificate: one A4 landscape page drawn with reportlab.

Laid out like a certificate a Vietnamese commune prints and hangs on the wall: the national
heading on the right, the issuing authority on the left, a large red title, the holder's name,
the level's learning outcomes, the dated issuer block and a QR code linking to the public
verification page. Text is set in Noto Serif (shipped in static/fonts, SIL OFL), which has every
Vietnamese precomposed letter; reportlab subsets and embeds it.
"""

from __future__ import annotations

import io
import itertools
import math
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.lib.colors import Color, HexColor, white
from reportlab.lib.enums import TA_LEFT
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import cm
from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus.flowables import Flowable

from app.config import ROOT_DIR
from app.core.pdf_text import nfc, paragraph
from app.core.text import fold

FONT_DIR = ROOT_DIR / "static" / "fonts"
REGULAR = "BDHAI-NotoSerif"
BOLD = "BDHAI-NotoSerif-Bold"
PROGRAMME = "Bình dân học AI"

PAGE_W, PAGE_H = landscape(A4)
MARGIN = 46.0  # the content box, inside the border
CONTENT_W = PAGE_W - 2 * MARGIN

RED = HexColor("#A4161A")
DARK_RED = HexColor("#7A0E12")
GOLD = HexColor("#C29B38")
INK = HexColor("#1B1B1B")
NAVY = HexColor("#15325F")
MUTED = HexColor("#4A4A4A")
WATERMARK = HexColor("#FBF6EA")
WATERMARK_LINE = HexColor("#F1E5C6")

# Vertical gaps of the middle block (see render_certificate), normal and compact.
GAPS = (48.0, 30.0, 20.0, 32.0, 6.0, 24.0)
COMPACT_GAPS = (46.0, 27.0, 18.0, 27.0, 4.0, 21.0)


@dataclass(frozen=True)
class CertificateView:
    serial: str  # e.g. "BDHAI-3-2026-000042"
    holder_name: str  # e.g. "Nguyễn Thị Hồng Nhung"
    level_number: int  # 1..5
    level_title: str  # e.g. "Mô hình tư duy chuyên nghiệp"
    outcomes: list[str]  # 3..8 Vietnamese sentences (the level's learning outcomes)
    unit_name: str  # issuing unit, e.g. "Xã Tân Phú"
    authority: str  # the authority's title line, e.g. "ỦY BAN NHÂN DÂN XÃ TÂN PHÚ"
    place: str  # place name for the date line, e.g. "Tân Phú"
    issued_on: date
    verify_url: str  # e.g. "https://hoc.example.vn/verify/BDHAI-3-2026-000042"


@lru_cache(maxsize=1)
def register_fonts() -> None:
    """Register Noto Serif once per process (parsing the TTF is the slow part)."""
    pdfmetrics.registerFont(TTFont(REGULAR, str(FONT_DIR / "NotoSerif-Regular.ttf")))
    pdfmetrics.registerFont(TTFont(BOLD, str(FONT_DIR / "NotoSerif-Bold.ttf")))
    pdfmetrics.registerFontFamily(
        REGULAR, normal=REGULAR, bold=BOLD, italic=REGULAR, boldItalic=BOLD
    )


def date_line(place: str, day: date) -> str:
    """'Tân Phú, ngày 05 tháng 03 năm 2026' (administrative style: two-digit day and month)."""
    return f"{nfc(place)}, ngày {day.day:02d} tháng {day.month:02d} năm {day.year}"


def _width(text: str, font: str, size: float) -> float:
    return pdfmetrics.stringWidth(text, font, size)


def _fit_size(text: str, font: str, size: float, max_width: float, minimum: float) -> float:
    """The largest size ≤ `size` (in 0.5 pt steps, not below `minimum`) that fits `max_width`."""
    while size > minimum and _width(text, font, size) > max_width:
        size -= 0.5
    return size


def _centred(
    c: Canvas, text: str, x: float, y: float, font: str, size: float, colour: Color = INK
) -> float:
    """Draw `text` centred on x; return its width."""
    c.setFont(font, size)
    c.setFillColor(colour)
    c.drawCentredString(x, y, text)
    return _width(text, font, size)


def _break_anywhere(text: str, font: str, size: float, width: float) -> list[str]:
    """`text` in lines no wider than `width`, broken between any two characters (for URLs)."""
    lines = [""]
    for char in text:
        if lines[-1] and _width(lines[-1] + char, font, size) > width:
            lines.append("")
        lines[-1] += char
    return lines


# --- decoration -------------------------------------------------------------------------------


def _border(c: Canvas) -> None:
    """A red double frame with a gold band of small lozenges between the lines and rosettes in
    the corners."""
    outer, inner = 16.0, 31.0
    c.saveState()
    c.setStrokeColor(RED)
    c.setLineWidth(3.2)
    c.rect(outer, outer, PAGE_W - 2 * outer, PAGE_H - 2 * outer)
    c.setLineWidth(0.8)
    c.rect(outer + 4, outer + 4, PAGE_W - 2 * (outer + 4), PAGE_H - 2 * (outer + 4))
    c.setLineWidth(1.6)
    c.rect(inner, inner, PAGE_W - 2 * inner, PAGE_H - 2 * inner)
    c.setLineWidth(0.5)
    c.setStrokeColor(GOLD)
    c.rect(inner + 3.5, inner + 3.5, PAGE_W - 2 * (inner + 3.5), PAGE_H - 2 * (inner + 3.5))

    # The band between the frames: a chain of gold lozenges (one path), clear of the corners.
    mid = (outer + 4 + inner) / 2
    step, half = 14.0, 2.6
    band = c.beginPath()

    def lozenge(x: float, y: float, r: float = half) -> None:
        band.moveTo(x - r, y)
        band.lineTo(x, y + r)
        band.lineTo(x + r, y)
        band.lineTo(x, y - r)
        band.close()

    def run(length: float) -> list[float]:
        clear = 22.0
        count = int((length - 2 * clear) // step)
        start = (length - count * step) / 2
        return [start + i * step for i in range(count + 1)]

    for x in run(PAGE_W):
        lozenge(x, mid)
        lozenge(x, PAGE_H - mid)
    for y in run(PAGE_H):
        lozenge(mid, y)
        lozenge(PAGE_W - mid, y)
    c.setFillColor(GOLD)
    c.drawPath(band, stroke=0, fill=1)

    # Corner rosettes: a red square set on its point with a gold heart.
    for x, y in (
        (mid, mid),
        (PAGE_W - mid, mid),
        (mid, PAGE_H - mid),
        (PAGE_W - mid, PAGE_H - mid),
    ):
        c.setFillColor(RED)
        path = c.beginPath()
        r = 9.0
        path.moveTo(x - r, y)
        path.lineTo(x, y + r)
        path.lineTo(x + r, y)
        path.lineTo(x, y - r)
        path.close()
        c.drawPath(path, stroke=0, fill=1)
        c.setFillColor(GOLD)
        c.circle(x, y, 3.2, stroke=0, fill=1)
    c.restoreState()


def _watermark(c: Canvas, x: float, y: float, radius: float) -> None:
    """A faint bronze-drum star behind the text: concentric rings around a 14-point star."""
    c.saveState()
    c.setFillColor(WATERMARK)
    c.setStrokeColor(WATERMARK_LINE)
    c.setLineWidth(1.2)
    c.circle(x, y, radius, stroke=1, fill=1)
    c.setFillColor(white)
    c.circle(x, y, radius * 0.86, stroke=1, fill=1)
    c.setFillColor(WATERMARK)
    c.circle(x, y, radius * 0.80, stroke=1, fill=0)
    c.circle(x, y, radius * 0.56, stroke=1, fill=0)
    points, outer, inner = 14, radius * 0.50, radius * 0.17
    path = c.beginPath()
    for i in range(2 * points):
        r = outer if i % 2 == 0 else inner
        angle = math.pi / 2 + i * math.pi / points
        px, py = x + r * math.cos(angle), y + r * math.sin(angle)
        if i == 0:
            path.moveTo(px, py)
        else:
            path.lineTo(px, py)
    path.close()
    c.drawPath(path, stroke=0, fill=1)
    # A ring of dots between the outer rings.
    dots = c.beginPath()
    for i in range(36):
        angle = i * 2 * math.pi / 36
        dots.circle(x + radius * 0.68 * math.cos(angle), y + radius * 0.68 * math.sin(angle), 3.0)
    c.drawPath(dots, stroke=0, fill=1)
    c.restoreState()


def _qr(c: Canvas, value: str, x: float, y: float, size: float) -> None:
    """A QR code of `value`, `size` points square, lower-left corner at (x, y). The page around
    it is left blank: that is the quiet zone. The widget encodes; its modules are drawn here as
    one path (one rectangle per run of dark modules), which is much faster than rendering the
    widget's shapes and leaves no seams between modules."""
    code = QrCodeWidget(value, barLevel="M", barBorder=0).qr
    code.make()
    count = code.getModuleCount()
    box = size / count
    path = c.beginPath()
    for row_index, row in enumerate(code.modules):
        column = 0
        for dark, run in itertools.groupby(bool(m) for m in row):
            length = len(list(run))
            if dark:
                path.rect(x + column * box, y + size - (row_index + 1) * box, length * box, box)
            column += length
    c.saveState()
    c.setFillColor(INK)
    c.drawPath(path, stroke=0, fill=1)
    c.restoreState()


# --- the page ---------------------------------------------------------------------------------


def _split_balanced(text: str, font: str, size: float, width: float) -> list[str]:
    """`text` on one line if it fits, else on two lines of about the same width (three or more
    only when two do not fit). An authority named "ỦY BAN NHÂN DÂN …" is broken after those
    words, as on every commune's letterhead."""
    words = text.split()
    if fold(text).startswith("uy ban nhan dan ") and len(words) > 4:
        return [" ".join(words[:4]), " ".join(words[4:])]
    if _width(text, font, size) <= width or len(words) < 2:
        return [text]
    best = min(
        range(1, len(words)),
        key=lambda i: max(
            _width(" ".join(words[:i]), font, size), _width(" ".join(words[i:]), font, size)
        ),
    )
    lines = [" ".join(words[:best]), " ".join(words[best:])]
    if all(_width(line, font, size) <= width for line in lines):
        return lines
    return simpleSplit(text, font, size, width)


def _header(c: Canvas, view: CertificateView) -> float:
    """The two-column heading; returns the baseline of its lowest line."""
    top = PAGE_H - MARGIN - 16
    left_x, left_w = MARGIN + 150, 290.0
    right_x = PAGE_W - MARGIN - 185

    # Right: the national heading, the motto underlined across its width.
    _centred(c, "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", right_x, top, BOLD, 12.5)
    motto_y = top - 17
    width = _centred(c, "Độc lập - Tự do - Hạnh phúc", right_x, motto_y, BOLD, 13.5)
    c.setStrokeColor(INK)
    c.setLineWidth(0.8)
    c.line(right_x - width / 2, motto_y - 4.5, right_x + width / 2, motto_y - 4.5)

    # Left: the authority in capitals; below it, in bold, the unit, unless the authority already
    # names it (a commune's People's Committee issuing for the commune). A short rule under
    # the lowest line, then the serial, where a letterhead has the document number.
    authority = nfc(view.authority).upper()
    unit = nfc(view.unit_name)
    size, leading = 12.0, 16.0
    if fold(unit) in fold(authority):
        lines = [(line, BOLD) for line in _split_balanced(authority, BOLD, size, left_w)]
    else:
        lines = [(line, REGULAR) for line in _split_balanced(authority, REGULAR, size, left_w)]
        lines += [(line, BOLD) for line in _split_balanced(unit.upper(), BOLD, size, left_w)]
    if len(lines) > 3:  # an unusually long name: smaller, tighter
        size, leading = 10.5, 13.5
    y = top
    for index, (text, font) in enumerate(lines):
        if index:
            y -= leading
        _centred(c, text, left_x, y, font, _fit_size(text, font, size, left_w, 7))
    rule_y = y - 7
    c.setLineWidth(0.8)
    c.line(left_x - 36, rule_y, left_x + 36, rule_y)
    serial = f"Số hiệu: {nfc(view.serial)}"
    serial_y = rule_y - 17
    _centred(c, serial, left_x, serial_y, REGULAR, _fit_size(serial, REGULAR, 11.5, left_w, 7))
    return min(serial_y, motto_y)


@dataclass(frozen=True)
class _OutcomeList:
    paragraphs: list[tuple[Flowable, float]]  # each with its height
    size: float
    width: float
    gap: float

    @property
    def height(self) -> float:
        return sum(h for _, h in self.paragraphs) + self.gap * (len(self.paragraphs) - 1)


def _plan_outcomes(outcomes: list[str], max_height: float) -> _OutcomeList | None:
    """The learning outcomes as bulleted paragraphs at the largest size (12 pt down to 7 pt)
    whose height fits `max_height`. The block is as wide as its longest line, so that a list of
    short outcomes sits in the middle of the page."""
    texts = [nfc(o) for o in outcomes if o.strip()]
    if not texts:
        return None
    plan = None
    for tenths in range(120, 65, -5):
        size = tenths / 10
        indent = size * 1.3
        natural = max(_width(t, REGULAR, size) for t in texts) + indent + 2
        width = min(natural, CONTENT_W - 50)
        style = ParagraphStyle(
            "outcome",
            fontName=REGULAR,
            fontSize=size,
            leading=size * 1.25,
            alignment=TA_LEFT,
            leftIndent=indent,
            bulletIndent=size * 0.2,
            bulletFontName=REGULAR,
            bulletColor=RED,
            textColor=INK,
        )
        paragraphs = []
        for text in texts:
            para = paragraph(text, style, bullet="•")
            paragraphs.append((para, para.wrap(width, PAGE_H)[1]))
        plan = _OutcomeList(paragraphs, size, width, size * 0.25)
        if plan.height <= max_height:
            break
    return plan


def _draw_outcomes(c: Canvas, plan: _OutcomeList, top: float) -> None:
    x = (PAGE_W - plan.width) / 2
    y = top
    for para, height in plan.paragraphs:
        y -= height
        para.drawOn(c, x, y)
        y -= plan.gap


def _footer(c: Canvas, view: CertificateView) -> float:
    """Bottom left: the QR code and its caption; bottom right: the date and the issuer. Returns
    the y of the top of the footer."""
    bottom = MARGIN + 4
    # Issuer block, right.
    issuer_x = PAGE_W - MARGIN - 185
    issuer_w = 330.0
    date_text = date_line(view.place, view.issued_on)
    date_y = bottom + 100
    c.saveState()
    c.translate(issuer_x, date_y)
    c.skew(0, 12)  # the date line is set in italics in administrative documents
    _centred(c, date_text, 0, 0, REGULAR, _fit_size(date_text, REGULAR, 12.5, issuer_w, 8))
    c.restoreState()
    _centred(c, "ĐƠN VỊ CẤP CHỨNG NHẬN", issuer_x, date_y - 20, BOLD, 13)
    unit = nfc(view.unit_name)
    _centred(c, unit, issuer_x, date_y - 37, BOLD, _fit_size(unit, BOLD, 12.5, issuer_w, 8))

    # QR code, left, built up from the bottom: the URL (one line, or broken anywhere over
    # several when very long), the caption, the code.
    qr_size = 3 * cm
    qr_cx = MARGIN + 150
    url = view.verify_url
    url_size = _fit_size(url, REGULAR, 8, 280, 6.5)
    url_lines = _break_anywhere(url, REGULAR, url_size, 280)
    y = bottom + 1 + 8 * (len(url_lines) - 1)
    for line in url_lines:
        _centred(c, line, qr_cx, y, REGULAR, url_size, MUTED)
        y -= 8
    caption_y = bottom + 12 + 8 * (len(url_lines) - 1)
    _centred(c, "Quét mã để kiểm tra chứng nhận", qr_cx, caption_y, REGULAR, 9.5, MUTED)
    _qr(c, url, qr_cx - qr_size / 2, caption_y + 14, qr_size)
    return max(caption_y + 14 + qr_size, date_y + 12)


def render_certificate(view: CertificateView) -> bytes:
    """The certificate as a complete one-page PDF. The same view gives the same bytes."""
    register_fonts()
    holder = nfc(view.holder_name)
    level_title = nfc(view.level_title)
    buffer = io.BytesIO()
    c = Canvas(
        buffer,
        pagesize=(PAGE_W, PAGE_H),
        invariant=1,
        initialFontName=REGULAR,
        initialFontSize=12,
        lang="vi",
    )
    c.setTitle(f"Giấy chứng nhận – {holder}")
    c.setAuthor(nfc(view.unit_name))
    c.setSubject(
        f"Chứng nhận hoàn thành Bậc {view.level_number} – {level_title}, "
        f"chương trình {PROGRAMME}. Số hiệu {nfc(view.serial)}"
    )
    c.setCreator(PROGRAMME)
    c.setKeywords(["giấy chứng nhận", PROGRAMME, nfc(view.serial)])

    cx = PAGE_W / 2
    _watermark(c, cx, PAGE_H / 2 - 10, 205)
    _border(c)
    below_header = _header(c, view)
    footer_top = _footer(c, view)

    # The middle, top to bottom: the title, the level, the programme, the holder and the
    # outcomes. The space the outcomes leave is shared out between the gaps (up to a point),
    # and what remains goes around the list.
    level = f"Hoàn thành Bậc {view.level_number} – {level_title}"
    level_size = _fit_size(level, BOLD, 17, CONTENT_W - 40, 10)
    name_size = _fit_size(holder, BOLD, 28, CONTENT_W - 80, 10)
    list_bottom = footer_top + 14
    for gaps in (GAPS, COMPACT_GAPS):  # compact when a long list would otherwise be tiny
        # Baseline to baseline: the title, the level, the programme, "Chứng nhận Ông/Bà:", the
        # name and the outcomes' label; then 8 pt to the top of the list.
        drops = [*gaps[:4], gaps[4] + name_size, gaps[5]]
        list_top = below_header - sum(drops) - 8
        plan = _plan_outcomes(view.outcomes, list_top - list_bottom)
        if plan is None or plan.size >= 10:
            break
    spare = max(0.0, list_top - list_bottom - (plan.height if plan else 0.0))
    extra = min(spare * 0.7, 48.0)
    for index, share in ((0, 0.3), (3, 0.35), (4, 0.1), (5, 0.25)):
        drops[index] += extra * share

    y = below_header - drops[0]
    _centred(c, "GIẤY CHỨNG NHẬN", cx, y, BOLD, 38, RED)
    y -= drops[1]
    _centred(c, level, cx, y, BOLD, level_size, DARK_RED)
    y -= drops[2]
    _centred(c, f"Chương trình “{PROGRAMME}”", cx, y, REGULAR, 13, MUTED)
    y -= drops[3]
    _centred(c, "Chứng nhận Ông/Bà:", cx, y, REGULAR, 14)
    y -= drops[4]
    _centred(c, holder, cx, y, BOLD, name_size, NAVY)
    if plan is not None:
        y -= drops[5]
        _centred(c, "Đã đạt các kết quả học tập sau:", cx, y, REGULAR, 11.5, MUTED)
        _draw_outcomes(c, plan, y - 8 - (spare - extra) * 0.35)

    c.showPage()
    c.save()
    return buffer.getvalue()
