"""`bdhai grade-eval`: the metrics, the shipped evaluation set, and the command."""

from __future__ import annotations

import json

import pytest

from app.cli import main
from app.config import ROOT_DIR
from app.grading.evaluation import (
    build_eval_set,
    pearson,
    quadratic_weighted_kappa,
    read_items,
    spearman,
)

EVAL = ROOT_DIR / "curriculum" / "_eval" / "grading.jsonl"


def test_correlations_and_kappa_on_known_values():
    assert pearson([1, 2, 3, 4], [2, 4, 6, 8]) == pytest.approx(1.0)
    assert pearson([1, 2, 3, 4], [8, 6, 4, 2]) == pytest.approx(-1.0)
    assert spearman([1, 2, 3, 4], [1, 4, 9, 16]) == pytest.approx(1.0)  # monotone, not linear
    assert spearman([1, 2, 2, 3], [1, 2, 2, 3]) == pytest.approx(1.0)  # ties
    assert quadratic_weighted_kappa([0, 1, 2, 3], [0, 1, 2, 3], 4) == pytest.approx(1.0)
    # one step off on half the items: kappa stays high; reversed: negative
    assert 0.6 < quadratic_weighted_kappa([0, 1, 2, 3], [0, 1, 3, 3], 4) < 1
    assert quadratic_weighted_kappa([0, 1, 2, 3], [3, 2, 1, 0], 4) < 0


def test_the_shipped_evaluation_set_is_built_from_its_sources():
    built = build_eval_set(ROOT_DIR / "curriculum")
    shipped = [json.loads(line) for line in EVAL.read_text(encoding="utf-8").splitlines()]
    assert shipped == built
    assert len(shipped) >= 290
    sources = {(i["source"], i["kind"]) for i in shipped}
    assert sources == {("exemplar", "challenge"), ("hand", "challenge"), ("hand", "teach_back")}
    for item in shipped:
        assert {"question", "reference_answers", "answer", "score", "max_score"} <= item.keys()
        assert 0 <= item["score"] <= item["max_score"] == 100
    passing = sum(i["score"] >= i["pass_mark"] for i in shipped)
    assert 0.3 < passing / len(shipped) < 0.7  # both sides of the pass mark are represented


def test_grade_eval_prints_the_figures(capsys):
    assert main(["grade-eval", str(EVAL)]) == 0
    out = capsys.readouterr().out
    for figure in (
        "Pearson r",
        "Spearman rho",
        "QWK",
        "MAE",
        "exact agreement",
        "adjacent agreement",
        "pass/fail agreement",
        "hand/teach_back",
    ):
        assert figure in out
    pass_fail = float(out.split("pass/fail agreement")[1].split("%")[0])
    assert pass_fail >= 85.0  # the rubric grader's documented level (docs/grading.md)


def test_a_generic_item_without_a_lesson_is_graded_with_its_reference_answers(tmp_path):
    path = tmp_path / "eval.jsonl"
    path.write_text(
        json.dumps(
            {
                "question": "AI là gì?",
                "reference_answers": ["AI là trí tuệ nhân tạo, phần mềm biết trò chuyện."],
                "answer": "AI là trí tuệ nhân tạo, một phần mềm biết trò chuyện và viết.",
                "score": 2,
                "max_score": 2,
            },
            ensure_ascii=False,
        )
        + "\n",
        encoding="utf-8",
    )
    assert read_items(path)[0].lesson_id is None
    assert main(["grade-eval", str(path)]) == 0


def test_a_broken_line_is_reported(tmp_path, capsys):
    from app.core.errors import Invalid

    path = tmp_path / "eval.jsonl"
    path.write_text('{"question": "x"\n', encoding="utf-8")
    with pytest.raises(Invalid, match=":1: dòng không đúng định dạng"):
        read_items(path)
    assert main(["grade-eval", str(path)]) == 2
    assert "dòng không đúng định dạng" in capsys.readouterr().err
