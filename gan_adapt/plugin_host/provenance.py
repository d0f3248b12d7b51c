"""Runs remember their plugins, without making a run folder a way to run code.

``plugins.json`` of every run folder records each loaded plugin with the file or package folder
its code lives in and a SHA-256 of that content, and each ``--plugins-dir`` folder with a hash of
every ``*.py`` file in it.

A run folder is *data*: someone else's folder (copied, downloaded) must never make gan-adapt
import the code it names. So the folders in ``plugins.json`` are loaded again only for runs this
user made on this machine, which the *trust record* ``$GAN_ADAPT_HOME/trusted-runs.json`` lists
(each run folder's absolute path with the hash of its ``plugins.json``, written when the run is
created, like Jupyter's trusted notebooks). For such a run, ``run --resume``, ``eval``,
``compare`` and ``translate`` load those plugin folders without being told again; for any other
folder they load nothing extra and print the exact ``--plugins-dir`` options to add.

Trust pins *content*, not folders: a trusted run's folders are loaded only if every ``*.py``
file in them is exactly one that ``plugins.json`` recorded (:func:`pinned_files`). Each file is
read once, checked, and compiled from those very bytes (no ``__pycache__`` file stands in for
it), so an added, changed or removed file is refused by name before any code of the folder is
imported. A resume whose plugin code changed since the run started (a different hash) is
refused, unless ``--allow-changed-plugins`` says to go on.
"""

from __future__ import annotations

import hashlib
import inspect
import sys
from pathlib import Path
from typing import Any

from gan_adapt.errors import GanAdaptError
from gan_adapt.io import atomic_files as files

TRUST_FILE = "trusted-runs.json"


# ---------------------------------------------------------------------------------------------
# Content hashes


def content_hash(path: str | Path) -> str | None:
    """SHA-256 of a file, or of a folder's ``*.py`` files (relative names and bytes, sorted);
    None when the path cannot be read."""
    path = Path(path)
    digest = hashlib.sha256()
    try:
        if path.is_file():
            digest.update(path.read_bytes())
            return digest.hexdigest()
        if not path.is_dir():
            return None
        for source in sorted(p for p in path.rglob("*.py") if "__pycache__" not in p.parts):
            digest.update(source.relative_to(path).as_posix().encode() + b"\0")
            digest.update(source.read_bytes() + b"\0")
    except OSError:
        return None
    return digest.hexdigest()


def plugin_code_path(plugin: Any) -> Path | None:
    """Where a plugin's code lives: its package folder (the top-level package of its module,
    so every module of an installed plugin counts), or its single file."""
    module = plugin if inspect.ismodule(plugin) else inspect.getmodule(type(plugin))
    if module is None or not getattr(module, "__file__", None):
        return None
    top = sys.modules.get(module.__name__.split(".")[0])
    if top is not None and top is not module and getattr(top, "__file__", None) \
            and Path(top.__file__).name == "__init__.py":
        return Path(top.__file__).parent.resolve()
    return Path(module.__file__).resolve()


def plugins_record(plugin_set: Any) -> dict[str, Any]:
    """What ``plugins.json`` records: every plugin (version, origin, components, code path and
    its hash), every ``--plugins-dir`` folder (each file's hash) and the failures."""
    plugins = {}
    for name, info in plugin_set.plugins.items():
        entry: dict[str, Any] = {"version": info.version, "origin": info.origin,
                                 "components": [f"{k}:{n}" for k, n in info.components]}
        path = plugin_code_path(plugin_set.manager.get_plugin(name))
        if path is not None and info.origin != "builtin":
            entry["path"], entry["sha256"] = str(path), content_hash(path)
        plugins[name] = entry
    folders = [{"path": str(folder), "files": {p.name: content_hash(p)
                                               for p in sorted(folder.glob("*.py"))}}
               for folder in getattr(plugin_set, "folders", [])]
    return {"plugins": plugins, "plugins_dirs": folders,
            "failures": {f.name: f.error for f in plugin_set.failures}}


# ---------------------------------------------------------------------------------------------
# Trust record


def _trust_file() -> Path:
    from gan_adapt.weights.download import cache_dir

    return cache_dir() / TRUST_FILE


def _read_trust() -> dict[str, str]:
    from gan_adapt.io.json_files import read_object

    try:  # an unreadable trust record trusts nothing: the plugins must then be named again
        runs = (read_object(_trust_file(), required=False, what="trust record") or {}
                ).get("runs", {})
    except GanAdaptError:
        return {}
    return runs if isinstance(runs, dict) else {}


def _record_hash(run_dir: Path) -> str | None:
    return content_hash(run_dir / "plugins.json")


def trust_run(run_dir: str | Path) -> None:
    """Record ``run_dir`` (just created by this user) as trusted. Never fails a run: a cache
    folder that cannot be written only means the run's plugins must be named again later."""
    run_dir = Path(run_dir).resolve()
    digest = _record_hash(run_dir)
    if digest is None:
        return
    runs = _read_trust()
    runs[str(run_dir)] = digest
    try:
        _trust_file().parent.mkdir(parents=True, exist_ok=True)
        files.write_json(_trust_file(), {"runs": runs})
    except (OSError, GanAdaptError):
        pass


