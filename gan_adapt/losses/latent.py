"""Latent-space regularizers of the search phase."""

from __future__ import annotations

import torch

from gan_adapt.losses.params import LatentL2Params
from gan_adapt.plugin_host.context import BuildContext, Step


class LatentL2:
    """Mean squared distance of the searched latent from the generator's mean latent w_avg."""

    Params = LatentL2Params

    def __init__(self, params: LatentL2Params, ctx: BuildContext) -> None:
        self.w_avg = ctx.generator.w_avg.detach().to(ctx.device)

    def __call__(self, step: Step) -> torch.Tensor:
        return torch.mean((step.ws - self.w_avg) ** 2)
