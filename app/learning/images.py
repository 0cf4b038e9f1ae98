"""Pictures learners upload: only JPEG, PNG or WebP, within a size limit, decoded in full,
re-encoded as JPEG on our side (so nothing but pixels survives: no EXIF, GPS or other
metadata, no embedded payloads) and scaled down for phones."""

from __future__ import annotations

import io
import warnings

from PIL import Image, ImageOps, UnidentifiedImageError

from app.core.errors import Invalid

ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP")
MAX_PIXELS = 40_000_000  # decoded size limit: a tiny file may claim a huge canvas


def reencode_image(data: bytes, *, max_bytes: int, max_side: int) -> bytes:
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
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS) as source:
                if source.width * source.height > MAX_PIXELS:
                    raise Invalid("Ảnh có kích thước quá lớn.", code="bad_image")
                source.load()
                image = ImageOps.exif_transpose(source)
    except UnidentifiedImageError as exc:
        raise Invalid("Ảnh phải là tệp JPEG, PNG hoặc WebP.", code="bad_image") from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise Invalid("Ảnh có kích thước quá lớn.", code="bad_image") from exc
    except (OSError, ValueError, SyntaxError) as exc:
        raise Invalid("Tệp ảnh bị hỏng, không đọc được.", code="bad_image") from exc
    if image.mode not in ("RGB", "L"):
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        image = flat
    image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    image.convert("RGB").save(out, "JPEG", quality=82, optimize=True, progressive=True)
    return out.getvalue()
