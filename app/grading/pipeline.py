"""One grading, whatever grades it: the sanity gate, the configured grader (with the offline
grader standing in when the LLM is unavailable or the day's budget is spent), and the final
checks shared by every grader."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from app.config import Settings
from app.grading import sanity
from app.grading.llm_grader import LLMGrader, LLMUnavailable
from app.grading.rubric_grader import RubricGrader
from app.grading.types import CriterionGrade, GradeOutcome, GradingTask

log = logging.getLogger("bdhai.grading")

REVIEW_FLAGS = sanity.GATE_FLAGS | {"low_confidence", "provisional", "near_duplicate"}
# what each flag means, for the mentor who reviews the work
FLAG_LABELS = {
    "injection": "có câu yêu cầu người chấm bỏ qua hướng dẫn",
    "too_short": "quá ngắn hoặc chưa có nội dung",
    "repetitive": "lặp lại một từ hay ký tự nhiều lần",
    "copy_of_task": "chủ yếu chép lại đề bài",
    "off_topic": "chưa nói về thử thách của bài",
    "low_confidence": "máy chấm chưa chắc chắn",
    "provisional": "điểm tạm thời của máy chấm ngoại tuyến",
    "near_duplicate": "rất giống bài của một học viên khác",
    "budget_spent": "hết ngân sách chấm bằng AI trong ngày",
}
GATE_MESSAGES = {
    "injection": "Bài làm có câu yêu cầu người chấm bỏ qua hướng dẫn hoặc cho điểm cao: bài "
    "không được tính và sẽ được người hướng dẫn xem lại.",
    "too_short": "Bài làm quá ngắn hoặc chưa có nội dung: hãy làm thử thách với AI và viết lại "
    "đầy đủ các phần đề bài yêu cầu.",
    "repetitive": "Bài làm lặp lại một từ hay một ký tự nhiều lần: hãy viết nội dung thật.",
    "copy_of_task": "Bài làm chủ yếu chép lại đề bài: hãy làm thử thách và gửi kết quả của bạn.",
    "off_topic": "Bài làm chưa nói về thử thách của bài học này: hãy đọc lại đề bài.",
}


@dataclass
class Verdict:
    outcome: GradeOutcome
    score: float
    passed: bool
    flags: list[str]
    needs_review: bool


class Graders:
    def __init__(
        self,
        settings: Settings,
        *,
        llm: LLMGrader | None = None,
        budget_left: Callable[[], bool] = lambda: True,
    ) -> None:
        self.settings = settings
        self.rubric = RubricGrader()
        self.llm = (
            llm if llm is not None else (LLMGrader(settings) if settings.grader == "llm" else None)
        )
        self.budget_left = budget_left

    async def grade(self, task: GradingTask) -> Verdict:
        flags = sanity.check(task)
        gated = [f for f in flags if f in sanity.GATE_FLAGS]
        if gated or self.llm is None:
            outcome = self.rubric.grade(task)
        elif not self.budget_left():
            outcome = self.rubric.grade(task)
            outcome.flags.append("budget_spent")
        else:
            try:
                outcome = await self.llm.grade(task)
            except LLMUnavailable as exc:
                self.llm.last_failure = time.monotonic()
                log.warning("LLM grader unavailable, grading offline: %s", exc)
                outcome = self.rubric.grade(task)
                outcome.provisional = True
                outcome.flags.append("provisional")
        return finish(task, outcome, flags, self.settings)


def finish(
    task: GradingTask, outcome: GradeOutcome, flags: list[str], settings: Settings
) -> Verdict:
    """The checks every grade passes through: a gated submission never passes (every band
    capped at 1, which stays below any pass mark), the total is computed from the bands, and
    low confidence, provisional grades and gate flags go to the mentor queue."""
    all_flags = list(dict.fromkeys([*flags, *outcome.flags]))
    gated = [f for f in all_flags if f in sanity.GATE_FLAGS]
    if gated:
        outcome.criteria = [
            CriterionGrade(c.id, min(c.score, 1), c.comment) for c in outcome.criteria
        ]
        outcome.feedback = " ".join(GATE_MESSAGES[f] for f in gated)
    if outcome.confidence < settings.grader_low_confidence:
        all_flags.append("low_confidence")
    outcome.flags = all_flags
    score = task.total(outcome.scores())
    passed = score >= task.pass_mark and not gated
    return Verdict(
        outcome=outcome,
        score=score,
        passed=passed,
        flags=all_flags,
        needs_review=any(f in REVIEW_FLAGS for f in all_flags),
    )
