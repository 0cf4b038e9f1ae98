"""The quarterly report (báo cáo quý) for a unit and a quarter, in one click: the same
sections as rows, written as XLSX, PDF and CSV. Its figures are the dashboard's for the
quarter's days (app.reports.figures.dashboard), so the two never disagree; the honour roll
adds the quarter's top learners by points (from the month boards) and the child units by
participation."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import date, timedelta

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import SimpleDocTemplate, Spacer, Table, TableStyle
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.certificates.pdf import BOLD, REGULAR, date_line, register_fonts
from app.config import Settings
from app.core.clock import local_day
from app.core.errors import Invalid
from app.core.pdf_text import nfc, paragraph
from app.core.spreadsheet import csv_bytes, xlsx_bytes
from app.gamification import periods
from app.gamification.boards import Board, SqlBoards
from app.models import PointTally, Unit, User, utcnow
from app.reports import figures

ROMAN = {1: "I", 2: "II", 3: "III", 4: "IV"}
TOP_LEARNERS = 10
Cell = str | int | float | None


@dataclass
class Section:
    title: str
    header: list[str]
    rows: list[list[Cell]]


@dataclass
class Report:
    unit: Unit
    year: int
    quarter: int
    start: date
    end: date
    made_on: date
    dashboard: figures.Dashboard
    top_learners: list[tuple[str, str, int]]  # name, unit, points in the quarter

    @property
    def title(self) -> str:
        return (
            f"BÁO CÁO KẾT QUẢ PHONG TRÀO “BÌNH DÂN HỌC AI” QUÝ {ROMAN[self.quarter]} "
            f"NĂM {self.year}"
        )

    @property
    def period(self) -> str:
        return f"Từ ngày {self.start:%d/%m/%Y} đến ngày {self.end:%d/%m/%Y}"

    @property
    def filename(self) -> str:
        code = re.sub(r"[^A-Za-z0-9_-]+", "-", self.unit.code).strip("-") or str(self.unit.id)
        return f"bao-cao-quy-{self.quarter}-{self.year}-{code}"


def quarter_days(year: int, quarter: int) -> tuple[date, date]:
    if quarter not in ROMAN or not 2020 <= year <= 2100:
        raise Invalid("Quý hoặc năm không hợp lệ.", extra={"field": "quarter"})
    start = date(year, 3 * quarter - 2, 1)
    following = date(year + (quarter == 4), 1 if quarter == 4 else 3 * quarter + 1, 1)
    return start, following - timedelta(days=1)


def current_quarter(today: date) -> tuple[int, int]:
    return today.year, (today.month - 1) // 3 + 1


def build(session: Session, *, unit: Unit, year: int, quarter: int, settings: Settings) -> Report:
    start, end = quarter_days(year, quarter)
    dash = figures.dashboard(session, unit=unit, start=start, end=end, settings=settings)
    ranked = top_learners(session, unit=unit, start=start, end=end)
    names = {
        uid: (name, uname)
        for uid, name, uname in session.execute(
            select(User.id, User.full_name, Unit.name)
            .join(Unit, Unit.id == User.unit_id)
            .where(User.id.in_([uid for uid, _ in ranked]))
        )
    }
    return Report(
        unit=unit,
        year=year,
        quarter=quarter,
        start=start,
        end=end,
        made_on=local_day(utcnow(), settings.tz),
        dashboard=dash,
        top_learners=[(*names[uid], points) for uid, points in ranked],
    )


def top_learners(
    session: Session, *, unit: Unit, start: date, end: date, limit: int = TOP_LEARNERS
) -> list[tuple[int, int]]:
    """The subtree's learners with the most points over the months from `start` to `end`
    (account id, points), from the month boards (app.gamification.boards), exactly: each
    month's top is read deeper until nobody unseen could still come in (a threshold
    algorithm: an unseen learner has at most the sum of each list's last points)."""
    months = sorted(
        {periods.month_key(start + timedelta(days=i)) for i in range((end - start).days + 1)}
    )
    store = SqlBoards()
    whole = (
        unit.parent_id is None
        and session.scalar(select(func.count()).select_from(Unit).where(Unit.parent_id.is_(None)))
        == 1
    )  # the tree's only root: its board is everyone's (the quicker index)

    def board(month: str) -> Board:
        return Board(month, "all") if whole else Board(month, "unit", unit.id, unit.path)

    depth = limit
    while True:
        lists = [store.top(session, board(m), depth) for m in months]
        seen = {e.user_id for entries in lists for e in entries}
        totals = session.execute(
            select(PointTally.user_id, func.sum(PointTally.points))
            .where(PointTally.period.in_(months), PointTally.user_id.in_(seen))
            .group_by(PointTally.user_id)
        ).all()
        ranked = sorted(((uid, int(p)) for uid, p in totals), key=lambda r: (-r[1], r[0]))[:limit]
        bound = sum(entries[-1].points for entries in lists if len(entries) == depth)
        exhausted = all(len(entries) < depth for entries in lists)
        if exhausted or (len(ranked) == limit and ranked[-1][1] > bound) or depth >= 10_000:
            return ranked
        depth *= 4


