"""Challenge and teach-back submissions: checked, limited, stored as `queued` for grading.

A page sends each draft once under its `client_id`; the same draft arriving again (a double
tap, or the phone re-sending when the connection returns) is refused with 409 and the id of
the submission it already made. Each learner has a daily limit per lesson and kind, and an
hourly limit across lessons."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.config import Settings
from app.core.clock import local_day
from app.core.errors import Conflict, Invalid, NotFound, TooManyRequests
from app.core.media import save_media
from app.core.ratelimit import RateLimiter, wait_message
from app.learning import path, progress
from app.learning.images import reencode_image
from app.models import LessonVersion, Submission, SubmissionKind, SubmissionStatus

CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
MEDIA_FOLDER = "submissions"
TEACH_BACK_CHARS = (60, 2000)


def text_bounds(version: LessonVersion, kind: SubmissionKind) -> tuple[int, int]:
    if kind == SubmissionKind.teach_back:
        return TEACH_BACK_CHARS
    submit = version.content["challenge"]["submit"]
    return int(submit["min_chars"]), int(submit["max_chars"])


def wants_image(version: LessonVersion, kind: SubmissionKind) -> bool:
    return kind == SubmissionKind.challenge and version.content["challenge"]["submit"]["kind"] == (
        "image"
    )


def clean_text(raw: str) -> str:
    """NFC, Windows line ends folded, control characters other than new lines removed."""
    text = unicodedata.normalize("NFC", raw.replace("\r\n", "\n").replace("\r", "\n"))
    text = "".join(c for c in text if c in "\n\t" or unicodedata.category(c) != "Cc")
    return text.strip()


def create_submission(
    session: Session,
    *,
    user_id: int,
    lesson_id: str,
    kind: SubmissionKind,
    text: str,
    client_id: str,
    image: bytes | None,
    settings: Settings,
    limiter: RateLimiter,
    now: datetime,
    share_consent: bool = False,
) -> Submission:
    """`share_consent`: the learner agrees that a teach-back may be featured under the
    lesson (app.mentoring.teach_backs); ignored for a challenge."""
    lesson, version = path.open_lesson(session, user_id, lesson_id)
    if not CLIENT_ID.match(client_id or ""):
        raise Invalid("Mã bản nháp (client_id) không hợp lệ.", code="bad_client_id")
    earlier = session.scalar(
        select(Submission).where(Submission.user_id == user_id, Submission.client_id == client_id)
    )
    if earlier is not None:
        raise Conflict(
            "Bài này đã được gửi rồi. Kết quả sẽ hiện khi chấm xong.",
            code="duplicate_submission",
            extra={"submission_id": earlier.id},
        )
    body = clean_text(text)
    low, high = text_bounds(version, kind)
    if len(body) < low:
        raise Invalid(
            f"Bài làm còn quá ngắn: cần ít nhất {low} ký tự (hiện có {len(body)}).",
            code="too_short",
        )
    if len(body) > high:
        raise Invalid(
            f"Bài làm quá dài: tối đa {high} ký tự (hiện có {len(body)}).", code="too_long"
        )
    if wants_image(version, kind) and not image:
        raise Invalid("Bài này cần gửi kèm một ảnh (JPEG, PNG hoặc WebP).", code="image_required")
    if image and not wants_image(version, kind):
        raise Invalid("Bài này không cần gửi ảnh; hãy bỏ ảnh ra.", code="image_not_expected")

    today = local_day(now, settings.tz)
    sent = count_sent(session, user_id=user_id, lesson_id=lesson.id, kind=kind, day=today)
    if sent >= settings.submissions_per_lesson_per_day:
        raise TooManyRequests(
            f"Hôm nay bạn đã gửi bài này {sent} lần (tối đa "
            f"{settings.submissions_per_lesson_per_day}). Điểm cao nhất được giữ; "
            "ngày mai bạn có thể gửi lại.",
            code="daily_limit",
        )
    verdict = limiter.hit(f"submit:{user_id}", settings.submissions_per_hour, 3600)
    if not verdict.allowed:
        raise TooManyRequests(
            f"Bạn gửi bài quá nhanh. Vui lòng thử lại sau {wait_message(verdict.retry_after)}.",
            code="rate_limited",
            headers={"Retry-After": str(verdict.retry_after)},
        )

    image_name = None
    if image:
        jpeg = reencode_image(
            image,
            max_bytes=settings.upload_max_bytes,
            max_side=settings.image_max_side,
            max_pixels=settings.image_max_pixels,
        )
        image_name = save_media(settings.media_dir, MEDIA_FOLDER, jpeg, "jpg")
    submission = Submission(
        user_id=user_id,
        lesson_id=lesson.id,
        lesson_version_id=version.id,
        kind=kind,
        status=SubmissionStatus.queued,
        client_id=client_id,
        day=today,
        text=body,
        text_sha256=hashlib.sha256(body.encode()).hexdigest(),
        image_name=image_name,
        share_consent=share_consent and kind == SubmissionKind.teach_back,
    )
    session.add(submission)
    row = progress.touch(session, user_id=user_id, lesson_id=lesson.id, now=now)
    if kind == SubmissionKind.challenge:
        row.submissions += 1
    session.flush()
    return submission


def get_own_submission(session: Session, *, user_id: int, submission_id: int) -> Submission:
    submission = session.get(Submission, submission_id)
    if submission is None or submission.user_id != user_id:
        raise NotFound("Không tìm thấy bài đã gửi.")
    return submission


def latest_submissions(
    session: Session, *, user_id: int, lesson_id: str, kind: SubmissionKind, limit: int = 5
) -> list[Submission]:
    return list(
        session.scalars(
            select(Submission)
            .where(
                Submission.user_id == user_id,
                Submission.lesson_id == lesson_id,
                Submission.kind == kind,
            )
            .order_by(Submission.id.desc())
            .limit(limit)
        )
    )


def count_sent(
    session: Session, *, user_id: int, lesson_id: str, kind: SubmissionKind, day: date
) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(Submission)
            .where(
                Submission.user_id == user_id,
                Submission.lesson_id == lesson_id,
                Submission.kind == kind,
                Submission.day == day,
            )
        )
        or 0
    )
