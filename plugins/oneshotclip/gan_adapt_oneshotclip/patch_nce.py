"""Patch-wise semantic consistency L_patch: PatchNCE with a CLIP encoder as the patch encoder.

``n_crops`` square patches are cut at the SAME random positions from G_s(w) and G_t(w) (which
share their noise, so the patches are pixel-aligned). A G_t patch (the query) must be closer to
the G_s patch at its own position (the positive) than to the G_s patches at the other positions
of the same image (the negatives):

    L = -log( exp(q.k+ / tau) / sum_over_all_positions exp(q.k / tau) )

which is a cross-entropy over the ``[P, P]`` query-key similarity matrix with the diagonal as
the target class: the positive appears once in the denominator and never among the negatives.
G_s-side embeddings are constants.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field

from gan_adapt.encoders.base import random_boxes
from gan_adapt.engine.context import BuildContext, Step


def patch_nce(queries: torch.Tensor, keys: torch.Tensor, temperature: float) -> torch.Tensor:
    """InfoNCE of ``queries`` ``[N, P, D]`` against ``keys`` ``[N, P, D]`` (positive: same index).

    Returns the mean over images and queries.
    """
    logits = torch.einsum("npd,nqd->npq", queries, keys) / temperature  # [N, P, P]
    n, p, _ = logits.shape
    labels = torch.arange(p, device=logits.device).expand(n, p)
    return F.cross_entropy(logits.flatten(0, 1), labels.flatten())


class PatchNCE:
    """Patch-wise CLIP PatchNCE L_patch: aligned G_t/G_s patches attract, other positions repel."""

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")
        encoder: str = Field("clip", description="Name of an encoder in the recipe's [encoders].")
        n_crops: int = Field(16, ge=2, description="Patches per image (positive + negatives).")
        crop_fraction: float = Field(
            0.125, gt=0, le=1, description="Patch side as a fraction of the image side "
                                           "(128 px at 1024 px in the paper).")
        crop_size: int | None = Field(None, ge=1, description="Patch side in pixels; overrides "
                                                              "crop_fraction.")
        temperature: float = Field(1.0, gt=0, description="InfoNCE temperature tau.")

    def __init__(self, params: Params, ctx: BuildContext) -> None:
        self.params = params
        self.encoder = ctx.encoder(params.encoder)
        resolution = ctx.generator.img_resolution
        self.crop = params.crop_size or max(1, round(params.crop_fraction * resolution))
        if self.crop > resolution:  # refused at build time, before the run folder exists
            from gan_adapt.errors import GanAdaptError

            raise GanAdaptError(f"patch_nce: crop_size {self.crop} is larger than the "
                                f"generator's {resolution}x{resolution} images; use at most "
                                f"{resolution} (or crop_fraction)")

    def __call__(self, step: Step) -> torch.Tensor:
        fake, source = step.fake, step.source
        n, _, h, w = fake.shape
        boxes = random_boxes(n, self.params.n_crops, self.crop, h, w, device=fake.device)
        with torch.no_grad():
            keys = self.encoder.embed_patches(source, boxes)
        queries = self.encoder.embed_patches(fake, boxes)
        return patch_nce(queries, keys, self.params.temperature)
