"""Weights the project trains itself and ships inside the package, loadable by name.

``gan_adapt/assets/manifest.json`` lists each shipped model: its kind (``generator`` or
``clip``), its folder under ``gan_adapt/assets`` and the size and sha256 of every file in it,
plus how it was made (the training command). :func:`path` checks every file against the
manifest before a loader reads it, so a damaged or swapped file is refused with a message that
says how to restore it, never loaded.

* ``portraits-stylegan2-32``: StyleGAN2 (G_ema and D) trained on the procedural portraits by
  ``python -m gan_adapt.training.portrait_gan``; a generator ``checkpoint`` value anywhere a
  path or a zoo name is accepted.
* ``portraits-clip``: a tiny open_clip CLIP trained on portraits in every known domain by
  ``python -m gan_adapt.training.portrait_clip``; ``clip`` encoder ``model = "portraits-clip"``
  with ``pretrained = "gan-adapt"`` (see :func:`gan_adapt.encoders.clip.build_clip`).
"""

from __future__ import annotations

import hashlib
import json
from functools import cache, lru_cache
from pathlib import Path

from gan_adapt.errors import CheckpointError

ASSETS = Path(__file__).resolve().parents[1] / "assets"
MANIFEST = ASSETS / "manifest.json"
#: The ``pretrained`` tag of the clip encoder that selects a shipped model.
CLIP_TAG = "gan-adapt"


@lru_cache(maxsize=1)
def _manifest() -> dict:
    from gan_adapt.io.json_files import read_object

    entries = read_object(MANIFEST, required=False, what="manifest of shipped models",
                          error=CheckpointError) or {}
    if not all(isinstance(e, dict) and isinstance(e.get("kind"), str) for e in entries.values()):
        raise CheckpointError(f"{MANIFEST} is damaged: each entry must be an object with a kind; "
                              "reinstall gan-adapt to restore it")
    return entries


def names(kind: str | None = None) -> list[str]:
    """Shipped model names (of one ``kind`` when given)."""
    return sorted(n for n, e in _manifest().items() if kind is None or e["kind"] == kind)


def lookup(name: str) -> dict | None:
    """The manifest entry of ``name``, or None."""
    return _manifest().get(str(name))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@cache
def _verified(name: str, stamp: tuple) -> Path:
    entry = lookup(name)
    folder = ASSETS / entry["folder"]
    for filename, expected in entry["files"].items():
        file = folder / filename
        restore = ("Restore it from the repository (git checkout -- gan_adapt/assets) or "
                   f"retrain it with `{entry.get('command', 'its training script')}`.")
        if not file.is_file():
            raise CheckpointError(f"The shipped model {name!r} is missing {file}. {restore}")
        size = file.stat().st_size
        if size != expected["size"]:
            raise CheckpointError(f"The shipped model {name!r} has {file} of {size} bytes, "
                                       f"expected {expected['size']}. {restore}")
        digest = _sha256(file)
        if digest != expected["sha256"]:
            raise CheckpointError(f"The shipped model {name!r} has {file} with sha256 "
                                       f"{digest}, expected {expected['sha256']}. {restore}")
    return folder


def path(name: str) -> Path:
    """The folder of the shipped model ``name``, after checking every file's size and sha256
    (once per process and file version)."""
    entry = lookup(name)
    if entry is None:
        raise KeyError(name)
    folder = ASSETS / entry["folder"]
    stamp = tuple((f, (folder / f).stat().st_mtime_ns) if (folder / f).exists() else (f, None)
                  for f in entry["files"])
    return _verified(str(name), stamp)


def record(name: str, kind: str, source: Path, description: str, command: str,
           extra: dict | None = None) -> Path:
    """Copy ``source`` (a model folder) into the assets as ``name`` and pin its files' sizes
    and sha256 in the manifest (used by the training scripts' ``--ship``)."""
    import shutil

    target = ASSETS / name
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target)
    entry = {"kind": kind, "folder": name, "description": description, "command": command,
             "files": {f.name: {"size": f.stat().st_size, "sha256": _sha256(f)}
                       for f in sorted(target.iterdir()) if f.is_file()},
             **(extra or {})}
    manifest = dict(_manifest())
    manifest[name] = entry
    MANIFEST.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    _manifest.cache_clear()
    _verified.cache_clear()
    return target
