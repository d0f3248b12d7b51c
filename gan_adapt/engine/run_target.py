"""A run keeps its target image(s) in ``RUN/target/``; readers of a run folder use only those.

``recipe.toml`` records ``target.image`` as the user wrote it, relative to the recipe's folder.
A run folder travels (copied, shared, downloaded), and a ``recipe.toml`` in someone else's
folder can name any file on the machine of whoever opens it. So a new run copies the bytes of
its target into the folder, and ``report``, ``eval``, ``compare`` and the Python API read the
target from there and never from the recorded path: a target not kept in the folder is shown
as missing, with the same words whether or not the recorded path exists.

``run --resume`` is the exception: it continues the run from the original target and checks it
against the run's identity (see :mod:`gan_adapt.engine.identity`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gan_adapt.errors import InputError
from gan_adapt.io import atomic_files as files
from gan_adapt.io.safe_paths import folder_name, is_within, open_regular, regular_inside

TARGET_DIR = "target"
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"}


def _suffix(name: str) -> str:
    suffix = Path(name).suffix.lower()
    return suffix if suffix in IMAGE_SUFFIXES else ".img"


def keep_target(root: Path, target: Any, base_dir: Path) -> None:
    """Copy the recipe's target image (``target/image<suffix>``) or the images of its target
    folder (``target/images/<name>``) into the run folder ``root``."""
    if getattr(target, "image", None):
        source = base_dir / Path(target.image).expanduser()
        files.write_bytes(root / TARGET_DIR / f"image{_suffix(source.name)}",
                          _read_input(source))
    elif getattr(target, "images", None):
        folder = base_dir / Path(target.images).expanduser()
        for path in sorted(folder.iterdir()):
            if path.suffix.lower() in IMAGE_SUFFIXES:
                files.write_bytes(root / TARGET_DIR / "images" / folder_name(path.name),
                                  _read_input(path))


def _read_input(path: Path) -> bytes:
    """A target file the run has already loaded (and so checked) once."""
    try:
        with open_regular(path) as handle:
            return handle.read()
    except OSError as exc:
        raise InputError(f"cannot keep a copy of the target {path}: {exc}") from None


def kept_image(root: Path) -> Path | None:
    """The run's copy of its target image, if the folder keeps one (a regular file inside)."""
    return next((p for p in _listing(root, root / TARGET_DIR)
                 if p.name.startswith("image.") and regular_inside(root, p)), None)


def kept_images(root: Path) -> Path | None:
    """The run's copy of its target folder, if it keeps one with at least one image inside."""
    folder = root / TARGET_DIR / "images"
    images = [p for p in _listing(root, folder) if p.suffix.lower() in IMAGE_SUFFIXES]
    # every image is read by the folder loader, so every one must be the run's own file
    return folder if images and all(regular_inside(root, p) for p in images) else None


def _listing(root: Path, folder: Path) -> list[Path]:
    """The entries of ``folder`` if it is a folder inside ``root`` (links followed), by name."""
    try:
        if not (is_within(root, folder) and folder.is_dir()):
            return []
        return sorted(folder.iterdir())
    except OSError:
        return []


def missing_note(key: str) -> str:
    """What readers say for a target the folder does not keep (never naming the recorded
    path's state: it may point anywhere on this machine)."""
    return (f"the run folder keeps no copy of its target {key} (runs made before gan-adapt kept "
            "one, or an edited folder); a run folder's target is never read from outside it")


def in_folder(root: Path, target: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """``target`` (a recipe's ``[target]`` table) with ``image`` / ``images`` replaced by the
    run's copies (absolute paths), and notes for those the folder does not keep (dropped)."""
    target = dict(target)
    notes = []
    for key, kept_copy in (("image", kept_image), ("images", kept_images)):
        if target.get(key) is None:
            continue
        kept = kept_copy(root)
        if kept is None:
            target.pop(key)
            notes.append(missing_note(key))
        else:
            target[key] = str(kept.resolve())
    return target, notes
