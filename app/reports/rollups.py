"""The figures the dashboard and the quarterly report read, precomputed per day.

For every day and every unit, the rollups hold that unit's whole subtree (its own learners
and everyone below), so a dashboard reads a few rows per day for the unit and its
children, never the raw tables:
- `report_days` per learner group: registered by the day's end, new, lessons completed,
  the challenge scores' sum and count, certificates issued;
- `report_level_days` per group and level: levels completed, certificates issued (and not
  since revoked), valid certificates and holders of each best level at the day's end;
- `report_active_days`: who was active, as a Roaring bitmap of account ids, so the
  distinct learners of any range (7 or 30 days, a week, a quarter) are a union.

Each learner counts in their current seat (unit and group). `refresh` keeps the rows so:
- it rebuilds yesterday and today from the raw tables on every run (the grading worker's
  sweep runs it every REPORT_REFRESH_SECONDS), and every day from the earliest one a later
  change made stale (app.reports.staleness: a revocation, a regrade, a unit re-hung);
- a learner who moved (another unit or group, or no longer a learner) is queued in
  `report_moves` with their old seat, and their own past figures are moved from the old
  seat to the new one: a few rows per day, not a rebuild of every day since they joined.

Builds read a range of days at once (one statement per table, grouped by local day) in
chunks of CHUNK_DAYS, and write with COPY on PostgreSQL. Both the dashboard and the report
read the same rows, so they always agree; the page says when the rows were built."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from pyroaring import BitMap
from sqlalchemy import Date, case, cast, delete, func, insert, select, text, update
from sqlalchemy.orm import Session

from app.config import Settings
from app.core.clock import day_start, local_day
from app.db import upsert_insert
from app.models import (
    LEARNER_ROLES,
    Certificate,
    CertificateStatus,
    LessonProgress,
    Mentorship,
    MentorStatus,
    PointEvent,
    ReportActiveDay,
    ReportDay,
    ReportLevelDay,
    ReportMove,
    ReportState,
    ReportUnit,
    StudyDay,
    Submission,
    SubmissionKind,
    SubmissionStatus,
    Unit,
    UnitType,
    User,
    utcnow,
)
from app.models.orgs import path_ids

NO_GROUP = 0  # the rollups' group for learners without one
DAY_TABLES = (ReportDay, ReportLevelDay, ReportActiveDay)
LEAF_TYPES = (UnitType.hamlet, UnitType.residential_group)  # where people live
CHUNK_DAYS = 14  # days built per pass (bounds the memory a full build needs)
PEOPLE = ("registered", "new", "lessons", "score_sum", "score_count", "certificates")
LEVELS = ("completed", "certificates", "valid", "holders")

Key = tuple[int, ...]  # (unit, group) for everyone, or (user,) for moved learners
Seat = tuple[int, int]  # (unit, group)


@dataclass
class Refreshed:
    first: date
    last: date
    days: int
    moved: int
    seconds: float


def state(session: Session) -> ReportState:
    """The bookkeeping row, made on first use (two first uses at once make one)."""
    row = session.get(ReportState, 1)
    if row is None:
        session.execute(
            upsert_insert(session)(ReportState)
            .values(id=1, dirty_seq=0)
            .on_conflict_do_nothing(index_elements=["id"])
        )
        row = session.get(ReportState, 1)
        assert row is not None
    return row


def _lock(session: Session) -> bool:
    """One refresh at a time across processes; moves wait until it is done, so none is
    half seen (PostgreSQL; SQLite's writes are serial anyway)."""
    if session.get_bind().dialect.name != "postgresql":
        return True
    if not session.scalar(text("SELECT pg_try_advisory_xact_lock(8611)")):
        return False
    session.execute(text("LOCK TABLE report_moves IN EXCLUSIVE MODE"))
    return True


def refresh(
    session: Session, settings: Settings, *, today: date | None = None, full: bool = False
) -> Refreshed | None:
    """Bring the rollups up to `today` (local) in this transaction; None when another
    process is refreshing."""
    if not _lock(session):
        return None
    started = time.perf_counter()
    today = today or local_day(utcnow(), settings.tz)
    row = state(session)
    seen_seq = row.dirty_seq
    moves = list(session.execute(select(ReportMove).order_by(ReportMove.id)).scalars())
    if full or row.built_through is None or row.built_from is None:
        first = _first_day(session, settings) or today
    else:
        first = min(row.built_through, today - timedelta(days=1), row.dirty_from or today)
        if first < row.built_from:  # stale from before the first build: not before the data
            first = max(first, min(_first_day(session, settings) or today, row.built_from))
    first = min(first, today)
    tree = _ancestors(session)
    moved = 0
    if moves and row.built_from is not None and row.built_from < first:
        moved = _move(session, tree, moves, row.built_from, first - timedelta(days=1), settings)
    if moves:
        session.execute(delete(ReportMove).where(ReportMove.id <= moves[-1].id))
    for table in DAY_TABLES:  # anything after today (a clock set back) goes too
        session.execute(delete(table).where(table.day >= first))
    for a, b in _chunks(first, today):
        figures = _build(session, a, b, settings)
        _write(session, figures.spread(tree, lambda key: key))
    _build_units(session, tree)
    session.execute(
        update(ReportState)
        .where(ReportState.id == 1)
        .values(
            built_from=first if row.built_from is None else min(row.built_from, first),
            built_through=today,
            refreshed_at=utcnow(),
            dirty_from=case(
                (ReportState.dirty_seq == seen_seq, None), else_=ReportState.dirty_from
            ),
        )
    )
    session.expire(row)
    days = (today - first).days + 1
    return Refreshed(first, today, days, moved, time.perf_counter() - started)


def refresh_if_due(session: Session, settings: Settings, *, now: datetime) -> Refreshed | None:
    """The sweep's call: refresh when the last one is older than REPORT_REFRESH_SECONDS,
    or when a change made older days stale."""
    row = session.get(ReportState, 1)
    if row is not None and row.refreshed_at is not None and row.dirty_from is None:
        age = (now - row.refreshed_at).total_seconds()
        if age < settings.report_refresh_seconds and row.built_through == local_day(
            now, settings.tz
        ):
            return None
    return refresh(session, settings, today=local_day(now, settings.tz))


def unpack(data: bytes) -> BitMap:
    return BitMap.deserialize(data)


# ---- where to start -------------------------------------------------------------------------
def _first_day(session: Session, settings: Settings) -> date | None:
    """The earliest day anything reported happened."""
    moments: list[datetime | None] = [
        session.scalar(select(func.min(User.created_at)).where(User.role.in_(LEARNER_ROLES))),
        session.scalar(select(func.min(LessonProgress.completed_at))),
        session.scalar(
            select(func.min(Submission.graded_at)).where(
                Submission.kind == SubmissionKind.challenge,
                Submission.status == SubmissionStatus.graded,
            )
        ),
        session.scalar(select(func.min(Certificate.issued_at))),
    ]
    days = [local_day(m, settings.tz) for m in moments if m is not None]
    for first in (
        session.scalar(select(func.min(StudyDay.day))),
        session.scalar(select(func.min(PointEvent.day))),
    ):
        if first is not None:
            days.append(first)
    return min(days) if days else None


def _chunks(first: date, last: date) -> Iterator[tuple[date, date]]:
    while first <= last:
        end = min(first + timedelta(days=CHUNK_DAYS - 1), last)
        yield first, end
        first = end + timedelta(days=1)


def _ancestors(session: Session) -> dict[int, list[int]]:
    """Each unit → itself and every unit above it."""
    return {uid: path_ids(path) for uid, path in session.execute(select(Unit.id, Unit.path))}


# ---- building from the raw tables -----------------------------------------------------------
@dataclass
class Figures:
    """A range's figures per key and day (not yet spread to the units above)."""

    people: dict[tuple[Key, date], list[float]] = field(
        default_factory=lambda: defaultdict(lambda: [0.0] * len(PEOPLE))
    )
    levels: dict[tuple[Key, int, date], list[int]] = field(
        default_factory=lambda: defaultdict(lambda: [0] * len(LEVELS))
    )
    active: dict[tuple[Key, date], list[int]] = field(default_factory=lambda: defaultdict(list))

    def spread(self, tree: dict[int, list[int]], seat: Callable[[Key], Seat | None]) -> Spread:
        out = Spread()
        self.spread_into(out, tree, seat)
        return out

    def spread_into(
        self,
        out: Spread,
        tree: dict[int, list[int]],
        seat: Callable[[Key], Seat | None],
        sign: int = 1,
    ) -> None:
        """Add (sign 1) or take away (-1) these figures at every unit above each key's seat."""

        def units(key: Key) -> tuple[list[int], int]:
            found = seat(key)
            if found is None:
                return [], NO_GROUP
            return tree.get(found[0], []), found[1]

        for (key, day), values in self.people.items():
            above, group = units(key)
            for unit_id in above:
                row = out.people[(unit_id, day, group)]
                for i, v in enumerate(values):
                    row[i] += sign * v
        for (key, level, day), counts in self.levels.items():
            above, group = units(key)
            for unit_id in above:
                row_ = out.levels[(unit_id, day, group, level)]
                for i, n in enumerate(counts):
                    row_[i] += sign * n
        into = out.added if sign > 0 else out.removed
        for (key, day), user_ids in self.active.items():
            above, _ = units(key)
            bitmap = BitMap(user_ids)
            for unit_id in above:
                into[(unit_id, day)] |= bitmap


@dataclass
class Spread:
    """Rows per unit (every level of the tree), day and group: what is written."""

    people: dict[tuple[int, date, int], list[float]] = field(
        default_factory=lambda: defaultdict(lambda: [0.0] * len(PEOPLE))
    )
    levels: dict[tuple[int, date, int, int], list[int]] = field(
        default_factory=lambda: defaultdict(lambda: [0] * len(LEVELS))
    )
    added: dict[tuple[int, date], BitMap] = field(default_factory=lambda: defaultdict(BitMap))
    removed: dict[tuple[int, date], BitMap] = field(default_factory=lambda: defaultdict(BitMap))

    def active_changes(self) -> Iterator[tuple[tuple[int, date], BitMap, BitMap]]:
        """Per unit and day: who to add and who to take away (a learner moved between two
        units under the same parent is neither, for that parent)."""
        for key in self.added.keys() | self.removed.keys():
            plus, minus = self.added.get(key, BitMap()), self.removed.get(key, BitMap())
            yield key, plus - minus, minus - plus


def _local_date(session: Session, column: Any, settings: Settings) -> Any:
    """The local (Asia/Ho_Chi_Minh) day of a UTC timestamp column, in SQL. SQLite keeps UTC
    text, shifted by the zone's offset (Vietnam has kept UTC+7 since 1975)."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.timezone(settings.tz.key, column), Date)
    offset = utcnow().astimezone(settings.tz).utcoffset() or timedelta()
    return func.date(column, f"{int(offset.total_seconds() // 60):+d} minutes", type_=Date)


def _build(
    session: Session, first: date, last: date, settings: Settings, users: list[int] | None = None
) -> Figures:
    """Everyone's figures from `first` to `last`, per (unit, group) and day; or, given
    `users`, theirs per (user,) and day, whatever their role now."""
    t0 = day_start(first, settings.tz)
    t1 = day_start(last + timedelta(days=1), settings.tz)
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    if users is None:
        keys: list[Any] = [User.unit_id, func.coalesce(User.group_id, NO_GROUP)]
        who: Any = User.role.in_(LEARNER_ROLES) & User.unit_id.is_not(None)
    else:
        keys, who = [User.id], User.id.in_(users)

    def local(column: Any) -> Any:
        return _local_date(session, column, settings)

    def rows(query: Any) -> Iterable[Any]:
        return session.execute(query).all()

    out = Figures()
    n = len(keys)

    # registered: those before the range, then each day's new ones
    registered: dict[Key, int] = defaultdict(int)
    for *key, count in rows(
        select(*keys, func.count()).where(who, User.created_at < t0).group_by(*keys)
    ):
        registered[tuple(key)] += count
    new: dict[tuple[Key, date], int] = {}
    day_of = local(User.created_at)
    for *key, day, count in rows(
        select(*keys, day_of, func.count())
        .where(who, User.created_at >= t0, User.created_at < t1)
        .group_by(*keys, day_of)
    ):
        new[(tuple(key), day)] = count
        registered.setdefault(tuple(key), 0)
    for key, running in registered.items():
        for day in days:
            added = new.get((key, day), 0)
            running += added
            if running:
                row = out.people[(key, day)]
                row[0], row[1] = running, added

    # lessons completed and challenge scores, per local day
    day_of = local(LessonProgress.completed_at)
    for *key, day, count in rows(
        select(*keys, day_of, func.count())
        .select_from(LessonProgress)
        .join(User, User.id == LessonProgress.user_id)
        .where(who, LessonProgress.completed_at >= t0, LessonProgress.completed_at < t1)
        .group_by(*keys, day_of)
    ):
        out.people[(tuple(key), day)][2] += count
    day_of = local(Submission.graded_at)
    for *key, day, total, count in rows(
        select(*keys, day_of, func.sum(Submission.score), func.count(Submission.score))
        .select_from(Submission)
        .join(User, User.id == Submission.user_id)
        .where(
            who,
            Submission.graded_at >= t0,
            Submission.graded_at < t1,
            Submission.kind == SubmissionKind.challenge,
            Submission.status == SubmissionStatus.graded,
        )
        .group_by(*keys, day_of)
    ):
        row = out.people[(tuple(key), day)]
        row[3] += float(total or 0)
        row[4] += int(count)

    # levels completed (the ledger's one level_complete event per learner and level)
    level_of = func.substr(PointEvent.idempotency_key, func.length(PointEvent.idempotency_key))
    for *key, level_text, day, count in rows(
        select(*keys, level_of, PointEvent.day, func.count())
        .select_from(PointEvent)
        .join(User, User.id == PointEvent.user_id)
        .where(
            who,
            PointEvent.kind == "level_complete",
            PointEvent.day >= first,
            PointEvent.day <= last,
        )
        .group_by(*keys, level_of, PointEvent.day)
    ):
        if str(level_text).isdigit():
            out.levels[(tuple(key), int(level_text), day)][0] += count

    _certificates(session, out, keys, who, days, t0, t1, local, n, settings.tz)

    # who was active: time on lessons or a lesson completed (a frozen day is not)
    for *key, day, user_id in session.execute(  # millions of rows: streamed
        select(*keys, StudyDay.day, StudyDay.user_id)
        .join(User, User.id == StudyDay.user_id)
        .where(
            who,
            StudyDay.day >= first,
            StudyDay.day <= last,
            StudyDay.frozen.is_(False),
            (StudyDay.active_seconds > 0) | (StudyDay.lessons_completed > 0),
        ),
        execution_options={"yield_per": 20_000},
    ):
        out.active[(tuple(key), day)].append(user_id)
    return out


def _certificates(
    session: Session,
    out: Figures,
    keys: list[Any],
    who: Any,
    days: list[date],
    t0: datetime,
    t1: datetime,
    local: Callable[[Any], Any],
    n: int,
    tz: Any,
) -> None:
    """Certificates issued on each day (and not since revoked), valid at each day's end,
    and the holders of each best level at each day's end."""
    issued_on, revoked_on = local(Certificate.issued_at), local(Certificate.revoked_at)
    for *key, level, day, count in session.execute(
        select(*keys, Certificate.level_number, issued_on, func.count())
        .join(User, User.id == Certificate.user_id)
        .where(
            who,
            Certificate.issued_at >= t0,
            Certificate.issued_at < t1,
            Certificate.status == CertificateStatus.issued,
        )
        .group_by(*keys, Certificate.level_number, issued_on)
    ):
        out.levels[(tuple(key), level, day)][1] += count
        out.people[(tuple(key), day)][5] += count

    # valid: those valid as the range begins, +1 on an issue day, -1 on a revocation day
    def valid_at(moment: datetime) -> Any:
        return (
            Certificate.issued_at.is_not(None)
            & (Certificate.issued_at < moment)
            & (
                (Certificate.status == CertificateStatus.issued)
                | (Certificate.revoked_at.is_not(None) & (Certificate.revoked_at >= moment))
            )
        )

    valid: dict[tuple[Key, int], int] = defaultdict(int)
    change: dict[tuple[Key, int, date], int] = defaultdict(int)
    for *key, level, count in session.execute(
        select(*keys, Certificate.level_number, func.count())
        .join(User, User.id == Certificate.user_id)
        .where(who, valid_at(t0))
        .group_by(*keys, Certificate.level_number)
    ):
        valid[(tuple(key), level)] += count
    ever_valid = (Certificate.status == CertificateStatus.issued) | Certificate.revoked_at.is_not(
        None
    )
    for sign, column, day_of, extra in (
        (1, Certificate.issued_at, issued_on, ever_valid),
        (-1, Certificate.revoked_at, revoked_on, Certificate.issued_at.is_not(None)),
    ):
        for *key, level, day, count in session.execute(
            select(*keys, Certificate.level_number, day_of, func.count())
            .join(User, User.id == Certificate.user_id)
            .where(who, extra, column >= t0, column < t1)
            .group_by(*keys, Certificate.level_number, day_of)
        ):
            change[(tuple(key), level, day)] += sign * count
            valid.setdefault((tuple(key), level), 0)

    # holders: each learner's best valid level as the range begins, then the learners
    # whose certificates changed within it, followed day by day
    holders: dict[tuple[Key, int], int] = defaultdict(int)
    held: dict[tuple[Key, int, date], int] = defaultdict(int)
    best = (
        select(
            *(k.label(f"k{i}") for i, k in enumerate(keys)),
            func.max(Certificate.level_number).label("level"),
        )
        .join(User, User.id == Certificate.user_id)
        .where(who, valid_at(t0))
        .group_by(User.id, *keys)
        .subquery()
    )
    key_cols = [best.c[f"k{i}"] for i in range(n)]
    for *key, level, count in session.execute(
        select(*key_cols, best.c.level, func.count()).group_by(*key_cols, best.c.level)
    ):
        holders[(tuple(key), level)] += count
    changed = (Certificate.issued_at >= t0) & (Certificate.issued_at < t1) | (
        Certificate.revoked_at >= t0
    ) & (Certificate.revoked_at < t1)
    moving = select(Certificate.user_id).where(changed).scalar_subquery()
    history: dict[int, list[Any]] = defaultdict(list)
    for *key, user_id, level, issued_at, revoked_at, status in session.execute(
        select(
            *keys,
            User.id,
            Certificate.level_number,
            Certificate.issued_at,
            Certificate.revoked_at,
            Certificate.status,
        )
        .join(User, User.id == Certificate.user_id)
        .where(who, Certificate.user_id.in_(moving), Certificate.issued_at.is_not(None))
    ):
        history[user_id].append((tuple(key), level, issued_at, revoked_at, status))
    day_end = {day: day_start(day + timedelta(days=1), tz) for day in days}
    for certs in history.values():
        key = certs[0][0]

        def best_at(moment: datetime, certs: list[Any] = certs) -> int:
            return max(
                (
                    level
                    for _, level, issued, revoked, status in certs
                    if issued < moment
                    and (
                        status == CertificateStatus.issued
                        or (revoked is not None and revoked >= moment)
                    )
                ),
                default=0,
            )

        before = best_at(t0)
        events = sorted(
            {local_day(m, tz) for _, _, issued, revoked, _ in certs for m in (issued, revoked) if m}
        )
        for day in events:
            if day not in day_end:
                continue
            after = best_at(day_end[day])
            if after != before:
                if before:
                    held[(key, before, day)] -= 1
                if after:
                    held[(key, after, day)] += 1
                    holders.setdefault((key, after), 0)
                before = after

    for (key, level), running in valid.items():
        for day in days:
            running += change.get((key, level, day), 0)
            if running:
                out.levels[(key, level, day)][2] = running
    for (key, level), running in holders.items():
        for day in days:
            running += held.get((key, level, day), 0)
            if running:
                out.levels[(key, level, day)][3] = running


def _build_units(session: Session, tree: dict[int, list[int]]) -> None:
    """Rewrite `report_units`: each unit's learners and active mentors now, and its
    hamlets and residential groups with and without a mentor."""
    learners: dict[int, list[int]] = defaultdict(list)
    for user_id, unit_id in session.execute(
        select(User.id, User.unit_id).where(User.role.in_(LEARNER_ROLES), User.unit_id.is_not(None))
    ):
        learners[unit_id].append(user_id)
    mentors: dict[int, list[int]] = defaultdict(list)
    for user_id, unit_id in session.execute(
        select(User.id, User.unit_id).where(
            User.role.in_(LEARNER_ROLES),
            User.unit_id.is_not(None),
            User.is_active.is_(True),
            select(Mentorship.id)
            .where(Mentorship.user_id == User.id, Mentorship.status == MentorStatus.active)
            .exists(),
        )
    ):
        mentors[unit_id].append(user_id)
    subtree_learners: dict[int, BitMap] = defaultdict(BitMap)
    subtree_mentors: dict[int, BitMap] = defaultdict(BitMap)
    leaves: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for unit_id, ids in learners.items():
        own = BitMap(ids)
        for ancestor in tree.get(unit_id, ()):
            subtree_learners[ancestor] |= own
    for unit_id, ids in mentors.items():
        own = BitMap(ids)
        for ancestor in tree.get(unit_id, ()):
            subtree_mentors[ancestor] |= own
    for unit_id in session.scalars(
        select(Unit.id).where(Unit.type.in_(LEAF_TYPES), Unit.is_active.is_(True))
    ):
        for ancestor in tree.get(unit_id, ()):
            leaves[ancestor][0] += 1
            leaves[ancestor][1] += bool(mentors.get(unit_id))
    session.execute(delete(ReportUnit))
    _insert(
        session,
        ReportUnit,
        ("unit_id", "learners", "mentors", "leaves", "leaves_with_mentor"),
        [
            (
                unit_id,
                _pack(subtree_learners.get(unit_id, BitMap())),
                _pack(subtree_mentors.get(unit_id, BitMap())),
                *leaves.get(unit_id, (0, 0)),
            )
            for unit_id in tree
        ],
    )


# ---- writing ---------------------------------------------------------------------------------
def _write(session: Session, spread: Spread) -> None:
    """Insert freshly built days (their old rows are already deleted)."""
    people = [
        (unit_id, day, group, int(v[0]), int(v[1]), int(v[2]), float(v[3]), int(v[4]), int(v[5]))
        for (unit_id, day, group), v in spread.people.items()
        if any(v)
    ]
    levels = [
        (unit_id, day, group, level, *map(int, v))
        for (unit_id, day, group, level), v in spread.levels.items()
        if any(v)
    ]
    active = [(unit_id, day, _pack(bitmap)) for (unit_id, day), bitmap in spread.added.items()]
    _insert(session, ReportDay, ("unit_id", "day", "group_id", *PEOPLE), people)
    _insert(session, ReportLevelDay, ("unit_id", "day", "group_id", "level", *LEVELS), levels)
    _insert(session, ReportActiveDay, ("unit_id", "day", "learners"), active)


def _insert(
    session: Session, table: Any, columns: tuple[str, ...], rows: list[tuple[Any, ...]]
) -> None:
    """Many rows at once: COPY on PostgreSQL, one executemany elsewhere."""
    if not rows:
        return
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        raw = connection.connection.driver_connection
        assert raw is not None
        names = ", ".join(f'"{c}"' for c in columns)
        with (
            raw.cursor() as cursor,
            cursor.copy(f"COPY {table.__tablename__} ({names}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)
        return
    session.execute(insert(table), [dict(zip(columns, row, strict=True)) for row in rows])


def _pack(bitmap: BitMap) -> bytes:
    bitmap.run_optimize()
    return bytes(bitmap.serialize())


# ---- moves -------------------------------------------------------------------------------------
def _move(
    session: Session,
    tree: dict[int, list[int]],
    moves: list[ReportMove],
    first: date,
    last: date,
    settings: Settings,
) -> int:
    """Move the queued learners' figures from `first` to `last` from the seat each had
    when first queued to the one they have now; returns how many learners moved."""
    old: dict[int, Seat | None] = {}
    for move in moves:  # the earliest queued seat is the one the rows still hold
        if move.user_id not in old:
            old[move.user_id] = (
                (move.unit_id, move.group_id or NO_GROUP)
                if move.learner and move.unit_id is not None
                else None
            )
    now: dict[int, Seat | None] = {
        uid: (unit_id, group_id or NO_GROUP)
        if role in LEARNER_ROLES and unit_id is not None
        else None
        for uid, unit_id, group_id, role in session.execute(
            select(User.id, User.unit_id, User.group_id, User.role).where(User.id.in_(list(old)))
        )
    }
    users = [uid for uid in old if old[uid] != now.get(uid)]
    if not users:
        return 0
    delta = Spread()
    for i in range(0, len(users), 500):  # a few learners' rows: every day in one pass
        figures = _build(session, first, last, settings, users=users[i : i + 500])
        figures.spread_into(delta, tree, lambda key: old[key[0]], -1)
        figures.spread_into(delta, tree, lambda key: now.get(key[0]), 1)
    _add(session, delta)
    return len(users)


def _add(session: Session, delta: Spread) -> None:
    """Add a delta to rows that may or may not exist yet."""
    upsert = upsert_insert(session)
    for table, index, names, rows in (
        (ReportDay, ("unit_id", "day", "group_id"), PEOPLE, delta.people),
        (ReportLevelDay, ("unit_id", "day", "group_id", "level"), LEVELS, delta.levels),
    ):
        values = [
            {**dict(zip(index, key, strict=True)), **dict(zip(names, v, strict=True))}
            for key, v in rows.items()
            if any(v)
        ]
        if not values:
            continue
        stmt = upsert(table)
        session.execute(
            stmt.on_conflict_do_update(
                index_elements=list(index),
                set_={name: getattr(table, name) + stmt.excluded[name] for name in names},
            ),
            values,
        )
    for (unit_id, day), plus, minus in delta.active_changes():
        if not plus and not minus:
            continue
        row = session.get(ReportActiveDay, (unit_id, day))
        bitmap = unpack(row.learners) if row is not None else BitMap()
        bitmap = (bitmap | plus) - minus
        if row is None:
            session.add(ReportActiveDay(unit_id=unit_id, day=day, learners=_pack(bitmap)))
        else:
            row.learners = _pack(bitmap)
    session.flush()
