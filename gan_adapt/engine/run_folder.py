"""The run folder: one directory that holds everything needed to understand and repeat a run.

    recipe.toml          the resolved recipe (overrides applied)
    run.json             status, recipe source and folder, device, timestamps
    plugins.json         loaded plugins, versions, and what each registered
    environment.json     python, torch, device
    log.jsonl            one JSON object per logged step: every term's value
    target/              a copy of the target image(s): what readers of the folder show
    search/              w_ref.pt (the searched latent + RNG state), target_vs_reference.png
    samples/             step-NNNNNN.png: the same latents through G_s (top) and G_t (bottom)
    checkpoints/         step-NNNNNN.pt: everything a resume needs (atomic writes)
    generator/           the adapted generator (written last, atomically)
    metrics.json         final term values
"""

from __future__ import annotations

import json
import os
import platform
import re
import sys
import time
from pathlib import Path
from typing import Any

from gan_adapt.errors import GanAdaptError, InputError
from gan_adapt.io import atomic_files as files

#: The files a run writes into ``checkpoints/`` and ``samples/``: ``step-`` and at least six
#: digits (``step-000013.pt``, ``step-1000000.pt``). Anything else there is the user's: a
#: ``step-final.pt`` or ``step-000013 (copy).pt`` is never read, sorted, or deleted.
_STEP_FILE = re.compile(r"step-(\d{6,})")

#: The lock file of a run folder (held by the process that runs or resumes it).
LOCK_NAME = ".run.lock"


#: A log line is a few hundred bytes; a million steps' worth is far more than any run logs.
MAX_LOG_BYTES = 512 * 2 ** 20


def step_of(path: Path, suffix: str) -> int | None:
    """The step of a ``step-NNNNNN<suffix>`` file that a run wrote; None for any other name."""
    if not path.name.endswith(suffix):
        return None
    match = _STEP_FILE.fullmatch(path.name[:-len(suffix)])
    return int(match.group(1)) if match else None


def step_files(folder: Path, suffix: str) -> list[Path]:
    """The ``step-NNNNNN<suffix>`` files of ``folder`` by step (numerically), oldest first.

    Only regular files inside the run folder (``folder``'s parent) count: a link to a file
    elsewhere or a planted FIFO is not the run's, and is never read."""
    from gan_adapt.io.safe_paths import regular_inside

    if not folder.is_dir():
        return []
    found = [(step_of(p, suffix), p) for p in folder.iterdir()]
    return [p for step, p in sorted((s, p) for s, p in found if s is not None)
            if regular_inside(folder.parent, p)]


def sample_grids(root: Path) -> list[tuple[int, Path]]:
    """(step, path) of the run's sample grids, by step; other files in samples/ are ignored."""
    return [(step_of(path, ".png"), path) for path in step_files(root / "samples", ".png")]


