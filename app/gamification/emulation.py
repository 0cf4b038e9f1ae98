"""Collective emulation (thi đua): the units under one parent compared for a period by
participation (active learners over registered learners, and over the unit's target
population when it is set), average points per registered learner, and level completion
(registered learners holding at least one completed level); plus the honour roll (vinh
danh) of a period's top learners and units, exportable as CSV or XLSX.

"Active" in a period means having earned points in it; registered learners are the active
accounts with the learner or mentor role in the unit's subtree."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.core.spreadsheet import csv_bytes, xlsx_bytes
from app.gamification import periods
from app.gamification.boards import Board, BoardStore
from app.gamification.names import Shown, shown_many
from app.models import LEARNER_ROLES, PointEvent, PointTally, Unit, User

Metric = Literal["participation", "points", "completion"]
METRICS: tuple[Metric, ...] = ("participation", "points", "completion")
METRIC_LABELS = {
    "participation": "Tỉ lệ tham gia",
    "points": "Điểm bình quân",
    "completion": "Tỉ lệ hoàn thành bậc",
}


@dataclass
class UnitStanding:
    unit_id: int
    name: str
    registered: int = 0
    active: int = 0
    points: int = 0
    completed: int = 0  # learners with at least one completed level
    target_population: int | None = None
    rank: int = 0

    @property
    def participation(self) -> float:
        return self.active / self.registered if self.registered else 0.0

    @property
    def participation_of_target(self) -> float | None:
        if not self.target_population:
            return None
        return self.active / self.target_population

    @property
    def average_points(self) -> float:
        return self.points / self.registered if self.registered else 0.0

    @property
    def completion(self) -> float:
        return self.completed / self.registered if self.registered else 0.0

    def value(self, metric: Metric) -> float:
        return {
            "participation": self.participation,
            "points": self.average_points,
            "completion": self.completion,
        }[metric]


def _child_of(parent_path: str, path: str) -> int | None:
    rest = path[len(parent_path) :].strip("/")
    return int(rest.split("/")[0]) if rest else None


def unit_board(
    session: Session, parent: Unit, *, period: str, metric: Metric = "participation"
) -> list[UnitStanding]:
    """The parent's child units, each with its whole subtree counted, ranked by `metric`
    (equal values share a rank)."""
    children = session.scalars(
        select(Unit).where(Unit.parent_id == parent.id, Unit.is_active.is_(True))
    ).all()
    rows = {
        c.id: UnitStanding(c.id, c.name, target_population=c.target_population) for c in children
    }
    if not rows:
        return []
    in_tree = (
        select(User.id, Unit.path)
        .join(Unit, Unit.id == User.unit_id)
        .where(
            Unit.path.startswith(parent.path),
            Unit.path != parent.path,
            User.is_active.is_(True),
            User.role.in_(LEARNER_ROLES),
        )
        .subquery()
    )

    def per_path(query) -> dict[str, tuple[int, ...]]:  # type: ignore[no-untyped-def]
        return {r[0]: tuple(r[1:]) for r in session.execute(query)}

    registered = per_path(select(in_tree.c.path, func.count()).group_by(in_tree.c.path))
    active = per_path(
        select(in_tree.c.path, func.count(), func.coalesce(func.sum(PointTally.points), 0))
        .join(PointTally, PointTally.user_id == in_tree.c.id)
        .where(PointTally.period == period, PointTally.points > 0)
        .group_by(in_tree.c.path)
    )
    completed = per_path(
        select(in_tree.c.path, func.count(func.distinct(PointEvent.user_id)))
        .join(PointEvent, PointEvent.user_id == in_tree.c.id)
        .where(PointEvent.kind == "level_complete")
        .group_by(in_tree.c.path)
    )
    for path, (n,) in registered.items():
        if (child := _child_of(parent.path, path)) in rows:
            rows[child].registered += n
    for path, (n, pts) in active.items():
        if (child := _child_of(parent.path, path)) in rows:
            rows[child].active += n
            rows[child].points += int(pts)
    for path, (n,) in completed.items():
        if (child := _child_of(parent.path, path)) in rows:
            rows[child].completed += n
    ordered = sorted(rows.values(), key=lambda r: (-r.value(metric), r.name))
    for i, r in enumerate(ordered):
        same = i and round(ordered[i - 1].value(metric), 9) == round(r.value(metric), 9)
        r.rank = ordered[i - 1].rank if same else i + 1
    return ordered


@dataclass(frozen=True)
class HonouredLearner:
    rank: int
    name: str
    unit: str
    points: int


@dataclass(frozen=True)
class HonourRoll:
    unit: Unit
    period: str
    learners: list[HonouredLearner]
    units: list[UnitStanding]

    @property
    def label(self) -> str:
        return periods.span(self.period).label


def honour_roll(
    session: Session,
    store: BoardStore,
    unit: Unit,
    *,
    period: str,
    learners: int = 10,
    units: int = 3,
    viewer_id: int | None = None,
    reveal: bool = False,
) -> HonourRoll:
    """The period's top learners in the unit's subtree and its best child units (by
    participation). Learners come from the same boards the leaderboards show, named as the
    reader may see them (app.gamification.names): by their own choice, or in full for an
    administrator of the unit (`reveal`)."""
    top = store.top(session, Board(period, "unit", unit.id, unit.path), learners)
    names = shown_many(
        session, [e.user_id for e in top], viewer_id=viewer_id, local=True, reveal=reveal
    )
    blank = Shown("", "")
    people = [
        HonouredLearner(
            e.rank, names.get(e.user_id, blank).name, names.get(e.user_id, blank).unit, e.points
        )
        for e in top
    ]
    best = [u for u in unit_board(session, unit, period=period) if u.active > 0][:units]
    return HonourRoll(unit, period, people, best)


HEADER = ["Loại", "Hạng", "Tên", "Đơn vị", "Điểm", "Tỉ lệ tham gia (%)", "Học viên tham gia"]


def honour_rows(roll: HonourRoll) -> list[list[object]]:
    rows: list[list[object]] = []
    for p in roll.learners:
        rows.append(["Học viên", p.rank, p.name, p.unit, p.points, "", ""])
    for u in roll.units:
        rows.append(
            [
                "Đơn vị",
                u.rank,
                u.name,
                roll.unit.name,
                u.points,
                round(u.participation * 100, 1),
                f"{u.active}/{u.registered}",
            ]
        )
    return rows


def roll_json(roll: HonourRoll) -> str:
    return json.dumps(
        {
            "unit_id": roll.unit.id,
            "unit": roll.unit.name,
            "period": roll.period,
            "label": roll.label,
            "learners": [p.__dict__ for p in roll.learners],
            "units": [
                {
                    "rank": u.rank,
                    "unit_id": u.unit_id,
                    "name": u.name,
                    "active": u.active,
                    "registered": u.registered,
                    "participation": round(u.participation, 4),
                    "points": u.points,
                }
                for u in roll.units
            ],
        },
        ensure_ascii=False,
    )


def export_rows(roll: HonourRoll) -> list[list[object]]:
    return [[f"Vinh danh – {roll.unit.name} – {roll.label}"], list(HEADER), *honour_rows(roll)]


def export_csv(roll: HonourRoll) -> bytes:
    return csv_bytes(export_rows(roll))


def export_xlsx(roll: HonourRoll) -> bytes:
    return xlsx_bytes(
        "Vinh danh", export_rows(roll), widths=(10, 7, 30, 30, 10, 18, 18), bold_rows={0, 1}
    )


ExportFormat = Literal["csv", "xlsx"]
MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def download(roll: HonourRoll, fmt: ExportFormat) -> tuple[bytes, str, str]:
    """The honour roll as a file: (content, media type, a safe file name)."""
    code = re.sub(r"[^A-Za-z0-9_-]+", "-", roll.unit.code).strip("-") or str(roll.unit.id)
    content = export_csv(roll) if fmt == "csv" else export_xlsx(roll)
    return content, MEDIA_TYPES[fmt], f"vinh-danh-{code}-{roll.period}.{fmt}"
