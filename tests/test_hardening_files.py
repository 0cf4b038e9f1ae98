"""The files the service writes and the pictures it takes in, against hostile input: learner
and unit text in PDFs stays text (no markup, links or server images), spreadsheets keep
formula-like text as text, uploads are bounded in decoded pixels and keep nothing of the
original file's metadata."""

from __future__ import annotations

import ast
import csv
import io
import os
import secrets
import struct
import tempfile
import unicodedata
import uuid
import zlib
from datetime import date
from pathlib import Path

import pytest
from openpyxl import load_workbook
from PIL import Image, ImageChops, ImageFile, PngImagePlugin
from pydantic import ValidationError
from pypdf import PdfReader
from sqlalchemy import select

from app.certificates.pdf import CertificateView, render_certificate
from app.config import Settings
from app.core.errors import Invalid
from app.core.spreadsheet import csv_bytes, xlsx_bytes
from app.gamification.ledger import rebuild_tallies
from app.learning import images
from app.learning.images import reencode_image
from app.models import Role, Submission
from app.reports import rollups
from tests.factories import at, issued_certificate, level_completed, login, make_user
from tests.lessons import GOOD_TEXT, L3

APP_DIR = Path(__file__).resolve().parent.parent / "app"

# ---- PDFs: learner and unit text is text ---------------------------------------------------


@pytest.fixture
def server_image():
    """An image file on the server's disk, at a short path (a name holds at most 120
    characters): an <img src> in a name must not bring it into a PDF."""
    fd, path = tempfile.mkstemp(prefix="bd", suffix=".png", dir="/tmp")
    os.close(fd)
    Image.new("RGB", (40, 40), (200, 0, 0)).save(path, "PNG")
    yield path
    os.unlink(path)


HOSTILE = {
    "unclosed_tag": "Cường <b>x",
    "link": '<a href="javascript:alert(1)">Bấm vào</a> Lan',
    "image": '<img src="{path}" width="40" height="40"/> Hùng',
}


def _hostile(kind: str, path: str) -> str:
    return HOSTILE[kind].format(path=path)


def _squash(text: str) -> str:
    """Text without whitespace (table cells wrap long names), NFC."""
    return "".join(unicodedata.normalize("NFC", text).split())


def _read_pdf(data: bytes) -> tuple[str, list[str], int]:
    """The PDF's text, the subtypes of its annotations and how many image XObjects it has."""
    reader = PdfReader(io.BytesIO(data))
    text = " ".join(page.extract_text() for page in reader.pages)
    annotations: list[str] = []
    image_count = 0

    def count_images(resources) -> int:
        found = 0
        xobjects = (resources or {}).get("/XObject") or {}
        for ref in xobjects.values():
            obj = ref.get_object()
            if obj.get("/Subtype") == "/Image":
                found += 1
            elif obj.get("/Subtype") == "/Form":
                found += count_images(obj.get("/Resources"))
        return found

    for page in reader.pages:
        for ref in page.get("/Annots") or []:
            annotations.append(str(ref.get_object().get("/Subtype")))
        image_count += count_images(page.get("/Resources"))
    return text, annotations, image_count


def _assert_plain(pdf: bytes, *literals: str) -> None:
    text, annotations, image_count = _read_pdf(pdf)
    for literal in literals:
        assert _squash(literal) in _squash(text)
    assert annotations == []  # no link
    assert image_count == 0  # nothing from the server's disk


