"""Points, the daily cap, corrections, streaks and freezes, badges, leaderboards (SQL and
Redis give the same answers), weekly leagues and the emulation between units."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
import redis
from openpyxl import load_workbook
from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker

from app.config import ROOT_DIR
from app.core.clock import local_day
from app.gamification import badges, emulation, leagues, ledger, periods, streaks
from app.gamification.boards import Board, SqlBoards, reseat
from app.gamification.redis_boards import RedisBoards, pack, unpack
from app.learning import activity
from app.models import (
    League,
    LeagueMember,
    LeagueOutcome,
    PointEvent,
    PointTally,
    Role,
    StudyDay,
    Unit,
    UserBadge,
    utcnow,
)
from tests.dbutil import TEST_REDIS_URL, is_postgres
from tests.factories import group, login, make_user

MONDAY = date(2026, 11, 16)  # a Monday; its Sunday is the 22nd


def give(db, settings, user, points, *, kind="quiz_pass", day=None, key=None, **details):
    return ledger.award(
        db,
        user_id=user.id,
        kind=kind,
        points=points,
        key=key or f"t:{uuid.uuid4().hex}",
        day=day or MONDAY,
        settings=settings,
        details=details or None,
    )


def tally(db, user, period):
    return db.scalar(
        select(PointTally.points).where(PointTally.user_id == user.id, PointTally.period == period)
    )


def badge_codes(db, user):
    return set(db.scalars(select(UserBadge.code).where(UserBadge.user_id == user.id)))


@pytest.fixture
def learner(db, tree):
    return make_user(db, tree.hamlet, name="Nguyễn Thị Hồng Nhung")


# ---- the ledger ----------------------------------------------------------------------------


def test_an_event_counts_once_and_every_period_tally_follows_it(db, settings, learner):
    assert give(db, settings, learner, 10, key="quiz_pass:1:b1-01").points == 10
    assert give(db, settings, learner, 10, key="quiz_pass:1:b1-01") is None  # replayed
    give(db, settings, learner, 5, day=MONDAY + timedelta(days=7))  # the next week
    assert tally(db, learner, "all") == 15 == ledger.ledger_total(db, learner.id)
    assert tally(db, learner, "2026-W47") == 10 and tally(db, learner, "2026-W48") == 5
    assert tally(db, learner, "2026-11") == 15 and tally(db, learner, "2026-11-16") == 10
    # every row carries the seat; a day's row (for the daily cap) is on no board
    seats = {
        (t.period, t.points, t.listed, t.unit_path)
        for t in db.scalars(select(PointTally).where(PointTally.points != 0))
    }
    path = db.get(Unit, learner.unit_id).path
    assert ("2026-11-16", 10, False, path) in seats and ("all", 15, True, path) in seats
    ledger.rebuild_tallies(db, ["all", "2026-W47", "2026-W48", "2026-11", "2026-11-16"])
    db.expire_all()
    after = {
        (t.period, t.points, t.listed, t.unit_path)
        for t in db.scalars(select(PointTally).where(PointTally.points != 0))
    }
    assert after == seats
    with pytest.raises(ValueError):
        give(db, settings, learner, 1, kind="free_points")


def test_the_daily_cap_cuts_awards_beyond_it(db, settings, learner):
    capped = settings.model_copy(update={"points_daily_cap": 100})
    assert give(db, capped, learner, 60).points == 60
    second = give(db, capped, learner, 60)
    assert (second.points, second.requested, second.details["capped"]) == (40, 60, True)
    assert give(db, capped, learner, 10).points == 0  # the day is full
    assert tally(db, learner, "2026-11-16") == 100
    assert give(db, capped, learner, 30, day=MONDAY + timedelta(days=1)).points == 30
    # a correction is never cut
    fix = ledger.reconcile(
        db,
        user_id=learner.id,
        kind="challenge_score",
        lesson_id=None,
        target=-5,
        ref="r1",
        day=MONDAY,
        settings=capped,
    )
    assert fix.points == -5 and fix.details["correction"] is True


def test_reconcile_pays_the_difference_and_corrects_a_lowered_grade(db, settings, learner, lessons):
    def to(target, ref):
        return ledger.reconcile(
            db,
            user_id=learner.id,
            kind="challenge_score",
            lesson_id="b1-01",
            target=target,
            ref=ref,
            day=MONDAY,
            settings=settings,
        )

    assert to(24, "s1a1").points == 24
    assert to(24, "s1a1") is None  # the same grading seen again
    assert to(30, "s2a1").points == 6  # a better resubmission adds the difference
    correction = to(12, "s2a2")  # a re-grade lowered it
    assert correction.points == -18 and correction.details["correction"] is True
    assert tally(db, learner, "all") == 12
    # the same key never writes twice, even when the target moved again
    assert to(20, "s2a2") is None


def test_a_failed_attempt_earns_only_the_effort_point_once_a_day(
    client, db, settings, learner, lessons
):
    from tests.test_learning_api import grade, send

    headers = login(client, learner)
    grade(db, settings, send(client, headers).json()["id"], 30.0, False)
    grade(db, settings, send(client, headers).json()["id"], 35.0, False)
    events = db.scalars(select(PointEvent).where(PointEvent.user_id == learner.id)).all()
    assert [(e.kind, e.points) for e in events] == [("effort", settings.points_effort)]


# ---- streaks ---------------------------------------------------------------------------------


def count(db, settings, user, day):
    return streaks.count_day(db, user_id=user.id, day=day, settings=settings)


def test_a_streak_grows_earns_freezes_and_pays_its_milestones(db, settings, learner):
    for i in range(21):
        count(db, settings, learner, MONDAY + timedelta(days=i))
        if i == 6:
            stats = streaks.stats_for(db, learner.id)
            assert (stats.streak, stats.freezes) == (7, 1)
    stats = streaks.stats_for(db, learner.id)
    assert (stats.streak, stats.freezes, stats.longest_streak) == (21, 2, 21)  # at most 2 held
    assert count(db, settings, learner, MONDAY + timedelta(days=20)) is None  # counted already
    milestones = db.scalars(
        select(PointEvent).where(
            PointEvent.user_id == learner.id, PointEvent.kind == "streak_milestone"
        )
    ).all()
    assert [(e.details["streak"], e.points) for e in milestones] == [(7, settings.points_streak_7)]
    assert "streak_7" in badge_codes(db, learner)


def test_a_freeze_keeps_the_streak_over_a_missed_day(db, settings, learner):
    for i in range(7):
        count(db, settings, learner, MONDAY + timedelta(days=i))
    sunday = MONDAY + timedelta(days=6)
    # Monday the 23rd is missed; on Tuesday the page already shows the freeze used
    tuesday = sunday + timedelta(days=2)
    seen = streaks.view(db, learner.id, tuesday, settings)
    assert (seen.days, seen.freezes, seen.counted_today, seen.at_risk) == (7, 0, False, True)
    assert count(db, settings, learner, tuesday) == 8
    frozen = db.get(StudyDay, (learner.id, sunday + timedelta(days=1)))
    assert frozen is not None and frozen.frozen and not frozen.counts
    stats = streaks.stats_for(db, learner.id)
    assert (stats.freezes, stats.freezes_used) == (0, 1)
    # no freeze left: the next missed day ends it
    assert streaks.view(db, learner.id, tuesday + timedelta(days=2), settings).days == 0
    assert count(db, settings, learner, tuesday + timedelta(days=2)) == 1


def test_the_streak_waits_for_today_and_breaks_after_a_missed_day(db, settings, learner):
    count(db, settings, learner, MONDAY)
    count(db, settings, learner, MONDAY + timedelta(days=1))
    tomorrow = streaks.view(db, learner.id, MONDAY + timedelta(days=2), settings)
    assert (tomorrow.days, tomorrow.counted_today, tomorrow.at_risk) == (2, False, True)
    assert streaks.view(db, learner.id, MONDAY + timedelta(days=3), settings).days == 0


def test_meeting_the_daily_goal_counts_the_day_and_pays_once(db, settings, learner):
    start = datetime(2026, 11, 16, 2, 0, tzinfo=UTC)  # 09:00 in Hà Nội
    beats = settings.daily_goal_minutes * 60 // settings.heartbeat_seconds + 2
    for i in range(beats):
        activity.heartbeat(
            db,
            user_id=learner.id,
            settings=settings,
            now=start + timedelta(seconds=settings.heartbeat_seconds * i),
        )
    goal = db.scalars(
        select(PointEvent).where(PointEvent.user_id == learner.id, PointEvent.kind == "daily_goal")
    ).all()
    assert len(goal) == 1 and goal[0].points == settings.points_daily_goal
    assert streaks.stats_for(db, learner.id).streak == 1


# ---- badges ----------------------------------------------------------------------------------


def test_the_badge_catalogue():
    assert len(badges.CATALOGUE) >= 12
    assert len(badges.BY_CODE) == len(badges.CATALOGUE)
    for badge in badges.CATALOGUE:
        assert (ROOT_DIR / badge.icon.lstrip("/")).is_file(), badge.code
        assert badge.name and badge.rule_text.endswith(".")
        assert badge.kinds <= set(ledger.KINDS)


def test_each_badge_rule(db, settings, learner):
    give(db, settings, learner, 50, kind="lesson_complete")
    assert badge_codes(db, learner) == {"first_lesson"}
    for _ in range(8):
        give(db, settings, learner, 0, kind="lesson_complete")
    assert "lessons_10" not in badge_codes(db, learner)  # nine lessons
    give(db, settings, learner, 0, kind="lesson_complete")
    assert "lessons_10" in badge_codes(db, learner)
    give(db, settings, learner, 200, kind="level_complete", level=2)
    assert "level_2" in badge_codes(db, learner) and "level_1" not in badge_codes(db, learner)
    give(db, settings, learner, 20, kind="challenge_score", score=85.0)
    assert "excellent_challenge" not in badge_codes(db, learner)
    give(db, settings, learner, 28, kind="challenge_score", score=92.5)
    assert "excellent_challenge" in badge_codes(db, learner)
    give(db, settings, learner, 30, kind="teach_back_featured")
    give(db, settings, learner, 15, kind="mentor_review")
    give(db, settings, learner, 20, kind="league_promoted")
    assert {"teach_back_featured", "first_helped", "league_promoted"} <= badge_codes(db, learner)
    assert "points_1000" not in badge_codes(db, learner)
    for i in range(3):
        give(db, settings, learner, 250, kind="quiz_pass", day=MONDAY + timedelta(days=i + 1))
    assert "points_1000" in badge_codes(db, learner)
    # never twice
    give(db, settings, learner, 0, kind="lesson_complete")
    assert db.scalar(select(func.count()).where(UserBadge.user_id == learner.id)) == len(
        badge_codes(db, learner)
    )


def test_a_perfect_week_needs_all_seven_days(db, settings, learner, tree):
    other = make_user(db, tree.hamlet, name="Lò Văn Páo")
    for user, days in ((learner, range(7)), (other, (0, 1, 2, 3, 5, 6))):
        for i in days:
            day = MONDAY + timedelta(days=i)
            db.add(StudyDay(user_id=user.id, day=day, active_seconds=0, lessons_completed=1))
            db.flush()
            give(db, settings, user, 0, kind="lesson_complete", day=day)
    assert "perfect_week" in badge_codes(db, learner)
    assert "perfect_week" not in badge_codes(db, other)


# ---- leaderboards ----------------------------------------------------------------------------


@pytest.fixture
def world(db, tree, settings):
    """Learners across the tree with points this week and last week, ties, a group, levels,
    and accounts that must not appear (an administrator, a deactivated learner)."""
    farmers = group(db, "nong_dan")
    people = {}
    spec = [
        # name, unit, group, level, points this week, points last week
        ("An", tree.hamlet, farmers, 1, 120, 0),
        ("Bình", tree.hamlet, None, 1, 80, 300),
        ("Chi", tree.ward, farmers, 2, 80, 0),
        ("Dũng", tree.village, farmers, 1, 200, 10),
        ("Em", tree.commune, None, 2, 80, 0),
        ("Giang", tree.village, None, 3, 0, 50),
        ("Hà", tree.hamlet, farmers, 1, 15, 0),
    ]
    this_week = MONDAY + timedelta(days=7)
    for name, unit, grp, level, now_pts, last_pts in spec:
        user = make_user(db, unit, name=name)
        user.group_id = grp.id if grp else None
        streaks.stats_for(db, user.id).level = level
        if now_pts:
            give(db, settings, user, now_pts, day=this_week)
        if last_pts:
            give(db, settings, user, last_pts, day=MONDAY)
        people[name] = user
    admin = make_user(db, tree.hamlet, name="Quản Trị", role=Role.admin)
    give(db, settings, admin, 999, day=this_week)
    gone = make_user(db, tree.hamlet, name="Đã Nghỉ")
    give(db, settings, gone, 999, day=this_week)
    gone.is_active = False
    db.flush()
    reseat(db, [gone.id])  # as the account services do after such a change
    people["_day"] = this_week
    return people


def all_boards(db, tree, world):
    week = periods.week_key(world["_day"])
    farmers = group(db, "nong_dan")
    out = []
    for period in ("all", week):
        out += [
            Board(period, "all"),
            Board(period, "unit", tree.province.id, tree.province.path),
            Board(period, "unit", tree.ward.id, tree.ward.path),
            Board(period, "unit", tree.hamlet.id, tree.hamlet.path),
            Board(period, "unit", tree.commune.id, tree.commune.path),
            Board(period, "group", farmers.id),
            Board(period, "level", 1),
            Board(period, "level", 2),
        ]
    return out


def names(world, entries):
    by_id = {u.id: n for n, u in world.items() if n != "_day"}
    return [(by_id[e.user_id], e.points, e.rank) for e in entries]


def test_sql_boards_order_rank_and_scope(db, tree, world):
    sql = SqlBoards()
    week = periods.week_key(world["_day"])
    top = sql.top(db, Board(week, "all"))
    # ties share a rank and are listed by account id; no admin, no deactivated, no zeros
    assert names(world, top) == [
        ("Dũng", 200, 1),
        ("An", 120, 2),
        ("Bình", 80, 3),
        ("Chi", 80, 3),
        ("Em", 80, 3),
        ("Hà", 15, 6),
    ]
    ward = sql.top(db, Board(week, "unit", tree.ward.id, tree.ward.path))
    assert [n for n, _, _ in names(world, ward)] == ["An", "Bình", "Chi", "Hà"]  # the subtree
    alltime = sql.top(db, Board("all", "all"))
    assert names(world, alltime)[0] == ("Bình", 380, 1)
    level1 = sql.top(db, Board(week, "level", 1))
    assert [n for n, _, _ in names(world, level1)] == ["Dũng", "An", "Bình", "Hà"]
    me = sql.entry(db, Board(week, "all"), world["Em"].id)
    assert (me.position, me.rank, me.points) == (5, 3, 80)
    around = sql.around(db, Board(week, "all"), me, 2)
    assert names(world, around) == [("Bình", 80, 3), ("Chi", 80, 3), ("Em", 80, 3), ("Hà", 15, 6)]
    assert sql.entry(db, Board(week, "all"), world["Giang"].id) is None  # no points this week
    assert sql.size(db, Board(week, "all")) == 6


def test_sql_ranks_beyond_the_exact_depth_come_from_a_recent_histogram(db, tree, world, settings):
    """Counts stop at `exact_ranks` rows; deeper ranks and sizes are read from the board's
    points histogram (recounted once it is older than `histogram_seconds`) and marked."""
    week = periods.week_key(world["_day"])
    board = Board(week, "all")
    exact = SqlBoards()
    shallow = SqlBoards(exact_ranks=2, histogram_seconds=3600)
    dung = shallow.entry(db, board, world["Dũng"].id)  # nobody above: exact
    assert (dung.rank, dung.exact) == (1, True)
    ha = shallow.entry(db, board, world["Hà"].id)  # five above: beyond the exact depth
    assert (ha.rank, ha.position, ha.exact) == (6, 6, False)
    em = shallow.entry(db, board, world["Em"].id)  # two above, then a tie of three
    assert (em.rank, em.exact) == (exact.entry(db, board, world["Em"].id).rank, True)
    assert shallow.size(db, board) == exact.size(db, board) == 6
    # neighbours carry the same ranks, marked where they are approximate
    near = shallow.around(db, board, ha, 2)
    assert [(e.rank, e.exact) for e in near] == [(3, True), (3, True), (6, False)]
    assert [(e.user_id, e.points, e.position) for e in near] == [
        (e.user_id, e.points, e.position)
        for e in exact.around(db, board, exact.entry(db, board, world["Hà"].id), 2)
    ]
    # the histogram is a snapshot: a newcomer shows up in the exact counts at once and in
    # the deep ones when it is recounted
    newcomer = make_user(db, tree.hamlet, name="Mới Đến")
    give(db, settings, newcomer, 100, day=world["_day"])
    assert exact.size(db, board) == 7
    assert shallow.size(db, board) == 6
    assert shallow.entry(db, board, world["Hà"].id).rank == 6
    fresh = SqlBoards(exact_ranks=2, histogram_seconds=0)
    assert fresh.size(db, board) == 7
    assert fresh.entry(db, board, world["Hà"].id).rank == 7


def test_moves_reseat_the_sql_boards(db, tree, world, settings):
    """A unit moved under another parent, with its learners, leaves the old subtree's
    boards and joins the new one's (orgs.move_unit reseats the tallies)."""
    from app.orgs.service import move_unit

    week = periods.week_key(world["_day"])
    sql = SqlBoards()
    ward_board = Board(week, "unit", tree.ward.id, tree.ward.path)
    commune_board = Board(week, "unit", tree.commune.id, tree.commune.path)
    assert world["An"].id in [e.user_id for e in sql.top(db, ward_board)]
    move_unit(db, unit=tree.hamlet, new_parent=tree.commune)
    db.flush()
    ward_ids = [e.user_id for e in sql.top(db, ward_board)]
    commune_ids = [e.user_id for e in sql.top(db, commune_board)]
    for name in ("An", "Bình", "Hà"):  # the hamlet's learners
        assert world[name].id not in ward_ids and world[name].id in commune_ids
    assert world["Chi"].id in ward_ids  # the ward's own learner stays


