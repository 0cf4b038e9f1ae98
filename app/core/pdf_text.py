"""Text in PDFs: the one way text reaches a reportlab paragraph.

reportlab's `Paragraph` reads its text as markup: `<b>`, `<font>`, `<a href>`, `<img src>`,
entities. A learner named "Cường <b>x" breaks its parser (the whole report fails), a name
with `<a href="javascript:…">` becomes a link in an official report, and `<img src="/path">`
embeds any image file the server can read. So every paragraph in the app is built here from
plain text, escaped; the only markup in a paragraph is what this module adds (bold).
`tests/test_hardening_files.py` fails when any other module imports or calls `Paragraph` or
another flowable that parses markup. Text drawn on a canvas (`drawString`) and plain strings
in table cells are not parsed and need nothing.
"""

from __future__ import annotations

import unicodedata
from xml.sax.saxutils import escape

from reportlab.lib.styles import ParagraphStyle
from reportlab.platypus import Paragraph


def nfc(text: str) -> str:
    """Precomposed letters (the font has them, while reportlab cannot position combining
    marks) and single spaces."""
    return unicodedata.normalize("NFC", " ".join(text.split()))


def markup(text: str) -> str:
    """`text` as paragraph markup that shows exactly `text` (NFC, single spaces)."""
    return escape(nfc(text))


def paragraph(
    text: str, style: ParagraphStyle, *, bold: bool = False, bullet: str | None = None
) -> Paragraph:
    """A paragraph showing `text` as it is, in bold if asked, with an optional bullet."""
    body = markup(text)
    return Paragraph(
        f"<b>{body}</b>" if bold else body,
        style,
        bulletText=None if bullet is None else markup(bullet),
    )