@pytest.mark.parametrize("kind", list(HOSTILE))
@pytest.mark.parametrize("who", ["learner", "unit"])
def test_hostile_names_stay_text_in_the_quarterly_report(
    client, db, settings, tree, lessons, server_image, kind, who
):
    """A learner's full name, or a unit's name, that looks like reportlab markup: the
    province's report and the commune's report answer 200, with the name shown as typed."""
    hostile = _hostile(kind, server_image)
    if who == "unit":
        tree.commune.name = hostile
    learner = make_user(db, tree.village, name=hostile if who == "learner" else "Trần Văn Bình")
    level_completed(db, learner, 1, date(2026, 11, 20))
    db.flush()
    rebuild_tallies(db, ["2026-10", "2026-11", "2026-12"])
    rollups.refresh(db, settings, today=date(2026, 12, 31))
    headers = login(client, make_user(db, tree.province, role=Role.admin, name="Quản Trị"))
    for unit in (tree.province, tree.commune):
        res = client.get(
            f"/api/v1/admin/reports/quarterly?year=2026&quarter=4&format=pdf&unit_id={unit.id}",
            headers=headers,
        )
        assert res.status_code == 200, res.text
        _assert_plain(res.content, hostile)


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_hostile_names_stay_text_on_the_certificate(
    client, db, settings, tree, lessons, server_image, kind
):
    """The holder's name and the issuing unit's name through the certificate's PDF route."""
    hostile = _hostile(kind, server_image)
    tree.village.name = hostile
    learner = make_user(db, tree.village, name=hostile)
    cert = issued_certificate(db, learner, 1, at(settings, date(2026, 11, 20)))
    alphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
    cert.serial = "BDHAI-1-2026-" + "".join(secrets.choice(alphabet) for _ in range(8))
    db.flush()
    res = client.get(f"/certificates/{cert.serial}.pdf", headers=login(client, learner))
    assert res.status_code == 200, res.text
    _assert_plain(res.content, hostile)


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_hostile_text_stays_text_in_every_part_of_the_certificate(server_image, kind):
    """The builder itself, with the hostile text in every field, the outcomes too (they are
    set as paragraphs)."""
    hostile = _hostile(kind, server_image)
    view = CertificateView(
        serial="BDHAI-1-2026-ABCDEFGH",
        holder_name=hostile,
        level_number=1,
        level_title=hostile,
        outcomes=[hostile, "Biết dùng AI để viết thư."],
        unit_name=hostile,
        authority=hostile,
        place=hostile,
        issued_on=date(2026, 11, 20),
        verify_url="http://testserver/verify/BDHAI-1-2026-ABCDEFGH",
    )
    _assert_plain(render_certificate(view), hostile)


# reportlab classes that read their text as markup (Paragraph and its kin, the lists and
# indexes that wrap strings in paragraphs) or evaluate it (the Doc* flowables).
MARKUP_READERS = {
    "Paragraph",
    "XPreformatted",
    "ParaParser",
    "ImageAndFlowables",
    "ParagraphAndImage",
    "Para",
    "FastPara",
    "ListFlowable",
    "ListItem",
    "TableOfContents",
    "SimpleIndex",
    "DocPara",
    "DocAssign",
    "DocExec",
    "DocIf",
    "DocWhile",
}
MARKUP_MODULES = {"paragraph", "paraparser", "xpreformatted", "para", "tableofcontents"}
PDF_TEXT_MODULE = APP_DIR / "core" / "pdf_text.py"


def _markup_readers(node: ast.AST) -> set[str]:
    if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("reportlab"):
        names = {alias.name for alias in node.names}
        return (names & MARKUP_READERS) | (names & MARKUP_MODULES)
    if isinstance(node, ast.Import):
        return {
            a.name
            for a in node.names
            if a.name.startswith("reportlab") and a.name.rsplit(".", 1)[-1] in MARKUP_MODULES
        }
    if isinstance(node, ast.Attribute) and node.attr in MARKUP_READERS:
        return {node.attr}
    if isinstance(node, ast.Name) and node.id in MARKUP_READERS:
        return {node.id}
    return set()


def test_every_paragraph_goes_through_the_one_helper():
    """reportlab's Paragraph (and its kin) reads its text as markup: only app.core.pdf_text
    may build one, from escaped text. Any other module that imports or names one fails
    here; build paragraphs with app.core.pdf_text.paragraph."""
    offenders = [
        f"{path.relative_to(APP_DIR.parent)}:{node.lineno}: {sorted(found)}"
        for path in sorted(APP_DIR.rglob("*.py"))
        if path != PDF_TEXT_MODULE
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if (found := _markup_readers(node))
    ]
    assert offenders == []
    assert _markup_readers(ast.parse("from reportlab.platypus import Paragraph").body[0])
    assert _markup_readers(ast.parse("import reportlab.platypus.paragraph").body[0])
    assert _markup_readers(ast.parse("platypus.Paragraph('x', s)").body[0].value.func)


# ---- spreadsheets: formula-like text is text ------------------------------------------------

