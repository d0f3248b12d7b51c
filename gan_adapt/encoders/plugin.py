"""The default plugin that registers the built-in encoders: ``clip``, ``clip_ensemble``, ``dino``.

Importing this module is cheap (pydantic only): torch, open_clip and timm are imported when a
recipe actually builds an encoder. Each factory is called as ``factory(params, ctx)`` with an
instance of ``factory.Params``; ``ctx.device`` places the model and ``ctx.resolve_path`` turns a
recipe-relative checkpoint path into a real one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gan_adapt.encoders.params import ClipEnsembleParams, ClipParams, DinoParams
from gan_adapt.plugin_host.markers import hookimpl


def _path(ctx: Any, value: str | None) -> Path | None:
    return None if value is None else Path(ctx.resolve_path(value))


def clip(params: ClipParams, ctx: Any):
    """A frozen CLIP image/text encoder (open_clip)."""
    from gan_adapt.encoders.clip import build_clip

    return build_clip(params.model, params.pretrained, checkpoint=_path(ctx, params.checkpoint),
                      model_cfg=params.model_cfg, quick_gelu=params.quick_gelu,
                      precision=params.precision, image_size=params.image_size,
                      device=ctx.device)


def _clip_files(spec: ClipParams) -> list:
    from gan_adapt.encoders.weights import clip_weights
    from gan_adapt.weights.shipped import CLIP_TAG

    if spec.checkpoint is not None or spec.pretrained in (None, CLIP_TAG):
        return []  # a local file, random weights, or a model shipped in the package
    return [clip_weights(spec.model, spec.pretrained)]


clip.Params = ClipParams  # type: ignore[attr-defined]
clip.required_weights = lambda params, ctx: _clip_files(params)  # type: ignore[attr-defined]


def clip_ensemble(params: ClipEnsembleParams, ctx: Any):
    """Several frozen CLIP models as one encoder (weighted, see gan_adapt.encoders.ensemble)."""
    from gan_adapt.encoders.ensemble import build_clip_ensemble

    members = []
    for member in params.models:
        spec = member.model_dump()
        spec["checkpoint"] = _path(ctx, member.checkpoint)
        members.append(spec)
    return build_clip_ensemble(members, device=ctx.device)


clip_ensemble.Params = ClipEnsembleParams  # type: ignore[attr-defined]
clip_ensemble.required_weights = (  # type: ignore[attr-defined]
    lambda params, ctx: [w for member in params.models for w in _clip_files(member)])


def dino(params: DinoParams, ctx: Any):
    """A frozen DINO / DINOv2 ViT (timm): CLS embeddings and patch tokens."""
    from gan_adapt.encoders.dino import build_dino

    return build_dino(params.model, params.pretrained, checkpoint=_path(ctx, params.checkpoint),
                      image_size=params.image_size, precision=params.precision, device=ctx.device)


def _dino_files(params: DinoParams, ctx: Any) -> list:
    from gan_adapt.encoders.weights import dino_weights

    if params.checkpoint is not None or not params.pretrained:
        return []
    return [dino_weights(params.model)]


dino.Params = DinoParams  # type: ignore[attr-defined]
dino.required_weights = _dino_files  # type: ignore[attr-defined]


@hookimpl
def register_encoders(register: Any) -> None:
    register("clip", clip)
    register("clip_ensemble", clip_ensemble)
    register("dino", dino)
