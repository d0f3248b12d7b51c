"""Converting checkpoints between layouts: ``gan-adapt convert IN OUT``.

Any readable checkpoint (rosinality ``.pt``, NVlabs pickle, native folder) can be written as a
native folder or as a rosinality ``.pt``. Writing NVlabs pickles is not supported: a pickle that
the NVlabs tools can open must embed their source code and import their ``dnnlib`` /
``torch_utils`` modules, which is exactly what gan-adapt avoids.
"""

from __future__ import annotations

from pathlib import Path

from gan_adapt.errors import GanAdaptError
from gan_adapt.generators import native, rosinality
from gan_adapt.generators.checkpoints import discriminator_from, generator_from, read_checkpoint

TARGETS = ("native", "rosinality")


def target_format(dst: str | Path) -> str:
    """The format implied by an output path: ``.pt`` / ``.pth`` -> rosinality, else native."""
    suffix = Path(dst).suffix.lower()
    if suffix in (".pt", ".pth"):
        return "rosinality"
    if suffix == ".pkl":
        raise GanAdaptError(
            f"{dst}: writing NVlabs network pickles is not supported (they must embed and import "
            "the NVlabs source code). Write a rosinality .pt or a gan-adapt folder instead; "
            "both load everywhere gan-adapt runs, and the .pt in rosinality-based tools.")
    return "native"


def _same_place(a: Path, b: Path) -> bool:
    """Whether two paths name one file or folder, or one lies inside the other's folder
    (a native checkpoint folder and its ``model.safetensors``)."""
    a, b = a.resolve(), b.resolve()
    return a == b or a.is_relative_to(b) or b.is_relative_to(a) or \
        (a.parent == b.parent and native.native_folder(a) is not None
         and native.native_folder(a) == native.native_folder(b))


def check_destination(src: str | Path, dst: str | Path, to: str, force: bool = False) -> None:
    """Refuse to write over the source or over an existing file or folder unless ``force``.

    A conversion keeps only what gan-adapt reads (one generator, the discriminator): written
    over its source it would drop the file's other entries (optimiser states, the training
    generator, metadata) without a word.
    """
    dst_path = Path(dst).expanduser()
    src_path = Path(src).expanduser()
    if src_path.exists() and _same_place(src_path, dst_path):
        if not force:
            raise GanAdaptError(
                f"convert: {dst} is the source checkpoint itself (or inside it); converting in "
                "place would replace it by the converted entries only, losing everything else "
                "in it. Write to another path, or pass --force to replace it anyway.")
        return
    if to == "rosinality" and dst_path.is_dir():
        raise GanAdaptError(f"convert: {dst} is a folder; a rosinality checkpoint is one .pt "
                            "file: give a file path")
    if to == "native" and dst_path.exists() and not dst_path.is_dir():
        raise GanAdaptError(f"convert: {dst} is a file; a gan-adapt checkpoint is a folder: "
                            "give a folder path (or a .pt path for a rosinality file)")
    occupied = dst_path.is_dir() and any(dst_path.iterdir()) if to == "native" \
        else dst_path.exists()
    if occupied and not force:
        raise GanAdaptError(f"convert: {dst} already exists; choose another path, or pass "
                            "--force to overwrite it")


def convert(src: str | Path, dst: str | Path, to: str | None = None, which: str = "g_ema",
            discriminator: bool = True, force: bool = False) -> Path:
    """Convert checkpoint ``src`` (path or zoo name) into ``dst``.

    ``to`` is ``"native"`` (a folder) or ``"rosinality"`` (a ``.pt``); by default it follows
    ``dst``'s suffix. ``which`` picks the generator (``g_ema`` / ``g``); the discriminator is
    carried over when the source has one, unless ``discriminator=False``. An existing ``dst``
    (or ``dst`` the same as ``src``) is refused unless ``force``.
    """
    to = to or target_format(dst)
    if to not in TARGETS:
        raise GanAdaptError(f"cannot convert to {to!r}; choose one of {', '.join(TARGETS)}")
    check_destination(src, dst, to, force)
    contents = read_checkpoint(src)
    generator = generator_from(contents, which)
    d = discriminator_from(contents) if discriminator and contents.discriminator else None
    if to == "native":
        metadata = {"converted_from": str(src), "source_format": contents.format,
                    "which": which}
        return native.save(generator, dst, discriminator=d, metadata=metadata)
    return rosinality.export_rosinality(generator, dst, discriminator=d)