FORMULA_LIKE = [
    "=cmd|' /C calc'!A0",
    '=HYPERLINK("http://x.example","Bấm")',
    "+84 912 345 678",
    "-2+3",
    "@SUM(A1:A2)",
    "\t=1+1",
]


def test_xlsx_keeps_formula_like_text_exactly_and_as_text():
    plain = ["Nguyễn Thị Hồng Nhung", 42, None, 2.5]
    data = xlsx_bytes("Thử", [FORMULA_LIKE + plain], bold_rows=set())
    cells = next(iter(load_workbook(io.BytesIO(data)).active.iter_rows()))
    for cell, original in zip(cells, FORMULA_LIKE, strict=False):
        assert cell.value == original  # no visible apostrophe
        assert cell.data_type == "s"  # a string cell, never a formula
        assert cell.quotePrefix  # Excel keeps it text when someone edits the cell
    values = [c.value for c in cells[len(FORMULA_LIKE) :]]
    assert values == plain
    assert not cells[len(FORMULA_LIKE)].quotePrefix
    bold = xlsx_bytes("Thử", [FORMULA_LIKE], bold_rows={0})
    cells = next(iter(load_workbook(io.BytesIO(bold)).active.iter_rows()))
    assert [c.value for c in cells] == FORMULA_LIKE and all(c.font.b for c in cells)
    assert all(c.data_type == "s" for c in cells)


def test_csv_keeps_its_neutralisation():
    """CSV has no cell types: a leading apostrophe keeps the text from being run (OWASP)."""
    text = csv_bytes([[*FORMULA_LIKE, "\r=1", "Nguyễn", 3]]).decode("utf-8-sig")
    row = next(csv.reader(io.StringIO(text, newline="")))
    assert row == ["'" + v for v in [*FORMULA_LIKE, "\r=1"]] + ["Nguyễn", "3"]


def test_xlsx_takes_text_with_control_characters():
    """openpyxl refuses characters XML 1.0 cannot hold; a value carrying one (an audit
    detail, an imported name) must not make the export fail."""
    data = xlsx_bytes("Thử", [["Lê\x01Văn\x1fAn", "=a\x0bb"]])
    cells = next(iter(load_workbook(io.BytesIO(data)).active.iter_rows(values_only=True)))
    assert cells == ("LêVănAn", "=ab")


def test_the_learner_export_keeps_a_formula_like_name_as_text(client, db, tree, lessons):
    name = "=cmd|' /C calc'!A0"
    make_user(db, tree.hamlet, name=name)
    headers = login(client, make_user(db, tree.ward, role=Role.unit_admin, name="Quản Trị"))
    res = client.get("/api/v1/admin/exports/learners.xlsx", headers=headers)
    assert res.status_code == 200
    found = [
        c
        for row in load_workbook(io.BytesIO(res.content)).active.iter_rows()
        for c in row
        if isinstance(c.value, str) and "cmd" in c.value
    ]
    assert len(found) == 1 and found[0].value == name and found[0].data_type == "s"
    res = client.get("/api/v1/admin/exports/learners.csv", headers=headers)
    assert res.status_code == 200 and "'" + name in res.content.decode("utf-8-sig")


# ---- pictures: decoded size ----------------------------------------------------------------


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_canvas(width: int, height: int) -> bytes:
    """A valid RGB PNG of any size made without holding its pixels: a tiny file that
    claims a huge canvas (the 154 KB, 39.7 megapixel picture of the report)."""
    row = bytes(1 + 3 * width)
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")
    )


def photo(width: int, height: int, fmt: str = "JPEG", mode: str = "RGB", **params) -> bytes:
    """A picture with some structure (gradients), so that resizing is visible."""
    gradient = Image.linear_gradient("L").resize((width, height))
    image = Image.merge(
        "RGB", (gradient, gradient.transpose(Image.Transpose.FLIP_LEFT_RIGHT), gradient.rotate(90))
    )
    if mode != "RGB":
        image = image.convert(mode)
    out = io.BytesIO()
    image.save(out, fmt, **params)
    return out.getvalue()


