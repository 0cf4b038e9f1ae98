"""Lesson text (Markdown written by curriculum authors) to safe HTML: raw HTML in the source
is escaped, links are plain, and tables are allowed for worked examples."""

from __future__ import annotations

from functools import lru_cache

from markdown_it import MarkdownIt
from markupsafe import Markup


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable(
        "table"
    )


@lru_cache(maxsize=512)
def render_markdown(text: str) -> Markup:
    return Markup(_parser().render(text or ""))  # raw HTML is disabled: the input is escaped
