"""The curriculum's file format: a level's `level.yaml`, one YAML file per lesson, and the
shared teach-back rubric. Pydantic models check structure and every rule a lesson must keep
(answers among the options, weights summing to 100, exemplars graded inside the rubric,
15 minutes in all); `docs/curriculum.md` explains the format to authors."""

from __future__ import annotations

import math
import re
import unicodedata
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

BANDS = (0, 1, 2, 3)  # every rubric criterion is scored on these bands
BAND_LABELS = {0: "Chưa có", 1: "Chưa đạt", 2: "Đạt", 3: "Tốt"}
READING_WORDS_PER_MINUTE = 200
MINUTES_PER_QUESTION = 0.5
LESSON_MINUTES_MAX = 15
BODY_WORDS_MAX = 650  # "about 600 words"
ALL_GROUPS = "all"
GROUP_CODES = frozenset(
    {"can_bo", "doanh_nghiep", "cong_nhan", "nong_dan", "hoc_sinh", "cao_tuoi", "khac"}
)

_VI_MARKED = frozenset("àáảãạăằắẳẵặâầấẩẫậèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵđ")


def vietnamese(text: str) -> str:
    """Prose for learners: NFC, no control characters, and written with diacritics (a long
    text in which almost no letter carries a Vietnamese mark was typed without them)."""
    text = unicodedata.normalize("NFC", text).strip()
    if not text:
        raise ValueError("Không được để trống.")
    if any(unicodedata.category(c) == "Cc" and c not in "\n\t" for c in text):
        raise ValueError("Chứa ký tự điều khiển không hợp lệ.")
    letters = [c for c in text.lower() if c.isalpha()]
    if len(letters) >= 60:
        marked = sum(c in _VI_MARKED for c in letters)
        if marked / len(letters) < 0.08:
            raise ValueError("Văn bản tiếng Việt phải viết có dấu đầy đủ.")
    return text


VText = Annotated[str, AfterValidator(vietnamese)]
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,79}$")]


def word_count(*texts: str) -> int:
    return sum(len(re.findall(r"\w+", t)) for t in texts)


class At(ValueError):
    """A rule broken at a place inside the model being checked (reported at its line)."""

    def __init__(self, message: str, *loc: str | int) -> None:
        super().__init__(message)
        self.loc = loc


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Certificate(_Model):
    lessons_passed: int = Field(ge=1, le=100)
    min_average: int = Field(ge=0, le=100)
    final_test: FinalTest | None = None


class FinalTest(_Model):
    questions: int = Field(ge=5, le=40)
    pass_mark: int = Field(ge=50, le=100)
    minutes: int = Field(default=15, ge=5, le=30)


class LevelFile(_Model):
    number: int = Field(ge=1, le=5)
    title: VText = Field(max_length=120)
    description: VText = Field(max_length=1200)
    outcomes: list[VText] = Field(min_length=3, max_length=8)
    certificate: Certificate


class Criterion(_Model):
    id: Slug
    name: VText = Field(max_length=120)
    weight: int = Field(ge=5, le=100)
    look_for: list[Annotated[str, StringConstraints(min_length=2, max_length=60)]] = Field(
        default_factory=list, max_length=15
    )
    bands: dict[int, VText]

    @field_validator("bands")
    @classmethod
    def _all_bands(cls, bands: dict[int, str]) -> dict[int, str]:
        if set(bands) != set(BANDS):
            raise ValueError("Cần mô tả cho đủ các mức 0, 1, 2, 3.")
        return dict(sorted(bands.items()))


def check_rubric(criteria: list[Criterion]) -> None:
    ids = [c.id for c in criteria]
    if len(set(ids)) != len(ids):
        raise At("Mã tiêu chí bị lặp.", "rubric")
    total = sum(c.weight for c in criteria)
    if total != 100:
        raise At(f"Tổng trọng số các tiêu chí phải bằng 100 (đang là {total}).", "rubric")


def weighted_score(criteria: list[Criterion], scores: dict[str, int]) -> float:
    """0-100: each criterion's band (0-3) as a share of its weight."""
    return sum(c.weight * scores[c.id] / max(BANDS) for c in criteria)


