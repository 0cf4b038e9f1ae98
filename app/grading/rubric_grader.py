"""The offline grader: deterministic, no network. Each criterion gets a band from what the
rubric and its exemplars make checkable:

- the criterion's key terms (`look_for`), matched with and without diacritics;
- the graded exemplars: the bands of the exemplars the submission most resembles
  (character 4-gram cosine, the nearest weighing most; an exemplar identical to the
  submission is left out, so nothing grades itself);
- for a teach-back, how many of the lesson's must-include ideas appear, and plain words
  (short sentences, few untranslated English terms);
- the length against what the strong exemplars write.

It writes feedback from the rubric's band descriptors and says how sure it is: low
confidence (signals that disagree, a score near the pass mark, a text unlike any exemplar)
sends the grade to a mentor."""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass

from app.grading.similarity import (
    contains_term,
    cosine,
    grams,
    grams_cached,
    normal,
    normal_cached,
)
from app.grading.types import MAX_BAND, Criterion, CriterionGrade, GradeOutcome, GradingTask

_SENTENCE = re.compile(r"[.!?…\n]+")
_ASCII_WORD = re.compile(r"\b[a-z]{5,}\b")


TERMS_FOR_FULL_MARKS = 0.7  # strong answers use about two thirds of a criterion's key terms


@dataclass(frozen=True)
class Signals:
    length: float  # 0..1
    nearest: float  # the best cosine to an exemplar (0 when there is none)
    on_task: float | None  # how much the text talks about what the task asked (0..1)
    ideas: float | None  # teach-back: share of must-include ideas present
    plain: float | None  # teach-back: plain words


class RubricGrader:
    name = "rubric"

    def grade(self, task: GradingTask) -> GradeOutcome:
        text = task.text
        folded = normal(text)
        text_grams = grams(text)
        signals = self._signals(task, text, text_grams)
        anchors = self._anchors(task, folded, text_grams)
        criteria: list[CriterionGrade] = []
        agreements: list[float] = []
        for criterion in task.criteria:
            parts: list[tuple[float, float]] = []  # (weight, value 0..1)
            coverage, missing = self._terms(criterion, folded)
            if coverage is not None:
                parts.append((0.45, min(1.0, coverage / TERMS_FOR_FULL_MARKS)))
            if signals.on_task is not None:
                parts.append((0.15, signals.on_task))
            if anchors:
                knn = self._knn(criterion, anchors) / MAX_BAND
                parts.append((0.15, knn))
                if coverage is not None:
                    agreements.append(1 - abs(min(1.0, coverage / TERMS_FOR_FULL_MARKS) - knn))
            if signals.ideas is not None:
                parts.append((0.45 if coverage is None else 0.2, signals.ideas))
            if signals.plain is not None and coverage is None:
                parts.append((0.25, signals.plain))
            parts.append((0.25, signals.length))
            value = sum(w * v for w, v in parts) / sum(w for w, _ in parts)
            band = min(MAX_BAND, max(0, round(value * MAX_BAND)))
            if len(text.strip()) < task.min_chars:
                band = min(band, 1)
            criteria.append(CriterionGrade(criterion.id, band, _comment(criterion, band, missing)))
        scores = {c.id: c.score for c in criteria}
        total = task.total(scores)
        confidence = _confidence(task, total, agreements, signals)
        return GradeOutcome(
            grader=self.name,
            criteria=criteria,
            feedback=_feedback(task, criteria, total),
            confidence=confidence,
        )

    @staticmethod
    def _signals(task: GradingTask, text: str, text_grams) -> Signals:  # type: ignore[no-untyped-def]
        strong = [len(e.text) for e in task.exemplars if e.label == "strong"]
        target = statistics.median(strong) if strong else max(task.min_chars * 2.5, 300)
        size = len(text.strip())
        length = 0.0 if size < task.min_chars else min(1.0, size / target) ** 0.7
        nearest = max(
            (cosine(text_grams, grams_cached(e.text)) for e in task.exemplars), default=0.0
        )
        on_task = None
        if task.kind == "challenge":
            asked = cosine(text_grams, grams_cached(f"{task.task} {task.instructions}"))
            on_task = min(1.0, max(0.0, (asked - 0.2) / 0.25))
        ideas = plain = None
        if task.must_include:
            found = [min(1.0, _idea_found(idea, text_grams) / 0.55) for idea in task.must_include]
            ideas = sum(found) / len(found)
            plain = _plainness(text)
        return Signals(length, nearest, on_task, ideas, plain)

    @staticmethod
    def _anchors(task: GradingTask, folded: str, text_grams):  # type: ignore[no-untyped-def]
        """(similarity, exemplar) for the exemplars that are not the submission itself, when
        they still span the scale (a strong and a weak one): one-sided anchors mislead."""
        anchors = [
            (cosine(text_grams, grams_cached(e.text)), e)
            for e in task.exemplars
            if normal_cached(e.text) != folded
        ]
        labels = {e.label for _, e in anchors}
        return anchors if {"strong", "weak"} <= labels else []

    @staticmethod
    def _terms(criterion: Criterion, folded: str) -> tuple[float | None, list[str]]:
        if not criterion.look_for:
            return None, []
        missing = [t for t in criterion.look_for if not contains_term(folded, t)]
        return 1 - len(missing) / len(criterion.look_for), missing

    @staticmethod
    def _knn(criterion: Criterion, anchors) -> float:  # type: ignore[no-untyped-def]
        weights = [(max(sim, 0.01) ** 4, e.scores.get(criterion.id, 0)) for sim, e in anchors]
        total = sum(w for w, _ in weights)
        return sum(w * band for w, band in weights) / total


