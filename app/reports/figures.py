"""The dashboard's figures for a unit's subtree and a range of days (Asia/Ho_Chi_Minh):
who registered, who was active (the last 7 and 30 days to the range's end, and within
the range), lessons completed, the average challenge score, levels completed and
certificates per level, mentors per hamlet, each against its target with the gap; the
child units side by side; and the range week by week.

Every query groups by the learner's unit (a few thousand units at most) and the totals
and children are summed here from those rows, so one pass over each table serves the
whole page. The quarterly report is built from the same figures (app.reports.quarterly),
so its numbers equal the dashboard's for the same range.

Learners are accounts with the role learner or mentor. A deactivated or anonymised
account still counts as registered (it did register), so deleting one's data does not
rewrite history."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import and_, case, func, select, text
from sqlalchemy.orm import Session

from app.config import Settings
from app.core.clock import day_start
from app.core.errors import Invalid
from app.gamification import periods
from app.mentoring import mentors
from app.models import (
    Certificate,
    CertificateStatus,
    LearnerGroup,
    LessonProgress,
    Level,
    PointEvent,
    Role,
    StudyDay,
    Submission,
    SubmissionKind,
    SubmissionStatus,
    Unit,
    UnitType,
    User,
)
from app.reports import targets

LEARNER_ROLES = (Role.learner, Role.mentor)
LEAF_TYPES = (UnitType.hamlet, UnitType.residential_group)
MAX_DAYS = 366  # the longest range a dashboard covers


@dataclass
class Target:
    """An actual count against a target: `population` × `pct` %."""

    population: int | None
    pct: int
    actual: int

    @property
    def target(self) -> int | None:
        return None if self.population is None else math.ceil(self.population * self.pct / 100)

    @property
    def gap(self) -> int | None:
        """How many are still missing (0 once reached)."""
        return None if self.target is None else max(self.target - self.actual, 0)

    @property
    def rate(self) -> float | None:
        """The actual over the population (compare with `pct`)."""
        return self.actual / self.population if self.population else None

    @property
    def reached(self) -> bool | None:
        return None if self.target is None else self.actual >= self.target


@dataclass
class GroupRow:
    group_id: int
    name: str
    registered: int
    join: Target | None  # None: the group has no target of its own
    improve: Target | None
    improve_level: int | None


@dataclass
class LevelRow:
    level: int
    title: str
    completed: int  # learners who completed the level within the range
    completed_by_end: int
    certificates: int  # issued within the range (revoked ones excluded)
    certificates_by_end: int  # valid at the range's end


@dataclass
class Measures:
    """What is counted per unit, and summed over a subtree."""

    registered: int = 0
    new: int = 0  # registered within the range
    active_7: int = 0
    active_30: int = 0
    active: int = 0  # within the range
    lessons: int = 0
    score_sum: float = 0.0
    score_count: int = 0
    certificates: int = 0  # issued within the range
    basic: int = 0  # holders of the basic-level certificate (or higher) at the end
    mentors: int = 0

    @property
    def average(self) -> float | None:
        return round(self.score_sum / self.score_count, 1) if self.score_count else None

    def add(self, other: Measures) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class ChildRow:
    unit_id: int
    name: str
    measures: Measures
    join: Target | None
    basic: Target | None


@dataclass
class WeekRow:
    key: str
    first: date
    last: date
    new: int = 0
    active: int = 0
    lessons: int = 0
    certificates: int = 0


@dataclass
class Dashboard:
    unit: Unit
    start: date
    end: date
    totals: Measures
    join: Target | None  # the working-age population: who joined
    basic: Target | None  # ... who reached basic skills
    groups: list[GroupRow]
    levels: list[LevelRow]
    children: list[ChildRow]
    weeks: list[WeekRow]
    leaves: int  # hamlets and residential groups in the subtree
    leaves_with_mentor: int
    settings_note: dict[str, int] = field(default_factory=dict)


def check_range(start: date, end: date) -> None:
    if end < start:
        raise Invalid("Ngày kết thúc phải sau ngày bắt đầu.", extra={"field": "end"})
    if (end - start).days >= MAX_DAYS:
        raise Invalid(f"Khoảng thời gian dài nhất là {MAX_DAYS} ngày.", extra={"field": "start"})


def tune_for_reports(session: Session) -> None:
    """PostgreSQL, for this transaction only: no JIT (it adds about a second to each large
    aggregate and saves nothing here) and room to count distinct learners in memory."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL jit = off"))
        session.execute(text("SET LOCAL work_mem = '64MB'"))


