"""The report rollups: what a refresh rebuilds, what makes older days stale (a move, a
revocation, a regrade, a unit re-hung), distinct learners over ranges and weeks, the
sweep's schedule, the first build on a new installation, and the quarter's top learners
read exactly from the month boards."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select

from app.core.clock import local_day
from app.grading import service
from app.models import (
    LessonProgress,
    PointTally,
    ReportActiveDay,
    ReportDay,
    ReportLevelDay,
    ReportMove,
    ReportState,
    Role,
    StudyDay,
    SubmissionKind,
    utcnow,
)
from app.orgs.service import move_unit
from app.reports import figures, quarterly, rollups, staleness
from tests.factories import (
    at,
    graded_submission,
    group,
    issued_certificate,
    level_completed,
    make_user,
)

L1 = "b1-01-ai-la-gi"


def today(settings) -> date:
    return local_day(utcnow(), settings.tz)


def active(db, user, *days: date) -> None:
    for day in days:
        db.add(StudyDay(user_id=user.id, day=day, active_seconds=300))
    db.flush()


def learner(db, settings, unit, name: str, days_ago: int = 60):
    user = make_user(db, unit, name=name)
    user.created_at = at(settings, today(settings) - timedelta(days=days_ago))
    db.flush()
    return user


def children(dash: figures.Dashboard) -> dict[str, figures.Measures]:
    return {c.name: c.measures for c in dash.children}


def test_a_refresh_rebuilds_yesterday_and_today_unless_older_days_are_stale(db, settings, tree):
    a = learner(db, settings, tree.hamlet, "Người A")
    active(db, a, today(settings) - timedelta(days=20))
    first = rollups.refresh(db, settings)
    assert first is not None and first.first == today(settings) - timedelta(days=60)
    again = rollups.refresh(db, settings)
    assert again is not None and again.first == today(settings) - timedelta(days=1)
    assert again.last == today(settings)
    state = db.get(ReportState, 1)
    assert state.built_through == today(settings) and state.dirty_from is None


def test_a_move_reaches_the_past_at_the_next_refresh(db, settings, tree, lessons):
    a = learner(db, settings, tree.hamlet, "Người A")
    ten_days_ago = today(settings) - timedelta(days=10)
    active(db, a, ten_days_ago)
    graded_submission(db, a, L1, score=90.0, kind=SubmissionKind.challenge).graded_at = at(
        settings, ten_days_ago
    )
    db.flush()
    rollups.refresh(db, settings)
    start = today(settings) - timedelta(days=29)

    def by_child() -> dict[str, figures.Measures]:
        return children(
            figures.dashboard(
                db, unit=tree.province, start=start, end=today(settings), settings=settings
            )
        )

    before = by_child()
    assert (before[tree.ward.name].registered, before[tree.ward.name].active) == (1, 1)
    assert before[tree.commune.name].registered == 0

    a.unit_id = tree.village.id  # moved to the village, in the other commune
    db.flush()
    queued = db.scalars(select(ReportMove)).all()
    assert [(m.user_id, m.unit_id, m.learner) for m in queued] == [(a.id, tree.hamlet.id, True)]
    assert db.get(ReportState, 1).dirty_from is None  # nothing to rebuild: a move
    assert by_child()[tree.ward.name].registered == 1  # not yet: the rows are as built

    done = rollups.refresh(db, settings)
    assert (done.moved, done.first) == (1, today(settings) - timedelta(days=1))
    assert db.scalars(select(ReportMove)).all() == []
    after = by_child()
    assert (after[tree.ward.name].registered, after[tree.ward.name].active) == (0, 0)
    village = after[tree.commune.name]
    assert (village.registered, village.active, village.average) == (1, 1, 90.0)
    assert db.get(ReportState, 1).dirty_from is None


def test_a_mark_made_during_a_refresh_survives_it(db, settings, tree, monkeypatch):
    a = learner(db, settings, tree.hamlet, "Người A")
    active(db, a, today(settings) - timedelta(days=5))
    rollups.refresh(db, settings)
    build = rollups._build
    marked = today(settings) - timedelta(days=9)

    def build_and_mark(session, first, last, settings_, users=None):
        figures = build(session, first, last, settings_, users)
        staleness.mark(session, marked)  # another transaction's change, seen meanwhile
        return figures

    monkeypatch.setattr(rollups, "_build", build_and_mark)
    rollups.refresh(db, settings)
    assert db.get(ReportState, 1).dirty_from == marked
    monkeypatch.undo()
    done = rollups.refresh(db, settings)
    assert done.first == marked and db.get(ReportState, 1).dirty_from is None


def test_a_regrade_and_a_re_hung_unit_mark_the_past(db, settings, tree, lessons):
    a = learner(db, settings, tree.hamlet, "Người A")
    old = graded_submission(db, a, L1, score=50.0, kind=SubmissionKind.challenge)
    old.graded_at, old.provisional = at(settings, today(settings) - timedelta(days=8)), True
    db.flush()
    rollups.refresh(db, settings)
    assert service.requeue_provisional(db, now=utcnow(), limit=10) == 1  # a bulk UPDATE
    assert db.get(ReportState, 1).dirty_from == today(settings) - timedelta(days=8)
    rollups.refresh(db, settings)
    move_unit(db, unit=tree.ward, new_parent=tree.commune)
    assert db.get(ReportState, 1).dirty_from == staleness.EVERYTHING
    done = rollups.refresh(db, settings)
    assert done.first == today(settings) - timedelta(days=60)  # not before the first data


def test_distinct_learners_over_a_range_and_its_weeks(db, settings, tree):
    a = learner(db, settings, tree.hamlet, "Người A")
    b = learner(db, settings, tree.village, "Người B")
    monday = date(2026, 11, 2)
    active(db, a, monday, monday + timedelta(days=1), monday + timedelta(days=8))
    active(db, b, monday + timedelta(days=9))
    db.add(StudyDay(user_id=b.id, day=monday, active_seconds=0, frozen=True))  # no activity
    db.flush()
    rollups.refresh(db, settings, today=date(2026, 11, 30))
    dash = figures.dashboard(
        db, unit=tree.province, start=monday, end=monday + timedelta(days=13), settings=settings
    )
    assert dash.totals.active == 2
    assert [(w.key, w.active) for w in dash.weeks] == [("2026-W45", 1), ("2026-W46", 2)]
    assert (dash.totals.active_7, dash.totals.active_30) == (2, 2)
    ward = figures.dashboard(
        db, unit=tree.ward, start=monday, end=monday + timedelta(days=13), settings=settings
    )
    assert ward.totals.active == 1
    rows = db.scalars(select(ReportActiveDay).where(ReportActiveDay.day == monday)).all()
    assert {r.unit_id for r in rows} == {tree.province.id, tree.ward.id, tree.hamlet.id}
    assert all(list(rollups.unpack(r.learners)) == [a.id] for r in rows)


def test_the_sweep_refreshes_when_due_or_stale(db, settings, tree):
    learner(db, settings, tree.hamlet, "Người A")
    now = utcnow()
    assert rollups.refresh_if_due(db, settings, now=now) is not None  # never built
    assert rollups.refresh_if_due(db, settings, now=now) is None  # just done
    later = now + timedelta(seconds=settings.report_refresh_seconds + 1)
    assert rollups.refresh_if_due(db, settings, now=later) is not None
    staleness.mark(db, today(settings) - timedelta(days=30))
    assert rollups.refresh_if_due(db, settings, now=later) is not None  # stale days


def test_the_dashboard_builds_the_rollups_on_a_new_installation(db, settings, tree):
    a = learner(db, settings, tree.hamlet, "Người A")
    active(db, a, today(settings))
    assert db.get(ReportState, 1) is None
    dash = figures.dashboard(
        db, unit=tree.province, start=today(settings), end=today(settings), settings=settings
    )
    assert (dash.totals.registered, dash.totals.active) == (1, 1)
    assert dash.built_through == today(settings) and dash.refreshed_at is not None
    assert db.scalar(select(ReportDay.day).where(ReportDay.unit_id == tree.province.id))


def test_the_quarters_top_learners_reach_past_each_months_top(db, settings, tree):
    """Each month has ten learners on 100 points; X has 60 in each month, so X is in no
    month's top ten but leads the quarter with 180."""
    months = ["2026-10", "2026-11", "2026-12"]
    x = make_user(db, tree.hamlet, name="Người X")
    others = [make_user(db, tree.village, name=f"Người {i}") for i in range(30)]
    db.flush()
    rows = [PointTally(period=m, user_id=x.id, points=60) for m in months]
    for i, user in enumerate(others):
        rows.append(PointTally(period=months[i // 10], user_id=user.id, points=100))
    for row in rows:
        row.listed, row.unit_path = True, db.get(type(tree.hamlet), tree.hamlet.id).path
    db.add_all(rows)
    db.flush()
    top = quarterly.top_learners(
        db, unit=tree.province, start=date(2026, 10, 1), end=date(2026, 12, 31)
    )
    assert top[0] == (x.id, 180)
    assert len(top) == quarterly.TOP_LEARNERS and all(p == 100 for _, p in top[1:])
    assert [uid for uid, _ in top[1:]] == sorted(uid for uid, _ in top[1:])  # ties by id
    ward = quarterly.top_learners(
        db, unit=tree.ward, start=date(2026, 10, 1), end=date(2026, 12, 31)
    )
    assert ward[0] == (x.id, 180)


def _rows(db) -> tuple[set, set, set]:
    """Every rollup row with something in it (a moved learner can leave zeros behind)."""
    people = {
        (
            r.unit_id,
            r.day,
            r.group_id,
            r.registered,
            r.new,
            r.lessons,
            r.score_sum,
            r.score_count,
            r.certificates,
        )
        for r in db.scalars(select(ReportDay))
        if any((r.registered, r.new, r.lessons, r.score_sum, r.score_count, r.certificates))
    }
    levels = {
        (r.unit_id, r.day, r.group_id, r.level, r.completed, r.certificates, r.valid, r.holders)
        for r in db.scalars(select(ReportLevelDay))
        if any((r.completed, r.certificates, r.valid, r.holders))
    }
    active = {
        (r.unit_id, r.day, tuple(rollups.unpack(r.learners)))
        for r in db.scalars(select(ReportActiveDay))
        if len(rollups.unpack(r.learners))
    }
    return people, levels, active


def test_moving_learners_equals_building_everything_again(db, settings, tree, lessons, monkeypatch):
    """Three learners with lessons, grades, level completions, certificates (one revoked)
    and study days over six weeks; then one moves unit, one changes group, one stops being
    a learner. The moved rows equal a full rebuild's."""
    can_bo, business = group(db, "can_bo"), group(db, "doanh_nghiep")
    t = today(settings)
    people = [
        learner(db, settings, unit, f"Người {i}")
        for i, unit in enumerate((tree.hamlet, tree.hamlet, tree.village))
    ]
    a, b, c = people
    a.group_id, b.group_id = can_bo.id, business.id
    for n, user in enumerate(people):
        active(db, user, *(t - timedelta(days=d) for d in range(40 - n, 2, -5)))
        done = t - timedelta(days=30 - n)
        db.add(
            LessonProgress(
                user_id=user.id,
                lesson_id=L1,
                last_activity_at=at(settings, done),
                completed_at=at(settings, done),
            )
        )
        graded_submission(
            db, user, L1, score=70.0 + n, kind=SubmissionKind.challenge
        ).graded_at = at(settings, done)
        level_completed(db, user, 1, done)
        for level in (1, 2):
            issued = at(settings, done + timedelta(days=level))
            revoked = issued + timedelta(days=6) if user is b and level == 2 else None
            issued_certificate(db, user, level, issued, revoked_at=revoked)
    db.flush()
    rollups.refresh(db, settings)

    a.unit_id = tree.village.id
    b.group_id = can_bo.id
    c.role = Role.unit_admin
    db.flush()
    done = rollups.refresh(db, settings)
    assert done.moved == 3 and done.first == t - timedelta(days=1)
    moved = _rows(db)
    assert any(r[0] == tree.village.id for r in moved[2])  # A's days are in the village now
    rollups.refresh(db, settings, full=True)
    assert _rows(db) == moved
    monkeypatch.setattr(rollups, "CHUNK_DAYS", 4)  # states carried from chunk to chunk
    rollups.refresh(db, settings, full=True)
    assert _rows(db) == moved
