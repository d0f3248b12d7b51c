"""Pixel and perceptual distances between the generated image and the target image."""

from __future__ import annotations

import torch

from gan_adapt.losses.params import LPIPSParams, MSEParams
from gan_adapt.plugin_host.context import BuildContext, Step


def _target_like(step: Step) -> torch.Tensor:
    """The target image broadcast to the generated batch."""
    target = step.target.image
    if target is None:
        raise ValueError("this term compares with a target image, but the recipe's target "
                         "has none")
    return target.expand(step.fake.shape[0], -1, -1, -1)


class MSE:
    """Mean squared error between the generated image and the target image."""

    Params = MSEParams

    def __init__(self, params: MSEParams, ctx: BuildContext) -> None:
        self.params = params

    def __call__(self, step: Step) -> torch.Tensor:
        return torch.mean((step.fake - _target_like(step)) ** 2)


class LPIPS(torch.nn.Module):
    """LPIPS perceptual distance between the generated image and the target image."""

    Params = LPIPSParams

    @staticmethod
    def required_weights(params: LPIPSParams, ctx: BuildContext) -> list:
        """The ImageNet backbone (the ``lpips`` package ships only the calibrated heads)."""
        from gan_adapt.encoders.weights import LPIPS_BACKBONES

        wanted = params.pretrained and params.net in LPIPS_BACKBONES
        return [LPIPS_BACKBONES[params.net]] if wanted else []

    def __init__(self, params: LPIPSParams, ctx: BuildContext) -> None:
        super().__init__()
        from gan_adapt.encoders.perceptual import perceptual_distance

        self.distance = perceptual_distance(net=params.net, pretrained=params.pretrained,
                                            resize_to=params.resize_to).to(ctx.device)
        #: dtype the LPIPS network runs in under autocast (the engine sets it for a recipe's
        #: ``precision = "bf16"``); None: float32.
        self.mixed_precision: torch.dtype | None = None

    def forward(self, step: Step) -> torch.Tensor:
        fake, target = step.fake, _target_like(step)
        dtype = self.mixed_precision
        if dtype is None:
            return self.distance(fake, target).mean()
        from gan_adapt.encoders.base import call_with_frozen_weights_in

        with torch.autocast(fake.device.type, dtype=dtype):
            distance = call_with_frozen_weights_in(self.distance, dtype, fake, target)
        return distance.float().mean()
