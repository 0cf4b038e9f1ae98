"""The curriculum: the shipped lessons, the validator's messages, loading and the API."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.cli import main
from app.config import ROOT_DIR
from app.curriculum.loader import sync_curriculum
from app.curriculum.schema import GROUP_CODES, LESSON_MINUTES_MAX, weighted_score
from app.curriculum.validate import load_curriculum, read_curriculum
from app.models import Lesson, LessonVersion, Level

FIXTURE = Path(__file__).parent / "fixtures" / "curriculum"
SHIPPED = ROOT_DIR / "curriculum"
LESSON_1 = Path("bac-1-lam-quen") / "01-ai-la-gi.yaml"
LESSON_2 = Path("bac-1-lam-quen") / "02-hoi-tiep.yaml"


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A writable copy of the small valid fixture curriculum."""
    root = tmp_path / "curriculum"
    shutil.copytree(FIXTURE, root)
    return root


def problems(root: Path) -> list[str]:
    curriculum, found = read_curriculum(root)
    assert curriculum is None, "expected problems, the curriculum validated"
    return [str(p) for p in found]


def edit(path: Path, old: str, new: str, count: int = 1) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(old) >= count, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, count), encoding="utf-8")


def line_of(path: Path, needle: str) -> int:
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if needle in line:
            return n
    raise AssertionError(f"{needle!r} not in {path}")


# ---- the shipped curriculum ----------------------------------------------------------


def test_every_shipped_lesson_validates():
    curriculum, found = read_curriculum(SHIPPED)
    assert found == [], "\n".join(str(p) for p in found)
    assert curriculum is not None
    assert [lv.level.number for lv in curriculum.levels] == [1, 2, 3, 4, 5]
    ids = [item.lesson.id for _, item in curriculum.lessons()]
    assert len(ids) == len(set(ids)) >= 60
    for level in curriculum.levels:
        assert len(level.lessons) >= 12, level.path
        assert level.level.certificate.lessons_passed <= len(level.lessons)
        for item in level.lessons:
            lesson = item.lesson
            assert lesson.estimated_minutes() <= LESSON_MINUTES_MAX, lesson.id
            assert lesson.minutes <= LESSON_MINUTES_MAX
            assert len(lesson.quiz.questions) >= 6 and 3 <= lesson.quiz.draw <= 5
            assert 3 <= len(lesson.challenge.rubric) <= 5
            assert sum(c.weight for c in lesson.challenge.rubric) == 100
            assert set(lesson.groups) <= GROUP_CODES | {"all"}
            labels = {e.label for e in lesson.challenge.exemplars}
            assert {"strong", "weak"} <= labels, lesson.id


def test_shipped_exemplars_sit_on_the_right_side_of_the_pass_mark():
    curriculum = load_curriculum(SHIPPED)
    for _, item in curriculum.lessons():
        challenge = item.lesson.challenge
        for exemplar in challenge.exemplars:
            total = weighted_score(challenge.rubric, exemplar.scores)
            if exemplar.label == "strong":
                assert total >= challenge.pass_mark, item.lesson.id
            elif exemplar.label == "weak":
                assert total < challenge.pass_mark, item.lesson.id


def test_no_quiz_question_repeats_across_the_curriculum():
    seen: dict[str, str] = {}
    for _, item in load_curriculum(SHIPPED).lessons():
        for question in item.lesson.quiz.questions:
            assert question.text not in seen, (item.lesson.id, seen.get(question.text))
            seen[question.text] = item.lesson.id


def test_level_two_asks_for_images_where_it_is_about_images():
    curriculum = load_curriculum(SHIPPED)
    kinds = {
        item.lesson.challenge.submit.kind
        for level, item in curriculum.lessons()
        if level.level.number == 2
    }
    assert "image" in kinds
    other = {
        item.lesson.challenge.submit.kind
        for level, item in curriculum.lessons()
        if level.level.number != 2
    }
    assert other == {"text"}


def test_the_fixture_is_valid(tree):
    curriculum, found = read_curriculum(tree)
    assert found == []
    assert [i.lesson.id for _, i in curriculum.lessons()] == [
        "b1-01-ai-la-gi",
        "b1-02-hoi-tiep",
        "b2-01-anh-dau-tien",
    ]