@pytest.fixture
def image_lesson(client, db, tree, lessons):
    learner = make_user(db, tree.hamlet, name="Nguyễn Thị Hồng Nhung")
    admin = login(client, make_user(db, tree.province, role=Role.admin))
    res = client.post(f"/api/v1/admin/users/{learner.id}/levels/2/unlock", headers=admin)
    assert res.status_code == 200
    headers = login(client, learner)

    def send(name: str, data: bytes, media_type: str = "image/png"):
        return client.post(
            f"/api/v1/lessons/{L3}/submissions",
            headers=headers,
            data={"text": GOOD_TEXT, "client_id": uuid.uuid4().hex, "kind": "challenge"},
            files={"image": (name, data, media_type)},
        )

    return send


@pytest.fixture
def decoded_sizes(monkeypatch):
    """The size of every picture Pillow decodes (ImageFile.load) during the test."""
    sizes: list[tuple[int, int]] = []
    real = ImageFile.ImageFile.load

    def load(self):
        if self.tile:
            sizes.append(self.size)
        return real(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", load)
    return sizes


def test_a_tiny_file_with_a_huge_canvas_is_refused_before_decoding(db, image_lesson, decoded_sizes):
    bomb = png_canvas(6300, 6300)  # 39.7 megapixels
    assert len(bomb) < 200_000
    res = image_lesson("to.png", bomb)
    assert res.status_code == 422, res.text
    assert res.json()["detail"].startswith("Ảnh có kích thước quá lớn")
    assert decoded_sizes == []  # refused from the header, nothing decoded
    assert db.scalars(select(Submission.id)).all() == []


@pytest.fixture
def pixel_limit(app):
    original = app.state.settings
    app.state.settings = original.model_copy(update={"image_max_pixels": 1_000_000})
    yield app.state.settings
    app.state.settings = original


def test_the_pixel_limit_is_a_setting(image_lesson, pixel_limit, media_dir, decoded_sizes):
    for fmt, media_type in (("PNG", "image/png"), ("JPEG", "image/jpeg"), ("WEBP", "image/webp")):
        res = image_lesson(f"anh.{fmt.lower()}", photo(1250, 1000, fmt), media_type)
        assert res.status_code == 422 and res.json()["code"] == "image_too_many_pixels", res.text
        assert "Ảnh có kích thước quá lớn" in res.json()["detail"]
    assert decoded_sizes == []
    res = image_lesson("anh.png", photo(1200, 800, "PNG"))
    assert res.status_code == 201, res.text
    stored = media_dir / "submissions" / res.json()["image_url"].rsplit("/", 1)[1]
    with Image.open(stored) as image:
        assert image.size == (1200, 800)


def test_the_setting_stays_below_pillows_own_bomb_limit():
    with pytest.raises(ValidationError):
        Settings(image_max_pixels=Image.MAX_IMAGE_PIXELS + 1)
    assert Settings().image_max_pixels <= 40_000_000


def test_a_large_photo_is_decoded_reduced_and_scaled_to_the_lesson_size(decoded_sizes):
    data = photo(4000, 3000, "JPEG", quality=90)
    out = reencode_image(data, max_bytes=6 << 20, max_side=1600, max_pixels=24_000_000)
    assert decoded_sizes == [(2000, 1500)]  # the JPEG decoder scaled by 1/2, not 12 MP
    with Image.open(io.BytesIO(out)) as image:
        assert image.format == "JPEG" and image.size == (1600, 1200)


def test_what_decoding_would_allocate_is_bounded(monkeypatch, decoded_sizes):
    """Within the pixel limit, a picture whose decoding needs more memory than the budget is
    refused from its header: a progressive JPEG (libjpeg keeps every coefficient), a
    truecolour PNG (4 bytes a pixel), a WebP (libwebp's canvases), while the same pixels
    as a baseline JPEG or a palette PNG pass."""
    monkeypatch.setattr(images, "DECODE_MAX_BYTES", 8_000_000)

    def outcome(data: bytes) -> str:
        try:
            reencode_image(data, max_bytes=6 << 20, max_side=1600, max_pixels=24_000_000)
        except Invalid as exc:
            assert exc.status_code == 422 and "quá lớn để xử lý" in exc.message
            return exc.code
        return "ok"

    assert outcome(photo(1250, 1000, "JPEG")) == "ok"  # 5 MB of pixels
    assert outcome(photo(1250, 1000, "JPEG", progressive=True, subsampling=0)) == (
        "image_too_many_pixels"  # and 7.5 MB of coefficients
    )
    assert outcome(photo(1250, 1000, "PNG", mode="P")) == "ok"
    assert outcome(photo(1600, 1300, "PNG")) == "image_too_many_pixels"  # 8.3 MB
    assert outcome(photo(750, 750, "WEBP")) == "image_too_many_pixels"  # 16 bytes a pixel
    assert decoded_sizes == [(1250, 1000), (1250, 1000)]  # only the two that passed


def test_a_jpeg_in_too_many_scans_is_refused(monkeypatch):
    """Each scan of a progressive JPEG is a pass over the whole picture: a file of many tiny
    scans would keep a worker busy for minutes."""
    progressive = photo(600, 400, "JPEG", progressive=True)
    assert images.jpeg_scans(progressive) == 10
    assert images.jpeg_scans(photo(600, 400, "JPEG")) == 1
    thumbnail = photo(160, 120, "JPEG", progressive=True)  # inside an APP1: not counted
    app1 = b"\xff\xe1" + struct.pack(">H", len(thumbnail) + 8) + b"Exif\0\0" + thumbnail
    assert images.jpeg_scans(progressive[:2] + app1 + progressive[2:]) == 10
    monkeypatch.setattr(images, "MAX_JPEG_SCANS", 5)
    with pytest.raises(Invalid) as refused:
        reencode_image(progressive, max_bytes=6 << 20, max_side=1600)
    assert refused.value.code == "image_too_many_pixels"


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "P", "L", "LA", "I;16", "1", "CMYK"])
def test_scaling_in_bands_matches_a_whole_picture_resize(mode):
    """The picture is scaled band by band (no full-size copy): the result is the same as
    scaling the whole picture, without seams."""
    source = Image.open(io.BytesIO(photo(1700, 1130, "PNG")))
    source = source.convert("RGBA" if mode in ("RGBA", "LA") else "RGB")
    if mode in ("RGBA", "LA"):
        alpha = Image.linear_gradient("L").resize(source.size)
        source.putalpha(alpha)
    if mode == "I;16":
        source = source.convert("L").convert("I").point(lambda v: v * 256).convert("I;16")
    elif mode not in ("RGB", "RGBA"):
        source = source.convert(mode)
    target = (800, 532)
    banded = images._downscale(source, target, band_bytes=200_000)
    if mode in ("RGBA", "LA"):
        flat = Image.new(source.mode[:-1], source.size, 255 if mode == "LA" else (255,) * 3)
        flat.paste(source, mask=source.getchannel("A"))
        whole = flat.resize(target, Image.Resampling.LANCZOS)
    elif mode == "I;16":
        whole = (
            source.convert("I")
            .point(lambda v: v / 256)
            .convert("L")
            .resize(target, Image.Resampling.LANCZOS)
        )
    elif mode == "P":
        whole = source.convert("RGB").resize(target, Image.Resampling.LANCZOS)
    elif mode == "1":
        whole = source.convert("L").resize(target, Image.Resampling.LANCZOS)
    else:
        whole = source.resize(target, Image.Resampling.LANCZOS)
    assert banded.mode == whole.mode and banded.size == target
    extrema = ImageChops.difference(banded, whole).getextrema()
    bands = extrema if isinstance(extrema[0], tuple) else (extrema,)
    assert max(high for _, high in bands) <= 1