def dashboard(
    session: Session, *, unit: Unit, start: date, end: date, settings: Settings
) -> Dashboard:
    check_range(start, end)
    tune_for_reports(session)
    tz = settings.tz
    t_start, t_end = day_start(start, tz), day_start(end + timedelta(days=1), tz)
    units = targets.subtree(session, unit)
    in_tree = select(Unit.id).where(Unit.path.startswith(unit.path, autoescape=True))
    learner = and_(User.unit_id.in_(in_tree), User.role.in_(LEARNER_ROLES))
    per_unit: dict[int, Measures] = defaultdict(Measures)
    per_group: dict[int | None, int] = defaultdict(int)

    # registered (by the end), new within the range, per unit and group
    for unit_id, group_id, registered, new in session.execute(
        select(
            User.unit_id,
            User.group_id,
            func.count(),
            func.sum(case((User.created_at >= t_start, 1), else_=0)),
        )
        .where(learner, User.created_at < t_end)
        .group_by(User.unit_id, User.group_id)
    ):
        per_unit[unit_id].registered += registered
        per_unit[unit_id].new += int(new or 0)
        per_group[group_id] += registered

    # active: a day with time on lessons or a lesson completed (a frozen day is not)
    first_day = min(start, end - timedelta(days=29))
    active_day = and_(
        StudyDay.day >= first_day,
        StudyDay.day <= end,
        StudyDay.frozen.is_(False),
        (StudyDay.active_seconds > 0) | (StudyDay.lessons_completed > 0),
    )

    def distinct_since(day: date) -> Any:
        return func.count(func.distinct(case((StudyDay.day >= day, StudyDay.user_id))))

    for unit_id, a7, a30, a_range in session.execute(
        select(
            User.unit_id,
            distinct_since(end - timedelta(days=6)),
            distinct_since(end - timedelta(days=29)),
            distinct_since(start),
        )
        .select_from(StudyDay)
        .join(User, User.id == StudyDay.user_id)
        .where(learner, active_day)
        .group_by(User.unit_id)
    ):
        m = per_unit[unit_id]
        m.active_7, m.active_30, m.active = a7, a30, a_range

    # lessons completed within the range
    for unit_id, n in session.execute(
        select(User.unit_id, func.count())
        .select_from(LessonProgress)
        .join(User, User.id == LessonProgress.user_id)
        .where(learner, LessonProgress.completed_at >= t_start, LessonProgress.completed_at < t_end)
        .group_by(User.unit_id)
    ):
        per_unit[unit_id].lessons = n

    # the challenge scores graded within the range
    for unit_id, total, n in session.execute(
        select(User.unit_id, func.sum(Submission.score), func.count(Submission.score))
        .select_from(Submission)
        .join(User, User.id == Submission.user_id)
        .where(
            learner,
            Submission.graded_at >= t_start,
            Submission.graded_at < t_end,
            Submission.kind == SubmissionKind.challenge,
            Submission.status == SubmissionStatus.graded,
        )
        .group_by(User.unit_id)
    ):
        per_unit[unit_id].score_sum = float(total or 0)
        per_unit[unit_id].score_count = int(n)

    # certificates: issued within the range, and who holds which level at the end
    valid_at_end = and_(
        Certificate.issued_at.is_not(None),
        Certificate.issued_at < t_end,
        (Certificate.status == CertificateStatus.issued)
        | (Certificate.revoked_at.is_not(None) & (Certificate.revoked_at >= t_end)),
    )
    issued_in_range = and_(
        Certificate.issued_at >= t_start,
        Certificate.issued_at < t_end,
        Certificate.status == CertificateStatus.issued,
    )
    level_certs: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for unit_id, level_number, in_range, by_end in session.execute(
        select(
            User.unit_id,
            Certificate.level_number,
            func.sum(case((issued_in_range, 1), else_=0)),
            func.sum(case((valid_at_end, 1), else_=0)),
        )
        .select_from(Certificate)
        .join(User, User.id == Certificate.user_id)
        .where(learner, Certificate.issued_at.is_not(None), Certificate.issued_at < t_end)
        .group_by(User.unit_id, Certificate.level_number)
    ):
        per_unit[unit_id].certificates += int(in_range or 0)
        level_certs[level_number][0] += int(in_range or 0)
        level_certs[level_number][1] += int(by_end or 0)

    # the highest valid level each certified learner holds, counted per unit and group
    best = (
        select(
            User.unit_id.label("unit_id"),
            User.group_id.label("group_id"),
            func.max(Certificate.level_number).label("level"),
        )
        .select_from(Certificate)
        .join(User, User.id == Certificate.user_id)
        .where(learner, valid_at_end)
        .group_by(User.id, User.unit_id, User.group_id)
        .subquery()
    )
    holders: dict[tuple[int, int | None], dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for unit_id, group_id, level, n in session.execute(
        select(best.c.unit_id, best.c.group_id, best.c.level, func.count()).group_by(
            best.c.unit_id, best.c.group_id, best.c.level
        )
    ):
        holders[(unit_id, group_id)][level] += n
        if level >= settings.target_basic_level:
            per_unit[unit_id].basic += n

    # levels completed (the ledger's one level_complete event per learner and level)
    level_of = func.substr(PointEvent.idempotency_key, func.length(PointEvent.idempotency_key))
    completions: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for level_text, in_range, by_end in session.execute(
        select(
            level_of,
            func.sum(case((PointEvent.day >= start, 1), else_=0)),
            func.count(),
        )
        .select_from(PointEvent)
        .join(User, User.id == PointEvent.user_id)
        .where(learner, PointEvent.kind == "level_complete", PointEvent.day <= end)
        .group_by(level_of)
    ):
        if str(level_text).isdigit():
            completions[int(level_text)] = [int(in_range or 0), int(by_end)]

    # mentors (people with an active mentorship) per unit
    path_to_id = {u.path: u.id for u in units}
    for path, n in mentors.active_count_by_unit(session, under_path=unit.path).items():
        if path in path_to_id:
            per_unit[path_to_id[path]].mentors += n

    # sums: the subtree, and each child's subtree
    totals = Measures()
    for m in per_unit.values():
        totals.add(m)
    pops = targets.populations(session, units)
    working_age = pops[None]
    children = [u for u in units if u.parent_id == unit.id]
    child_of = _child_map(units, unit, children)
    child_measures: dict[int, Measures] = {c.id: Measures() for c in children}
    for unit_id, m in per_unit.items():
        child = child_of.get(unit_id)
        if child is not None:
            child_measures[child].add(m)

    def join_target(population: int | None, registered: int) -> Target | None:
        if population is None:
            return None
        return Target(population, settings.target_join_pct, registered)

    def basic_target(population: int | None, basic: int) -> Target | None:
        if population is None:
            return None
        return Target(population, settings.target_basic_pct, basic)

    group_rows = []
    for group in session.scalars(
        select(LearnerGroup)
        .where(LearnerGroup.is_active.is_(True))
        .order_by(LearnerGroup.sort_order)
    ):
        population = pops.get(group.id, {}).get(unit.id)
        improved = sum(
            n
            for (_, gid), levels in holders.items()
            if gid == group.id
            for level, n in levels.items()
            if group.improve_level is not None and level >= group.improve_level
        )
        group_rows.append(
            GroupRow(
                group_id=group.id,
                name=group.name,
                registered=per_group.get(group.id, 0),
                join=Target(population, group.join_target_pct, per_group.get(group.id, 0))
                if group.join_target_pct is not None
                else None,
                improve=Target(population, group.improve_target_pct, improved)
                if group.improve_target_pct is not None
                else None,
                improve_level=group.improve_level,
            )
        )

    levels = [
        LevelRow(
            level=lv.number,
            title=lv.title,
            completed=completions[lv.number][0],
            completed_by_end=completions[lv.number][1],
            certificates=level_certs[lv.number][0],
            certificates_by_end=level_certs[lv.number][1],
        )
        for lv in session.scalars(
            select(Level).where(Level.is_active.is_(True)).order_by(Level.number)
        )
    ]
    leaves = [u for u in units if u.type in LEAF_TYPES and u.is_active]
    return Dashboard(
        unit=unit,
        start=start,
        end=end,
        totals=totals,
        join=join_target(working_age.get(unit.id), totals.registered),
        basic=basic_target(working_age.get(unit.id), totals.basic),
        groups=group_rows,
        levels=levels,
        children=[
            ChildRow(
                unit_id=c.id,
                name=c.name,
                measures=child_measures[c.id],
                join=join_target(working_age.get(c.id), child_measures[c.id].registered),
                basic=basic_target(working_age.get(c.id), child_measures[c.id].basic),
            )
            for c in sorted(children, key=lambda c: c.name)
        ],
        weeks=_weeks(session, learner, start, end, t_start, t_end, settings),
        leaves=len(leaves),
        leaves_with_mentor=sum(1 for u in leaves if per_unit.get(u.id, Measures()).mentors),
        settings_note={
            "join_pct": settings.target_join_pct,
            "basic_pct": settings.target_basic_pct,
            "basic_level": settings.target_basic_level,
        },
    )


def _child_map(units: list[Unit], root: Unit, children: list[Unit]) -> dict[int, int]:
    """Each unit of the subtree → the child of `root` it lies under (the root maps to
    nothing: its own learners are in the totals, not in a child's row)."""
    by_path = sorted(children, key=lambda c: -len(c.path))
    out: dict[int, int] = {}
    for unit in units:
        for child in by_path:
            if unit.path.startswith(child.path):
                out[unit.id] = child.id
                break
    return out


def week_spans(start: date, end: date) -> list[periods.Span]:
    """The ISO weeks the range touches, cut to the range."""
    spans = []
    day = start
    while day <= end:
        week = periods.span(periods.week_key(day))
        spans.append(periods.Span(week.key, max(week.first, start), min(week.last, end)))
        day = week.last + timedelta(days=1)
    return spans


def _weeks(
    session: Session,
    learner: Any,
    start: date,
    end: date,
    t_start: Any,
    t_end: Any,
    settings: Settings,
) -> list[WeekRow]:
    """The range week by week: new learners, active learners (distinct within the week),
    lessons completed, certificates issued."""
    spans = week_spans(start, end)
    rows = [WeekRow(s.key, s.first, s.last) for s in spans]
    tz = settings.tz

    def bucket(column: Any, to_day: Callable[[date], Any]) -> Any:
        return case(
            *((column < to_day(s.last + timedelta(days=1)), i) for i, s in enumerate(spans)),
            else_=len(spans) - 1,
        )

    def at(day: date) -> Any:
        return day_start(day, tz)

    week_of_day = bucket(StudyDay.day, lambda d: d)
    for index, n in session.execute(
        select(week_of_day, func.count(func.distinct(StudyDay.user_id)))
        .select_from(StudyDay)
        .join(User, User.id == StudyDay.user_id)
        .where(
            learner,
            StudyDay.day >= start,
            StudyDay.day <= end,
            StudyDay.frozen.is_(False),
            (StudyDay.active_seconds > 0) | (StudyDay.lessons_completed > 0),
        )
        .group_by(week_of_day)
    ):
        rows[index].active = n
    counted: list[tuple[Any, Any, Any, str]] = [
        (User.created_at, User, None, "new"),
        (LessonProgress.completed_at, LessonProgress, LessonProgress.user_id, "lessons"),
        (Certificate.issued_at, Certificate, Certificate.user_id, "certificates"),
    ]
    for column, table, user_column, name in counted:
        week = bucket(column, at)
        query = select(week, func.count()).where(learner, column >= t_start, column < t_end)
        if user_column is not None:
            query = query.select_from(table).join(User, User.id == user_column)
        if table is Certificate:
            query = query.where(Certificate.status == CertificateStatus.issued)
        for index, n in session.execute(query.group_by(week)):
            setattr(rows[index], name, n)
    return rows