@pytest.fixture
def redis_store():
    client = redis.Redis.from_url(TEST_REDIS_URL)
    prefix = f"test:lb:{uuid.uuid4().hex[:8]}:"
    yield RedisBoards(client, prefix=prefix)
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        client.delete(*keys)


def assert_same(db, tree, world, store):
    sql = SqlBoards()
    users = [u for n, u in world.items() if n != "_day"]
    for board in all_boards(db, tree, world):
        assert store.top(db, board) == sql.top(db, board), board
        assert store.size(db, board) == sql.size(db, board), board
        for user in users:
            mine = sql.entry(db, board, user.id)
            assert store.entry(db, board, user.id) == mine, (board, user.full_name)
            if mine is not None:
                assert store.around(db, board, mine, 2) == sql.around(db, board, mine, 2)


def test_redis_and_sql_give_the_same_boards(db, tree, world, redis_store, settings):
    week = periods.week_key(world["_day"])
    month = periods.month_key(world["_day"])
    redis_store.rebuild(db, ["all", week, month], today=world["_day"])
    assert_same(db, tree, world, redis_store)
    # then kept in step learner by learner: new points, a move to another unit, a new
    # group and level, a deactivation
    give(db, settings, world["Hà"], 300, day=world["_day"])
    world["Chi"].unit_id = tree.village.id
    world["Em"].group_id = group(db, "nong_dan").id
    streaks.stats_for(db, world["An"].id).level = 2
    world["Dũng"].is_active = False
    db.flush()
    touched = [world[n].id for n in ("Hà", "Chi", "Em", "An", "Dũng")]
    reseat(db, touched)  # as the account and progress services do
    redis_store.sync(db, touched, world["_day"])
    assert_same(db, tree, world, redis_store)
    assert redis_store.top(db, Board(week, "all"))[0].points == 315
    # a rebuild from scratch gives the same again
    redis_store.rebuild(db, ["all", week, month], today=world["_day"])
    assert_same(db, tree, world, redis_store)


