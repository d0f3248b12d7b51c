"""Image/text encoders (CLIP, CLIP ensembles, DINO): the semantic signal of every recipe.

The interface is :class:`~gan_adapt.encoders.base.ImageEncoder`; the built-ins register through
:mod:`gan_adapt.encoders.plugin`. Names below are imported lazily, so ``import gan_adapt.encoders``
stays cheap (no torch) until one of them is used::

    from gan_adapt.encoders import tiny_clip      # a random tiny CLIP for tests, milliseconds
    enc = tiny_clip(seed=0)
    src, tgt = enc.embed_pair(g_source_images, g_adapted_images)
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ImageEncoder": "base", "EncoderBase": "base", "crop_patches": "base", "random_boxes": "base",
    "ClipEncoder": "clip", "build_clip": "clip", "tiny_clip": "clip", "tiny_clip_config": "clip",
    "ClipEnsemble": "ensemble", "build_clip_ensemble": "ensemble",
    "DinoEncoder": "dino", "build_dino": "dino", "tiny_dino": "dino",
    "PromptTemplates": "prompts", "fill_template": "prompts", "prompt_embeddings": "prompts",
    "mean_prompt_embedding": "prompts", "prompt_direction": "prompts",
    "CLIP_WEIGHTS": "weights", "DINO_WEIGHTS": "weights", "LPIPS_BACKBONES": "weights",
    "clip_weights": "weights", "dino_weights": "weights", "read_state_dict": "weights",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'gan_adapt.encoders' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"gan_adapt.encoders.{_EXPORTS[name]}"), name)
    globals()[name] = value  # cache: later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