def _idea_found(idea: str, text_grams) -> float:  # type: ignore[no-untyped-def]
    """How much of an idea's wording (4-grams, folded) the text contains."""
    idea_grams = grams(idea)
    total = sum(idea_grams.values())
    if not total:
        return 0.0
    return sum(min(v, text_grams.get(k, 0)) for k, v in idea_grams.items()) / total


def _plainness(text: str) -> float:
    sentences = [s for s in _SENTENCE.split(text) if s.strip()]
    words = normal(text).split()
    if not sentences or not words:
        return 0.0
    per_sentence = len(words) / len(sentences)
    long_sentences = max(0.0, per_sentence - 22) / 20
    english = len(_ASCII_WORD.findall(" ".join(w for w in text.lower().split() if w.isascii())))
    foreign = min(1.0, english / max(1, len(words)) * 8)
    return max(0.0, 1 - long_sentences - foreign)


def _comment(criterion: Criterion, band: int, missing: list[str]) -> str:
    """The band's descriptor and, below the top band, the next one as the way up. (The key
    terms themselves are not named: a list of words to paste in would be gamed.)"""
    comment = criterion.bands[band]
    if band < MAX_BAND:
        comment += f" Để đạt mức cao hơn: {criterion.bands[band + 1]}"
    return comment


def _feedback(task: GradingTask, criteria: list[CriterionGrade], total: float) -> str:
    passed = total >= task.pass_mark
    by_id = {c.id: c for c in task.criteria}
    weakest = min(criteria, key=lambda c: (c.score, -by_id[c.id].weight))
    strongest = max(criteria, key=lambda c: (c.score, by_id[c.id].weight))
    verdict = "Đạt" if passed else "Chưa đạt"
    parts = [f"Bài làm được {round(total)}/100 điểm: {verdict} (cần {task.pass_mark})."]
    if strongest.score >= 2:
        parts.append(f"Làm tốt nhất: {by_id[strongest.id].name.lower()}.")
    if weakest.score < MAX_BAND:
        nxt = by_id[weakest.id].bands[weakest.score + 1]
        parts.append(f"Cần làm tốt hơn: {by_id[weakest.id].name.lower()}. Gợi ý: {nxt}")
    return " ".join(parts)


def _confidence(
    task: GradingTask, total: float, agreements: list[float], signals: Signals
) -> float:
    agreement = statistics.fmean(agreements) if agreements else 0.6
    margin = min(1.0, abs(total - task.pass_mark) / 20)
    familiar = min(1.0, signals.nearest / 0.3) if task.exemplars else 0.6
    value = 0.3 + 0.25 * agreement + 0.3 * margin + 0.15 * familiar
    return round(min(0.95, max(0.2, value)), 2)
