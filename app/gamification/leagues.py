"""Weekly leagues, as Duolingo's: a learner joins this week's league with their first
points of the week, in their tier, in a cohort of about `league_size` learners who were
about as active last week. At the week's end (Sunday, Asia/Ho_Chi_Minh) the top
`league_promote` of each cohort move up a tier, the bottom `league_demote` move down, and
every member's final points, rank and outcome are kept."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.config import Settings
from app.gamification import periods
from app.models import (
    LEARNER_ROLES,
    League,
    LeagueMember,
    LeagueOutcome,
    PointTally,
    User,
)

TIERS = ("Đồng", "Bạc", "Vàng", "Bạch kim", "Kim cương")
# last week's points that place a learner in an activity band (cohorts mix one band)
BANDS = (0, 60, 200, 500)


def tier_name(tier: int) -> str:
    return f"Hạng {TIERS[tier]}"


def band_of(points_last_week: int) -> int:
    return max(i for i, floor in enumerate(BANDS) if points_last_week >= floor)


def ensure_member(
    session: Session, *, user_id: int, day: date, settings: Settings
) -> LeagueMember | None:
    """Place the learner in this week's league if not there yet (learners and mentors
    only). Cohorts fill up to `league_size`; a full one starts the next."""
    week = periods.week_key(day)
    mine = session.scalar(
        select(LeagueMember).where(LeagueMember.user_id == user_id, LeagueMember.week == week)
    )
    if mine is not None:
        return mine
    user = session.get(User, user_id)
    if user is None or user.role not in LEARNER_ROLES:
        return None
    from app.gamification.streaks import stats_for

    tier = stats_for(session, user_id).league_tier
    last = session.scalar(
        select(PointTally.points).where(
            PointTally.user_id == user_id, PointTally.period == periods.previous(week)
        )
    )
    band = band_of(int(last or 0))
    league = session.scalar(
        select(League)
        .where(
            League.week == week,
            League.tier == tier,
            League.band == band,
            League.size < settings.league_size,
            League.closed_at.is_(None),
        )
        .order_by(League.id)
        .limit(1)
        # a cohort another transaction is filling is skipped, not waited for: joins at
        # the start of a week never queue behind each other (at worst a cohort more)
        .with_for_update(skip_locked=True)
    )
    if league is None:
        league = League(week=week, tier=tier, band=band, size=0)
        session.add(league)
        session.flush()
    try:
        with session.begin_nested():
            member = LeagueMember(league_id=league.id, user_id=user_id, week=week)
            session.add(member)
            session.flush()
    except IntegrityError:  # joined by a parallel transaction
        return session.scalar(
            select(LeagueMember).where(LeagueMember.user_id == user_id, LeagueMember.week == week)
        )
    league.size += 1
    return member


@dataclass(frozen=True)
class Standing:
    user_id: int  # names are looked up by whoever shows them (app.gamification.names)
    points: int
    rank: int
    zone: str  # "up", "down" or "" (while the week runs); the outcome once closed


def zones(size: int, tier: int, settings: Settings) -> tuple[int, int]:
    """How many move up and down in a cohort of `size` (never the same learner twice)."""
    up = settings.league_promote if tier < len(TIERS) - 1 else 0
    up = min(up, size)
    down = settings.league_demote if tier > 0 else 0
    return up, max(0, min(down, size - up))


def standings(session: Session, league: League, settings: Settings) -> list[Standing]:
    rows = session.execute(
        select(
            LeagueMember.user_id,
            PointTally.points,
            LeagueMember.final_points,
            LeagueMember.final_rank,
            LeagueMember.outcome,
        )
        .outerjoin(
            PointTally,
            (PointTally.user_id == LeagueMember.user_id) & (PointTally.period == league.week),
        )
        .where(LeagueMember.league_id == league.id)
    ).all()
    if league.closed_at is not None:
        kept = sorted(rows, key=lambda r: r.final_rank or 0)
        zone = {LeagueOutcome.promoted: "up", LeagueOutcome.demoted: "down"}
        return [
            Standing(
                r.user_id,
                r.final_points or 0,
                r.final_rank or 0,
                zone.get(r.outcome, ""),
            )  # type: ignore[arg-type]
            for r in kept
        ]
    ordered = sorted(rows, key=lambda r: (-(r.points or 0), r.user_id))
    up, down = zones(len(ordered), league.tier, settings)
    out = []
    for i, r in enumerate(ordered):
        zone = "up" if i < up else "down" if i >= len(ordered) - down else ""
        out.append(Standing(r.user_id, int(r.points or 0), i + 1, zone))
    return out


def close_week(session: Session, *, week: str, settings: Settings, now: datetime) -> int:
    """Close every open cohort of `week` (a week that has ended): keep each member's
    points, rank and outcome, move tiers, and award the promotion points. Safe to run
    again (closed cohorts are skipped). Returns the cohorts closed."""
    from app.gamification.ledger import award
    from app.gamification.streaks import stats_for

    last_day = periods.span(week).last
    closed = 0
    for league in session.scalars(
        select(League).where(League.week == week, League.closed_at.is_(None)).with_for_update()
    ).all():
        table = standings(session, league, settings)
        members = {
            m.user_id: m
            for m in session.scalars(
                select(LeagueMember).where(LeagueMember.league_id == league.id)
            )
        }
        for s in table:
            member = members[s.user_id]
            member.final_points, member.final_rank = s.points, s.rank
            stats = stats_for(session, s.user_id)
            if s.zone == "up":
                member.outcome = LeagueOutcome.promoted
                stats.league_tier = min(league.tier + 1, len(TIERS) - 1)
                award(
                    session,
                    user_id=s.user_id,
                    kind="league_promoted",
                    points=settings.points_league_promoted,
                    key=f"league_promoted:{s.user_id}:{week}",
                    day=last_day,
                    settings=settings,
                    details={"week": week, "tier": stats.league_tier, "rank": s.rank},
                )
            elif s.zone == "down":
                member.outcome = LeagueOutcome.demoted
                stats.league_tier = max(league.tier - 1, 0)
            else:
                member.outcome = LeagueOutcome.stayed
                stats.league_tier = league.tier
        league.closed_at = now
        closed += 1
    session.flush()
    return closed


def close_ended_weeks(session: Session, *, today: date, settings: Settings, now: datetime) -> int:
    """Close the cohorts of every week that ended before `today`."""
    this_week = periods.week_key(today)
    weeks = session.scalars(
        select(League.week).where(League.closed_at.is_(None), League.week < this_week).distinct()
    ).all()
    return sum(close_week(session, week=w, settings=settings, now=now) for w in sorted(weeks))


def my_league(session: Session, user_id: int, day: date) -> League | None:
    week = periods.week_key(day)
    return session.scalar(
        select(League)
        .join(LeagueMember, LeagueMember.league_id == League.id)
        .where(LeagueMember.user_id == user_id, LeagueMember.week == week)
    )


def history(session: Session, user_id: int, limit: int = 8) -> list[tuple[League, LeagueMember]]:
    rows = session.execute(
        select(League, LeagueMember)
        .join(LeagueMember, LeagueMember.league_id == League.id)
        .where(LeagueMember.user_id == user_id, League.closed_at.is_not(None))
        .order_by(League.week.desc())
        .limit(limit)
    ).all()
    return [(lg, m) for lg, m in rows]


def week_end(day: date) -> date:
    return day + timedelta(days=6 - day.weekday())