def test_transparency_is_flattened_on_white_and_orientation_applied():
    image = Image.new("RGBA", (300, 100), (0, 0, 0, 0))
    image.paste((200, 0, 0, 255), (0, 0, 100, 100))
    out = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 8  # turned: the stored picture is upright
    image.save(out, "PNG", exif=exif)
    result = Image.open(
        io.BytesIO(reencode_image(out.getvalue(), max_bytes=6 << 20, max_side=1600))
    )
    assert result.size == (100, 300)
    r, g, b = result.getpixel((50, 30))
    assert min(r, g, b) > 240  # transparent became white
    r, g, b = result.getpixel((50, 270))
    assert r > 180 and g < 40 and b < 40


# ---- pictures: nothing of the original's metadata survives --------------------------------


def _segments(jpeg: bytes) -> list[tuple[int, bytes]]:
    """A JPEG's markers up to the image data, each with the first bytes of its payload."""
    assert jpeg[:2] == b"\xff\xd8"
    found, i = [], 2
    while i < len(jpeg):
        assert jpeg[i] == 0xFF
        while jpeg[i] == 0xFF:
            i += 1
        marker = jpeg[i]
        i += 1
        if marker == 0xD9:
            break
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:
            continue
        length = int.from_bytes(jpeg[i : i + 2], "big")
        found.append((marker, jpeg[i + 2 : i + min(length, 16)]))
        i += length
        if marker == 0xDA:  # the entropy-coded data: skip to the next real marker
            while True:
                j = jpeg.index(b"\xff", i)
                if jpeg[j + 1] == 0 or 0xD0 <= jpeg[j + 1] <= 0xD7:
                    i = j + 2
                    continue
                i = j
                break
    return found


