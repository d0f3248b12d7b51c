"""Atomic file writes: a file is either absent, or complete.

Every output of a run goes through these helpers: the data is written to a temporary file in the
same folder, flushed to disk, then renamed over the destination (``os.replace`` is atomic on one
file system). An interrupted write, a full disk or a crash leaves the previous file intact.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gan_adapt.errors import GanAdaptError

#: Temporary files of :func:`atomic_write` are named ``.<name>.<random>.tmp``; a killed process
#: can leave one behind (never the destination file), which :func:`remove_partial_writes` deletes.
TEMP_SUFFIX = ".tmp"


class WriteError(GanAdaptError, OSError):
    """A file could not be written (disk full, no permission, ...).

    Nothing was half-written: the file's previous version, if it had one, is intact. Also an
    ``OSError``, so code that handled the original error keeps working.
    """

    def __init__(self, path: str | Path, cause: OSError) -> None:
        reason = cause.strerror or str(cause)
        super().__init__(cause.errno, reason, str(path))
        self.message = (f"cannot write {path}: {reason}. Nothing was half-written: the file's "
                        "previous version, if it had one, is unchanged.")

    def __str__(self) -> str:
        return self.message


def atomic_write(path: str | Path, write: Callable[[Any], None], mode: str = "wb") -> Path:
    """Call ``write(handle)`` on a temporary file, then rename it to ``path``.

    Raises :class:`WriteError` when the disk or the file system refuses the write.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    except OSError as exc:
        raise WriteError(path, exc) from exc
    try:
        with os.fdopen(fd, mode) as handle:
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; outputs get normal modes
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError) and not isinstance(exc, GanAdaptError):
            raise WriteError(path, exc) from exc
        raise
    return path


def remove_partial_writes(folder: str | Path) -> list[Path]:
    """Delete the temporary files that killed writers left under ``folder``; return them."""
    removed = []
    for tmp in Path(folder).rglob(f".*{TEMP_SUFFIX}"):
        if tmp.is_file():
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Atomically write ``data``."""
    return atomic_write(path, lambda h: h.write(data))


def write_text(path: str | Path, text: str) -> Path:
    """Atomically write ``text`` as UTF-8."""
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: str | Path, obj: Any) -> Path:
    """Atomically write ``obj`` as indented JSON."""
    return write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


def torch_save(obj: Any, path: str | Path) -> Path:
    """Atomically ``torch.save`` ``obj`` (serialised in memory first, then written)."""
    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return write_bytes(path, buffer.getvalue())
