"""Files people upload, after they have been checked and re-encoded: stored under
`MEDIA_DIR/<folder>/<random name>` (a shared volume when several processes serve)."""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

_NAME = re.compile(r"^[A-Za-z0-9_-]{16,64}\.(jpg|png|webp)$")


def save_media(media_dir: Path, folder: str, data: bytes, extension: str) -> str:
    """Write `data` atomically under a fresh random name; returns the name."""
    target_dir = media_dir / folder
    target_dir.mkdir(parents=True, exist_ok=True)
    name = f"{secrets.token_urlsafe(18)}.{extension}"
    tmp = target_dir / f".{name}.tmp"
    tmp.write_bytes(data)
    os.replace(tmp, target_dir / name)
    return name


def media_path(media_dir: Path, folder: str, name: str) -> Path | None:
    """The file for a stored name, or None for anything that is not one of ours."""
    if not _NAME.match(name):
        return None
    path = media_dir / folder / name
    return path if path.is_file() else None