PIXEL_MARKERS = {0xC0, 0xC1, 0xC2, 0xC4, 0xDA, 0xDB, 0xDD}  # SOF, DHT, SOS, DQT, DRI


def assert_no_metadata(jpeg: bytes) -> None:
    for marker, payload in _segments(jpeg):
        if marker == 0xE0:
            assert payload.startswith(b"JFIF\x00")  # the format's own header, nothing else
        else:
            assert marker in PIXEL_MARKERS, hex(marker)  # no APP1-15 (EXIF, XMP, ICC), COM
    assert b"SECRET" not in jpeg and "BÍ MẬT".encode() not in jpeg
    with Image.open(io.BytesIO(jpeg)) as image:
        assert image.format == "JPEG"
        assert not image.getexif()
        assert not {"exif", "icc_profile", "comment", "xmp", "photoshop"} & set(image.info)


def _exif() -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "SECRET-MAKE"
    exif[0x8825] = {1: "N", 2: (21.0, 35.0, 0.0), 3: "E", 4: (105.0, 51.0, 0.0)}  # GPS
    return exif


def _splice_app13(jpeg: bytes) -> bytes:
    """An IPTC record (APP13, Photoshop) right after SOI, as photo tools write it."""
    body = b"Photoshop 3.0\x008BIM\x04\x04\x00\x00\x00\x00\x00\x0dSECRET-IPTC!\x00"
    return jpeg[:2] + b"\xff\xed" + struct.pack(">H", len(body) + 2) + body + jpeg[2:]


def _srgb() -> bytes:
    from PIL import ImageCms

    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def test_a_jpeg_keeps_nothing_but_pixels():
    data = photo(
        900,
        600,
        "JPEG",
        exif=_exif(),
        comment=b"SECRET-COM",
        xmp=b'<x:xmpmeta xmlns:x="adobe:ns:meta/">SECRET-XMP</x:xmpmeta>',
        icc_profile=_srgb(),
        dpi=(300, 300),
    )
    data = _splice_app13(data)
    with Image.open(io.BytesIO(data)) as image:  # the original carries all of it
        assert {"exif", "comment", "xmp", "icc_profile", "photoshop"} <= set(image.info)
    assert_no_metadata(reencode_image(data, max_bytes=6 << 20, max_side=1600))


def test_a_small_jpeg_with_a_comment_loses_it():
    """No scaling needed: the comment still does not come along (Pillow copies a source's
    COM segment into a JPEG it saves, unless told otherwise)."""
    data = photo(200, 150, "JPEG", comment=b"SECRET-COM")
    assert_no_metadata(reencode_image(data, max_bytes=6 << 20, max_side=1600))


def test_a_png_keeps_nothing_but_pixels():
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "SECRET-TEXT")
    info.add_text("Author", "SECRET-ZTXT", zip=True)
    info.add_itxt("Description", "BÍ MẬT-ITXT")
    info.add_itxt("XML:com.adobe.xmp", "<x:xmpmeta>SECRET-XMP</x:xmpmeta>", zip=True)
    data = photo(900, 600, "PNG", pnginfo=info, exif=_exif(), icc_profile=_srgb())
    with Image.open(io.BytesIO(data)) as image:
        assert {"Comment", "Author", "Description", "icc_profile"} <= set(image.info)
    assert_no_metadata(reencode_image(data, max_bytes=6 << 20, max_side=1600))


