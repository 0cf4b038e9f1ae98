"""Read and check the whole curriculum folder; every problem becomes `file:line: message`.

Layout (see docs/curriculum.md):
    curriculum/teach_back.yaml            the shared teach-back rubric
    curriculum/bac-1-<slug>/level.yaml    a level's metadata and certificate rule
    curriculum/bac-1-<slug>/01-<slug>.yaml one lesson per file, in file-name order
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from app.core.errors import vietnamese_validation_message
from app.curriculum.schema import At, LessonFile, LevelFile, TeachBackRubric
from app.curriculum.source import Loc, Located, SourceError, load_yaml

LEVEL_DIR = re.compile(r"^bac-(\d)-[a-z0-9-]+$")
LESSON_FILE = re.compile(r"^(\d{2})-[a-z0-9-]+\.yaml$")
TEACH_BACK_FILE = "teach_back.yaml"
LEVEL_FILE = "level.yaml"
MAX_FILE_BYTES = 200_000

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Problem:
    path: Path
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


@dataclass
class LessonSource:
    path: Path  # relative to the curriculum folder
    position: int
    lesson: LessonFile


@dataclass
class LevelSource:
    path: Path
    level: LevelFile
    lessons: list[LessonSource] = field(default_factory=list)
    located: Located | None = field(default=None, repr=False, compare=False)
    broken: int = 0  # lesson files with problems (the level's totals are not checked then)


@dataclass
class Curriculum:
    levels: list[LevelSource]
    teach_back: TeachBackRubric

    def lessons(self) -> list[tuple[LevelSource, LessonSource]]:
        return [(level, lesson) for level in self.levels for lesson in level.lessons]


class CurriculumInvalid(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(f"{len(problems)} problem(s) in the curriculum")
        self.problems = problems


def _where(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


class _Reader:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.problems: list[Problem] = []

    def problem(self, path: Path, line: int, message: str) -> None:
        self.problems.append(Problem(path.relative_to(self.root), line, message))

    def parse(self, path: Path, model: type[M]) -> tuple[M | None, Located | None]:
        raw = path.read_bytes()
        if len(raw) > MAX_FILE_BYTES:
            self.problem(path, 1, f"Tệp quá lớn (tối đa {MAX_FILE_BYTES // 1000} kB).")
            return None, None
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            self.problem(path, 1, "Tệp phải được lưu với bảng mã UTF-8.")
            return None, None
        try:
            located = load_yaml(text)
        except SourceError as exc:
            self.problem(path, exc.line, exc.message)
            return None, None
        if not isinstance(located.data, dict):
            self.problem(path, 1, "Tệp phải là một bảng khóa: giá trị (mapping).")
            return None, located
        try:
            return model.model_validate(located.data), located
        except ValidationError as exc:
            for error in exc.errors():
                loc: tuple[Any, ...] = tuple(error.get("loc", ()))
                cause = (error.get("ctx") or {}).get("error")
                if isinstance(cause, At):
                    loc = (*loc, *cause.loc)
                message = vietnamese_validation_message(error)
                where = _where(loc)
                self.problem(
                    path, located.line_of(loc), f"{where}: {message}" if where else message
                )
            return None, located


def read_curriculum(root: Path) -> tuple[Curriculum | None, list[Problem]]:
    """Parse and check every file; the curriculum is returned only when nothing is wrong."""
    reader = _Reader(root)
    if not root.is_dir():
        return None, [Problem(root, 1, "Không tìm thấy thư mục chương trình học.")]
    teach_back_path = root / TEACH_BACK_FILE
    teach_back = None
    if teach_back_path.is_file():
        teach_back, _ = reader.parse(teach_back_path, TeachBackRubric)
    else:
        reader.problem(root / ".", 1, f"Thiếu tệp {TEACH_BACK_FILE} (thang chấm phần giảng lại).")

    levels: list[LevelSource] = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        match = LEVEL_DIR.match(folder.name)
        if not match:
            if not folder.name.startswith((".", "_")):
                reader.problem(folder, 1, "Tên thư mục bậc phải có dạng bac-1-ten-bac.")
            continue
        level_path = folder / LEVEL_FILE
        if not level_path.is_file():
            reader.problem(folder, 1, f"Thiếu tệp {LEVEL_FILE}.")
            continue
        level, located = reader.parse(level_path, LevelFile)
        if level is None or located is None:
            continue
        if level.number != int(match.group(1)):
            reader.problem(
                level_path,
                located.line_of(("number",)),
                f"number = {level.number} không khớp tên thư mục {folder.name}.",
            )
            continue
        source = LevelSource(folder.relative_to(root), level, located=located)
        _read_lessons(reader, folder, source)
        levels.append(source)

    _check_levels(reader, root, levels)
    if reader.problems or teach_back is None:
        return None, sorted(reader.problems, key=lambda p: (str(p.path), p.line))
    return Curriculum(sorted(levels, key=lambda s: s.level.number), teach_back), []


def _read_lessons(reader: _Reader, folder: Path, source: LevelSource) -> None:
    prefix = f"b{source.level.number}-"
    seen_numbers: dict[str, Path] = {}
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.name != LEVEL_FILE)
    for path in files:
        if path.suffix.lower() not in (".yaml", ".yml"):
            continue  # notes beside the lessons (README.md…) are not lessons
        source.broken += 1  # until the file proves good
        match = LESSON_FILE.match(path.name)
        if not match:
            reader.problem(path, 1, "Tên tệp bài học phải có dạng 01-ten-bai.yaml.")
            continue
        if match.group(1) in seen_numbers:
            reader.problem(path, 1, f"Số thứ tự trùng với {seen_numbers[match.group(1)].name}.")
            continue
        seen_numbers[match.group(1)] = path
        lesson, located = reader.parse(path, LessonFile)
        if lesson is None or located is None:
            continue
        if not lesson.id.startswith(prefix):
            reader.problem(
                path,
                located.line_of(("id",)),
                f"id của bài thuộc bậc này phải bắt đầu bằng {prefix}.",
            )
            continue
        source.broken -= 1
        source.lessons.append(
            LessonSource(path.relative_to(reader.root), len(source.lessons) + 1, lesson)
        )


def _check_levels(reader: _Reader, root: Path, levels: list[LevelSource]) -> None:
    numbers = sorted(s.level.number for s in levels)
    if numbers != list(range(1, len(numbers) + 1)):
        reader.problem(root / ".", 1, f"Các bậc phải đánh số liền nhau từ 1 (đang có {numbers}).")
    ids: dict[str, Path] = {}
    for level in levels:
        level_file = root / level.path / LEVEL_FILE
        for item in level.lessons:
            if item.lesson.id in ids:
                reader.problem(
                    root / item.path,
                    1,
                    f"id “{item.lesson.id}” đã dùng ở {ids[item.lesson.id]}.",
                )
            ids.setdefault(item.lesson.id, item.path)
        rule = level.level.certificate
        if level.broken:
            continue  # the totals below would only repeat the lessons' own problems

        def line(*loc: str, level: LevelSource = level) -> int:
            return level.located.line_of(loc) if level.located else 1

        if rule.lessons_passed > len(level.lessons):
            reader.problem(
                level_file,
                line("certificate", "lessons_passed"),
                f"certificate.lessons_passed = {rule.lessons_passed} nhưng bậc chỉ có "
                f"{len(level.lessons)} bài.",
            )
        pool = sum(len(i.lesson.quiz.questions) for i in level.lessons)
        if rule.final_test and rule.final_test.questions > pool:
            reader.problem(
                level_file,
                line("certificate", "final_test", "questions"),
                f"Bài kiểm tra cuối cần {rule.final_test.questions} câu nhưng bậc chỉ có "
                f"{pool} câu hỏi.",
            )


def load_curriculum(root: Path) -> Curriculum:
    """The checked curriculum, or CurriculumInvalid with every problem."""
    curriculum, problems = read_curriculum(root)
    if curriculum is None:
        raise CurriculumInvalid(problems)
    return curriculum