# ---- broken files: each gives its message at its line ----------------------------------


def test_missing_field(tree):
    path = tree / LESSON_1
    edit(path, "minutes: 14\n", "")
    assert problems(tree) == [f"{LESSON_1}:1: minutes: Thiếu thông tin bắt buộc."]


def test_rubric_weights_must_sum_to_100(tree):
    path = tree / LESSON_1
    edit(path, "      weight: 35\n", "      weight: 30\n")
    line = line_of(path, "  rubric:")
    assert problems(tree) == [
        f"{LESSON_1}:{line}: challenge.rubric: Tổng trọng số các tiêu chí phải bằng 100 "
        "(đang là 95)."
    ]


def test_duplicate_lesson_id(tree):
    edit(tree / LESSON_2, "id: b1-02-hoi-tiep", "id: b1-01-ai-la-gi")
    assert problems(tree) == [f"{LESSON_2}:1: id “b1-01-ai-la-gi” đã dùng ở {LESSON_1}."]


def test_malformed_yaml(tree):
    path = tree / LESSON_1
    edit(path, "objectives:\n", "objectives: [\n")
    [found] = problems(tree)
    assert found.startswith(f"{LESSON_1}:") and "YAML không hợp lệ" in found
    line = int(found.split(":")[1])
    assert line_of(path, "objectives: [") <= line <= line_of(path, "groups:") + 1


def test_duplicate_key(tree):
    path = tree / LESSON_1
    edit(path, "minutes: 14\n", "minutes: 14\nminutes: 12\n")
    assert problems(tree) == [f"{LESSON_1}:4: Khóa “minutes” bị lặp trong cùng một mục."]


def test_quiz_answer_must_be_among_the_options(tree):
    path = tree / LESSON_1
    edit(
        path,
        "        - text: Số căn cước công dân của người khác.\n          correct: true\n",
        "        - text: Số căn cước công dân của người khác.\n",
    )
    line = line_of(path, "    - id: q4") + 3  # the question's `options:` key
    assert problems(tree) == [
        f"{LESSON_1}:{line}: quiz.questions[3].options: Câu một đáp án cần ít nhất 3 lựa chọn "
        "và đúng một lựa chọn đúng (correct: true)."
    ]


def test_true_false_needs_an_answer(tree):
    path = tree / LESSON_1
    edit(path, "      answer: false\n", "")
    line = line_of(path, "    - id: q2") + 1
    assert problems(tree) == [
        f"{LESSON_1}:{line}: quiz.questions[1].kind: Câu đúng/sai không có options và cần "
        "answer: true hoặc false."
    ]


def test_exemplar_scores_must_be_bands_of_the_rubric(tree):
    path = tree / LESSON_1
    edit(
        path,
        "scores: {cau_lenh: 3, hoi_tiep: 3, nhan_xet: 3}",
        "scores: {cau_lenh: 4, hoi_tiep: 3, nhan_xet: 3}",
    )
    line = line_of(path, "scores: {cau_lenh: 4")
    assert problems(tree) == [
        f"{LESSON_1}:{line}: challenge.exemplars[0].scores.cau_lenh: Điểm mỗi tiêu chí phải "
        "là 0, 1, 2 hoặc 3."
    ]
    edit(
        path,
        "scores: {cau_lenh: 4, hoi_tiep: 3, nhan_xet: 3}",
        "scores: {cau_lenh: 3, hoi_tiep: 3, sai_ma: 3}",
    )
    assert problems(tree) == [
        f"{LESSON_1}:{line}: challenge.exemplars[0].scores: Phải chấm đủ và chỉ chấm các tiêu "
        "chí ['cau_lenh', 'hoi_tiep', 'nhan_xet']."
    ]


def test_a_strong_exemplar_must_pass(tree):
    path = tree / LESSON_1
    edit(
        path,
        "scores: {cau_lenh: 3, hoi_tiep: 3, nhan_xet: 3}",
        "scores: {cau_lenh: 1, hoi_tiep: 3, nhan_xet: 1}",
    )
    line = line_of(path, "scores: {cau_lenh: 1, hoi_tiep: 3")
    assert problems(tree) == [
        f"{LESSON_1}:{line}: challenge.exemplars[0].scores: Bài mẫu tốt chỉ đạt 53 điểm, dưới "
        "điểm đạt 60."
    ]


