"""StyleGAN2 generators and discriminators: loading, saving, converting, sampling.

Public API (imported lazily, so that ``import gan_adapt.generators.plugin`` stays cheap and
does not import torch)::

    load(path_or_name, which="g_ema", device="cpu") -> StyleGAN2Generator
    load_discriminator(path_or_name, device="cpu", *, reason=None) -> StyleGAN2Discriminator
    save(generator, path, discriminator=None, metadata=None) -> Path      # native folder
    export_rosinality(generator, path, discriminator=None) -> Path       # rosinality .pt
    convert(src, dst, to=None, which="g_ema") -> Path
    freeze(model, patterns) -> list[str]
    tiny(resolution=16, ...) -> (G, D);  write_tiny_checkpoint(path, ...) -> Path

See ``docs/generators.md`` for formats, the model zoo and the parity guarantees.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "load": "checkpoints", "load_discriminator": "checkpoints",
    "read_checkpoint": "checkpoints", "CheckpointContents": "checkpoints",
    "save": "native",
    "export_rosinality": "rosinality",
    "convert": "conversion",
    "freeze": "networks", "StyleGAN2Generator": "networks",
    "StyleGAN2Discriminator": "networks", "GeneratorConfig": "networks",
    "DiscriminatorConfig": "networks",
    "tiny": "tiny_models", "write_tiny_checkpoint": "tiny_models",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from gan_adapt.generators.checkpoints import (
        CheckpointContents,
        load,
        load_discriminator,
        read_checkpoint,
    )
    from gan_adapt.generators.conversion import convert
    from gan_adapt.generators.native import save
    from gan_adapt.generators.networks import (
        DiscriminatorConfig,
        GeneratorConfig,
        StyleGAN2Discriminator,
        StyleGAN2Generator,
        freeze,
    )
    from gan_adapt.generators.rosinality import export_rosinality
    from gan_adapt.generators.tiny_models import tiny, write_tiny_checkpoint


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'gan_adapt.generators' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"gan_adapt.generators.{module}"), name)
    globals()[name] = value
    return value
