"""What ``--target`` (and a sweep's ``targets``) means: an image, a folder, or a text.

A value is a path only when it names something that exists. Anything else is a text
description, whatever its length, script or punctuation ("a cat/dog hybrid", a 2,000-character
paragraph, 水墨画), with one exception: a single word with an image suffix in an existing
folder (``photos/cat.png`` when ``photos/`` exists) is a mistyped file name, refused as such.
Looking a value up never fails: a text too long for a file name, or with a NUL byte, is text.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from gan_adapt.errors import InputError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif")


def existing_path(value: str | Path) -> Path | None:
    """``value`` as an existing path, or None (also when it cannot be a path at all, and for
    an empty value, which would otherwise mean the current folder)."""
    if not str(value).strip():
        return None
    try:
        path = Path(value).expanduser()
        return path if path.exists() else None
    except (OSError, ValueError, RuntimeError):  # too long, a NUL byte, ~unknown-user
        return None


def _is_missing_file_name(value: str) -> bool:
    """One word ending in an image suffix, in a folder that exists: a file name, mistyped."""
    if any(ch.isspace() for ch in value) or not value.lower().endswith(IMAGE_SUFFIXES):
        return False
    return existing_path(Path(value).parent) is not None


def target_override(value: str) -> dict[str, str]:
    """The ``[target]`` table that ``--target VALUE`` stands for."""
    path = existing_path(value)
    if path is not None:
        if path.is_dir():
            return {"images": str(path.resolve())}
        if not path.is_file():  # a FIFO or a device: reading it would block or never end
            from gan_adapt.io.safe_paths import not_a_file_message, special_file_kind

            kind = special_file_kind(path) or "not a file or folder"
            raise InputError(not_a_file_message(path, kind, "--target image"))
        return {"image": str(path.resolve())}
    if _is_missing_file_name(value):
        raise InputError(f"--target {value}: no such file or folder (a text target would be "
                         "a description, with spaces)")
    if "/" in value or "\\" in value or value.lower().endswith(IMAGE_SUFFIXES):
        warnings.warn(f"--target {value[:80]!r} is not an existing file or folder; it is used "
                      "as a text description", stacklevel=1)
    return {"text": value}