def test_a_lesson_longer_than_15_minutes(tree):
    path = tree / LESSON_1
    edit(path, "  minutes: 6\n", "  minutes: 9\n")
    assert problems(tree) == [
        f"{LESSON_1}:3: minutes: Ước tính 15.7 phút (đọc 547 từ, 4 câu hỏi, thử thách 9 phút, "
        "giảng lại 2 phút) vượt quá 15 phút."
    ]


def test_minutes_may_not_promise_less_than_the_estimate(tree):
    edit(tree / LESSON_1, "minutes: 14\n", "minutes: 10\n")
    assert problems(tree) == [
        f"{LESSON_1}:3: minutes: minutes = 10 thấp hơn thời lượng ước tính 12.7 phút."
    ]


def test_prose_without_diacritics_is_refused(tree):
    path = tree / LESSON_1
    text = path.read_text(encoding="utf-8")
    start = text.index("  prompt: >-\n    Hãy giải thích")
    end = text.index("  must_include:")
    plain = (
        "  prompt: >-\n    Hay giai thich cho mot nguoi hang xom chua tung dung AI: AI la gi,"
        " no giup duoc viec gi va vi sao van phai kiem tra lai cau tra loi.\n"
    )
    path.write_text(text[:start] + plain + text[end:], encoding="utf-8")
    line = line_of(path, "teach_back:") + 1
    assert problems(tree) == [
        f"{LESSON_1}:{line}: teach_back.prompt: Văn bản tiếng Việt phải viết có dấu đầy đủ."
    ]


def test_unknown_field_and_unknown_group(tree):
    path = tree / LESSON_1
    edit(path, "groups: [all]", "groups: [all, thuong_gia]\nauthor: ai đó")
    line = line_of(path, "groups:")
    assert problems(tree) == [
        f"{LESSON_1}:{line}: groups: Nhóm học viên không có: thuong_gia (dùng: all, can_bo, "
        "cao_tuoi, cong_nhan, doanh_nghiep, hoc_sinh, khac, nong_dan).",
        f"{LESSON_1}:{line + 1}: author: Trường này không được phép.",
    ]


def test_file_names_ids_and_levels(tree):
    (tree / LESSON_2).rename(tree / "bac-1-lam-quen" / "bai-hai.yaml")
    edit(tree / "bac-2-nang-cao" / "01-anh-dau-tien.yaml", "id: b2-01", "id: b1-01x")
    edit(tree / "bac-2-nang-cao" / "level.yaml", "number: 2", "number: 3")
    assert problems(tree) == [
        "bac-1-lam-quen/bai-hai.yaml:1: Tên tệp bài học phải có dạng 01-ten-bai.yaml.",
        "bac-2-nang-cao/level.yaml:1: number = 3 không khớp tên thư mục bac-2-nang-cao.",
    ]


def test_lesson_id_must_carry_its_level(tree):
    edit(tree / "bac-2-nang-cao" / "01-anh-dau-tien.yaml", "id: b2-01", "id: b1-09")
    assert problems(tree) == [
        "bac-2-nang-cao/01-anh-dau-tien.yaml:1: id của bài thuộc bậc này phải bắt đầu bằng b2-."
    ]


def test_certificate_rules_must_be_reachable(tree):
    level = tree / "bac-2-nang-cao" / "level.yaml"
    edit(level, "lessons_passed: 1", "lessons_passed: 3")
    edit(level, "questions: 6", "questions: 9")
    assert problems(tree) == [
        f"bac-2-nang-cao/level.yaml:{line_of(level, 'lessons_passed')}: "
        "certificate.lessons_passed = 3 nhưng bậc chỉ có 1 bài.",
        f"bac-2-nang-cao/level.yaml:{line_of(level, 'questions: 9')}: "
        "Bài kiểm tra cuối cần 9 câu nhưng bậc chỉ có 8 câu hỏi.",
    ]


