"""Measure a grader against human grades: `bdhai grade-eval FILE.jsonl`.

Each line: {"question", "reference_answers", "answer", "score", "max_score"}; lines built
from the curriculum also carry `lesson_id`, `kind`, `pass_mark`, `source` and `criteria`, and
are graded with the lesson's real rubric. Reported: Pearson and Spearman correlations,
quadratic weighted kappa and exact/adjacent agreement on tenths of the scale, mean absolute
error, and pass/fail agreement where a pass mark is known.

The shipped set, `curriculum/_eval/grading.jsonl`, is built by `build_eval_set` from every
lesson's graded exemplars plus the hand-graded answers in `curriculum/_eval/hand-*.yaml`."""

from __future__ import annotations

import asyncio
import json
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from app.config import Settings
from app.core.errors import Invalid
from app.curriculum.loader import lesson_content
from app.curriculum.validate import load_curriculum
from app.grading.pipeline import Graders
from app.grading.types import Criterion, Exemplar, GradingTask

GENERIC_BANDS = {
    0: "Không có câu trả lời hoặc không liên quan đến câu hỏi.",
    1: "Trả lời được rất ít, thiếu hầu hết ý chính.",
    2: "Trả lời đúng phần lớn ý chính.",
    3: "Trả lời đầy đủ, chính xác như đáp án mẫu.",
}


@dataclass
class Item:
    question: str
    reference_answers: list[str]
    answer: str
    score: float
    max_score: float
    lesson_id: str | None = None
    kind: str = "challenge"
    pass_mark: float | None = None
    source: str = "external"
    id: str = ""


@dataclass
class Report:
    grader: str
    n: int
    pearson: float
    spearman: float
    qwk: float
    mae: float
    exact: float
    adjacent: float
    pass_agreement: float | None
    by_source: dict[str, tuple[int, float, float | None]] = field(default_factory=dict)

    def render(self) -> str:
        lines = [
            f"grader: {self.grader}   items: {self.n}",
            f"Pearson r            {self.pearson:6.3f}",
            f"Spearman rho         {self.spearman:6.3f}",
            f"QWK (tenths)         {self.qwk:6.3f}",
            f"MAE (of max score)   {self.mae:6.1%}",
            f"exact agreement      {self.exact:6.1%}",
            f"adjacent agreement   {self.adjacent:6.1%}",
        ]
        if self.pass_agreement is not None:
            lines.append(f"pass/fail agreement  {self.pass_agreement:6.1%}")
        for source, (n, mae, agree) in sorted(self.by_source.items()):
            extra = f", pass/fail {agree:.1%}" if agree is not None else ""
            lines.append(f"  {source:20s} n={n:4d}  MAE {mae:5.1%}{extra}")
        return "\n".join(lines)


def read_items(path: Path) -> list[Item]:
    items = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            item = Item(**{k: v for k, v in raw.items() if k in Item.__dataclass_fields__})
        except (json.JSONDecodeError, TypeError) as exc:
            raise Invalid(f"{path}:{n}: dòng không đúng định dạng ({exc}).") from exc
        if not (0 <= item.score <= item.max_score) or item.max_score <= 0:
            raise Invalid(f"{path}:{n}: score phải nằm trong khoảng 0..max_score.")
        items.append(item)
    return items


def task_for(item: Item, lessons: dict[str, dict[str, Any]]) -> GradingTask:
    if item.lesson_id:
        if item.lesson_id not in lessons:
            raise Invalid(f"Không có bài {item.lesson_id} trong chương trình học.")
        return GradingTask.from_content(lessons[item.lesson_id], kind=item.kind, text=item.answer)
    criterion = Criterion("noi_dung", "Nội dung câu trả lời", 100, GENERIC_BANDS)
    return GradingTask(
        lesson_id="external",
        lesson_title="",
        kind="challenge",
        task=item.question,
        instructions="Trả lời câu hỏi.",
        criteria=(criterion,),
        pass_mark=50,
        exemplars=tuple(Exemplar("strong", r, {"noi_dung": 3}) for r in item.reference_answers),
        must_include=(),
        min_chars=10,
        max_chars=10_000,
        text=item.answer,
    )


