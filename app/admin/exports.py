"""Learner lists for unit administrators, as CSV or XLSX: only people inside the
administrator's subtree, filtered by unit, learner group, level and activity; every export
audited (the filters and the row count, no personal data). See docs/privacy.md.

The full phone number is included: a unit administrator needs to call the people of their
own unit, and the list never reaches past their subtree. Deactivated (and anonymised)
accounts are left out."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from app.admin.service import ACTIVITY_LABELS, activity_condition
from app.auth.scope import scope_path
from app.auth.service import Principal
from app.core.audit import record_audit
from app.core.errors import Invalid, NotFound
from app.core.spreadsheet import csv_bytes, xlsx_bytes
from app.gamification.emulation import MEDIA_TYPES as MEDIA_TYPES
from app.models import (
    LEARNER_ROLES,
    Certificate,
    CertificateStatus,
    LearnerGroup,
    LearnerStats,
    LessonProgress,
    PointTally,
    StudyDay,
    Unit,
    User,
)
from app.orgs.service import in_subtree

MAX_ROWS = 100_000  # one export; past it the administrator narrows the filters
ExportFormat = Literal["csv", "xlsx"]
HEADER = (
    "Họ và tên",
    "Số điện thoại",
    "Đơn vị",
    "Nhóm học viên",
    "Bậc",
    "Số bài đã hoàn thành",
    "Tổng điểm",
    "Ngày học gần nhất",
    "Số chứng nhận đang có",
)
WIDTHS = (28, 15, 30, 28, 6, 12, 10, 14, 12)


@dataclass(frozen=True)
class Filters:
    unit_id: int | None = None
    group_id: int | None = None
    level: int | None = None
    activity: str = ""  # "" or one of ACTIVITY_LABELS

    def audited(self) -> dict[str, Any]:
        return {
            "unit_id": self.unit_id,
            "group_id": self.group_id,
            "level": self.level,
            "activity": self.activity or None,
        }


@dataclass
class Export:
    content: bytes
    media_type: str
    filename: str
    rows: int


def _scope(session: Session, actor: Principal, filters: Filters) -> tuple[str, Unit | None]:
    """The subtree to list (the chosen unit's, or the whole scope), refusing a unit outside
    the scope as if it did not exist, an unknown group and an unknown activity."""
    prefix = scope_path(actor)
    unit = None
    if filters.unit_id is not None:
        unit = session.get(Unit, filters.unit_id)
        if unit is None or not unit.path.startswith(prefix):
            raise NotFound("Không tìm thấy đơn vị.")
        prefix = unit.path
    if filters.group_id is not None and session.get(LearnerGroup, filters.group_id) is None:
        raise Invalid("Nhóm học viên đã chọn không tồn tại.", extra={"field": "group_id"})
    if filters.activity and filters.activity not in ACTIVITY_LABELS:
        raise Invalid("Bộ lọc hoạt động không hợp lệ.", extra={"field": "activity"})
    return prefix, unit


def learners_query(prefix: str, filters: Filters, today: date) -> Select[Any]:
    """One row per active learner or mentor in the subtree `prefix`, with the figures."""
    level = func.coalesce(
        select(LearnerStats.level).where(LearnerStats.user_id == User.id).scalar_subquery(), 1
    )
    completed = (
        select(func.count())
        .where(LessonProgress.user_id == User.id, LessonProgress.completed_at.is_not(None))
        .scalar_subquery()
    )
    points = func.coalesce(
        select(PointTally.points)
        .where(PointTally.user_id == User.id, PointTally.period == "all")
        .scalar_subquery(),
        0,
    )
    last_day = (
        select(func.max(StudyDay.day))
        .where(StudyDay.user_id == User.id, StudyDay.frozen.is_(False))
        .scalar_subquery()
    )
    certificates = (
        select(func.count())
        .where(Certificate.user_id == User.id, Certificate.status == CertificateStatus.issued)
        .scalar_subquery()
    )
    stmt = (
        select(
            User.full_name,
            User.phone,
            Unit.name,
            LearnerGroup.name,
            level,
            completed,
            points,
            last_day,
            certificates,
        )
        .join(Unit, Unit.id == User.unit_id)
        .outerjoin(LearnerGroup, LearnerGroup.id == User.group_id)
        .where(in_subtree(prefix), User.is_active.is_(True), User.role.in_(LEARNER_ROLES))
    )
    if filters.group_id is not None:
        stmt = stmt.where(User.group_id == filters.group_id)
    if filters.level is not None:
        stmt = stmt.where(level == filters.level)
    if filters.activity:
        stmt = stmt.where(activity_condition(filters.activity, today))
    return stmt.order_by(Unit.path, User.full_name, User.id)


def count_learners(session: Session, *, actor: Principal, filters: Filters, today: date) -> int:
    """How many people the filters select (the page shows it before any download)."""
    prefix, _ = _scope(session, actor, filters)
    stmt = learners_query(prefix, filters, today)
    return session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0


# ---- writing the file ----------------------------------------------------------------------


def local_phone(phone: str | None) -> str:
    """+84912345678 → "0912 345 678": as people write it, and text (never a number that
    loses its leading zero) when a spreadsheet opens the CSV."""
    if not phone:
        return ""
    digits = "0" + phone[3:] if phone.startswith("+84") else phone
    if len(digits) == 10:
        return f"{digits[:4]} {digits[4:7]} {digits[7:]}"
    if len(digits) == 11:
        return f"{digits[:3]} {digits[3:7]} {digits[7:]}"
    return digits


def _cells(row: Any) -> tuple[object, ...]:
    name, phone, unit, group, level, completed, points, last_day, certificates = row
    return (
        name,
        local_phone(phone),
        unit,
        group or "",
        int(level),
        int(completed),
        int(points),
        last_day.strftime("%d/%m/%Y") if last_day else "",
        int(certificates),
    )


def export_learners(
    session: Session,
    *,
    actor: Principal,
    filters: Filters,
    fmt: ExportFormat,
    today: date,
    max_rows: int | None = None,
) -> Export:
    """The list as a file, audited as `learners.export` with the filters and the count
    (nothing is audited when the export is refused)."""
    max_rows = MAX_ROWS if max_rows is None else max_rows
    prefix, unit = _scope(session, actor, filters)
    stmt = learners_query(prefix, filters, today).limit(max_rows + 1)
    rows = [_cells(r) for r in session.execute(stmt)]
    if len(rows) > max_rows:
        raise Invalid(
            f"Danh sách vượt quá {max_rows:,} người, quá lớn cho một lần tải. ".replace(",", ".")
            + "Hãy chọn một đơn vị nhỏ hơn, một nhóm học viên hoặc một bậc rồi tải từng phần.",
            code="too_many_rows",
        )
    if fmt == "csv":
        content = csv_bytes(itertools.chain([HEADER], rows))
    else:
        content = xlsx_bytes(
            "Học viên", itertools.chain([HEADER], rows), widths=WIDTHS, bold_rows={0}
        )
    record_audit(
        session,
        actor_id=actor.user.id,
        action="learners.export",
        target_type="unit",
        target_id=unit.id if unit else (actor.user.unit_id if prefix else "all"),
        unit_path=prefix,
        details={"format": fmt, **filters.audited(), "rows": len(rows)},
    )
    code = re.sub(r"[^A-Za-z0-9_-]+", "-", unit.code).strip("-") if unit else ""
    filename = f"hoc-vien-{code or 'tat-ca'}-{today.isoformat()}.{fmt}"
    return Export(content, MEDIA_TYPES[fmt], filename, len(rows))