def test_a_commit_syncs_redis(db, tree, settings, redis_store):
    """Sessions made with the boards in their info push what they changed on commit."""
    connection = db.connection()
    factory = sessionmaker(
        bind=connection,
        join_transaction_mode="create_savepoint",
        info={"boards": redis_store, "tz": settings.tz},
    )
    user = make_user(db, tree.hamlet, name="Phạm Thu")
    db.flush()
    today = local_day(utcnow(), settings.tz)
    with factory() as session:
        # the week's first points: the league join and the badge run in SAVEPOINTs, whose
        # release must not sync (nor forget) the learner before the real commit
        give(session, settings, session.get(type(user), user.id), 42, day=today)
        assert user.id in session.info["boards_touched"]
        assert redis_store.entry(db, Board(periods.ALL, "all"), user.id) is None
        session.commit()
    board = Board(periods.week_key(today), "unit", tree.ward.id, tree.ward.path)
    entry = redis_store.entry(db, board, user.id)
    assert entry is not None and entry.points == 42


def test_scores_pack_points_and_tie_order():
    assert unpack(pack(120, 7)) == (120, 7)
    assert unpack(pack(-3, 99)) == (-3, 99)
    assert pack(80, 3) > pack(80, 4) > pack(79, 1)  # equal points: the smaller id first