def evaluate(items: Sequence[Item], *, settings: Settings, curriculum_dir: Path) -> Report:
    curriculum = load_curriculum(curriculum_dir)
    lessons = {i.lesson.id: lesson_content(i, curriculum) for _, i in curriculum.lessons()}
    graders = Graders(settings)

    async def run() -> list[float]:
        slots = asyncio.Semaphore(16)

        async def one(item: Item) -> float:
            async with slots:
                verdict = await graders.grade(task_for(item, lessons))
                return verdict.score * item.max_score / 100

        return await asyncio.gather(*(one(item) for item in items))

    predicted = asyncio.run(run())
    truth = [i.score for i in items]
    scale = [i.max_score for i in items]
    human = [_tenth(t, m) for t, m in zip(truth, scale, strict=True)]
    machine = [_tenth(p, m) for p, m in zip(predicted, scale, strict=True)]
    by_source: dict[str, tuple[int, float, float | None]] = {}
    for source in sorted({f"{i.source}/{i.kind}" for i in items}):
        idx = [k for k, i in enumerate(items) if f"{i.source}/{i.kind}" == source]
        by_source[source] = (
            len(idx),
            statistics.fmean(abs(predicted[k] - truth[k]) / scale[k] for k in idx),
            _pass_agreement([items[k] for k in idx], [predicted[k] for k in idx]),
        )
    return Report(
        grader=settings.grader,
        n=len(items),
        pearson=pearson(truth, predicted),
        spearman=spearman(truth, predicted),
        qwk=quadratic_weighted_kappa(human, machine, 11),
        mae=statistics.fmean(
            abs(p - t) / m for p, t, m in zip(predicted, truth, scale, strict=True)
        ),
        exact=statistics.fmean(h == m for h, m in zip(human, machine, strict=True)),
        adjacent=statistics.fmean(abs(h - m) <= 1 for h, m in zip(human, machine, strict=True)),
        pass_agreement=_pass_agreement(items, predicted),
        by_source=by_source,
    )


def evaluate_file(path: Path, *, settings: Settings, curriculum_dir: Path) -> Report:
    return evaluate(read_items(path), settings=settings, curriculum_dir=curriculum_dir)


def _tenth(score: float, max_score: float) -> int:
    return round(score / max_score * 10)


def _pass_agreement(items: Sequence[Item], predicted: Sequence[float]) -> float | None:
    pairs = [(i, p) for i, p in zip(items, predicted, strict=True) if i.pass_mark is not None]
    if not pairs:
        return None
    return statistics.fmean(
        (i.score >= i.pass_mark) == (p >= i.pass_mark)  # type: ignore[operator]
        for i, p in pairs
    )


def pearson(a: Sequence[float], b: Sequence[float]) -> float:
    if len(a) < 2:
        return float("nan")
    ma, mb = statistics.fmean(a), statistics.fmean(b)
    cov = sum((x - ma) * (y - mb) for x, y in zip(a, b, strict=True))
    var = math.sqrt(sum((x - ma) ** 2 for x in a) * sum((y - mb) ** 2 for y in b))
    return cov / var if var else float("nan")


def _ranks(values: Sequence[float]) -> list[float]:
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    return pearson(_ranks(a), _ranks(b))


def quadratic_weighted_kappa(a: Sequence[int], b: Sequence[int], categories: int) -> float:
    n = len(a)
    if n == 0:
        return float("nan")
    observed = [[0.0] * categories for _ in range(categories)]
    for x, y in zip(a, b, strict=True):
        observed[x][y] += 1
    hist_a = [sum(row) for row in observed]
    hist_b = [sum(observed[i][j] for i in range(categories)) for j in range(categories)]
    num = den = 0.0
    for i in range(categories):
        for j in range(categories):
            weight = (i - j) ** 2 / (categories - 1) ** 2
            num += weight * observed[i][j]
            den += weight * hist_a[i] * hist_b[j] / n
    return 1 - num / den if den else 1.0


def build_eval_set(curriculum_dir: Path) -> list[dict[str, Any]]:
    """The shipped evaluation set: every exemplar (graded by the lesson's author) and the
    hand-graded answers, scored with the lesson's rubric weights."""
    curriculum = load_curriculum(curriculum_dir)
    lessons = {i.lesson.id: lesson_content(i, curriculum) for _, i in curriculum.lessons()}
    items: list[dict[str, Any]] = []
    for lesson_id, content in lessons.items():
        for n, exemplar in enumerate(content["challenge"]["exemplars"], 1):
            items.append(
                _line(content, "challenge", exemplar["text"], exemplar["scores"], "exemplar")
                | {"id": f"{lesson_id}:exemplar-{n}"}
            )
    for path in sorted((curriculum_dir / "_eval").glob("hand-*.yaml")):
        for n, raw in enumerate(yaml.safe_load(path.read_text(encoding="utf-8")), 1):
            content = lessons[raw["lesson_id"]]
            line = _line(content, raw["kind"], raw["answer"], raw["criteria"], "hand")
            items.append(line | {"id": f"{path.stem}:{n}", "note": raw.get("note", "")})
    return items


def _line(
    content: dict[str, Any], kind: str, answer: str, bands: dict[str, int], source: str
) -> dict[str, Any]:
    task = GradingTask.from_content(content, kind=kind, text=answer)
    references = [e.text for e in task.exemplars if e.label == "strong"] or list(task.must_include)
    return {
        "question": task.task.strip(),
        "reference_answers": references,
        "answer": answer.strip(),
        "score": task.total({k: int(v) for k, v in bands.items()}),
        "max_score": 100,
        "lesson_id": content["id"],
        "kind": kind,
        "pass_mark": task.pass_mark,
        "source": source,
        "criteria": bands,
    }
