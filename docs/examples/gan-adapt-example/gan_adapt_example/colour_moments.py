"""A loss term: match the colour statistics of the adapted images to the target image's.

    L = mean over images of sum over channels c of
        (mu_c(G_t(w)) - mu_c(target))^2 + std_weight * (sigma_c(G_t(w)) - sigma_c(target))^2

A term is a class with a pydantic ``Params`` model, built once as ``ColourMoments(params, ctx)``
and called at every step it applies to as ``term(step) -> scalar tensor``.
"""

from __future__ import annotations

import torch
from pydantic import BaseModel, ConfigDict, Field

from gan_adapt.plugin import BuildContext, GanAdaptError, Step


def channel_moments(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image, per-channel mean and (population) standard deviation, each ``[N, C]``."""
    flat = images.flatten(2)
    return flat.mean(-1), flat.std(-1, unbiased=False)


class ColourMoments:
    """Per-channel mean and standard deviation of G_t(w) against the target image's."""

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")  # a typo in a recipe is an error, not ignored
        std_weight: float = Field(1.0, ge=0, description="Weight of the standard-deviation "
                                                         "part against the mean part.")

    def __init__(self, params: Params, ctx: BuildContext) -> None:
        if ctx.target.image is None:  # user mistakes raise GanAdaptError: a clean message
            raise GanAdaptError("colour_moments compares with a target image; set target.image")
        self.std_weight = params.std_weight
        mean, std = channel_moments(ctx.target.image)  # constants, computed once
        self.mean, self.std = mean, std

    def __call__(self, step: Step) -> torch.Tensor:
        mean, std = channel_moments(step.fake)  # step.fake: G_t(ws), with gradients
        return ((mean - self.mean).pow(2) + self.std_weight * (std - self.std).pow(2)).sum(1).mean()
