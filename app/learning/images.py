"""Pictures learners upload: only JPEG, PNG or WebP, within a size in bytes and in decoded
pixels, re-encoded as JPEG on our side and scaled down for phones. Only pixels survive: the
stored file is a new JPEG with no EXIF (GPS), XMP, IPTC, ICC profile, comment or PNG text;
colours described by an ICC profile are converted to sRGB first.

Memory and time are bounded before anything is decoded, from the file's header
(`Image.open` reads it without decoding):

- a canvas of more than `image_max_pixels` is refused: a tiny file may claim a huge one;
- a JPEG is decoded already reduced (`draft`: the decoder scales by 1/2, 1/4 or 1/8 to the
  smallest size still at least the stored size), so a 12 MP phone photo costs a 3 MP decode;
- what decoding will allocate is computed (Pillow's pixels at the decoded size; for a JPEG
  in several scans, such as a progressive one, libjpeg's coefficients for the whole canvas;
  for WebP, libwebp's canvases too) and a picture needing more than DECODE_MAX_BYTES is
  refused: in practice PNGs above about 16 MP, WebP above 4 MP, progressive JPEGs above
  9 to 16 MP; a phone camera's JPEG is accepted up to the pixel limit;
- the decoded picture is flattened and scaled band by band, so there is never a second
  full-size copy of it (a transparent PNG converted whole would be one or two more);
- orientation and colour conversion are done on the small result.

So one upload stays under 100 MB of memory; the figures (peak memory and time per upload)
are in docs/capacity.md, from bench/uploads.py.
"""

from __future__ import annotations

import io
import logging
import math
import re
from functools import lru_cache

from PIL import Image, ImageCms, JpegImagePlugin, PngImagePlugin, UnidentifiedImageError
from PIL.ImageFile import ImageFile

from app.core.errors import Invalid

log = logging.getLogger(__name__)

ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP")
DEFAULT_MAX_PIXELS = 24_000_000  # settings.image_max_pixels
DECODE_MAX_BYTES = 64 * 1024 * 1024  # what decoding one picture may allocate
BAND_BYTES = 2 * 1024 * 1024  # the size of the source rows scaled at a time
MAX_JPEG_SCANS = 100  # a progressive JPEG has about 10; each one is a pass over the picture
WEBP_BYTES_PER_PIXEL = 16  # libwebp's two canvases and Pillow's copy (bench/uploads.py)
JPEG_QUALITY = 82
ORIENTATION = 0x0112  # EXIF
# EXIF orientation → the operation that makes the picture upright (as ImageOps.exif_transpose)
UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
GREY_MODES = ("1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N")
SIXTEEN_BIT_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N")
WHITE = {"L": 255, "RGB": (255, 255, 255)}

# PNG text chunks (tEXt, zTXt, iTXt) are read while the file is opened, and thrown away here:
# Pillow lets them inflate to 64 MB in all; 1 MB is more than any picture carries.
PngImagePlugin.MAX_TEXT_MEMORY = min(PngImagePlugin.MAX_TEXT_MEMORY, 1024 * 1024)


def too_many_pixels(max_pixels: int) -> Invalid:
    megapixels = f"{max_pixels / 1_000_000:.0f}"
    return Invalid(
        f"Ảnh có kích thước quá lớn (tối đa {megapixels} megapixel). "
        "Hãy gửi ảnh chụp thường từ điện thoại, hoặc thu nhỏ ảnh rồi gửi lại.",
        code="image_too_many_pixels",
        extra={"max_pixels": max_pixels},
    )


def too_heavy() -> Invalid:
    return Invalid(
        "Ảnh có kích thước quá lớn để xử lý. Hãy gửi ảnh chụp trực tiếp từ máy ảnh điện "
        "thoại, hoặc thu nhỏ ảnh rồi gửi lại.",
        code="image_too_many_pixels",
    )