class Exemplar(_Model):
    label: Literal["strong", "weak", "medium"]
    text: str = Field(min_length=20, max_length=4000)
    scores: dict[str, int]
    reason: VText = Field(max_length=600)


class Submission(_Model):
    kind: Literal["text", "image"] = "text"
    instructions: VText = Field(max_length=500)
    min_chars: int = Field(default=60, ge=10, le=2000)
    max_chars: int = Field(default=3000, ge=100, le=8000)

    @model_validator(mode="after")
    def _bounds(self) -> Submission:
        if self.min_chars >= self.max_chars:
            raise At("min_chars phải nhỏ hơn max_chars.", "min_chars")
        return self


class Challenge(_Model):
    task: VText = Field(max_length=1500)
    minutes: int = Field(ge=2, le=10)
    submit: Submission
    pass_mark: int = Field(ge=40, le=90)
    rubric: list[Criterion] = Field(min_length=3, max_length=5)
    exemplars: list[Exemplar] = Field(min_length=2, max_length=6)

    @model_validator(mode="after")
    def _rubric_and_exemplars(self) -> Challenge:
        check_rubric(self.rubric)
        ids = {c.id for c in self.rubric}
        labels = {e.label for e in self.exemplars}
        if not {"strong", "weak"} <= labels:
            raise At("Cần ít nhất một bài mẫu tốt (strong) và một bài mẫu yếu (weak).", "exemplars")
        for n, exemplar in enumerate(self.exemplars):
            where = ("exemplars", n, "scores")
            if set(exemplar.scores) != ids:
                raise At(f"Phải chấm đủ và chỉ chấm các tiêu chí {sorted(ids)}.", *where)
            bad = [k for k, v in exemplar.scores.items() if v not in BANDS]
            if bad:
                raise At("Điểm mỗi tiêu chí phải là 0, 1, 2 hoặc 3.", *where, bad[0])
            total = weighted_score(self.rubric, exemplar.scores)
            if exemplar.label == "strong" and total < self.pass_mark:
                raise At(
                    f"Bài mẫu tốt chỉ đạt {total:.0f} điểm, dưới điểm đạt {self.pass_mark}.",
                    *where,
                )
            if exemplar.label == "weak" and total >= self.pass_mark:
                raise At(
                    f"Bài mẫu yếu đạt {total:.0f} điểm, không thấp hơn điểm đạt {self.pass_mark}.",
                    *where,
                )
        return self


class Option(_Model):
    text: VText = Field(max_length=300)
    correct: bool = False


class Question(_Model):
    id: Slug
    kind: Literal["single", "multiple", "true_false"]
    text: VText = Field(max_length=500)
    options: list[Option] | None = Field(default=None, min_length=2, max_length=6)
    answer: bool | None = None  # true_false only
    explanation: VText = Field(max_length=400)

    @model_validator(mode="after")
    def _answers(self) -> Question:
        if self.kind == "true_false":
            if self.options is not None or self.answer is None:
                raise At("Câu đúng/sai không có options và cần answer: true hoặc false.", "kind")
            return self
        if self.answer is not None or not self.options:
            raise At("Câu trắc nghiệm cần options (đánh dấu correct: true), không answer.", "kind")
        texts = [o.text for o in self.options]
        if len(set(texts)) != len(texts):
            raise At("Các lựa chọn bị trùng nhau.", "options")
        correct = sum(o.correct for o in self.options)
        if self.kind == "single" and (correct != 1 or len(self.options) < 3):
            raise At(
                "Câu một đáp án cần ít nhất 3 lựa chọn và đúng một lựa chọn đúng (correct: true).",
                "options",
            )
        if self.kind == "multiple" and not (2 <= correct < len(self.options)):
            raise At(
                "Câu nhiều đáp án cần ít nhất 2 lựa chọn đúng và ít nhất 1 lựa chọn sai.",
                "options",
            )
        return self

    def correct_answer(self) -> bool | list[int]:
        if self.kind == "true_false":
            assert self.answer is not None
            return self.answer
        return [i for i, o in enumerate(self.options or []) if o.correct]