def _pct(value: float | None) -> str:
    return "" if value is None else f"{value * 100:.1f}%".replace(".", ",")


def _target_row(label: str, target: figures.Target | None, actual: int) -> list[Cell]:
    if target is None:
        return [label, None, None, None, actual, None, None]
    return [
        label,
        target.population,
        f"{target.pct}%",
        target.target,
        actual,
        target.gap,
        _pct(target.rate),
    ]


def sections(report: Report) -> list[Section]:
    """The report's content, once, for every format."""
    d, t = report.dashboard, report.dashboard.totals
    summary = Section(
        "I. Tổng hợp",
        ["Chỉ số", "Số lượng"],
        [
            ["Học viên đã đăng ký (đến cuối quý)", t.registered],
            ["Học viên mới trong quý", t.new],
            ["Học viên có học trong quý", t.active],
            ["Học viên có học trong 30 ngày cuối quý", t.active_30],
            ["Bài học đã hoàn thành trong quý", t.lessons],
            ["Điểm thử thách trung bình (trên 100)", t.average],
            ["Chứng nhận cấp trong quý", t.certificates],
            [f"Người có chứng nhận từ Bậc {d.settings_note['basic_level']} trở lên", t.basic],
            ["Người hướng dẫn đang hoạt động", t.mentors],
            ["Thôn, tổ dân phố có người hướng dẫn", f"{d.leaves_with_mentor}/{d.leaves}"],
        ],
    )
    target_header = [
        "Đối tượng",
        "Dân số mục tiêu",
        "Chỉ tiêu",
        "Số cần đạt",
        "Đã đạt",
        "Còn thiếu",
        "Tỷ lệ đạt",
    ]
    target_rows: list[list[Cell]] = [
        _target_row("Người trong độ tuổi lao động: tham gia học", d.join, t.registered),
        _target_row("Người trong độ tuổi lao động: có kỹ năng AI cơ bản", d.basic, t.basic),
    ]
    for g in d.groups:
        if g.join is not None:
            target_rows.append(_target_row(f"{g.name}: tham gia học", g.join, g.registered))
        if g.improve is not None:
            target_rows.append(
                _target_row(
                    f"{g.name}: nâng cao rõ rệt (chứng nhận Bậc {g.improve_level})",
                    g.improve,
                    g.improve.actual,
                )
            )
    targets_section = Section("II. Kết quả so với chỉ tiêu", target_header, target_rows)
    children = Section(
        "III. Theo đơn vị trực thuộc",
        [
            "Đơn vị",
            "Đăng ký",
            "Có học trong quý",
            "Bài hoàn thành",
            "Điểm TB",
            "Chứng nhận trong quý",
            "Người hướng dẫn",
            "Tỷ lệ tham gia / dân số",
        ],
        [
            [
                c.name,
                c.measures.registered,
                c.measures.active,
                c.measures.lessons,
                c.measures.average,
                c.measures.certificates,
                c.measures.mentors,
                _pct(c.join.rate) if c.join else None,
            ]
            for c in d.children
        ],
    )
    levels = Section(
        "IV. Hoàn thành và chứng nhận theo bậc",
        ["Bậc", "Hoàn thành trong quý", "Chứng nhận cấp trong quý", "Chứng nhận còn hiệu lực"],
        [
            [f"Bậc {lv.level}: {lv.title}", lv.completed, lv.certificates, lv.certificates_by_end]
            for lv in d.levels
        ],
    )
    ranked = sorted(
        (c for c in d.children if c.measures.registered),
        key=lambda c: (-c.measures.active / c.measures.registered, c.name),
    )
    honour = Section(
        "V. Vinh danh",
        ["Hạng", "Học viên / Đơn vị", "Thuộc", "Thành tích"],
        [
            [i + 1, name, unit_name, f"{points:,} điểm".replace(",", ".")]
            for i, (name, unit_name, points) in enumerate(report.top_learners)
        ]
        + [
            [
                i + 1,
                c.name,
                report.unit.name,
                f"{_pct(c.measures.active / c.measures.registered)} học viên có học",
            ]
            for i, c in enumerate(ranked[:3])
        ],
    )
    return [summary, targets_section, children, levels, honour]


