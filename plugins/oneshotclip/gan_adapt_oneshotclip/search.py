"""The CLIP term of OneShotCLIP's latent search.

    L_clip(w) = mean over K augmented copies a_k of 1 - cos(E(I_trg), E(a_k(G_s(w))))

The target's embedding is a constant, computed once. The copies are augmented on [0, 1] images
with per-sample random parameters (:class:`gan_adapt.encoders.augment.CLIPAugment`), so the K copies
really differ (the reference implementation's K copies were identical).
"""

from __future__ import annotations

import torch

from gan_adapt.plugin import BuildContext, CLIPAugment, GanAdaptError, Step
from gan_adapt_oneshotclip.params import AugmentParams, ClipImageDistanceParams

__all__ = ["AugmentParams", "ClipImageDistance", "ClipImageDistanceParams"]


class ClipImageDistance:
    """1 - CLIP cosine between the target image and K augmented copies of G_s(w)."""

    Params = ClipImageDistanceParams

    def __init__(self, params: ClipImageDistanceParams, ctx: BuildContext) -> None:
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
