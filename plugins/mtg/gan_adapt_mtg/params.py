"""Params models of Mind the Gap's terms (torch-free: validating a recipe imports only these)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from gan_adapt.plugin import LPIPSParams


class PNormL2Params(BaseModel):
    model_config = ConfigDict(extra="forbid")
    n_samples: int = Field(100_000, ge=100, description=(
        "Mapped random z used to fit the PCA (II2S uses 1,000,000; 100,000 gives the same "
        "statistics to a few parts in a thousand)."))
    negative_slope: float = Field(5.0, gt=0, description="Slope of the leaky ReLU that "
                                  "undoes the mapping's final one (1 / 0.2).")
    seed: int = Field(0, description="Seed of the z used for the fit.")


class ClipWithinDomainParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    encoder: str = Field("clip", description="Name of an encoder in the recipe's [encoders].")
    min_norm: float = Field(0.01, gt=0, description="Offsets shorter than this are divided "
                                                    "by it instead of their length.")


class ReferenceClipParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    encoder: str = Field("clip", description="Name of an encoder in the recipe's [encoders].")


class ReferenceL2Params(BaseModel):
    model_config = ConfigDict(extra="forbid")
    resize_to: int | None = Field(256, ge=8, description="Compare at this side (None: at "
                                                         "the generator's resolution).")


class ReferenceLPIPSParams(LPIPSParams):
    net: Literal["alex", "vgg", "squeeze", "portraits-clip"] = Field(
        "vgg", description="LPIPS backbone (Mind the Gap: vgg); portraits-clip: the offline "
                           "distance on the shipped portraits CLIP's features.")