# ---- leagues ---------------------------------------------------------------------------------


def join(db, settings, users, day, points):
    for user, pts in zip(users, points, strict=True):
        give(db, settings, user, pts, day=day)


def test_learners_fill_cohorts_of_their_tier_and_activity(db, tree, settings):
    small = settings.model_copy(update={"league_size": 5})
    users = [make_user(db, tree.hamlet, name=f"Học viên {i}") for i in range(7)]
    keen = make_user(db, tree.hamlet, name="Chăm Chỉ")
    for i in range(2):  # last week: a busy learner
        give(db, small, keen, 300, day=MONDAY + timedelta(days=i))
    day = MONDAY + timedelta(days=7)
    join(db, small, [*users, keen], day, [10] * 8)
    week = periods.week_key(day)
    cohorts = db.scalars(select(League).where(League.week == week).order_by(League.id)).all()
    sizes = [(c.tier, c.band, c.size) for c in cohorts]
    assert sizes == [(0, 0, 5), (0, 0, 2), (0, 3, 1)]
    give(db, small, users[0], 5, day=day)  # more points: still one membership a week
    assert db.scalar(select(func.count()).where(LeagueMember.user_id == users[0].id)) == 1


def test_closing_a_week_moves_the_top_up_and_the_bottom_down(db, tree, settings):
    users = [make_user(db, tree.hamlet, name=f"Người {i:02d}") for i in range(12)]
    for user in users:
        streaks.stats_for(db, user.id).league_tier = 1
    join(db, settings, users, MONDAY, [100 - i for i in range(12)])
    league = leagues.my_league(db, users[0].id, MONDAY)
    live = leagues.standings(db, league, settings)
    assert [s.zone for s in live] == ["up"] * 7 + ["down"] * 5
    assert leagues.close_ended_weeks(db, today=MONDAY, settings=settings, now=utcnow()) == 0
    closed = leagues.close_ended_weeks(
        db, today=MONDAY + timedelta(days=7), settings=settings, now=utcnow()
    )
    assert closed == 1
    members = {
        m.user_id: m
        for m in db.scalars(select(LeagueMember).where(LeagueMember.league_id == league.id))
    }
    first, last = members[users[0].id], members[users[11].id]
    assert (first.final_rank, first.final_points, first.outcome) == (
        1,
        100,
        LeagueOutcome.promoted,
    )
    assert (last.final_rank, last.outcome) == (12, LeagueOutcome.demoted)
    tiers = [streaks.stats_for(db, u.id).league_tier for u in users]
    assert tiers == [2] * 7 + [0] * 5
    assert "league_promoted" in badge_codes(db, users[0])
    assert leagues.close_week(db, week=league.week, settings=settings, now=utcnow()) == 0
    kept = leagues.standings(db, league, settings)
    assert kept[0].zone == "up" and kept[-1].zone == "down" and kept[0].points == 100


