"""What a grader receives and what it returns. A task is built from the lesson version the
submission answered, so an edited lesson never changes how an old submission is graded."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.curriculum.schema import BANDS

MAX_BAND = max(BANDS)


@dataclass(frozen=True)
class Criterion:
    id: str
    name: str
    weight: int
    bands: dict[int, str]
    look_for: tuple[str, ...] = ()


@dataclass(frozen=True)
class Exemplar:
    label: str
    text: str
    scores: dict[str, int]
    reason: str = ""


@dataclass(frozen=True)
class GradingTask:
    lesson_id: str
    lesson_title: str
    kind: str  # "challenge" | "teach_back"
    task: str  # what the learner was asked to do
    instructions: str  # what to send
    criteria: tuple[Criterion, ...]
    pass_mark: int
    exemplars: tuple[Exemplar, ...]
    must_include: tuple[str, ...]
    min_chars: int
    max_chars: int
    text: str
    image: bytes | None = None  # the re-encoded JPEG, for image lessons

    @classmethod
    def from_content(
        cls, content: dict[str, Any], *, kind: str, text: str, image: bytes | None = None
    ) -> GradingTask:
        if kind == "teach_back":
            teach = content["teach_back"]
            rubric = teach["rubric"]
            return cls(
                lesson_id=content["id"],
                lesson_title=content["title"],
                kind=kind,
                task=teach["prompt"],
                instructions="Giải thích ý chính của bài cho một người hàng xóm bằng lời của mình.",
                criteria=tuple(_criterion(c) for c in rubric["rubric"]),
                pass_mark=int(rubric["pass_mark"]),
                exemplars=(),
                must_include=tuple(teach["must_include"]),
                min_chars=60,
                max_chars=2000,
                text=text,
                image=None,
            )
        challenge = content["challenge"]
        return cls(
            lesson_id=content["id"],
            lesson_title=content["title"],
            kind=kind,
            task=challenge["task"],
            instructions=challenge["submit"]["instructions"],
            criteria=tuple(_criterion(c) for c in challenge["rubric"]),
            pass_mark=int(challenge["pass_mark"]),
            exemplars=tuple(
                Exemplar(
                    label=e["label"],
                    text=e["text"],
                    scores={k: int(v) for k, v in e["scores"].items()},
                    reason=e.get("reason", ""),
                )
                for e in challenge["exemplars"]
            ),
            must_include=(),
            min_chars=int(challenge["submit"]["min_chars"]),
            max_chars=int(challenge["submit"]["max_chars"]),
            text=text,
            image=image,
        )

    def total(self, scores: dict[str, int]) -> float:
        """The weighted score out of 100, always computed here (never taken from a grader)."""
        return round(sum(c.weight * scores[c.id] / MAX_BAND for c in self.criteria), 2)


def _criterion(raw: dict[str, Any]) -> Criterion:
    return Criterion(
        id=raw["id"],
        name=raw["name"],
        weight=int(raw["weight"]),
        bands={int(k): v for k, v in raw["bands"].items()},
        look_for=tuple(raw.get("look_for") or ()),
    )


@dataclass
class CriterionGrade:
    id: str
    score: int  # a band, 0-3
    comment: str


@dataclass
class GradeOutcome:
    grader: str  # "rubric" | "llm" | "reuse"
    criteria: list[CriterionGrade]
    feedback: str
    confidence: float
    model: str | None = None
    provisional: bool = False  # graded offline because the LLM was not available
    flags: list[str] = field(default_factory=list)
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    latency_ms: int = 0

    def scores(self) -> dict[str, int]:
        return {c.id: c.score for c in self.criteria}

    def result_json(self) -> dict[str, Any]:
        return {
            "criteria": [
                {"id": c.id, "score": c.score, "comment": c.comment} for c in self.criteria
            ],
            "feedback": self.feedback,
        }
