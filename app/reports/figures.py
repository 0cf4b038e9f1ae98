"""The dashboard's figures for a unit's subtree and a range of days (Asia/Ho_Chi_Minh):
who registered, who was active (the last 7 and 30 days to the range's end, and within
the range), lessons completed, the average challenge score, levels completed and
certificates per level, mentors per hamlet, each against its target with the gap; the
child units side by side; and the range week by week.

The figures come from the rollups (app.reports.rollups): a few rows per day for the
unit and each child, and unions of the days' bitmaps for distinct active learners, so a
province of a million learners reads as fast as a hamlet. The quarterly report is built
from the same figures (app.reports.quarterly), so its numbers equal the dashboard's for
the same range. States (registered, certificates held) are read at the range's end, or
at the last day built when the range reaches past it.

Learners are accounts with the role learner or mentor. A deactivated or anonymised
account still counts as registered (it did register), so deleting one's data does not
rewrite history."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from pyroaring import BitMap
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.config import Settings
from app.core.errors import Invalid
from app.gamification import periods
from app.models import (
    LearnerGroup,
    Level,
    ReportActiveDay,
    ReportDay,
    ReportLevelDay,
    ReportUnit,
    Unit,
)
from app.reports import rollups, targets

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
    """What is counted for a unit's subtree."""

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
    built_through: date | None = None  # the rollups' last day (app.reports.rollups)
    refreshed_at: datetime | None = None
    settings_note: dict[str, int] = field(default_factory=dict)


def check_range(start: date, end: date) -> None:
    if end < start:
        raise Invalid("Ngày kết thúc phải sau ngày bắt đầu.", extra={"field": "end"})
    if (end - start).days >= MAX_DAYS:
        raise Invalid(f"Khoảng thời gian dài nhất là {MAX_DAYS} ngày.", extra={"field": "start"})


