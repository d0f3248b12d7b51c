"""The one reader of every JSON file gan-adapt reads: bounded in size, encoding and depth.

Run records (``run.json``, ``eval.json``, ``metrics.json``, ``plugins.json``...), the weights
manifests, model configs and sweep records may be copied, edited by hand, cut short by a full
disk or come from someone else. :func:`read_json` reads each of them the same way, for the CLI
and the Python API alike, and refuses a damaged file with one line naming it and the problem::

    runs/x/eval.json is damaged: not UTF-8 text

* size: at most ``max_bytes`` (a record is kilobytes; a huge file is not read into memory);
* special files (a FIFO would block the reader forever) and folders are refused unread;
* encoding: UTF-8; syntax: JSON;
* depth: at most :data:`MAX_DEPTH` levels (deep data exhausts recursion in whoever walks it);
* type: ``expect=dict`` (or ``list``) refuses a list where an object belongs.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

from gan_adapt.errors import DamagedRecordError, GanAdaptError

#: A record is a few kilobytes; anything far larger is not one (and is not read into memory).
MAX_BYTES = 16 * 2 ** 20
#: Deeper than any file gan-adapt writes (the deepest, plugins.json, has 5 levels).
MAX_DEPTH = 32

_TYPE_NAMES = {dict: "a JSON object", list: "a JSON array"}


def damaged(path: Path, what: str, error: type[GanAdaptError] = DamagedRecordError
            ) -> GanAdaptError:
    """The one-line error of a damaged JSON file."""
    return error(f"{path} is damaged: {what}")


def read_json(path: str | Path, *, required: bool = True, expect: type | None = None,
              what: str = "record", max_bytes: int = MAX_BYTES,
              error: type[GanAdaptError] = DamagedRecordError) -> Any:
    """The JSON value in ``path``, checked; None when the file is absent and not ``required``.

    ``expect`` (``dict`` or ``list``) is the type the value must have; ``what`` names the
    file's kind in messages ("record of a run"); ``error`` is the error class raised.
    """
    path = Path(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        if required:
            raise error(f"{path} is missing") from None
        return None
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the path
        raise damaged(path, getattr(exc, "strerror", None) or str(exc), error) from None
    if not stat.S_ISREG(info.st_mode):
        from gan_adapt.io.safe_paths import not_a_file_message, special_file_kind

        kind = special_file_kind(path) or ("a folder" if stat.S_ISDIR(info.st_mode)
                                           else "not a regular file")
        raise error(not_a_file_message(path, kind, what))
    if info.st_size > max_bytes:
        raise damaged(path, f"{info.st_size:,} bytes, far more than a {what} holds", error)
    from gan_adapt.io.safe_paths import open_regular

    try:
        with open_regular(path) as handle:  # non-blocking, checked on the open file
            data = handle.read(max_bytes + 1)  # the file may have grown since stat()
        if len(data) > max_bytes:
            raise damaged(path, f"more than {max_bytes:,} bytes, far more than a {what} holds",
                          error)
        value = json.loads(data.decode("utf-8"))
    except OSError as exc:
        raise damaged(path, exc.strerror or str(exc), error) from None
    except UnicodeDecodeError:
        raise damaged(path, "not UTF-8 text", error) from None
    except json.JSONDecodeError as exc:
        raise damaged(path, f"not valid JSON ({exc.msg} at line {exc.lineno} column "
                            f"{exc.colno})", error) from None
    except RecursionError:
        raise damaged(path, "JSON nested too deeply", error) from None
    if depth(value) > MAX_DEPTH:
        raise damaged(path, f"JSON nested too deeply (more than {MAX_DEPTH} levels)", error)
    if expect is not None and not isinstance(value, expect):
        raise damaged(path, f"expected {_TYPE_NAMES.get(expect, expect.__name__)}, found "
                            f"{_json_type(value)}", error)
    return value


def read_object(path: str | Path, **options: Any) -> dict[str, Any] | None:
    """:func:`read_json` of a file that holds one JSON object."""
    return read_json(path, expect=dict, **options)


def depth(value: Any) -> int:
    """How deeply lists and dicts nest in ``value`` (0 for a scalar), without recursion."""
    deepest = 0
    stack = [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            level += 1
            deepest = max(deepest, level)
            stack += [(child, level) for child in item if isinstance(child, (dict, list))]
    return deepest


def _json_type(value: Any) -> str:
    names = {dict: "a JSON object", list: "a JSON array", str: "a string", bool: "a boolean",
             int: "a number", float: "a number", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def read_object_or_none(path: str | Path) -> dict[str, Any] | None:
    """The JSON object in ``path``, or None when it is missing or damaged: for summaries (a
    sweep's table) that show what they can and mark the rest, never for a value a run uses."""
    try:
        return read_object(path, required=False)
    except GanAdaptError:
        return None