def test_missing_teach_back_rubric_and_non_utf8(tree):
    (tree / "teach_back.yaml").unlink()
    (tree / LESSON_2).write_bytes("title: Bài học\n".encode("utf-16"))
    assert problems(tree) == [
        ".:1: Thiếu tệp teach_back.yaml (thang chấm phần giảng lại).",
        f"{LESSON_2}:1: Tệp phải được lưu với bảng mã UTF-8.",
    ]


def test_the_cli_reports_file_line_and_exit_code(tree, capsys):
    edit(tree / LESSON_1, "      weight: 35\n", "      weight: 30\n")
    assert main(["curriculum", "validate", str(tree)]) == 1
    out = capsys.readouterr()
    assert f"{tree / LESSON_1}:" in out.out and "Tổng trọng số" in out.out
    assert "1 problem(s)" in out.err
    edit(tree / LESSON_1, "      weight: 30\n", "      weight: 35\n")
    assert main(["curriculum", "validate", str(tree), "-v"]) == 0
    out = capsys.readouterr().out
    assert "b1-01-ai-la-gi" in out and "ok: 2 levels, 3 lessons" in out


# ---- loading ---------------------------------------------------------------------------


def rows(db: Session) -> dict[str, list[tuple]]:
    db.expire_all()
    return {
        "levels": [
            (lv.number, lv.title, lv.content_hash, lv.is_active, lv.updated_at)
            for lv in db.scalars(select(Level).order_by(Level.number))
        ],
        "lessons": [
            (ls.id, ls.level_number, ls.position, ls.current_version, ls.is_active, ls.updated_at)
            for ls in db.scalars(select(Lesson).order_by(Lesson.id))
        ],
        "versions": [
            (v.id, v.lesson_id, v.version, v.content_hash)
            for v in db.scalars(select(LessonVersion).order_by(LessonVersion.id))
        ],
    }


def test_loading_twice_changes_nothing(db, tree):
    first = sync_curriculum(db, load_curriculum(tree))
    assert (first.levels_created, len(first.lessons_created)) == ([1, 2], 3)
    before = rows(db)
    again = sync_curriculum(db, load_curriculum(tree))
    assert not again.changed_anything and again.lessons_unchanged == 3
    assert rows(db) == before
    version = db.scalar(select(LessonVersion).where(LessonVersion.lesson_id == "b1-01-ai-la-gi"))
    assert version.content["teach_back"]["rubric"]["pass_mark"] == 60
    assert version.content["quiz"]["questions"][1]["answer"] is False


def test_editing_a_lesson_creates_exactly_one_new_version(db, tree):
    sync_curriculum(db, load_curriculum(tree))
    old = db.scalar(select(LessonVersion).where(LessonVersion.lesson_id == "b1-01-ai-la-gi"))
    old_id, old_hash = old.id, old.content_hash
    edit(tree / LESSON_1, "title: AI là gì và không là gì", "title: AI là gì, không là gì")
    report = sync_curriculum(db, load_curriculum(tree))
    assert report.lessons_changed == ["b1-01-ai-la-gi"] and report.lessons_unchanged == 2
    versions = db.scalars(
        select(LessonVersion)
        .where(LessonVersion.lesson_id == "b1-01-ai-la-gi")
        .order_by(LessonVersion.version)
    ).all()
    assert [v.version for v in versions] == [1, 2]
    assert (versions[0].id, versions[0].content_hash) == (old_id, old_hash)  # kept as it was
    assert versions[1].content["title"] == "AI là gì, không là gì"
    lesson = db.get(Lesson, "b1-01-ai-la-gi")
    assert (lesson.current_version, lesson.title) == (2, "AI là gì, không là gì")
    assert not sync_curriculum(db, load_curriculum(tree)).changed_anything


def test_a_changed_teach_back_rubric_versions_every_lesson(db, tree):
    sync_curriculum(db, load_curriculum(tree))
    edit(tree / "teach_back.yaml", "pass_mark: 60", "pass_mark: 65")
    report = sync_curriculum(db, load_curriculum(tree))
    assert len(report.lessons_changed) == 3


