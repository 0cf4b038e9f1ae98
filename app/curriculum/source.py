"""Read a YAML file into plain data plus the line of every key and item, so each problem can
be reported as `file:line: message`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

Loc = tuple[str | int, ...]


class SourceError(Exception):
    """The file is not well-formed YAML (or has a duplicate key)."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


@dataclass
class Located:
    data: Any
    lines: dict[Loc, int] = field(default_factory=dict)

    def line_of(self, loc: Loc) -> int:
        """The line of `loc`, or of its nearest enclosing key that has one."""
        path = tuple(loc)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), 1)


class _Builder:
    def __init__(self) -> None:
        self.constructor = SafeConstructor()
        self.lines: dict[Loc, int] = {}

    def build(self, node: Node, path: Loc) -> Any:
        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, MappingNode):
            self.constructor.flatten_mapping(node)  # YAML merge keys (<<)
            out: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, ScalarNode):
                    raise SourceError("Khóa phải là một giá trị đơn.", key_node.start_mark.line + 1)
                key = self.constructor.construct_object(key_node)
                if key in out:
                    raise SourceError(
                        f"Khóa “{key}” bị lặp trong cùng một mục.", key_node.start_mark.line + 1
                    )
                self.lines[(*path, key)] = key_node.start_mark.line + 1
                out[key] = self.build(value_node, (*path, key))
            return out
        if isinstance(node, SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        return self.constructor.construct_object(node)


def load_yaml(text: str) -> Located:
    """Parse one YAML document; raises SourceError with the line of the first problem."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise SourceError(f"YAML không hợp lệ: {exc.problem or exc}.", line) from exc
    except yaml.YAMLError as exc:
        raise SourceError(f"YAML không hợp lệ: {exc}.", 1) from exc
    if node is None:
        raise SourceError("Tệp trống.", 1)
    builder = _Builder()
    try:
        data = builder.build(node, ())
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark else 1
        raise SourceError(f"Giá trị không đọc được: {exc.problem}.", line) from exc
    return Located(data, builder.lines)