# ---- the files ------------------------------------------------------------------------------
def rows(report: Report) -> tuple[list[list[Cell]], set[int]]:
    """The report as rows for a spreadsheet, and which rows are titles or headers."""
    out: list[list[Cell]] = [[report.title], [report.unit.name], [report.period]]
    bold = {0}
    for section in sections(report):
        out.append([])
        bold |= {len(out), len(out) + 1}
        out += [[section.title], list(section.header), *section.rows]
    return out, bold


def to_csv(report: Report) -> bytes:
    return csv_bytes(rows(report)[0])


def to_xlsx(report: Report) -> bytes:
    content, bold = rows(report)
    return xlsx_bytes(
        f"Quý {report.quarter}-{report.year}",
        content,
        widths=(52, 16, 16, 16, 16, 16, 16, 16),
        bold_rows=bold,
    )


def to_pdf(report: Report) -> bytes:
    """A4 portrait with Noto Serif (Vietnamese), the national heading and the unit's name,
    then each section as a table."""
    register_fonts()
    out = io.BytesIO()
    doc = SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=15 * mm,
        rightMargin=15 * mm,
        topMargin=15 * mm,
        bottomMargin=15 * mm,
        title=nfc(report.title),
        author=nfc(report.unit.name),
    )
    small = ParagraphStyle("small", fontName=REGULAR, fontSize=8.5, leading=11)
    normal = ParagraphStyle("normal", fontName=REGULAR, fontSize=10, leading=13)
    center = ParagraphStyle("center", parent=normal, alignment=1)
    heading = ParagraphStyle("heading", fontName=BOLD, fontSize=12, leading=16, alignment=1)
    section_style = ParagraphStyle("section", fontName=BOLD, fontSize=10.5, leading=14)
    story = [
        Table(
            [
                [
                    paragraph(report.unit.name.upper(), center, bold=True),
                    paragraph("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", center, bold=True),
                ],
                [
                    paragraph("", center),
                    paragraph("Độc lập - Tự do - Hạnh phúc", center, bold=True),
                ],
                [
                    paragraph("", center),
                    paragraph(date_line(report.unit.name, report.made_on), center),
                ],
            ],
            colWidths=[75 * mm, 105 * mm],
        ),
        Spacer(1, 8 * mm),
        paragraph(report.title, heading),
        paragraph(report.period, center),
        Spacer(1, 5 * mm),
    ]
    width = A4[0] - 30 * mm
    for section in sections(report):
        story.append(paragraph(section.title, section_style))
        story.append(Spacer(1, 2 * mm))
        first = 0.42 if len(section.header) > 2 else 0.7
        rest = (1 - first) / max(len(section.header) - 1, 1)
        data = [[paragraph(h, small, bold=True) for h in section.header]] + [
            [paragraph("" if v is None else _cell(v), small) for v in row] for row in section.rows
        ]
        if len(data) == 1:
            data.append([paragraph("Không có số liệu.", small)] + [""] * (len(section.header) - 1))
        table = Table(
            data,
            colWidths=[width * first] + [width * rest] * (len(section.header) - 1),
            repeatRows=1,
        )
        table.setStyle(
            TableStyle(
                [
                    ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#a8a29e")),
                    ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#f5f5f4")),
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ]
            )
        )
        story += [table, Spacer(1, 5 * mm)]
    story.append(
        paragraph(
            f"Số liệu lấy từ hệ thống Bình dân học AI ngày {report.made_on:%d/%m/%Y}; "
            "trùng với trang Tổng quan cho cùng khoảng thời gian.",
            small,
        )
    )
    doc.build(story)
    return out.getvalue()


def _cell(value: Cell) -> str:
    if isinstance(value, float):
        return f"{value:.1f}".replace(".", ",")
    if isinstance(value, int):
        return f"{value:,}".replace(",", ".")
    return str(value)


FORMATS = {
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", to_xlsx),
    "pdf": ("application/pdf", to_pdf),
    "csv": ("text/csv; charset=utf-8", to_csv),
}