def test_zones_never_overlap_and_respect_the_end_tiers(settings):
    assert leagues.zones(30, 0, settings) == (7, 0)  # nobody below the lowest tier
    assert leagues.zones(30, 4, settings) == (0, 5)  # nobody above the highest
    assert leagues.zones(9, 2, settings) == (7, 2)
    assert leagues.zones(5, 2, settings) == (5, 0)


# ---- emulation between units -----------------------------------------------------------------


@pytest.fixture
def emulating(db, tree, settings):
    """The ward: 4 registered, 3 active this week (30, 20, 10 points), one level done; the
    commune: 2 registered, 1 active (100 points), a target population of 10."""
    ward = [make_user(db, u, name=n) for u, n in ((tree.ward, "A"), (tree.ward, "B"))]
    ward += [make_user(db, tree.hamlet, name=n) for n in ("C", "D")]
    commune = [make_user(db, tree.village, name="E"), make_user(db, tree.commune, name="F")]
    for user, pts in zip(ward[:3], (30, 20, 10), strict=True):
        give(db, settings, user, pts)
    give(db, settings, ward[3], 5, day=MONDAY - timedelta(days=7))  # active last week only
    give(db, settings, commune[0], 100)
    give(db, settings, ward[0], 0, kind="level_complete", level=1)
    tree.commune.target_population = 10
    make_user(db, tree.hamlet, name="Quản Trị", role=Role.unit_admin)  # not a learner
    db.flush()
    return ward, commune