class RunFolder:
    """Paths and writers of one run folder."""

    def __init__(self, root: str | Path, writer: bool = True) -> None:
        self.root = Path(root)
        # False in the other processes of a multi-process run: only rank 0 writes the folder.
        self.writer = writer
        self._lock_handle: Any = None  # the open lock file while this process holds the lock
        #: The run's identity (see :mod:`gan_adapt.engine.identity`), written into run.json
        #: and every checkpoint; None for a folder from before identities were recorded.
        self.identity: dict[str, Any] | None = None

    # -- paths ---------------------------------------------------------------------------
    @property
    def recipe(self) -> Path:
        return self.root / "recipe.toml"

    @property
    def meta(self) -> Path:
        return self.root / "run.json"

    @property
    def log(self) -> Path:
        return self.root / "log.jsonl"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def samples(self) -> Path:
        return self.root / "samples"

    @property
    def search(self) -> Path:
        return self.root / "search"

    @property
    def generator(self) -> Path:
        return self.root / "generator"

    # -- creation ------------------------------------------------------------------------
    def create(self, raw_recipe: dict[str, Any], meta: dict[str, Any], plugins: dict[str, Any],
               environment: dict[str, Any]) -> None:
        """Create the folder and write the run's metadata (refuses a non-empty folder)."""
        import tomli_w

        if self.root.exists() and not self.root.is_dir():
            raise InputError(f"output folder {self.root} exists and is a file, not a folder; "
                             "choose another --out")
        if self.root.exists() and any(self.root.iterdir()):
            raise InputError(f"output folder {self.root} exists and is not empty; choose another "
                             "--out, or continue that run with --resume")
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = self.root / ".write-test"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise InputError(f"cannot write to output folder {self.root}: {exc.strerror or exc}"
                             ) from None
        self.lock()
        # Another process may have created the same folder between the check and the lock.
        if any(p.name != LOCK_NAME for p in self.root.iterdir()):
            self.unlock()
            raise InputError(f"output folder {self.root} exists and is not empty; choose another "
                             "--out, or continue that run with --resume")
        files.write_text(self.recipe, tomli_w.dumps(raw_recipe))
        files.write_json(self.meta, meta)
        files.write_json(self.root / "plugins.json", plugins)
        files.write_json(self.root / "environment.json", environment)

    # -- lock ------------------------------------------------------------------------------
    def lock(self) -> None:
        """Hold the folder's lock until :meth:`unlock` or the end of the process.

        Two processes must never write one run folder (two resumes would interleave their
        checkpoints and logs): the second is refused. The lock is an ``flock`` on
        ``.run.lock``, so the system releases it when a process dies, even by SIGKILL.
        """
        import fcntl

        if not self.writer or self._lock_handle is not None:
            return
        path = self.root / LOCK_NAME
        try:
            handle = open(path, "a+", encoding="utf-8")
        except OSError as exc:
            raise InputError(f"cannot write to run folder {self.root}: {exc.strerror or exc}"
                             ) from None
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip()
            handle.close()
            who = f" (process {holder})" if holder.isdigit() else ""
            raise InputError(f"{self.root} is in use by another gan-adapt run{who}; wait for it "
                             "to finish, or stop it, before resuming") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._lock_handle = handle

    def running_process(self) -> str | None:
        """The id of a process holding this folder's lock now (a run still going), else None
        (see :func:`gan_adapt.io.run_status.running_process`)."""
        from gan_adapt.io.run_status import running_process

        return running_process(self.root)

    def unlock(self) -> None:
        """Release the lock taken by :meth:`lock` (the lock file stays, empty of meaning)."""
        handle = self._lock_handle
        if handle is not None:
            handle.close()  # closing the descriptor releases the flock
            self._lock_handle = None

    def remove_partial_writes(self) -> None:
        """Delete what a killed process was writing (temporary files, an unfinished generator
        folder); every complete file stays."""
        import shutil

        files.remove_partial_writes(self.root)
        for unfinished in self.root.glob(".generator-*"):
            shutil.rmtree(unfinished, ignore_errors=True)

    def read_meta(self) -> dict[str, Any]:
        """``run.json`` of an existing run, checked (see :mod:`.run_records`)."""
        from gan_adapt.engine.run_records import read_meta

        return read_meta(self.root)

    def update_meta(self, **changes: Any) -> None:
        if not self.writer:
            return
        meta = self.read_meta()
        meta.update(changes)
        files.write_json(self.meta, meta)

    # -- log -------------------------------------------------------------------------------
    def append_log(self, record: dict[str, Any]) -> None:
        """Append one JSON line (a crash can cut only the last line; resume drops it)."""
        if not self.writer:
            return
        try:
            with open(self.log, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(record) + "\n")
        except OSError as exc:
            raise files.WriteError(self.log, exc) from exc

    def read_log(self) -> list[dict[str, Any]]:
        """Every complete line of the log (read line by line, bounded like every record: see
        :mod:`gan_adapt.io.json_files`; a FIFO or a huge file is refused, never read; a link that
        leads out of the run folder reads as no log)."""
        import stat

        from gan_adapt.errors import DamagedRecordError
        from gan_adapt.io.json_files import damaged, depth
        from gan_adapt.io.safe_paths import (
            is_within,
            not_a_file_message,
            open_regular,
            special_file_kind,
        )

        if self.log.is_symlink() and not is_within(self.root, self.log):
            return []
        try:
            info = self.log.stat()
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise damaged(self.log, exc.strerror or str(exc)) from None
        if not stat.S_ISREG(info.st_mode):
            raise DamagedRecordError(not_a_file_message(
                self.log, special_file_kind(self.log) or "not a regular file", "log"))
        if info.st_size > MAX_LOG_BYTES:
            raise damaged(self.log, f"{info.st_size:,} bytes, far more than a run's log holds")
        records = []
        try:
            handle = open_regular(self.log)  # checked on the open file: no FIFO swapped in
        except OSError as exc:
            raise damaged(self.log, str(exc)) from None
        with handle:
            for raw in handle:
                try:
                    record = json.loads(raw.decode("utf-8", errors="replace"))
                except (json.JSONDecodeError, RecursionError):
                    break  # a line cut by a crash: everything after it is gone too
                if not isinstance(record, dict) or depth(record) > 2:
                    break  # a log record is one flat object of numbers and names
                records.append(record)
        return records

    def truncate_log(self, keep: Any) -> None:
        """Keep the log records for which ``keep(record)`` is true (used on resume)."""
        if not self.writer:
            return
        kept = [r for r in self.read_log() if keep(r)]
        files.write_text(self.log, "".join(json.dumps(r) + "\n" for r in kept))

    # -- checkpoints -------------------------------------------------------------------------
    def checkpoint_path(self, step: int) -> Path:
        return self.checkpoints / f"step-{step:06d}.pt"

    def list_checkpoints(self) -> list[Path]:
        """The checkpoints this run wrote, oldest first (by step, numerically); temporary
        files of a cut write and files of any other name are not listed."""
        return step_files(self.checkpoints, ".pt")

    def list_samples(self) -> list[Path]:
        """The sample grids this run wrote, by step (``samples/step-NNNNNN.png``)."""
        return step_files(self.samples, ".png")

    def load_state(self, path: Path, device: Any = "cpu") -> Any:
        """Read a checkpoint or ``search/w_ref.pt`` of this folder (``weights_only``).

        A run folder may come from someone else: a file that asks for code is refused with an
        UnsafeFileError naming the global (nothing is executed); a damaged one is a
        CheckpointError.
        """
        import pickle
        import re

        import torch

        from gan_adapt.errors import CheckpointError, UnsafeFileError
        from gan_adapt.io.safe_paths import is_within, not_a_file_message, special_file_kind
        from gan_adapt.weights.archive_kind import refuse_script_archive

        kind = special_file_kind(path)
        if kind:
            raise CheckpointError(not_a_file_message(path, kind, "checkpoint"))
        if not is_within(self.root, path):
            raise CheckpointError(f"{path} leads outside the run folder {self.root} (a link); "
                                  "it is not read")
        refuse_script_archive(path, str(path))
        try:
            return torch.load(path, map_location=device, weights_only=True)
        except pickle.UnpicklingError as exc:
            found = re.search(r"GLOBAL ([\w.]+)", str(exc))
            if found:
                raise UnsafeFileError(
                    f"Refused to load {path}: it asks for `{found.group(1)}`, which a gan-adapt "
                    "run never writes. Nothing from the file was executed; the run folder has "
                    "been tampered with.") from None
            raise CheckpointError(f"{path} is damaged ({str(exc).splitlines()[0]})") from None
        except Exception as exc:
            raise CheckpointError(f"{path} is damaged ({type(exc).__name__})") from None

    def check_identity(self, path: Path, checkpoint: Any) -> None:
        """Refuse a checkpoint (or ``search/w_ref.pt``) that another run wrote."""
        from gan_adapt.engine.identity import check_checkpoint

        if self.identity is None:
            return  # a folder from before identities: nothing to compare with
        recorded = checkpoint.get("identity") if isinstance(checkpoint, dict) else None
        check_checkpoint(path, recorded, self.identity)

    def save_checkpoint(self, state: dict[str, Any], step: int, keep: int) -> Path:
        """Write a checkpoint atomically, then delete all but the newest ``keep``."""
        if not self.writer:
            return self.checkpoint_path(step)
        path = files.torch_save(state, self.checkpoint_path(step))
        for old in self.list_checkpoints()[:-keep]:
            old.unlink(missing_ok=True)
        return path


