"""Badges: a Vietnamese name, an icon and a rule each. Rules run on ledger events, in the
transaction that writes the event, and a badge is held once (the primary key is the
learner and the badge)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.config import Settings
from app.db import upsert_insert
from app.gamification.streaks import week_days_counted
from app.models import PointEvent, UserBadge, utcnow


@dataclass(frozen=True)
class Facts:
    """What the ledger read under its lock, as it stands after the event."""

    total: int  # all-time points
    lessons: int  # lessons completed (lesson_complete events)


# (session, event, facts) -> earned
Rule = Callable[[Session, PointEvent, Facts], bool]


@dataclass(frozen=True)
class Badge:
    code: str
    name: str
    rule_text: str
    kinds: frozenset[str]  # the events that can earn it
    rule: Rule

    @property
    def icon(self) -> str:
        return f"/static/img/badges/{self.code}.svg"


def _detail(name: str, value: int) -> Rule:
    return lambda _s, e, _f: int((e.details or {}).get(name, -1)) == value


def _perfect_week(session: Session, event: PointEvent, _facts: Facts) -> bool:
    return event.day.weekday() == 6 and week_days_counted(session, event.user_id, event.day) == 7


def _points_1000(_session: Session, _event: PointEvent, facts: Facts) -> bool:
    return facts.total >= 1000


def _excellent(_session: Session, event: PointEvent, _facts: Facts) -> bool:
    return float((event.details or {}).get("score", 0)) >= 90


ANY_POSITIVE = frozenset(
    {
        "quiz_pass",
        "lesson_complete",
        "challenge_score",
        "teach_back_score",
        "effort",
        "daily_goal",
        "streak_milestone",
        "level_complete",
        "league_promoted",
        "mentor_review",
        "answer_accepted",
        "teach_back_featured",
    }
)

CATALOGUE: tuple[Badge, ...] = (
    Badge(
        "first_lesson",
        "Bước chân đầu tiên",
        "Hoàn thành bài học đầu tiên.",
        frozenset({"lesson_complete"}),
        lambda _s, _e, _f: True,
    ),
    Badge(
        "lessons_10",
        "Chăm học",
        "Hoàn thành 10 bài học.",
        frozenset({"lesson_complete"}),
        lambda _s, _e, facts: facts.lessons >= 10,
    ),
    Badge(
        "streak_7",
        "Lửa bảy ngày",
        "Học liền 7 ngày.",
        frozenset({"streak_milestone"}),
        _detail("streak", 7),
    ),
    Badge(
        "streak_30",
        "Bền bỉ 30 ngày",
        "Học liền 30 ngày.",
        frozenset({"streak_milestone"}),
        _detail("streak", 30),
    ),
    Badge(
        "streak_100",
        "Trăm ngày kiên trì",
        "Học liền 100 ngày.",
        frozenset({"streak_milestone"}),
        _detail("streak", 100),
    ),
    *(
        Badge(
            f"level_{n}",
            f"Hoàn thành Bậc {n}",
            f"Hoàn thành đủ số bài học của Bậc {n}.",
            frozenset({"level_complete"}),
            _detail("level", n),
        )
        for n in range(1, 6)
    ),
    Badge(
        "perfect_week",
        "Tuần trọn vẹn",
        "Cả 7 ngày từ thứ Hai đến Chủ nhật đều học (không tính ngày bảo vệ chuỗi).",
        frozenset({"lesson_complete", "daily_goal"}),
        _perfect_week,
    ),
    Badge(
        "excellent_challenge",
        "Bài làm xuất sắc",
        "Một bài thử thách đạt từ 90 điểm.",
        frozenset({"challenge_score"}),
        _excellent,
    ),
    Badge(
        "teach_back_featured",
        "Người kể chuyện",
        "Bài giảng lại đầu tiên được chọn giới thiệu cho cộng đồng.",
        frozenset({"teach_back_featured"}),
        lambda _s, _e, _f: True,
    ),
    Badge(
        "first_helped",
        "Người dẫn đường",
        "Lần đầu giúp một học viên khác (chấm bài hoặc trả lời được chấp nhận).",
        frozenset({"mentor_review", "answer_accepted"}),
        lambda _s, _e, _f: True,
    ),
    Badge(
        "points_1000",
        "Nghìn điểm",
        "Tích lũy 1.000 điểm.",
        ANY_POSITIVE,
        _points_1000,
    ),
    Badge(
        "league_promoted",
        "Thăng hạng",
        "Lần đầu được lên hạng trong giải đấu tuần.",
        frozenset({"league_promoted"}),
        lambda _s, _e, _f: True,
    ),
)
BY_CODE = {b.code: b for b in CATALOGUE}


def held(session: Session, user_id: int) -> dict[str, UserBadge]:
    rows = session.scalars(select(UserBadge).where(UserBadge.user_id == user_id))
    return {r.code: r for r in rows}


def grant(
    session: Session, user_id: int, code: str, *, event_id: int | None, now: datetime
) -> bool:
    """Give the badge unless held (also by a parallel transaction); True when given now."""
    given = session.scalar(
        upsert_insert(session)(UserBadge)
        .values(
            user_id=user_id,
            code=code,
            awarded_at=now,
            event_id=event_id,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing()
        .returning(UserBadge.code)
    )
    return given is not None


def on_event(
    session: Session,
    event: PointEvent,
    settings: Settings,
    *,
    facts: Facts,
    held: frozenset[str],
) -> list[str]:
    """Evaluate the rules this event can satisfy (`facts` and `held`, the badges held,
    were read with the ledger's lock); returns the codes given now. A held badge's rule is
    not even run."""
    if event.points < 0:
        return []
    passed = [
        b.code
        for b in CATALOGUE
        if event.kind in b.kinds and b.code not in held and b.rule(session, event, facts)
    ]
    now = utcnow()
    return [
        code for code in passed if grant(session, event.user_id, code, event_id=event.id, now=now)
    ]
