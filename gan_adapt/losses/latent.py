"""Latent-space regularizers of the search phase."""

from __future__ import annotations

import torch
from pydantic import BaseModel, ConfigDict

from gan_adapt.engine.context import BuildContext, Step


class LatentL2:
    """Mean squared distance of the searched latent from the generator's mean latent w_avg."""

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")

    def __init__(self, params: Params, ctx: BuildContext) -> None:
        self.w_avg = ctx.generator.w_avg.detach().to(ctx.device)

    def __call__(self, step: Step) -> torch.Tensor:
        return torch.mean((step.ws - self.w_avg) ** 2)