def dashboard(
    session: Session, *, unit: Unit, start: date, end: date, settings: Settings
) -> Dashboard:
    check_range(start, end)
    built = rollups.state(session)
    if built.built_through is None:  # a new installation: the first build, here and now
        rollups.refresh(session, settings)
        session.refresh(built)
    through = built.built_through or end
    last = min(end, through)  # states are read at the last day built
    units = targets.subtree(session, unit)
    children = [u for u in units if u.parent_id == unit.id]
    ids = [unit.id, *(c.id for c in children)]
    per_unit: dict[int, Measures] = defaultdict(Measures)
    per_group: dict[int, int] = defaultdict(int)

    # registered at the end, per unit and group
    for unit_id, group_id, registered in session.execute(
        select(ReportDay.unit_id, ReportDay.group_id, ReportDay.registered).where(
            ReportDay.unit_id.in_(ids), ReportDay.day == last
        )
    ):
        per_unit[unit_id].registered += registered
        if unit_id == unit.id:
            per_group[group_id] += registered

    # what happened within the range, per unit; and per day for the root's weeks
    spans = week_spans(start, end)
    weeks = [WeekRow(s.key, s.first, s.last) for s in spans]
    week_of = _week_index(spans)
    in_range = (ReportDay.day >= start) & (ReportDay.day <= last)
    sums = (
        func.sum(ReportDay.new),
        func.sum(ReportDay.lessons),
        func.sum(ReportDay.score_sum),
        func.sum(ReportDay.score_count),
        func.sum(ReportDay.certificates),
    )
    for unit_id, new, lessons, score_sum, score_count, certificates in session.execute(
        select(ReportDay.unit_id, *sums)
        .where(ReportDay.unit_id.in_(ids), in_range)
        .group_by(ReportDay.unit_id)
    ):
        m = per_unit[unit_id]
        m.new, m.lessons = int(new), int(lessons)
        m.score_sum, m.score_count = float(score_sum), int(score_count)
        m.certificates = int(certificates)
    for day, new, lessons, _, _, _ in session.execute(
        select(ReportDay.day, *sums)
        .where(ReportDay.unit_id == unit.id, in_range)
        .group_by(ReportDay.day)
    ):
        w = weeks[week_of[day]]
        w.new += int(new)
        w.lessons += int(lessons)

    # levels: held at the end per unit, group and level; the root's completions and
    # certificates per day and level
    level_rows: dict[int, LevelRow] = {
        lv.number: LevelRow(lv.number, lv.title, 0, 0, 0, 0)
        for lv in session.scalars(
            select(Level).where(Level.is_active.is_(True)).order_by(Level.number)
        )
    }
    holders: dict[int, dict[int, int]] = defaultdict(lambda: defaultdict(int))  # group→level
    for unit_id, group_id, level, valid, held in session.execute(
        select(
            ReportLevelDay.unit_id,
            ReportLevelDay.group_id,
            ReportLevelDay.level,
            ReportLevelDay.valid,
            ReportLevelDay.holders,
        ).where(ReportLevelDay.unit_id.in_(ids), ReportLevelDay.day == last)
    ):
        if level >= settings.target_basic_level:
            per_unit[unit_id].basic += held
        if unit_id == unit.id:
            holders[group_id][level] += held
            if level in level_rows:
                level_rows[level].certificates_by_end += valid
    for day, level, completed, certificates in session.execute(
        select(
            ReportLevelDay.day,
            ReportLevelDay.level,
            func.sum(ReportLevelDay.completed),
            func.sum(ReportLevelDay.certificates),
        )
        .where(ReportLevelDay.unit_id == unit.id, ReportLevelDay.day <= last)
        .group_by(ReportLevelDay.day, ReportLevelDay.level)
    ):
        row = level_rows.get(level)
        if row is not None:
            row.completed_by_end += int(completed)
        if day >= start:
            if row is not None:
                row.completed += int(completed)
                row.certificates += int(certificates)
            weeks[week_of[day]].certificates += int(certificates)

    # distinct active learners: the unit's days' bitmaps united over each window; a
    # child's share is that union intersected with the child's learners
    first_day = min(start, last - timedelta(days=29))
    days_7: list[BitMap] = []
    days_30: list[BitMap] = []
    days_range: list[BitMap] = []
    week_days: list[list[BitMap]] = [[] for _ in spans]
    for day, data in session.execute(
        select(ReportActiveDay.day, ReportActiveDay.learners).where(
            ReportActiveDay.unit_id == unit.id,
            ReportActiveDay.day >= first_day,
            ReportActiveDay.day <= last,
        )
    ):
        bitmap = rollups.unpack(data)
        if day > last - timedelta(days=30):
            days_30.append(bitmap)
            if day > last - timedelta(days=7):
                days_7.append(bitmap)
        if day >= start:
            days_range.append(bitmap)
            week_days[week_of[day]].append(bitmap)
    windows = {
        name: BitMap.union(*bitmaps) if bitmaps else BitMap()
        for name, bitmaps in (("active_7", days_7), ("active_30", days_30), ("active", days_range))
    }
    for name, bitmap in windows.items():
        setattr(per_unit[unit.id], name, len(bitmap))
    for w, bitmaps in zip(weeks, week_days, strict=True):
        w.active = len(BitMap.union(*bitmaps)) if bitmaps else 0

    # the subtrees now: each child's learners, mentors (people with an active mentorship)
    # and hamlets with a mentor
    leaves = leaves_with_mentor = 0
    for unit_id, learners, mentors_now, leaf_count, mentored in session.execute(
        select(
            ReportUnit.unit_id,
            ReportUnit.learners,
            ReportUnit.mentors,
            ReportUnit.leaves,
            ReportUnit.leaves_with_mentor,
        ).where(ReportUnit.unit_id.in_(ids))
    ):
        m = per_unit[unit_id]
        m.mentors = len(rollups.unpack(mentors_now))
        if unit_id == unit.id:
            leaves, leaves_with_mentor = leaf_count, mentored
            continue
        members = rollups.unpack(learners)
        for name, bitmap in windows.items():
            setattr(m, name, bitmap.intersection_cardinality(members))

    totals = per_unit[unit.id]
    pops = targets.populations(session, units)
    working_age = pops[None]

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
            for level, n in holders[group.id].items()
            if group.improve_level is not None and level >= group.improve_level
        )
        registered = per_group.get(group.id, 0)
        group_rows.append(
            GroupRow(
                group_id=group.id,
                name=group.name,
                registered=registered,
                join=Target(population, group.join_target_pct, registered)
                if group.join_target_pct is not None
                else None,
                improve=Target(population, group.improve_target_pct, improved)
                if group.improve_target_pct is not None
                else None,
                improve_level=group.improve_level,
            )
        )

    return Dashboard(
        unit=unit,
        start=start,
        end=end,
        totals=totals,
        join=join_target(working_age.get(unit.id), totals.registered),
        basic=basic_target(working_age.get(unit.id), totals.basic),
        groups=group_rows,
        levels=list(level_rows.values()),
        children=[
            ChildRow(
                unit_id=c.id,
                name=c.name,
                measures=per_unit[c.id],
                join=join_target(working_age.get(c.id), per_unit[c.id].registered),
                basic=basic_target(working_age.get(c.id), per_unit[c.id].basic),
            )
            for c in sorted(children, key=lambda c: c.name)
        ],
        weeks=weeks,
        leaves=leaves,
        leaves_with_mentor=leaves_with_mentor,
        built_through=built.built_through,
        refreshed_at=built.refreshed_at,
        settings_note={
            "join_pct": settings.target_join_pct,
            "basic_pct": settings.target_basic_pct,
            "basic_level": settings.target_basic_level,
        },
    )


def week_spans(start: date, end: date) -> list[periods.Span]:
    """The ISO weeks the range touches, cut to the range."""
    spans = []
    day = start
    while day <= end:
        week = periods.span(periods.week_key(day))
        spans.append(periods.Span(week.key, max(week.first, start), min(week.last, end)))
        day = week.last + timedelta(days=1)
    return spans


def _week_index(spans: list[periods.Span]) -> dict[date, int]:
    """Each day of the range → its week's place in `spans`."""
    out: dict[date, int] = {}
    for i, span in enumerate(spans):
        day = span.first
        while day <= span.last:
            out[day] = i
            day += timedelta(days=1)
    return out
