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
from gan_adapt.generators.checkpoints import (discriminator_from, generator_from,
                                              read_checkpoint)

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


def convert(src: str | Path, dst: str | Path, to: str | None = None, which: str = "g_ema",
            discriminator: bool = True) -> Path:
    """Convert checkpoint ``src`` (path or zoo name) into ``dst``.

    ``to`` is ``"native"`` (a folder) or ``"rosinality"`` (a ``.pt``); by default it follows
    ``dst``'s suffix. ``which`` picks the generator (``g_ema`` / ``g``); the discriminator is
    carried over when the source has one, unless ``discriminator=False``.
    """
    to = to or target_format(dst)
    if to not in TARGETS:
        raise GanAdaptError(f"cannot convert to {to!r}; choose one of {', '.join(TARGETS)}")
    contents = read_checkpoint(src)
    generator = generator_from(contents, which)
    d = discriminator_from(contents) if discriminator and contents.discriminator else None
    if to == "native":
        metadata = {"converted_from": str(src), "source_format": contents.format,
                    "which": which}
        return native.save(generator, dst, discriminator=d, metadata=metadata)
    return rosinality.export_rosinality(generator, dst, discriminator=d)
