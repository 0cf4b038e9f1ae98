"""A mentor's day in Debian's Chromium at 390×844: the home page says work is waiting, the
mentor opens the queue, grades a flagged challenge with the rubric form, answers a
question under a lesson; the learner sees the bell, the new grade and the answer, accepts
it, and appeals another grade. Every page passes axe-core (WCAG 2.1 AA) and stays inside
the screen at 200% text. Screenshots go to test-artifacts/mentoring-*.png."""

from __future__ import annotations

import pytest
from axe_playwright_python.sync_playwright import Axe
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.gamification import streaks
from app.mentoring import mentors, review
from app.models import (
    Lesson,
    LessonProgress,
    Question,
    Role,
    Submission,
    User,
    utcnow,
)
from tests import factories
from tests.browser import (
    SMALL_TARGETS,
    WIDE,
    axe_violations,
    live_server,
    phone_browser,
    seeded_database,
    sign_in,
)

pytestmark = pytest.mark.browser

MENTOR = "Trần Văn Hướng"
LEARNER = "Lê Thị Học"
WORK = (
    "Câu hỏi 1: Tôi là cán bộ văn phòng xã, hãy giúp tôi viết giấy mời họp tổ dân phố về vệ "
    "sinh môi trường, ngắn gọn.\nCâu hỏi 2: Viết ngắn hơn và thêm giờ họp.\nNhận xét: AI viết "
    "đúng ý, nhưng tôi phải kiểm tra lại ngày họp và tên người chủ trì."
)


def graded(session: Session, user: User, lesson_id: str, score: float) -> Submission:
    """A graded challenge the grader was unsure of (the first one a lesson makes adds the
    learner's progress row)."""
    row = factories.graded_submission(
        session, user, lesson_id, score=score, text=WORK, flags=("low_confidence",)
    )
    if session.get(LessonProgress, (user.id, lesson_id)) is None:
        session.add(
            LessonProgress(
                user_id=user.id, lesson_id=lesson_id, last_activity_at=utcnow(), submissions=1
            )
        )
    session.flush()
    return row


@pytest.fixture(scope="module")
def world(tmp_path_factory, settings):
    with (
        seeded_database(tmp_path_factory.mktemp("live"), "mentor") as (url, engine),
        live_server(settings.model_copy(update={"database_url": url})) as base,
    ):
        live = settings.model_copy(update={"database_url": url, "base_url": base})
        with Session(engine) as session:
            tree = factories.make_tree(session)
            mentor = factories.make_user(session, tree.ward, name=MENTOR, phone="+84912000501")
            learner = factories.make_user(session, tree.hamlet, name=LEARNER, phone="+84912000502")
            admin = factories.make_user(
                session,
                tree.ward,
                role=Role.unit_admin,
                name="Quản Trị Phường",
                phone="+84912000503",
            )
            lessons = session.scalars(
                select(Lesson.id).where(Lesson.level_number == 1).order_by(Lesson.position)
            ).all()
            for lesson_id in lessons:
                session.add(
                    LessonProgress(
                        user_id=mentor.id,
                        lesson_id=lesson_id,
                        last_activity_at=utcnow(),
                        quiz_passed_at=utcnow(),
                        challenge_passed_at=utcnow(),
                        completed_at=utcnow(),
                        challenge_best=92,
                    )
                )
            streaks.stats_for(session, mentor.id).longest_streak = 12
            session.flush()
            row = mentors.apply(session, user=mentor, level_number=1, settings=live, now=utcnow())
            flagged = graded(session, learner, lessons[0], 45.0)
            appealable = graded(session, learner, lessons[0], 62.0)
            appealable.flags, appealable.needs_review = [], False
            review.enqueue_graded(
                session,
                grades=[
                    review.Graded(
                        flagged.id,
                        learner.id,
                        lessons[0],
                        45.0,
                        False,
                        ("low_confidence",),
                        True,
                    )
                ],
                settings=live,
            )
            question = Question(
                lesson_id=lessons[0],
                user_id=learner.id,
                unit_path=tree.hamlet.path,
                body="Khi AI trả lời sai số liệu thì tôi nên hỏi lại thế nào cho đúng?",
            )
            session.add(question)
            session.commit()
            info = {
                "mentor": mentor.phone,
                "learner": learner.phone,
                "admin": admin.phone,
                "mentorship": row.id,
                "lessons": list(lessons[:2]),
                "appealable": appealable.id,
                "question": question.id,
            }
        yield base, info


def shot(page, artifacts, name):
    page.screenshot(path=str(artifacts / f"mentoring-{name}.png"), full_page=True)