def reencode_image(
    data: bytes, *, max_bytes: int, max_side: int, max_pixels: int = DEFAULT_MAX_PIXELS
) -> bytes:
    """The stored JPEG for an uploaded picture: at most `max_side` pixels a side, upright,
    sRGB, nothing but pixels. Raises Invalid (4xx, in Vietnamese) for anything else."""
    if not data:
        raise Invalid("Tệp ảnh trống.", code="bad_image")
    if len(data) > max_bytes:
        raise Invalid(
            f"Ảnh quá lớn (tối đa {max_bytes // (1024 * 1024)} MB). "
            "Hãy chụp lại hoặc gửi ảnh nhỏ hơn.",
            status_code=413,
            code="image_too_large",
        )
    try:
        with Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS) as source:
            width, height = source.size
            if width * height > max_pixels:
                raise too_many_pixels(max_pixels)
            source.draft(None, fit((width, height), max_side))  # JPEG: decode reduced
            if decode_bytes(source, data, canvas=(width, height)) > DECODE_MAX_BYTES:
                raise too_heavy()
            source.load()
            orientation = source.getexif().get(ORIENTATION)
            icc = source.info.get("icc_profile")
            image = _downscale(source, fit(source.size, max_side))
    except Invalid:
        raise
    except UnidentifiedImageError as exc:
        raise Invalid("Ảnh phải là tệp JPEG, PNG hoặc WebP.", code="bad_image") from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow's own limit (Image.MAX_IMAGE_PIXELS) is above ours: only a canvas we refuse
        # anyway reaches it, at Image.open.
        raise too_many_pixels(max_pixels) from exc
    except Exception as exc:  # any failure to decode untrusted bytes is a broken file
        log.info("unreadable picture: %r", exc)
        raise Invalid("Tệp ảnh bị hỏng, không đọc được.", code="bad_image") from exc
    image = _to_srgb(image, icc)
    if orientation in UPRIGHT:
        image = image.transpose(UPRIGHT[orientation])
    return _encode(image)


def decode_bytes(source: ImageFile, data: bytes, *, canvas: tuple[int, int]) -> int:
    """What decoding `source` (opened, after `draft`) will allocate, from its header: Pillow's
    pixels at the decoded size; for a JPEG in several scans, libjpeg's coefficients for the
    whole `canvas` (the size before `draft`: 2 bytes per coefficient, 64 per 8×8 block of
    each component); for WebP, libwebp's canvases as well."""
    width, height = source.size
    if source.format == "WEBP":
        return width * height * WEBP_BYTES_PER_PIXEL
    pixel = 1 if source.mode in ("1", "L", "P") else 2 if source.mode.startswith("I;16") else 4
    total = width * height * pixel
    if isinstance(source, JpegImagePlugin.JpegImageFile):
        scans = jpeg_scans(data)
        if scans > MAX_JPEG_SCANS:
            return DECODE_MAX_BYTES + 1
        if scans > 1 or source.info.get("progressive"):
            canvas_w, canvas_h = canvas
            h_max = max(h for _, h, _, _ in source.layer)
            v_max = max(v for _, _, v, _ in source.layer)
            for _, h, v, _ in source.layer:
                blocks_w = math.ceil(canvas_w * h / h_max / 8)
                blocks_h = math.ceil(canvas_h * v / v_max / 8)
                total += blocks_w * blocks_h * 128
    return total


# In a scan's data, 0xFF is followed by 00 (a stuffed byte) or a restart marker; anything
# else (after optional fill bytes) is the next marker.
_NEXT_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")


def jpeg_scans(data: bytes) -> int:
    """How many scans (SOS segments) a JPEG's first picture has, from its markers (embedded
    thumbnails are inside APP segments and skipped). Stops at anything unexpected: the
    decoder will then say what is wrong."""
    i, scans, end = 2, 0, len(data)
    while i + 4 <= end and data[i] == 0xFF:
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker == 0xD9:  # end of image
            break
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # no payload
            i += 2
            continue
        i += 2 + int.from_bytes(data[i + 2 : i + 4], "big")
        if marker == 0xDA:
            scans += 1
            found = _NEXT_MARKER.search(data, i)
            if found is None:
                break
            i = found.end() - 2
    return scans


