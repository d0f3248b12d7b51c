"""A run's identity: what a run folder, and each of its checkpoints, claims to be a run of.

A resume continues a run exactly as it started, so before it trusts a folder it checks that the
folder still describes the same run: the same resolved recipe and the same target. The identity
is one ``identity`` entry, recorded in ``run.json`` and in every checkpoint::

    {"recipe":   sha256 of the whole resolved recipe,
     "results":  sha256 of the recipe without [output] (what can change the weights),
     "sections": {top-level recipe key: sha256},   # to name what changed
     "target":   sha256 of the target image(s) or text}

Other streams of gan-adapt add parts beside these (for example the hashes of loose plugin
files): :func:`differences` compares every part either side records, so a new part is checked
without any change here.

Only ``[output]`` (how often samples and checkpoints are written, how many are kept) cannot
change the adapted weights; an explicit ``--allow-output-changes`` accepts such an edit.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from gan_adapt.errors import GanAdaptError
from gan_adapt.io.safe_paths import special_file_kind

#: Recipe sections that only decide what is written, never the weights.
RESULT_NEUTRAL_SECTIONS = ("output",)

#: Identity parts that :func:`differences` does not compare one by one: ``recipe`` is judged
#: through ``results`` (so an [output]-only edit can be allowed) and ``sections`` only names.
_DERIVED_PARTS = ("recipe", "sections")


class IdentityMismatch(GanAdaptError):
    """A run folder (or a checkpoint in it) does not belong to the run it claims to be."""


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str, ensure_ascii=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def recipe_hashes(raw_recipe: dict[str, Any]) -> dict[str, Any]:
    """``recipe``, ``results`` and ``sections`` hashes of a resolved recipe dict."""
    results = {k: v for k, v in raw_recipe.items() if k not in RESULT_NEUTRAL_SECTIONS}
    return {"recipe": _digest(raw_recipe), "results": _digest(results),
            "sections": {k: _digest(v) for k, v in sorted(raw_recipe.items())}}


def _file_digest(path: Path, hasher: Any) -> None:
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            hasher.update(chunk)


def target_hash(target: Any, base_dir: Path) -> str:
    """sha256 of what the target *is*: the image file's bytes, every file of a target folder
    (names and bytes), or the texts. A missing file hashes as missing (the resume then reports
    the change; the run's own loading reports the missing file)."""
    hasher = hashlib.sha256()
    for key in ("text", "source_text"):
        hasher.update(f"{key}={getattr(target, key, None)!r}\n".encode())
    for key in ("image", "images"):
        value = getattr(target, key, None)
        if not value:
            continue
        path = base_dir / Path(value).expanduser()
        hasher.update(f"{key}\n".encode())
        members = sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]
        for member in members:
            hasher.update(f"{member.name}\n".encode("utf-8", "surrogateescape"))
            if special_file_kind(member):  # never opened: reading it could block forever
                hasher.update(b"<not a file>")
                continue
            try:
                _file_digest(member, hasher)
            except OSError:
                hasher.update(b"<unreadable>")
    return hasher.hexdigest()


def run_identity(validated: Any) -> dict[str, Any]:
    """The identity of a validated recipe (``ValidatedRecipe``): recipe and target hashes."""
    identity = recipe_hashes(validated.raw)
    identity["target"] = target_hash(validated.recipe.target, Path(validated.base_dir))
    return identity


def differences(recorded: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """What differs between two identities, in words; empty when they are the same run.

    An [output]-only recipe edit is reported as ``"output"`` alone, so that a caller can allow
    it (see :func:`check_resume_identity`).
    """
    changed: list[str] = []
    if recorded.get("recipe") != current.get("recipe"):
        old, new = recorded.get("sections") or {}, current.get("sections") or {}
        sections = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
        if recorded.get("results") != current.get("results"):
            shown = [s for s in sections if s not in RESULT_NEUTRAL_SECTIONS] or ["recipe"]
            changed.append("recipe [" + ", ".join(shown) + "]")
        else:
            changed.append("output")
    for part in sorted(set(recorded) | set(current)):
        if part in _DERIVED_PARTS or part == "results":
            continue
        if recorded.get(part) != current.get(part):
            changed.append(part)
    return changed


def check_resume_identity(folder_root: Path, recorded: dict[str, Any] | None,
                          current: dict[str, Any], allow_output_changes: bool = False) -> bool:
    """Refuse to resume a folder whose recipe or target changed since the run started.

    Returns True when the recorded identity should be updated (an allowed [output] edit).
    A folder from before identities were recorded (``recorded`` None) is accepted as is.
    """
    if recorded is None:
        return False
    if not isinstance(recorded, dict):
        raise IdentityMismatch(f"{folder_root / 'run.json'}: its `identity` entry is not a "
                               "record; the run folder is damaged")
    changed = differences(recorded, current)
    if not changed:
        return False
    if changed == ["output"]:
        if allow_output_changes:
            return True
        raise IdentityMismatch(
            f"--resume {folder_root}: the [output] section of its recipe.toml changed since the "
            "run started. [output] cannot change the results, so you may accept it with "
            "--allow-output-changes.")
    what = ", ".join(_describe(c) for c in changed)
    raise IdentityMismatch(
        f"--resume {folder_root}: this folder is not the run it was started as: {what} "
        "changed since. A resume continues a run exactly as it started; start a new run "
        "(gan-adapt run RECIPE) for the changed recipe or target.")


def _describe(part: str) -> str:
    if part == "output":
        return "the recipe's [output]"
    if part.startswith("recipe ["):
        return "the recipe (" + part[len("recipe ["):-1] + ")"
    if part == "target":
        return "the target (its file(s) or text)"
    return f"the {part}"


def check_checkpoint(path: Path, recorded: Any, current: dict[str, Any]) -> None:
    """Refuse a checkpoint written by another run (or by no run of this version of gan-adapt).

    Checkpoints are compared on what decides the weights: every part except the [output]
    section (which ``--allow-output-changes`` may have accepted).
    """
    if not isinstance(recorded, dict):
        raise IdentityMismatch(
            f"{path} carries no run identity: it was not written by this run (copied from "
            "another run or another tool?). Remove it, or start a new run.")
    changed = [c for c in differences(recorded, current) if c != "output"]
    if changed:
        raise IdentityMismatch(
            f"{path} was written by another run: its {', '.join(_describe(c) for c in changed)} "
            "differ from this folder's. Remove it (an older checkpoint of this run, if any, is "
            "used instead), or start a new run.")
