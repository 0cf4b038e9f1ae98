"""A small demo commune with an administrator, a unit admin and two learners (dev only):
one just starting, one who has finished level 1 (points, badges and its certificate)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.service import create_user
from app.config import Settings
from app.models import Role, Unit, UnitType, User
from app.orgs.service import create_unit, ensure_default_groups, get_unit_by_code

DEMO_PASSWORD = "hocAI-moi-ngay"
DEMO_ADMIN = "admin@demo.binhdanhocai.vn"
DEMO_UNIT_ADMIN = "quantri.tanhuong@demo.binhdanhocai.vn"
DEMO_LEARNER = "0912345678"
DEMO_GRADUATE = "0912345679"

# code, name, type, parent code
DEMO_UNITS: tuple[tuple[str, str, UnitType, str | None], ...] = (
    ("TN", "Tỉnh Thái Nguyên", UnitType.province, None),
    ("TN-TANHUONG", "Phường Tân Hương", UnitType.ward, "TN"),
    ("TN-TANHUONG-TDP1", "Tổ dân phố Tân Thịnh", UnitType.residential_group, "TN-TANHUONG"),
    ("TN-TANHUONG-TDP2", "Tổ dân phố Tân Long", UnitType.residential_group, "TN-TANHUONG"),
    ("TN-TANHUONG-UBND", "UBND phường Tân Hương", UnitType.agency, "TN-TANHUONG"),
    ("TN-TANHUONG-THCS", "Trường THCS Tân Hương", UnitType.school, "TN-TANHUONG"),
    ("TN-TANHUONG-HTX", "Hợp tác xã chè Tân Hương", UnitType.cooperative, "TN-TANHUONG"),
    ("TN-DAITU", "Xã Đại Từ", UnitType.commune, "TN"),
    ("TN-DAITU-XOM1", "Xóm Đồng Tâm", UnitType.hamlet, "TN-DAITU"),
)


def _finish_level_one(session: Session, user: User, settings: Settings) -> None:
    """Pass level 1's lessons through the real progress path (points, badges, the level's
    certificate), as a learner who has studied for a while would have."""
    from app.learning import progress
    from app.models import Lesson, LessonProgress, SubmissionKind, utcnow

    lessons = session.scalars(
        select(Lesson.id)
        .where(Lesson.level_number == 1, Lesson.is_active.is_(True))
        .order_by(Lesson.position)
    ).all()
    for i, lesson_id in enumerate(lessons):
        now = utcnow()
        session.add(
            LessonProgress(
                user_id=user.id, lesson_id=lesson_id, last_activity_at=now, quiz_passed_at=now
            )
        )
        session.flush()
        progress.record_grade(
            session,
            user_id=user.id,
            lesson_id=lesson_id,
            kind=SubmissionKind.challenge,
            score=78 + (i * 7) % 20,
            passed=True,
            submission_id=0,
            ref=f"demo:{lesson_id}",
            settings=settings,
            now=now,
        )


def load_demo(session: Session, settings: Settings | None = None) -> bool:
    """Create the demo data when missing; returns False when it was already there."""
    ensure_default_groups(session)
    if session.scalar(select(User.id).where(User.email == DEMO_ADMIN)) is not None:
        return False
    for code, name, utype, parent_code in DEMO_UNITS:
        if get_unit_by_code(session, code) is None:
            parent = get_unit_by_code(session, parent_code) if parent_code else None
            create_unit(session, code=code, name=name, type=utype, parent=parent)
    units = {u.code: u for u in session.scalars(select(Unit))}
    from app.models import LearnerGroup

    groups = {g.code: g for g in session.scalars(select(LearnerGroup))}
    create_user(
        session,
        full_name="Quản trị hệ thống",
        phone=None,
        email=DEMO_ADMIN,
        password=DEMO_PASSWORD,
        unit_id=units["TN"].id,
        group_id=None,
        role=Role.admin,
    )
    create_user(
        session,
        full_name="Nguyễn Văn Quản",
        phone=None,
        email=DEMO_UNIT_ADMIN,
        password=DEMO_PASSWORD,
        unit_id=units["TN-TANHUONG"].id,
        group_id=groups["can_bo"].id,
        role=Role.unit_admin,
    )
    learner = create_user(
        session,
        full_name="Trần Thị Hồng Nhung",
        phone="+84912345678",
        email=None,
        password=DEMO_PASSWORD,
        unit_id=units["TN-TANHUONG-TDP1"].id,
        group_id=groups["doanh_nghiep"].id,
    )
    graduate = create_user(
        session,
        full_name="Lê Văn Minh",
        phone="+84912345679",
        email=None,
        password=DEMO_PASSWORD,
        unit_id=units["TN-TANHUONG-TDP2"].id,
        group_id=groups["can_bo"].id,
    )
    if settings is not None:
        _finish_level_one(session, graduate, settings)
        _mentoring(session, graduate, learner, settings)
    return True


def _mentoring(session: Session, mentor: User, learner: User, settings: Settings) -> None:
    """The graduate mentors level 1 (confirmed by the ward's admin); the learner has a
    challenge the grader was unsure of, waiting in the queue, and a question under the
    first lesson."""
    import hashlib

    from app.core.clock import local_day
    from app.gamification import streaks
    from app.mentoring import mentors, review
    from app.models import (
        Lesson,
        LessonProgress,
        LessonVersion,
        Question,
        Submission,
        SubmissionKind,
        SubmissionStatus,
        utcnow,
    )

    lesson = session.scalar(
        select(Lesson).where(Lesson.level_number == 1).order_by(Lesson.position)
    )
    if lesson is None:  # no curriculum loaded
        return
    streaks.stats_for(session, mentor.id).longest_streak = 9
    session.flush()
    row = mentors.apply(session, user=mentor, level_number=1, settings=settings, now=utcnow())
    if row.status.value == "pending":
        admin = session.scalar(select(User).where(User.email == DEMO_UNIT_ADMIN))
        mentors.decide(
            session,
            row=row,
            actor_id=admin.id if admin else None,
            confirm=True,
            reason="",
            now=utcnow(),
        )
    version = session.scalar(select(LessonVersion).where(LessonVersion.lesson_id == lesson.id))
    text = (
        "Câu hỏi 1: Hãy giúp tôi viết thông báo lịch tiêm phòng cho bà con trong tổ.\n"
        "Câu hỏi 2: Viết ngắn hơn.\nNhận xét: AI viết được, tôi sẽ kiểm tra lại ngày giờ."
    )
    now = utcnow()
    work = Submission(
        user_id=learner.id,
        lesson_id=lesson.id,
        lesson_version_id=version.id,
        kind=SubmissionKind.challenge,
        status=SubmissionStatus.graded,
        client_id="demo-flagged",
        day=local_day(now, settings.tz),
        text=text,
        text_sha256=hashlib.sha256(text.encode()).hexdigest(),
        score=52.0,
        passed=False,
        result={"criteria": [], "feedback": "Bài làm còn ngắn; hãy nêu rõ bạn là ai và cần gì."},
        grader="rubric",
        graded_at=now,
        confidence=0.4,
        flags=["low_confidence"],
        needs_review=True,
    )
    session.add(work)
    session.add(
        LessonProgress(user_id=learner.id, lesson_id=lesson.id, last_activity_at=now, submissions=1)
    )
    session.flush()
    review.enqueue_graded(
        session,
        grades=[
            review.Graded(
                submission_id=work.id,
                user_id=learner.id,
                lesson_id=lesson.id,
                score=52.0,
                passed=False,
                flags=("low_confidence",),
                needs_review=True,
            )
        ],
        settings=settings,
    )
    unit_path = session.scalar(select(Unit.path).where(Unit.id == learner.unit_id)) or ""
    session.add(
        Question(
            lesson_id=lesson.id,
            user_id=learner.id,
            unit_path=unit_path,
            body="AI trả lời rất tự tin nhưng có chỗ sai. Làm sao tôi biết chỗ nào cần kiểm tra?",
        )
    )
    session.flush()


def demo_info(url: str = "http://127.0.0.1:8000") -> str:
    return f"""
  Bình dân học AI is starting on {url}

  Sign in as the demo administrator:
      {DEMO_ADMIN}  /  {DEMO_PASSWORD}
  A unit administrator (Phường Tân Hương):
      {DEMO_UNIT_ADMIN}  /  {DEMO_PASSWORD}
  A learner:
      {DEMO_LEARNER}  /  {DEMO_PASSWORD}
  A learner who finished level 1 (points, badges, a certificate) and mentors it
  (a flagged challenge waits in /mentor):
      {DEMO_GRADUATE}  /  {DEMO_PASSWORD}
"""
