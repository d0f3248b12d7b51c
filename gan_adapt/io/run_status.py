"""Is a run folder finished, still running, or stopped? Answered from ``run.json`` and the
folder's lock alone, without torch or any plugin, so that a command given an unfinished run
says so at once (importing torch can take most of a minute on a busy machine).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from gan_adapt.errors import InputError

#: The lock file a writing process holds (an ``flock``; see ``RunFolder.lock``).
LOCK_NAME = ".run.lock"
_MAX_RECORD = 1 << 20  # run.json is a few hundred bytes; never read a huge file whole
#: What the engine writes into run.json's ``status`` (engine/launch, loop, failure_notes).
RUN_STATUSES = ("created", "running", "interrupted", "failed", "done")


def running_process(root: str | Path) -> str | None:
    """The process id (text; ``"?"`` when unrecorded) of the process that holds the folder's
    lock now, i.e. a run still going; None when no process holds it. Takes no lock that
    outlives the call, and never waits."""
    import fcntl

    try:
        fd = os.open(Path(root) / LOCK_NAME, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None  # no lock file (or not a plain file): nobody ever locked the folder
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(fd, 32).decode("ascii", "replace").strip()
            return holder if holder.isdigit() else "?"
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def require_finished(root: str | Path) -> None:
    """InputError when the run folder ``root`` is not finished: a run still going says so (a
    resume would be refused while it runs); a stopped one names the command that continues it.
    Folders without a readable ``run.json`` are left to the full checks that follow."""
    root = Path(root)
    status = _status(root)
    if status is None:
        return
    result = root / "result.json"
    if status == "done" and (result.exists() or result.is_symlink()):
        return
    holder = running_process(root)
    if holder is not None:
        who = f"process {holder}" if holder != "?" else "another process"
        raise InputError(f"{root} is still running ({who}; {_progress(root)}): evaluate it "
                         "once it has finished")
    raise InputError(f"{root} has no adapted generator yet (run status: {status}, "
                     f"{_progress(root)}); finish it first: gan-adapt run --resume {root}")


def _status(root: Path) -> str | None:
    """run.json's status; None when there is no run.json or its status is not a text (the full
    checks that follow name what is wrong). A damaged run.json is refused here by the one
    bounded reader, naming the file."""
    from gan_adapt.io.json_files import read_json

    record = read_json(root / "run.json", required=False, what="record of a run",
                       max_bytes=_MAX_RECORD)
    if not isinstance(record, dict):
        return None
    status = record.get("status")
    # Only the statuses the engine writes; anything else is a damaged record, which the full
    # checks that follow name (with the field that is wrong).
    return status if status in RUN_STATUSES else None


def _progress(root: Path) -> str:
    """``adapt step 120 logged`` from the log's last line (reads only the file's tail)."""
    try:
        with open(root / "log.jsonl", "rb") as handle:
            handle.seek(0, 2)
            handle.seek(max(0, handle.tell() - 4096))
            last = handle.read().decode("utf-8", "replace").strip().splitlines()[-1]
        record = json.loads(last)
        return f"{record.get('phase', '?')} step {int(record.get('step', 0)) + 1} logged"
    except (OSError, IndexError, ValueError, TypeError, AttributeError):
        return "no step logged yet"
