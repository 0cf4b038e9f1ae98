"""Picture uploads: time and peak memory of re-encoding one upload
(app.learning.images.reencode_image) for large legitimate pictures and for the decoded-size
attack, each as a ratio against a small picture measured in the same run.

Run: .venv/bin/python bench/uploads.py [--repeat N] [--module PATH]
(default: 3 runs per picture, the best time kept). --module measures another version of
app/learning/images.py (e.g. `git show HEAD~1:app/learning/images.py > /tmp/old.py`).

Each picture is measured in a fresh process, after a warm-up on the small picture, so
that imports and allocator arenas are not counted. Peak memory is the process's peak
resident set (VmHWM, reset through /proc/self/clear_refs just before the call) minus its
resident set at that moment: that is what one upload adds to a worker. Pillow allocates
pixels outside Python's allocator, so tracemalloc's peak (also printed) sees only the
Python-side copies of the bytes.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import json
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import tracemalloc
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MAX_BYTES = 6 * 1024 * 1024  # the default UPLOAD_MAX_BYTES
MAX_SIDE = 1600  # the default IMAGE_MAX_SIDE


def _status(field: str) -> int:
    """A /proc/self/status figure in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(field)


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


# ---- the pictures ---------------------------------------------------------------------------


def _photo(width: int, height: int, mode: str = "RGB"):
    """Something like a photo: gradients, shapes and fine noise (noise makes JPEGs as large
    as a phone's; PNGs get a lighter noise so that they stay within the upload limit)."""
    from PIL import Image, ImageDraw, ImageFilter

    small = Image.new("RGB", (width // 8, height // 8))
    draw = ImageDraw.Draw(small)
    for i in range(0, small.width, 7):
        draw.line((i, 0, small.width - i, small.height), fill=(i % 256, (3 * i) % 256, 120))
    for i in range(40):
        x, y = (i * 97) % small.width, (i * 53) % small.height
        draw.ellipse((x, y, x + 60, y + 40), fill=((i * 40) % 256, 90, (i * 17) % 256))
    image = small.filter(ImageFilter.GaussianBlur(2)).resize((width, height))
    if mode == "RGBA":
        image.putalpha(Image.linear_gradient("L").resize((width, height)))
    return image


def _noisy(image, sigma: float):
    from PIL import Image

    noise = Image.effect_noise(image.size, sigma).convert(image.mode.replace("A", ""))
    blended = Image.blend(image.convert(noise.mode), noise, 0.18)
    if image.mode == "RGBA":
        blended.putalpha(image.getchannel("A"))
    return blended


def _exif_rotated():
    from PIL import Image

    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "Phone"
    return exif


def make_pictures(folder: Path) -> list[tuple[str, Path, str]]:
    """(label, file, what is expected) for every case."""

    cases = []

    def save(label: str, image, fmt: str, expect: str, **params) -> None:
        path = folder / f"{len(cases):02d}.{fmt.lower()}"
        image.save(path, fmt, **params)
        cases.append((label, path, expect))

    save("small 640×480 JPEG (baseline)", _noisy(_photo(640, 480), 40), "JPEG", "ok", quality=88)
    photo = _noisy(_photo(4032, 3024), 40)
    save("12 MP phone photo (JPEG, EXIF)", photo, "JPEG", "ok", quality=88, exif=_exif_rotated())
    save("12 MP JPEG, progressive", photo, "JPEG", "ok", quality=88, progressive=True)
    photo = _noisy(_photo(6000, 4000), 30)
    save("24 MP phone photo (JPEG)", photo, "JPEG", "ok", quality=85)
    save(
        "24 MP JPEG, progressive 4:4:4",
        photo,
        "JPEG",
        "refused",
        quality=70,
        progressive=True,
        subsampling=0,
    )
    photo = _photo(6000, 4000)
    save("24 MP PNG, RGB", photo, "PNG", "refused", compress_level=9)
    save("24 MP PNG, palette", photo.quantize(64), "PNG", "ok", compress_level=9)
    photo = _photo(4896, 3264, "RGBA")
    save("16 MP PNG, RGBA (transparent)", photo, "PNG", "ok", compress_level=9)
    save("4 MP WebP", _photo(2304, 1728), "WEBP", "ok", quality=85)
    del photo
    path = folder / "bomb.png"
    path.write_bytes(png_canvas(6300, 6300))
    cases.append(("39.7 MP PNG of 150 KB (the attack)", path, "refused"))
    return cases


def png_canvas(width: int, height: int) -> bytes:
    """A valid RGB PNG that claims a `width` × `height` canvas, written without holding
    its pixels (as tests/test_hardening_files.py builds it)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body)
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    row = bytes(1 + 3 * width)
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


# ---- one measurement (a child process) -------------------------------------------------------


def _load(module: str | None):
    if module is None:
        from app.learning import images

        return images
    spec = importlib.util.spec_from_file_location("images_under_test", module)
    images = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(images)
    return images


def measure(path: Path, warmup: Path, repeat: int, module: str | None) -> dict:
    images = _load(module)
    data = path.read_bytes()

    def run(payload: bytes) -> str:
        try:
            out = images.reencode_image(payload, max_bytes=MAX_BYTES, max_side=MAX_SIDE)
        except Exception as exc:  # an Invalid: the refusal is what is measured
            return f"refused ({getattr(exc, 'status_code', '?')})"
        from PIL import Image

        with Image.open(io.BytesIO(out)) as stored:
            return f"{stored.size[0]}×{stored.size[1]}, {len(out) // 1024} KB"

    run(warmup.read_bytes())
    best, peak_rss, peak_traced, outcome = float("inf"), 0, 0, ""
    for _ in range(repeat):
        exact = _reset_peak()
        before = _status("VmRSS")
        tracemalloc.start()
        start = time.perf_counter()
        outcome = run(data)
        best = min(best, time.perf_counter() - start)
        peak_traced = max(peak_traced, tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        peak_rss = max(peak_rss, _status("VmHWM") - before)
    return {
        "bytes": len(data),
        "seconds": best,
        "peak_rss": peak_rss,
        "peak_traced": peak_traced,
        "outcome": outcome,
        "exact_peak": exact,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--module")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--warmup", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(Path(args.measure), Path(args.warmup), args.repeat, args.module)))
        return

    folder = Path(tempfile.mkdtemp(prefix="bench-uploads-"))
    cases = make_pictures(folder)
    warmup = cases[0][1]
    rows = []
    for label, path, expect in cases:
        command = [sys.executable, __file__, "--measure", str(path), "--warmup", str(warmup)]
        command += ["--repeat", str(args.repeat)]
        if args.module:
            command += ["--module", args.module]
        result = json.loads(subprocess.run(command, check=True, capture_output=True).stdout)
        rows.append((label, expect, result))
    base = rows[0][2]
    mib = 1024 * 1024
    print(
        f"{'picture':44} {'file':>8} {'time':>9} {'×base':>7} {'peak RSS':>9} {'×base':>6}"
        f" {'traced':>8}  result"
    )
    for label, expect, r in rows:
        print(
            f"{label:44} {r['bytes'] / 1024:7.0f}K {r['seconds'] * 1000:7.0f}ms"
            f" {r['seconds'] / base['seconds']:6.1f}× {r['peak_rss'] / mib:7.1f}M"
            f" {r['peak_rss'] / max(base['peak_rss'], 1):5.1f}× {r['peak_traced'] / mib:7.1f}M"
            f"  {r['outcome']} (expected: {expect})"
        )
    if not base["exact_peak"]:
        print("(peak RSS not reset per case: /proc/self/clear_refs is not writable here)")
    worst = max(r["peak_rss"] for _, expect, r in rows)
    print(f"largest peak for one upload: {worst / mib:.1f} MiB (budget 100 MiB)")
    shutil.rmtree(folder)


if __name__ == "__main__":
    main()
