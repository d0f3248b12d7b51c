"""Paths that come from users: files that are not files, and names that are not names.

* A named pipe (FIFO), a device or a socket given where a file is expected (a checkpoint, a
  target image, a recipe or its ``extends``) would be read forever (``/dev/zero``) or block
  until someone writes to it. :func:`special_file_kind` lets each reader refuse it with its own
  error, without opening it.
* A recipe's or a sweep's ``name`` becomes a folder name under ``runs/`` or ``sweeps/``.
  :func:`folder_name` turns any string into one path component, so ``"../../x"`` or ``"/abs"``
  cannot place a folder anywhere else.
* A run folder may come from someone else. :func:`read_inside`, :func:`record_path` and
  :func:`regular_inside` keep every reader of it inside it: no link leading out, no absolute
  or ``..`` path from a record, no FIFO (:func:`open_regular` never blocks).
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import BinaryIO

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


# ---------------------------------------------------------------------------------------------
# Reading inside a folder that came from someone else
#
# A run folder is data that may come from someone else. Whatever gan-adapt shows, embeds or
# loads from it must come from *inside* it: a link ``samples/step-000001.png -> /etc/passwd``, a
# record naming ``/home/me/.ssh/id_rsa`` or ``../../x``, must not make gan-adapt read (and, in a
# report, embed) a file of the person who opens the folder. And a FIFO planted under a file name
# must not block the reader. Every reader of a folder's files goes through these helpers.

#: Largest file embedded or read whole from a folder (a sample grid is well under 1 MB).
MAX_INSIDE_BYTES = 64 << 20


def is_within(root: str | Path, path: str | Path) -> bool:
    """True when ``path``, with every symbolic link followed, lies inside ``root`` (its links
    followed too). False for anything that cannot be resolved."""
    try:
        real_root = Path(root).resolve()
        real = Path(path).resolve()
    except (OSError, RuntimeError, ValueError):  # a link loop, a NUL byte
        return False
    return real == real_root or real.is_relative_to(real_root)


def record_path(root: str | Path, value: object) -> Path | None:
    """``root / value`` for a path a folder's own record names, or None when the value is not a
    harmless relative path: not a string, empty, absolute, ``~user``, with a ``..`` part or a
    NUL byte, or leading (through links) outside ``root``. Missing files are not checked."""
    if not isinstance(value, str) or not value or "\x00" in value:
        return None
    relative = Path(value)
    if relative.is_absolute() or value.startswith("~") or ".." in relative.parts:
        return None
    path = Path(root) / relative
    return path if is_within(root, path) else None


def regular_inside(root: str | Path, path: str | Path) -> bool:
    """True for a regular file (not a FIFO, device, socket or folder) inside ``root``."""
    try:
        return is_within(root, path) and stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


def open_regular(path: str | Path) -> BinaryIO:
    """``open(path, "rb")`` for a regular file; OSError for anything else, without blocking.

    The file is opened non-blocking (a FIFO opens at once instead of waiting for a writer) and
    checked on the open descriptor, so it cannot be swapped for a pipe between check and read.
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = next((k for test, k in _KINDS if test(mode)),
                        "a folder" if stat.S_ISDIR(mode) else "not a regular file")
            raise OSError(f"{path} is {kind}, not a regular file")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_inside(root: str | Path, path: str | Path, limit: int = MAX_INSIDE_BYTES
                ) -> bytes | None:
    """The bytes of ``path`` if it is a regular file inside ``root`` of at most ``limit``
    bytes; None otherwise (missing, a link out of ``root``, a FIFO or device, too large,
    unreadable). Callers show None as "missing", the same for every reason, so that a folder
    cannot learn anything about files outside it from what gan-adapt says."""
    if not is_within(root, path):
        return None
    try:
        with open_regular(path) as handle:
            data = handle.read(limit + 1)
    except (OSError, ValueError):
        return None
    return data if len(data) <= limit else None
