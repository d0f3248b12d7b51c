"""Params models of the generic terms (torch-free: validating a recipe imports only these).

The terms themselves (:mod:`~gan_adapt.losses.reconstruction`, :mod:`~gan_adapt.losses.latent`,
:mod:`~gan_adapt.losses.adversarial`) import torch and are imported when a run builds them.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class MSEParams(BaseModel):
    """Parameters of ``mse`` (none)."""

    model_config = ConfigDict(extra="forbid")


class LPIPSParams(BaseModel):
    """Parameters of ``lpips``."""

    model_config = ConfigDict(extra="forbid")
    net: Literal["alex", "vgg", "squeeze", "portraits-clip"] = Field(
        "alex", description="LPIPS backbone; portraits-clip: an LPIPS-style distance on the "
                            "shipped portraits CLIP's vision features (offline, trained).")
    pretrained: bool = Field(True, description="Use the real LPIPS weights (False: random "
                                               "weights, for tests).")
    resize_to: Annotated[int, Field(ge=16)] | Literal["full"] | None = Field(
        256, description="Both images are resized to this side first (256: LPIPS's "
                                "usual scale, cheap at any generator resolution). `\"full\"`"
                                ": no resize, the generator's resolution, as OneShotCLIP's "
                                "official code computes it.")


class LatentL2Params(BaseModel):
    """Parameters of ``latent_l2`` (none)."""

    model_config = ConfigDict(extra="forbid")


class AdversarialParams(BaseModel):
    """Parameters of ``adversarial``."""

    model_config = ConfigDict(extra="forbid")
    r1_gamma: float = Field(10.0, ge=0, description="R1 weight (0 disables R1).")
    r1_every: int = Field(16, ge=1, description="Apply R1 when the adapt step index is a "
                                                "multiple of this (lazy regularisation).")
    flip_real: bool = Field(False, description="Randomly flip real images horizontally.")


class PatchAdversarialParams(AdversarialParams):
    """Parameters of ``patch_adversarial``."""

    feature: str = Field("b64.conv1", description=(
        "D feature map the patch head reads: `b64.conv1` is the 32x32 output of the stride-2 "
        "conv of the 64->32 residual block (before the skip add), the map OneShotCLIP uses "
        "at 256 and 1024 px. See the D's feature names in the error if it has no such map."))
    flip_real: bool = Field(True, description="Randomly flip real images horizontally.")
