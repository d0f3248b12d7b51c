"""The CLIP term of OneShotCLIP's latent search.

    L_clip(w) = mean over K augmented copies a_k of 1 - cos(E(I_trg), E(a_k(G_s(w))))

The target's embedding is a constant, computed once. The copies are augmented on [0, 1] images
with per-sample random parameters (:class:`gan_adapt.augment.CLIPAugment`), so the K copies
really differ (the reference implementation's K copies were identical).
"""

from __future__ import annotations

import torch
from pydantic import BaseModel, ConfigDict, Field

from gan_adapt.augment import CLIPAugment
from gan_adapt.engine.context import BuildContext, Step
from gan_adapt.errors import GanAdaptError


class AugmentParams(BaseModel):
    """The augmentation pipeline; defaults are the paper's."""

    model_config = ConfigDict(extra="forbid")
    affine_degrees: float = Field(15.0, ge=0, description="Rotation range (degrees).")
    translate: float = Field(0.1, ge=0, le=1, description="Translation range (fraction).")
    shear: float = Field(5.0, ge=0, description="Shear range (degrees).")
    perspective: float = Field(0.7, ge=0, le=1, description="Perspective distortion scale.")
    jitter: float = Field(0.1, ge=0, description="Brightness/contrast/saturation/hue jitter.")
    erase_p: float = Field(0.7, ge=0, le=1, description="Probability of random erasing.")
    erase_scale: tuple[float, float] = Field((0.1, 0.4), description="Erased area range.")


class ClipImageDistance:
    """1 - CLIP cosine between the target image and K augmented copies of G_s(w)."""

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")
        encoder: str = Field("clip", description="Name of an encoder in the recipe's [encoders].")
        n_aug: int = Field(8, ge=1, description="Augmented copies K per step.")
        augment: AugmentParams = Field(default_factory=AugmentParams,
                                       description="Augmentation ranges.")

    def __init__(self, params: Params, ctx: BuildContext) -> None:
        if ctx.target.image is None:
            raise GanAdaptError("clip_image_distance needs a target image (target.image)")
        self.encoder = ctx.encoder(params.encoder)
        self.n_aug = params.n_aug
        self.augment = CLIPAugment(**params.augment.model_dump())
        with torch.no_grad():
            self.target_embedding = self.encoder.embed_images(ctx.target.image)  # [1, D]

    def __call__(self, step: Step) -> torch.Tensor:
        unit = (step.fake + 1) / 2  # augmentations work on [0, 1] images
        copies = self.augment.repeat(unit, self.n_aug) * 2 - 1
        embeddings = self.encoder.embed_images(copies)  # [K * N, D]
        return (1 - embeddings @ self.target_embedding.t()).mean()
