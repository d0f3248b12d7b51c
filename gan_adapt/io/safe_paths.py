"""Paths that come from users: files that are not files, and names that are not names.

* A named pipe (FIFO), a device or a socket given where a file is expected (a checkpoint, a
  target image, a recipe or its ``extends``) would be read forever (``/dev/zero``) or block
  until someone writes to it. :func:`special_file_kind` lets each reader refuse it with its own
  error, without opening it.
* A recipe's or a sweep's ``name`` becomes a folder name under ``runs/`` or ``sweeps/``.
  :func:`folder_name` turns any string into one path component, so ``"../../x"`` or ``"/abs"``
  cannot place a folder anywhere else.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

_KINDS = ((stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))

#: Longest folder name we make, in bytes (file systems allow 255; a timestamp is appended).
MAX_NAME_BYTES = 120


def special_file_kind(path: str | Path) -> str | None:
    """``"a named pipe (FIFO)"``, ``"a character device"``, ... if ``path`` (followed through
    symbolic links) is one; None for a regular file, a folder, or a path that does not exist."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):  # missing, too long, a NUL byte: the reader reports it
        return None
    for test, kind in _KINDS:
        if test(mode):
            return kind
    return None


def not_a_file_message(path: str | Path, kind: str, what: str) -> str:
    """The one-line refusal of a special file given as ``what`` ("checkpoint", ...)."""
    return (f"{path} is {kind}, not a regular file; a {what} must be a file (reading this "
            "would block or never end)")


def folder_name(name: str, fallback: str = "run") -> str:
    """``name`` as a single, harmless path component.

    Path separators, ``..``, leading dots, control characters and NUL become ``-``; the
    result is at most :data:`MAX_NAME_BYTES` bytes of UTF-8 and never empty (``fallback``).
    """
    text = re.sub(r"[\x00-\x1f\x7f/\\:]+", "-", str(name))
    text = re.sub(r"\.{2,}", "-", text).strip(" .-")
    encoded = text.encode("utf-8")[:MAX_NAME_BYTES]
    text = encoded.decode("utf-8", "ignore").strip(" .-")
    return text or fallback