def test_a_mentor_is_confirmed_reviews_and_the_learner_sees_it(world, artifacts):
    base, info = world
    with phone_browser() as context:  # the unit admin confirms the application
        page = context.new_page()
        sign_in(page, base, info["admin"])
        page.goto(base + "/admin/mentors")
        assert MENTOR in page.locator("main").inner_text()
        shot(page, artifacts, "admin")
        page.get_by_role("button", name="Xác nhận", exact=True).click()
        page.wait_for_url(base + "/admin/mentors?done=confirm")

    with phone_browser() as context:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        sign_in(page, base, info["mentor"])
        assert page.get_by_text("bài đang chờ bạn xem").is_visible()
        assert "1" in page.locator(".bell").get_attribute("aria-label")  # confirmed
        page.get_by_role("link", name="Chấm bài").click()
        page.wait_for_url(base + "/mentor")
        shot(page, artifacts, "queue")
        page.locator(".queue-item").first.click()
        assert page.get_by_role("heading", name="Bài làm của học viên").is_visible()
        assert LEARNER not in page.locator("main").inner_text()
        # the form refuses an incomplete rubric in the browser (required radios)
        for fieldset in page.locator("fieldset.rubric").all():
            fieldset.locator("input[type=radio]").nth(3).check()
        page.get_by_label("Lời nhận xét cho học viên").fill(
            "Câu hỏi rõ ràng và có hỏi tiếp; phần nhận xét đã chỉ ra chỗ cần kiểm tra. Rất tốt!"
        )
        shot(page, artifacts, "review-form")
        page.get_by_role("button", name="Gửi bài chấm").click()
        page.wait_for_url(base + "/mentor?done=review")
        assert page.get_by_text("Đã gửi bài chấm").is_visible()
        assert page.get_by_text("Không còn bài nào chờ bạn").is_visible()
        shot(page, artifacts, "queue-done")
        # a question under the first lesson: the mentor answers it (a phone number is masked)
        page.goto(f"{base}/lessons/{info['lessons'][0]}/questions")
        page.get_by_text("Khi AI trả lời sai số liệu").click()
        page.get_by_label("Câu trả lời của bạn").fill(
            "Hãy hỏi lại: 'Số liệu này lấy từ nguồn nào?' rồi tự kiểm tra trên trang chính "
            "thức. Cần thì gọi tôi: 0912 345 678."
        )
        page.get_by_role("button", name="Gửi câu trả lời").click()
        answer = page.locator(".answer-post").first.inner_text()
        assert "[đã ẩn]" in answer and "0912 345 678" not in answer
        shot(page, artifacts, "answered")
        assert errors == []

    with phone_browser() as context:  # the learner: the bell, the new grade, an appeal
        page = context.new_page()
        sign_in(page, base, info["learner"])
        label = page.locator(".bell").get_attribute("aria-label")
        assert label == "Thông báo, 2 chưa đọc"
        page.locator(".bell").click()
        page.wait_for_url(base + "/notifications")
        assert page.get_by_text("đã được xem lại: 100/100").is_visible()
        assert page.locator(".bell").get_attribute("aria-label") == "Thông báo"
        shot(page, artifacts, "notifications")
        page.locator(".note-list a").filter(has_text="trả lời").first.click()
        page.get_by_role("button", name="Chấp nhận câu trả lời này").click()
        assert page.locator(".answer-post.accepted").count() == 1
        shot(page, artifacts, "accepted")
        page.goto(f"{base}/lessons/{info['lessons'][0]}#challenge")
        assert page.get_by_text("Điểm do người hướng dẫn chấm lại.").is_visible()
        appeal = page.locator(f"#s{info['appealable']}")
        appeal.get_by_text("Bạn thấy điểm chưa đúng? Khiếu nại").click()
        appeal.get_by_label("Vì sao bạn nghĩ bài cần chấm lại?").fill(
            "Tôi đã có đủ câu hỏi tiếp và nhận xét như đề bài yêu cầu."
        )
        page.screenshot(path=str(artifacts / "mentoring-appeal-form.png"))
        appeal.get_by_role("button", name="Gửi khiếu nại").click()
        page.wait_for_url(f"**/lessons/{info['lessons'][0]}?appealed=*")
        shown = page.locator(f"#s{info['appealable']}")
        assert "Đang chờ người hướng dẫn xem lại." in shown.inner_text()
        shown.scroll_into_view_if_needed()
        page.screenshot(path=str(artifacts / "mentoring-appeal.png"))


def test_accessible_and_inside_the_screen_at_200_percent(world, artifacts):
    base, info = world
    axe = Axe()
    with phone_browser() as context:
        page = context.new_page()
        sign_in(page, base, info["mentor"])
        paths = (
            "/mentor",
            "/mentor/levels",
            "/notifications",
            "/mentors/board",
            "/mentor/moderation",
            "/mentor/teach-backs",
            f"/lessons/{info['lessons'][0]}/questions",
            f"/questions/{info['question']}",
        )
        for path in paths:
            page.goto(base + path, wait_until="networkidle")
            assert axe_violations(axe, page) == [], path
            small = page.evaluate(SMALL_TARGETS)
            assert small == [], (path, small)
            page.evaluate("document.documentElement.style.fontSize = '200%'")
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, (path, width, page.evaluate(WIDE))
        shot(page, artifacts, "board-200-percent")