def test_a_webp_keeps_nothing_but_pixels():
    data = photo(
        900,
        600,
        "WEBP",
        exif=_exif(),
        xmp=b"<x:xmpmeta>SECRET-XMP</x:xmpmeta>",
        icc_profile=_srgb(),
    )
    with Image.open(io.BytesIO(data)) as image:
        assert {"exif", "xmp", "icc_profile"} <= set(image.info)
    assert_no_metadata(reencode_image(data, max_bytes=6 << 20, max_side=1600))


def _icc_profile(red, green, blue) -> bytes:
    """A minimal ICC v2 RGB display profile (matrix and gamma 2.2 curves) with the given
    D50 colorants."""

    def s15(v: float) -> bytes:
        return struct.pack(">i", round(v * 65536))

    def xyz(x: float, y: float, z: float) -> bytes:
        return b"XYZ \0\0\0\0" + s15(x) + s15(y) + s15(z)

    text = b"Swapped\0"
    desc = b"desc\0\0\0\0" + struct.pack(">I", len(text)) + text + bytes(8 + 3 + 67)
    curve = b"curv\0\0\0\0" + struct.pack(">IH", 1, round(2.2 * 256))
    tags = [
        (b"desc", desc),
        (b"wtpt", xyz(0.9642, 1.0, 0.8249)),
        (b"rXYZ", xyz(*red)),
        (b"gXYZ", xyz(*green)),
        (b"bXYZ", xyz(*blue)),
        (b"rTRC", curve),
        (b"gTRC", curve),
        (b"bTRC", curve),
        (b"cprt", b"text\0\0\0\0none\0"),
    ]
    offset, table, data = 128 + 4 + 12 * len(tags), b"", b""
    for sig, body in tags:
        body += bytes(-len(body) % 4)
        table += sig + struct.pack(">II", offset + len(data), len(body))
        data += body
    header = (
        struct.pack(">I", offset + len(data))
        + b"lcms"
        + struct.pack(">I", 0x02100000)
        + b"mntrRGB XYZ "
        + bytes(12)
        + b"acsp"
        + bytes(28)
        + s15(0.9642)
        + s15(1.0)
        + s15(0.8249)
        + b"lcms"
        + bytes(44)
    )
    return header + struct.pack(">I", len(tags)) + table + data


SRGB_RED, SRGB_GREEN, SRGB_BLUE = (
    (0.4361, 0.2225, 0.0139),
    (0.3851, 0.7169, 0.0971),
    (
        0.1431,
        0.0606,
        0.7141,
    ),
)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_colours_are_converted_to_srgb_before_the_profile_is_dropped(fmt):
    """A profile whose red is sRGB's blue (as a wide-gamut phone profile differs from
    sRGB, only more visibly): the stored picture shows blue, and carries no profile."""
    swapped = _icc_profile(SRGB_BLUE, SRGB_GREEN, SRGB_RED)
    out = io.BytesIO()
    Image.new("RGB", (400, 300), (255, 0, 0)).save(out, fmt, icc_profile=swapped)
    stored = reencode_image(out.getvalue(), max_bytes=6 << 20, max_side=1600)
    assert_no_metadata(stored)
    r, g, b = Image.open(io.BytesIO(stored)).getpixel((200, 150))
    assert b > 200 and r < 40 and g < 40


def test_a_broken_profile_is_dropped():
    out = io.BytesIO()
    Image.new("RGB", (400, 300), (255, 0, 0)).save(out, "JPEG", icc_profile=b"SECRET" * 40)
    stored = reencode_image(out.getvalue(), max_bytes=6 << 20, max_side=1600)
    assert_no_metadata(stored)
    r, g, b = Image.open(io.BytesIO(stored)).getpixel((200, 150))
    assert r > 200 and g < 40 and b < 40


def test_the_route_stores_a_clean_upright_picture(image_lesson, media_dir):
    exif = _exif()
    exif[0x0112] = 6  # taken turned: stored upright
    data = _splice_app13(photo(2400, 1800, "JPEG", exif=exif, comment=b"SECRET-COM"))
    res = image_lesson("anh.jpg", data, "image/jpeg")
    assert res.status_code == 201, res.text
    stored = media_dir / "submissions" / res.json()["image_url"].rsplit("/", 1)[1]
    assert_no_metadata(stored.read_bytes())
    with Image.open(stored) as image:
        assert image.size == (1200, 1600)