def fit(size: tuple[int, int], max_side: int) -> tuple[int, int]:
    """`size` scaled down (never up) to fit a `max_side` square, keeping its proportions."""
    width, height = size
    scale = min(1.0, max_side / width, max_side / height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def _flatten(band: Image.Image, mode: str) -> Image.Image:
    """`band` in `mode` (L, RGB or CMYK), transparency composited on white."""
    if band.mode in ("P", "PA"):
        band = band.convert("RGBA" if band.mode == "PA" or "transparency" in band.info else "RGB")
    elif band.mode in SIXTEEN_BIT_MODES:
        band = band.convert("I").point(lambda v: v / 256).convert("L")
    elif band.mode == "1":
        band = band.convert("L")
    elif "transparency" in band.info and band.mode in ("L", "RGB"):
        band = band.convert("LA" if band.mode == "L" else "RGBA")
    if band.mode in ("LA", "La", "RGBA", "RGBa"):
        band = band.convert("LA" if band.mode in ("LA", "La") else "RGBA")
        flat = Image.new(mode, band.size, WHITE[mode])
        flat.paste(band.convert(mode), mask=band.getchannel("A"))
        return flat
    return band if band.mode == mode else band.convert(mode)


def _downscale(
    image: Image.Image, size: tuple[int, int], band_bytes: int = BAND_BYTES
) -> Image.Image:
    """`image` (any mode) flattened and scaled to `size` with a Lanczos filter, computed
    band by band: each band of output rows is scaled from a crop of the source rows it needs
    (with the filter's reach above and below), so memory is one source band, not a second
    copy of the picture. The result equals scaling the whole picture at once."""
    mode = "L" if image.mode in GREY_MODES else "CMYK" if image.mode == "CMYK" else "RGB"
    width, height = image.size
    out_width, out_height = size
    scale = height / out_height
    reach = math.ceil(3 * max(scale, 1.0)) + 2  # Lanczos (a = 3) covers 3 source pixels a side
    rows = max(1, int(band_bytes / (width * 4 * max(scale, 1.0))))  # output rows per band
    out = Image.new(mode, size)
    for top in range(0, out_height, rows):
        bottom = min(out_height, top + rows)
        first, last = top * scale, bottom * scale
        crop_top = max(0, math.floor(first) - reach)
        crop_bottom = min(height, math.ceil(last) + reach)
        band = _flatten(image.crop((0, crop_top, width, crop_bottom)), mode)
        piece = band.resize(
            (out_width, bottom - top),
            Image.Resampling.LANCZOS,
            box=(0, first - crop_top, width, last - crop_top),
        )
        out.paste(piece, (0, top))
    return out


@lru_cache(maxsize=1)
def _srgb() -> ImageCms.ImageCmsProfile:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def _to_srgb(image: Image.Image, icc: bytes | None) -> Image.Image:
    """The picture's colours in sRGB (which is what a JPEG without a profile means), using
    its ICC profile when it has one; a profile that cannot be used is ignored."""
    if icc:
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            return ImageCms.profileToProfile(image, source, _srgb(), outputMode="RGB")
        except (ImageCms.PyCMSError, OSError, ValueError, TypeError) as exc:
            log.info("colour profile ignored: %r", exc)
    return image if image.mode in ("L", "RGB") else image.convert("RGB")


def _encode(image: Image.Image) -> bytes:
    """A new JPEG of the pixels alone: Pillow would copy some of an image's `info` (its JPEG
    comment) into the file it saves, so the info is emptied first."""
    image.info.clear()
    out = io.BytesIO()
    image.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True, progressive=True)
    return out.getvalue()