def environment_record(device: Any) -> dict[str, Any]:
    """Versions and device, recorded in ``environment.json``."""
    import torch

    record = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "torch": torch.__version__,
        "device": str(device),
        "threads": torch.get_num_threads(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    if torch.cuda.is_available():
        record["cuda"] = torch.version.cuda
        record["gpu"] = torch.cuda.get_device_name(0)
    return record


def default_run_dir(recipe_name: str, base: str | Path = "runs") -> Path:
    """``runs/<recipe>-<timestamp>`` (a suffix is added if that folder exists).

    The recipe's name is made one harmless path component (``"../../x"`` cannot leave
    ``base``)."""
    from gan_adapt.io.safe_paths import folder_name

    name = folder_name(recipe_name)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = Path(base) / f"{name}-{stamp}"
    n = 1
    while path.exists():
        n += 1
        path = Path(base) / f"{name}-{stamp}-{n}"
    return path


def require_run_folder(path: str | Path) -> RunFolder:
    """An existing run folder, for ``--resume``; a clear error otherwise."""
    folder = RunFolder(path)
    if not folder.root.is_dir():
        raise GanAdaptError(f"--resume {folder.root}: no such run folder")
    folder.read_meta()
    if not folder.recipe.exists():
        raise GanAdaptError(f"--resume {folder.root}: the folder has no recipe.toml")
    return folder
