"""What administrators oversee: the audit log (filtered, scoped, exported as CSV) and the
system's state (the curriculum versions loaded, the grader and its queue).

A unit administrator reads only the audit entries whose `unit_path` lies in their subtree;
entries without a unit (curriculum, learner groups) are for administrators only. Every
export of the log is itself written to the log (`audit.export`)."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from app.admin.service import user_matches
from app.auth.scope import scope_path
from app.auth.service import Principal
from app.config import Settings
from app.core.audit import record_audit
from app.core.clock import day_start, local_day
from app.core.errors import Invalid
from app.core.spreadsheet import csv_bytes
from app.grading.breaker import CircuitBreaker
from app.grading.service import queue_depth, spent_today
from app.models import (
    AuditLog,
    Certificate,
    CertificateStatus,
    GradeRecord,
    Lesson,
    LessonVersion,
    Level,
    Submission,
    SubmissionStatus,
    Unit,
    User,
)

# ---- the audit log -------------------------------------------------------------------------

ACTION_LABELS: dict[str, str] = {
    "account.create": "Tạo tài khoản",
    "account.update": "Sửa tài khoản",
    "account.activate": "Mở khóa tài khoản",
    "account.deactivate": "Khóa tài khoản",
    "account.reset_password": "Đặt lại mật khẩu",
    "learning.unlock_level": "Mở bậc học sớm",
    "unit.create": "Tạo đơn vị",
    "unit.update": "Sửa đơn vị",
    "group.create": "Tạo nhóm học viên",
    "group.update": "Sửa nhóm học viên",
    "import.units": "Nhập danh sách đơn vị",
    "import.learners": "Nhập danh sách học viên",
    "certificate.eligible": "Đủ điều kiện cấp chứng nhận",
    "certificate.issue": "Cấp chứng nhận",
    "certificate.approve": "Phê duyệt chứng nhận",
    "certificate.revoke": "Thu hồi chứng nhận",
    "certificate.export": "Tải chứng nhận của đơn vị",
    "grade.change": "Đổi điểm bài làm",
    "grade.appeal": "Phúc khảo bài làm",
    "review.submit": "Gửi nhận xét chấm bài",
    "mentor.apply": "Đăng ký làm người hướng dẫn",
    "mentor.confirm": "Xác nhận người hướng dẫn",
    "mentor.reject": "Chưa xác nhận người hướng dẫn",
    "mentor.remove": "Gỡ vai trò hướng dẫn",
    "mentor.step_down": "Thôi làm người hướng dẫn",
    "teach_back.feature": "Chọn bài giảng lại tiêu biểu",
    "teach_back.unfeature": "Bỏ chọn bài giảng lại tiêu biểu",
    "teach_back.withdraw": "Rút bài giảng lại",
    "question.hide": "Ẩn câu hỏi",
    "question.unhide": "Hiện lại câu hỏi",
    "question.auto_hide": "Tự ẩn câu hỏi bị báo cáo",
    "answer.hide": "Ẩn câu trả lời",
    "answer.unhide": "Hiện lại câu trả lời",
    "answer.auto_hide": "Tự ẩn câu trả lời bị báo cáo",
    "audit.export": "Xuất nhật ký",
}

# The families offered in the filter (a prefix matches every action that starts with it).
ACTION_PREFIXES: dict[str, str] = {
    "account.": "Tài khoản",
    "learning.": "Học tập",
    "unit.": "Đơn vị",
    "group.": "Nhóm học viên",
    "import.": "Nhập danh sách",
    "certificate.": "Chứng nhận",
    "grade.": "Điểm bài làm",
    "review.": "Chấm bài của người hướng dẫn",
    "mentor.": "Người hướng dẫn",
    "teach_back.": "Bài giảng lại",
    "question.": "Câu hỏi",
    "answer.": "Câu trả lời",
    "audit.": "Nhật ký",
}

TARGET_LABELS: dict[str, str] = {
    "user": "Tài khoản",
    "unit": "Đơn vị",
    "group": "Nhóm học viên",
    "import": "Lần nhập danh sách",
    "certificate": "Chứng nhận",
    "submission": "Bài làm",
    "review_item": "Mục chấm bài",
    "mentorship": "Người hướng dẫn",
    "question": "Câu hỏi",
    "answer": "Câu trả lời",
    "audit_log": "Nhật ký",
}

CSV_HEADER = [
    "Thời gian",
    "Người thực hiện",
    "Hành động",
    "Mã hành động",
    "Đối tượng",
    "Mã đối tượng",
    "Đơn vị",
    "Chi tiết",
]
CSV_MAX_ROWS = 50_000


def action_label(action: str) -> str:
    """The Vietnamese name of an action; an unknown one is shown as it is."""
    return ACTION_LABELS.get(action, action)


@dataclass(frozen=True)
class AuditFilters:
    action: str = ""  # a prefix ("certificate.") or a whole action ("certificate.revoke")
    actor: str = ""  # part of the actor's name, phone or e-mail
    target_type: str = ""
    date_from: date | None = None  # local (Asia/Ho_Chi_Minh) days, both ends included
    date_to: date | None = None

    def as_dict(self) -> dict[str, str]:
        """The filters that are set, as text (the export's audit details, page links)."""
        values = {
            "action": self.action,
            "actor": self.actor,
            "target_type": self.target_type,
            "date_from": self.date_from.isoformat() if self.date_from else "",
            "date_to": self.date_to.isoformat() if self.date_to else "",
        }
        return {key: value for key, value in values.items() if value}


def parse_day(raw: str, label: str) -> date | None:
    """A `YYYY-MM-DD` date from a form or a query, '' for none; a Vietnamese 422 otherwise."""
    raw = raw.strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise Invalid(f"{label} không hợp lệ: hãy nhập ngày dạng năm-tháng-ngày.") from None


def make_filters(
    *, action: str, actor: str, target_type: str, date_from: str, date_to: str
) -> AuditFilters:
    start = parse_day(date_from, "Ngày bắt đầu")
    end = parse_day(date_to, "Ngày kết thúc")
    if start and end and start > end:
        raise Invalid("Ngày bắt đầu phải trước hoặc trùng ngày kết thúc.")
    return AuditFilters(
        action=action.strip(),
        actor=actor.strip(),
        target_type=target_type.strip(),
        date_from=start,
        date_to=end,
    )


@dataclass
class AuditRow:
    entry: AuditLog
    actor: User | None
    unit: Unit | None

    @property
    def action_label(self) -> str:
        return action_label(self.entry.action)

    @property
    def target_label(self) -> str:
        return TARGET_LABELS.get(self.entry.target_type, self.entry.target_type)

    @property
    def details_text(self) -> str:
        return json.dumps(self.entry.details or {}, ensure_ascii=False, sort_keys=True)


def _audit_query(actor: Principal, filters: AuditFilters, tz: Any) -> Select[Any]:
    prefix = scope_path(actor)
    stmt = select(AuditLog, User).outerjoin(User, User.id == AuditLog.actor_id)
    if prefix:
        stmt = stmt.where(AuditLog.unit_path.startswith(prefix, autoescape=True))
    if filters.action:
        stmt = stmt.where(AuditLog.action.startswith(filters.action, autoescape=True))
    if filters.target_type:
        stmt = stmt.where(AuditLog.target_type == filters.target_type)
    if filters.actor:
        stmt = stmt.where(user_matches(filters.actor))
    if filters.date_from:
        stmt = stmt.where(AuditLog.created_at >= day_start(filters.date_from, tz))
    if filters.date_to:
        stmt = stmt.where(AuditLog.created_at < day_start(filters.date_to + timedelta(days=1), tz))
    return stmt


def _unit_of_path(path: str) -> int | None:
    """The unit a materialised path `/1/7/42/` ends at (42)."""
    last = path.rstrip("/").rpartition("/")[2]
    return int(last) if last.isdigit() else None


def _with_units(session: Session, rows: Sequence[Any]) -> list[AuditRow]:
    ids = {uid for entry, _ in rows if (uid := _unit_of_path(entry.unit_path)) is not None}
    units = {u.id: u for u in session.scalars(select(Unit).where(Unit.id.in_(ids)))} if ids else {}
    return [
        AuditRow(entry, actor, units.get(_unit_of_path(entry.unit_path) or 0))
        for entry, actor in rows
    ]


def audit_page(
    session: Session,
    *,
    actor: Principal,
    filters: AuditFilters,
    settings: Settings,
    page: int = 1,
    per_page: int = 50,
) -> tuple[list[AuditRow], int]:
    """The entries in the actor's scope that match, newest first, and how many there are."""
    stmt = _audit_query(actor, filters, settings.tz)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.execute(
        stmt.order_by(AuditLog.created_at.desc(), AuditLog.id.desc())
        .offset((page - 1) * per_page)
        .limit(per_page)
    ).all()
    return _with_units(session, [(r[0], r[1]) for r in rows]), total


def export_audit(
    session: Session, *, actor: Principal, filters: AuditFilters, settings: Settings
) -> tuple[bytes, int]:
    """The matching entries (newest first, at most CSV_MAX_ROWS) as a CSV file, and the
    number of rows written; the export is recorded in the log."""
    stmt = _audit_query(actor, filters, settings.tz)
    found = session.execute(
        stmt.order_by(AuditLog.created_at.desc(), AuditLog.id.desc()).limit(CSV_MAX_ROWS)
    ).all()
    rows = _with_units(session, [(r[0], r[1]) for r in found])
    body = csv_bytes(
        itertools.chain(
            [CSV_HEADER],
            (
                [
                    r.entry.created_at.astimezone(settings.tz).strftime("%Y-%m-%d %H:%M:%S"),
                    r.actor.full_name if r.actor else "",
                    r.action_label,
                    r.entry.action,
                    r.target_label,
                    r.entry.target_id,
                    r.unit.name if r.unit else "",
                    r.details_text,
                ]
                for r in rows
            ),
        )
    )
    record_audit(
        session,
        actor_id=actor.user.id,
        action="audit.export",
        target_type="audit_log",
        target_id="csv",
        unit_path=scope_path(actor),  # an administrator's export: the whole log
        details={"filters": filters.as_dict(), "rows": len(rows)},
    )
    return body, len(rows)


# ---- the system ----------------------------------------------------------------------------


@dataclass
class LessonState:
    id: str
    level: int
    position: int
    title: str
    version: int
    content_hash: str
    loaded_at: datetime | None
    active: bool


@dataclass
class LevelState:
    number: int
    title: str
    content_hash: str
    loaded_at: datetime
    active: bool
    lessons: list[LessonState] = field(default_factory=list)


def curriculum_state(session: Session) -> list[LevelState]:
    """Every level and lesson ever loaded (retired ones too), with the current version, its
    content hash and when that version was loaded."""
    levels = {
        level.number: LevelState(
            number=level.number,
            title=level.title,
            content_hash=level.content_hash,
            loaded_at=level.updated_at,
            active=level.is_active,
        )
        for level in session.scalars(select(Level).order_by(Level.number))
    }
    rows = session.execute(
        select(Lesson, LessonVersion)
        .outerjoin(
            LessonVersion,
            (LessonVersion.lesson_id == Lesson.id)
            & (LessonVersion.version == Lesson.current_version),
        )
        .order_by(Lesson.level_number, Lesson.position, Lesson.id)
    ).all()
    for lesson, version in rows:
        level = levels.get(lesson.level_number)
        if level is None:
            continue
        level.lessons.append(
            LessonState(
                id=lesson.id,
                level=lesson.level_number,
                position=lesson.position,
                title=lesson.title,
                version=lesson.current_version,
                content_hash=version.content_hash if version else "",
                loaded_at=version.created_at if version else None,
                active=lesson.is_active,
            )
        )
    return list(levels.values())


BREAKER_LABELS = {
    "closed": "Đóng (máy chấm AI hoạt động bình thường)",
    "open": "Mở (tạm chấm bằng máy chấm offline)",
    "half_open": "Nửa mở (đang thử gọi lại máy chấm AI)",
}


@dataclass
class FailedJob:
    submission_id: int
    lesson_id: str
    error: str
    at: datetime


@dataclass
class GraderState:
    grader: str
    model: str | None
    worker_mode: str
    queue: dict[str, int]
    failed_today: int
    failed_7_days: int
    provisional_today: int  # graded offline because the LLM did not answer
    provisional_7_days: int
    grades_today: dict[str, int]  # by grader
    tokens_in_today: int
    tokens_out_today: int
    cost_today_usd: float
    daily_budget_usd: float | None
    budget_left_usd: float | None
    breaker: dict[str, Any] | None  # state, failures, trips (this process's LLM grader)
    recent_failures: list[FailedJob]


def breaker_state(breaker: CircuitBreaker | None) -> dict[str, Any] | None:
    if breaker is None:
        return None
    state = breaker.state
    return {
        "state": state,
        "label": BREAKER_LABELS.get(state, state),
        "failures": breaker.failures,
        "trips": breaker.trips,
    }


def grader_state(
    session: Session, *, settings: Settings, now: datetime, breaker: CircuitBreaker | None
) -> GraderState:
    today = local_day(now, settings.tz)
    start_today = day_start(today, settings.tz)
    start_week = day_start(today - timedelta(days=6), settings.tz)

    def failed_since(start: datetime) -> int:
        return (
            session.scalar(
                select(func.count())
                .select_from(Submission)
                .where(
                    Submission.status == SubmissionStatus.failed,
                    Submission.updated_at >= start,
                )
            )
            or 0
        )

    def provisional_since(start: datetime) -> int:
        return (
            session.scalar(
                select(func.count())
                .select_from(GradeRecord)
                .where(GradeRecord.provisional.is_(True), GradeRecord.created_at >= start)
            )
            or 0
        )

    by_grader = {
        grader: int(n)
        for grader, n in session.execute(
            select(GradeRecord.grader, func.count())
            .where(GradeRecord.created_at >= start_today)
            .group_by(GradeRecord.grader)
            .order_by(GradeRecord.grader)
        )
    }
    tokens_in, tokens_out = session.execute(
        select(
            func.coalesce(func.sum(GradeRecord.tokens_in), 0),
            func.coalesce(func.sum(GradeRecord.tokens_out), 0),
        ).where(GradeRecord.created_at >= start_today)
    ).one()
    cost = spent_today(session, settings=settings, now=now)
    depth = {status.value: 0 for status in SubmissionStatus}
    depth.update(queue_depth(session))
    budget = settings.grader_daily_budget_usd
    recent = session.execute(
        select(Submission.id, Submission.lesson_id, Submission.last_error, Submission.updated_at)
        .where(Submission.status == SubmissionStatus.failed)
        .order_by(Submission.updated_at.desc(), Submission.id.desc())
        .limit(5)
    ).all()
    return GraderState(
        grader=settings.grader,
        model=settings.grader_model if settings.grader == "llm" else None,
        worker_mode=settings.worker_mode,
        queue=depth,
        failed_today=failed_since(start_today),
        failed_7_days=failed_since(start_week),
        provisional_today=provisional_since(start_today),
        provisional_7_days=provisional_since(start_week),
        grades_today=by_grader,
        tokens_in_today=int(tokens_in),
        tokens_out_today=int(tokens_out),
        cost_today_usd=round(cost, 6),
        daily_budget_usd=budget,
        budget_left_usd=round(max(0.0, budget - cost), 6) if budget is not None else None,
        breaker=breaker_state(breaker),
        recent_failures=[
            FailedJob(submission_id=sid, lesson_id=lesson, error=error or "", at=at)
            for sid, lesson, error, at in recent
        ],
    )


# ---- certificates (the page's figures; the actions are app/certificates/service.py) --------


def certificate_counts(session: Session, *, under_path: str) -> dict[str, int]:
    """How many certificates wait, are issued or were revoked under `under_path`."""
    counts = {status.value: 0 for status in CertificateStatus}
    rows = session.execute(
        select(Certificate.status, func.count())
        .where(Certificate.unit_path.startswith(under_path))
        .group_by(Certificate.status)
    ).all()
    counts.update({CertificateStatus(status).value: int(n) for status, n in rows})
    return counts


def units_of_paths(session: Session, paths: Iterable[str]) -> dict[str, Unit]:
    """The unit each materialised path ends at (a learner's unit from `unit_path`)."""
    by_id = {uid: path for path in paths if (uid := _unit_of_path(path)) is not None}
    if not by_id:
        return {}
    units = session.scalars(select(Unit).where(Unit.id.in_(by_id))).all()
    return {by_id[u.id]: u for u in units}