def test_units_are_compared_within_their_parent(db, tree, emulating):
    week = periods.week_key(MONDAY)
    rows = emulation.unit_board(db, tree.province, period=week)
    by_name = {r.name: r for r in rows}
    ward, commune = by_name["Phường An Bình"], by_name["Xã Đồng Tâm"]
    assert (ward.registered, ward.active, ward.points) == (4, 3, 60)
    assert (ward.participation, ward.average_points, ward.completion) == (0.75, 15.0, 0.25)
    assert ward.participation_of_target is None
    assert (commune.registered, commune.active, commune.participation) == (2, 1, 0.5)
    assert commune.participation_of_target == 0.1 and commune.average_points == 50.0
    assert [r.name for r in rows] == ["Phường An Bình", "Xã Đồng Tâm"]
    by_points = emulation.unit_board(db, tree.province, period=week, metric="points")
    assert [(r.name, r.rank) for r in by_points] == [("Xã Đồng Tâm", 1), ("Phường An Bình", 2)]


def test_the_honour_roll_exports(db, tree, emulating):
    roll = emulation.honour_roll(db, SqlBoards(), tree.province, period=periods.week_key(MONDAY))
    assert [(p.rank, p.name, p.points) for p in roll.learners] == [
        (1, "E", 100),
        (2, "A", 30),
        (3, "B", 20),
        (4, "C", 10),
    ]
    assert [u.name for u in roll.units] == ["Phường An Bình", "Xã Đồng Tâm"]
    text = emulation.export_csv(roll).decode("utf-8")
    assert text.startswith("\ufeffVinh danh – Tỉnh Thử Nghiệm – Tuần 16/11 – 22/11/2026")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[1][:5] == ["Loại", "Hạng", "Tên", "Đơn vị", "Điểm"]
    assert rows[2] == ["Học viên", "1", "E", "Thôn Bản Lác", "100", "", ""]
    assert rows[-1][:3] == ["Đơn vị", "2", "Xã Đồng Tâm"] and rows[-1][5] == "50.0"
    sheet = load_workbook(io.BytesIO(emulation.export_xlsx(roll))).active
    assert sheet["C3"].value == "E" and sheet["A7"].value == "Đơn vị"