def test_renumbering_moves_without_a_new_version_and_removal_retires(db, tree):
    sync_curriculum(db, load_curriculum(tree))
    (tree / LESSON_1).rename(tree / "bac-1-lam-quen" / "03-ai-la-gi.yaml")
    report = sync_curriculum(db, load_curriculum(tree))
    assert sorted(report.lessons_moved) == ["b1-01-ai-la-gi", "b1-02-hoi-tiep"]
    assert report.lessons_changed == []
    assert db.get(Lesson, "b1-01-ai-la-gi").position == 2
    (tree / "bac-1-lam-quen" / "03-ai-la-gi.yaml").unlink()
    edit(tree / "bac-1-lam-quen" / "level.yaml", "lessons_passed: 2", "lessons_passed: 1")
    report = sync_curriculum(db, load_curriculum(tree))
    assert report.lessons_retired == ["b1-01-ai-la-gi"]
    lesson = db.get(Lesson, "b1-01-ai-la-gi")
    assert lesson.is_active is False and lesson.current_version == 1


def test_the_cli_load_refuses_a_broken_curriculum(db, tree, capsys, monkeypatch):
    edit(tree / LESSON_1, "      weight: 35\n", "      weight: 30\n")
    assert main(["curriculum", "load", str(tree)]) == 1
    assert "nothing loaded" in capsys.readouterr().err


# ---- the API ---------------------------------------------------------------------------


@pytest.fixture
def loaded(db, tree):
    sync_curriculum(db, load_curriculum(tree))
    db.flush()
    return tree


def test_levels_and_lessons_api(client, loaded):
    levels = client.get("/api/v1/levels")
    assert levels.status_code == 200
    assert [(lv["number"], lv["title"], lv["lesson_count"]) for lv in levels.json()] == [
        (1, "Làm quen với AI", 2),
        (2, "Nâng cao", 1),
    ]
    assert levels.json()[1]["certificate"] == {
        "lessons_passed": 1,
        "min_average": 75,
        "final_test": {"questions": 6, "pass_mark": 70, "minutes": 15},
    }
    lessons = client.get("/api/v1/levels/1/lessons").json()
    assert [(ls["id"], ls["position"], ls["version"]) for ls in lessons] == [
        ("b1-01-ai-la-gi", 1, 1),
        ("b1-02-hoi-tiep", 2, 1),
    ]
    missing = client.get("/api/v1/levels/9/lessons")
    assert missing.status_code == 404 and missing.json()["detail"] == "Không có bậc 9."


def test_a_lesson_never_carries_answers_or_exemplars(client, loaded):
    res = client.get("/api/v1/lessons/b1-01-ai-la-gi")
    assert res.status_code == 200
    body = res.json()
    assert body["quiz"] == {"draw": 4, "pass_mark": 75, "pool_size": 8}
    assert [c["id"] for c in body["challenge"]["rubric"]] == ["cau_lenh", "hoi_tiep", "nhan_xet"]
    assert body["challenge"]["rubric"][0]["bands"]["3"].startswith("Câu hỏi nêu rõ")
    assert [c["id"] for c in body["teach_back"]["rubric"]] == ["y_chinh", "de_hieu", "vi_du"]
    source = yaml.safe_load((loaded / LESSON_1).read_text(encoding="utf-8"))
    text = res.text
    for question in source["quiz"]["questions"]:
        assert question["text"] not in text and question["explanation"] not in text
    for exemplar in source["challenge"]["exemplars"]:
        assert exemplar["reason"].strip() not in text
        assert exemplar["text"].splitlines()[0] not in text
    assert '"correct"' not in text and "look_for" not in text and "must_include" not in text


def test_unknown_and_retired_lessons_are_404(client, db, loaded):
    res = client.get("/api/v1/lessons/b9-khong-co")
    assert res.status_code == 404 and res.json()["detail"] == "Không tìm thấy bài học."
    assert client.get("/api/v1/lessons/KHONG HOP LE").status_code == 422
    db.get(Lesson, "b1-02-hoi-tiep").is_active = False
    db.flush()
    assert client.get("/api/v1/lessons/b1-02-hoi-tiep").status_code == 404
    assert [ls["id"] for ls in client.get("/api/v1/levels/1/lessons").json()] == ["b1-01-ai-la-gi"]
