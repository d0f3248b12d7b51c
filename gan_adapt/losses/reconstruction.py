"""Pixel and perceptual distances between the generated image and the target image."""

from __future__ import annotations

from typing import Annotated, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field

from gan_adapt.engine.context import BuildContext, Step


def _target_like(step: Step) -> torch.Tensor:
    """The target image broadcast to the generated batch."""
    target = step.target.image
    if target is None:
        raise ValueError("this term compares with a target image, but the recipe's target "
                         "has none")
    return target.expand(step.fake.shape[0], -1, -1, -1)


class MSE:
    """Mean squared error between the generated image and the target image."""

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")

    def __init__(self, params: Params, ctx: BuildContext) -> None:
        self.params = params

    def __call__(self, step: Step) -> torch.Tensor:
        return torch.mean((step.fake - _target_like(step)) ** 2)


class LPIPS(torch.nn.Module):
    """LPIPS perceptual distance between the generated image and the target image."""

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")
        net: Literal["alex", "vgg", "squeeze"] = Field("alex", description="LPIPS backbone.")
        pretrained: bool = Field(True, description="Use the real LPIPS weights (False: random "
                                                   "weights, for tests).")
        resize_to: Annotated[int, Field(ge=16)] | Literal["full"] | None = Field(
            256, description="Both images are resized to this side first (256: LPIPS's "
                                    "usual scale, cheap at any generator resolution). `\"full\"`"
                                    ": no resize, the generator's resolution, as OneShotCLIP's "
                                    "official code computes it.")

    @staticmethod
    def required_weights(params: Params, ctx: BuildContext) -> list:
        """The ImageNet backbone (the ``lpips`` package ships only the calibrated heads)."""
        from gan_adapt.encoders.weights import LPIPS_BACKBONES

        return [LPIPS_BACKBONES[params.net]] if params.pretrained else []

    def __init__(self, params: Params, ctx: BuildContext) -> None:
        super().__init__()
        from gan_adapt.perceptual import LPIPSDistance

        self.distance = LPIPSDistance(net=params.net, pretrained=params.pretrained,
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