# ---- the API ---------------------------------------------------------------------------------


def test_the_leaderboard_api(client, db, tree, settings, learner):
    today = local_day(utcnow(), settings.tz)
    rival = make_user(db, tree.village, name="Lò Văn Páo")
    give(db, settings, rival, 90, day=today)
    give(db, settings, learner, 40, day=today)
    headers = login(client, learner)
    body = client.get("/api/v1/leaderboards?scope=all&period=week", headers=headers).json()
    assert [(r["name"], r["rank"], r["is_me"]) for r in body["top"]] == [
        ("Páo L.", 1, False),
        ("Nguyễn Thị Hồng Nhung", 2, True),
    ]
    assert body["me"]["rank"] == 2 and body["period_key"] == periods.week_key(today)
    unit = client.get("/api/v1/leaderboards?scope=unit&period=all", headers=headers).json()
    assert [r["name"] for r in unit["top"]] == ["Nguyễn Thị Hồng Nhung"]
    up = client.get(
        f"/api/v1/leaderboards?scope=unit&unit_id={tree.province.id}", headers=headers
    ).json()
    assert up["title"] == "Tỉnh Thử Nghiệm" and len(up["top"]) == 2
    res = client.get(f"/api/v1/leaderboards?scope=unit&unit_id={tree.village.id}", headers=headers)
    assert res.status_code == 403  # not a unit above the learner
    res = client.get("/api/v1/leaderboards?scope=group", headers=headers)
    assert res.status_code == 404 and "nhóm" in res.json()["detail"]
    assert client.get("/api/v1/leaderboards?scope=x", headers=headers).status_code == 422
    assert client.get("/api/v1/leaderboards?period=year", headers=headers).status_code == 422
    ranks = client.get("/api/v1/me/rank?period=all", headers=headers).json()["ranks"]
    assert [(r["scope"], r["rank"], r["of"]) for r in ranks] == [
        ("all", 2, 2),
        ("unit", 1, 1),
        ("level", 2, 2),
    ]
    assert client.get("/api/v1/leaderboards").status_code == 401