def is_trusted(run_dir: str | Path) -> bool:
    """True for a run folder this user created here, whose ``plugins.json`` is unchanged."""
    run_dir = Path(run_dir).resolve()
    recorded = _read_trust().get(str(run_dir))
    return recorded is not None and recorded == _record_hash(run_dir)


def read_record(run_dir: str | Path) -> dict[str, Any]:
    """The run folder's ``plugins.json`` ({} when missing); a damaged one is refused with one
    line (:mod:`gan_adapt.io.json_files`)."""
    from gan_adapt.io.json_files import read_object

    return read_object(Path(run_dir) / "plugins.json", required=False,
                       what="record of a run") or {}


def _recorded_dirs(record: dict[str, Any]) -> list[str]:
    dirs = record.get("plugins_dirs", [])
    if not isinstance(dirs, list):
        return []
    return [d["path"] for d in dirs if isinstance(d, dict) and isinstance(d.get("path"), str)]


def remembered_plugin_dirs(run_dir: str | Path, given: tuple[str, ...] = ()
                           ) -> tuple[list[str], str]:
    """The ``--plugins-dir`` folders to load for ``run_dir`` on top of ``given``, and a note.

    A trusted run gets its recorded folders back (those that still exist). Any other run gets
    none, and the note names the exact options to add (only folders not given already).
    """
    record = read_record(run_dir)
    given_resolved = {str(Path(g).resolve()) for g in given}
    wanted = [d for d in _recorded_dirs(record) if str(Path(d).resolve()) not in given_resolved]
    if not wanted:
        return [], ""
    if is_trusted(run_dir):
        present = [d for d in wanted if Path(d).is_dir()]
        gone = [d for d in wanted if d not in present]
        note = (f"the plugin folder(s) this run was made with no longer exist: "
                f"{', '.join(gone)}" if gone else "")
        return present, note
    options = " ".join(f"--plugins-dir {_quote(d)}" for d in wanted)
    return [], (f"{Path(run_dir)} was not made by you on this machine (or its plugins.json "
                f"changed), so its plugin code is not loaded. If you trust it, add: {options}")


def pinned_files(run_dir: str | Path, folders: list[str] | tuple[str, ...]
                 ) -> dict[str, dict[str, str]]:
    """For a trusted run: each of ``folders`` that its ``plugins.json`` records, by resolved
    path, with the files (name -> SHA-256) it must hold. {} for any other run, whose record
    is not this user's word about anything."""
    if not is_trusted(run_dir):
        return {}
    record = read_record(run_dir)
    dirs = record.get("plugins_dirs", [])
    recorded: dict[str, dict[str, str]] = {}
    for entry in dirs if isinstance(dirs, list) else []:
        if isinstance(entry, dict) and isinstance(entry.get("path"), str):
            files_ = entry.get("files")
            files_ = files_ if isinstance(files_, dict) else {}
            recorded[str(Path(entry["path"]).resolve())] = {
                str(k): str(v) for k, v in files_.items()}
    wanted = {str(Path(f).resolve()) for f in folders}
    return {folder: pins for folder, pins in recorded.items() if folder in wanted}


def _quote(path: str) -> str:
    import shlex

    return shlex.quote(path)


# ---------------------------------------------------------------------------------------------
# Resume: unchanged plugin code


def changed_plugins(run_dir: str | Path, plugin_set: Any) -> list[str]:
    """What differs between the plugin code recorded in ``run_dir`` and ``plugin_set``'s:
    one line per plugin or loose file whose hash changed, that is missing, or that is new."""
    record = read_record(run_dir)
    recorded = record.get("plugins", {}) if isinstance(record.get("plugins"), dict) else {}
    now = plugins_record(plugin_set)["plugins"]
    changes = []
    for name, entry in recorded.items():
        if not isinstance(entry, dict) or "sha256" not in entry:
            continue  # built-in plugins and runs from before hashes were recorded
        current = now.get(name)
        if current is None:
            changes.append(f"plugin {name!r} ({entry.get('path', '?')}) is not loaded now")
        elif current.get("sha256") != entry["sha256"]:
            changes.append(f"plugin {name!r}: the code in {current.get('path', '?')} changed")
    return changes


def check_resume_plugins(run_dir: str | Path, plugin_set: Any, allow_changed: bool) -> list[str]:
    """Refuse a resume whose plugin code changed (GanAdaptError listing what changed), unless
    ``allow_changed``; then return the changes (for a warning)."""
    changes = changed_plugins(run_dir, plugin_set)
    if changes and not allow_changed:
        raise GanAdaptError(
            f"the plugin code of {Path(run_dir)} changed since the run started: "
            + "; ".join(changes) + ". A resume continues the run exactly as it was started; "
            "restore the plugins, start a new run, or continue anyway with "
            "--allow-changed-plugins (the result then mixes two versions of the code).")
    return changes