class Quiz(_Model):
    draw: int = Field(ge=3, le=5)
    pass_mark: int = Field(ge=50, le=100)
    questions: list[Question] = Field(min_length=6, max_length=20)

    @model_validator(mode="after")
    def _pool(self) -> Quiz:
        ids = [q.id for q in self.questions]
        for n, qid in enumerate(ids):
            if qid in ids[:n]:
                raise At(f"Mã câu hỏi “{qid}” bị lặp.", "questions", n, "id")
        texts = [q.text for q in self.questions]
        for n, text in enumerate(texts):
            if text in texts[:n]:
                raise At("Câu hỏi này trùng với một câu trước.", "questions", n, "text")
        return self


class Example(_Model):
    situation: VText = Field(max_length=400)
    prompt: str = Field(min_length=10, max_length=1500)
    answer: str = Field(min_length=20, max_length=3000)
    why: VText = Field(max_length=600)


class TeachBack(_Model):
    prompt: VText = Field(max_length=600)
    must_include: list[VText] = Field(min_length=2, max_length=5)
    minutes: int = Field(default=2, ge=1, le=5)


class LessonFile(_Model):
    id: Annotated[str, StringConstraints(pattern=r"^b[1-5]-[a-z0-9][a-z0-9-]{2,70}$")]
    title: VText = Field(max_length=120)
    minutes: int = Field(ge=5, le=LESSON_MINUTES_MAX)
    objectives: list[VText] = Field(min_length=2, max_length=5)
    groups: list[str] = Field(min_length=1)
    tools: list[str] = Field(default_factory=lambda: ["ChatGPT", "Gemini", "Copilot"])
    body: VText
    example: Example
    quiz: Quiz
    challenge: Challenge
    teach_back: TeachBack

    @field_validator("groups")
    @classmethod
    def _groups(cls, groups: list[str]) -> list[str]:
        unknown = [g for g in groups if g not in GROUP_CODES | {ALL_GROUPS}]
        if unknown:
            raise ValueError(
                f"Nhóm học viên không có: {', '.join(unknown)} (dùng: all, "
                + ", ".join(sorted(GROUP_CODES))
                + ")."
            )
        return groups

    @field_validator("body")
    @classmethod
    def _body_length(cls, body: str) -> str:
        words = word_count(body)
        if words > BODY_WORDS_MAX:
            raise ValueError(f"Phần giải thích dài {words} từ; tối đa khoảng 600 từ.")
        return body

    def reading_words(self) -> int:
        ex = self.example
        return word_count(self.body, ex.situation, ex.prompt, ex.answer, ex.why)

    def estimated_minutes(self) -> float:
        """Reading at 200 words a minute, half a minute a quiz question, the challenge and
        the teach-back."""
        return (
            self.reading_words() / READING_WORDS_PER_MINUTE
            + self.quiz.draw * MINUTES_PER_QUESTION
            + self.challenge.minutes
            + self.teach_back.minutes
        )

    @model_validator(mode="after")
    def _time(self) -> LessonFile:
        estimate = self.estimated_minutes()
        if estimate > LESSON_MINUTES_MAX:
            raise At(
                f"Ước tính {estimate:.1f} phút (đọc {self.reading_words()} từ, "
                f"{self.quiz.draw} câu hỏi, thử thách {self.challenge.minutes} phút, "
                f"giảng lại {self.teach_back.minutes} phút) vượt quá 15 phút.",
                "minutes",
            )
        if self.minutes < math.floor(estimate):
            raise At(
                f"minutes = {self.minutes} thấp hơn thời lượng ước tính {estimate:.1f} phút.",
                "minutes",
            )
        return self


class TeachBackRubric(_Model):
    pass_mark: int = Field(ge=40, le=90)
    rubric: list[Criterion] = Field(min_length=3, max_length=5)

    @model_validator(mode="after")
    def _weights(self) -> TeachBackRubric:
        check_rubric(self.rubric)
        return self


Certificate.model_rebuild()