def test_the_badges_streak_and_league_api(client, db, settings, learner):
    today = local_day(utcnow(), settings.tz)
    give(db, settings, learner, 50, kind="lesson_complete", day=today)
    headers = login(client, learner)
    got = client.get("/api/v1/me/badges", headers=headers).json()
    assert len(got) == len(badges.CATALOGUE)
    earned = [b["code"] for b in got if b["earned_at"]]
    assert earned == ["first_lesson"] and got[0]["icon"].endswith(".svg")
    streak = client.get("/api/v1/me/streak", headers=headers).json()
    assert streak["days"] == 0 and streak["freezes_max"] == 2
    league = client.get("/api/v1/me/league", headers=headers).json()
    assert league["joined"] and league["tier_name"] == "Hạng Đồng"
    assert league["standings"][0]["is_me"] and league["standings"][0]["points"] == 50


def test_the_unit_board_api_and_its_scope(client, db, tree, settings, emulating):
    ward, _commune = emulating
    headers = login(client, ward[2])  # lives in the hamlet under the ward
    week = periods.week_key(MONDAY)
    res = client.get(f"/api/v1/units/{tree.province.id}/board?key={week}", headers=headers)
    assert res.status_code == 200
    body = res.json()
    assert [(u["name"], u["active"], u["registered"]) for u in body["units"]] == [
        ("Phường An Bình", 3, 4),
        ("Xã Đồng Tâm", 1, 2),
    ]
    assert client.get(f"/api/v1/units/{tree.commune.id}/board", headers=headers).status_code == 403
    res = client.get(f"/api/v1/units/{tree.province.id}/board?key=2026-W99", headers=headers)
    assert res.status_code == 422
    res = client.get(
        f"/api/v1/units/{tree.province.id}/honour-roll?key={week}&format=csv", headers=headers
    )
    assert res.status_code == 200 and res.headers["content-type"].startswith("text/csv")
    assert "Vinh danh" in res.content.decode("utf-8-sig")
    roll = client.get(
        f"/api/v1/units/{tree.province.id}/honour-roll?key={week}", headers=headers
    ).json()
    assert roll["learners"][0]["name"] == "E" and roll["label"].startswith("Tuần")


@pytest.mark.skipif(not is_postgres(), reason="row locks between connections: PostgreSQL")
def test_parallel_regrades_of_one_lesson_pay_once(tmp_path, settings):
    """Two gradings of the same lesson's challenge, committed by two connections at once:
    `reconcile` reads what the lesson has earned under the learner's lock, so the second
    sees the first's points and pays nothing more."""
    import threading
    import time

    from sqlalchemy.orm import Session as PlainSession

    from app.db import make_engine
    from app.migrations import upgrade
    from tests.dbutil import scratch_database
    from tests.factories import make_tree

    with scratch_database(tmp_path, "regrade") as url:
        upgrade(url)
        engine = make_engine(url)
        with PlainSession(engine) as session:
            tree = make_tree(session)
            user_id = make_user(session, tree.hamlet, name="Song Song").id
            session.commit()
        barrier = threading.Barrier(2)
        failures: list[BaseException] = []

        def grade(ref: str) -> None:
            try:
                with PlainSession(engine) as session:
                    barrier.wait()
                    ledger.reconcile(
                        session,
                        user_id=user_id,
                        kind="challenge_score",
                        lesson_id="b1-01",
                        target=24,
                        ref=ref,
                        day=MONDAY,
                        settings=settings,
                    )
                    time.sleep(0.3)  # hold the lock while the other grading arrives
                    session.commit()
            except BaseException as exc:
                failures.append(exc)

        threads = [threading.Thread(target=grade, args=(f"g{i}",)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert failures == []
        with PlainSession(engine) as session:
            events = session.scalars(
                select(PointEvent.points).where(PointEvent.user_id == user_id)
            ).all()
            assert events == [24]
            assert ledger.total_points(session, user_id) == 24
        engine.dispose()
