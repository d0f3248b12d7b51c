"""Params models of OneShotCLIP's terms (torch-free: validating a recipe imports only these)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from gan_adapt.plugin import PromptTemplates


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


class ClipImageDistanceParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    encoder: str = Field("clip", description="Name of an encoder in the recipe's [encoders].")
    n_aug: int = Field(8, ge=1, description="Augmented copies K per step.")
    augment: AugmentParams = Field(default_factory=AugmentParams,
                                   description="Augmentation ranges.")


class ClipTextDistanceParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    encoder: str = Field("clip", description="Name of an encoder in the recipe's [encoders].")
    text: str | None = Field(None, description="The description; default: the recipe's "
                                               "target.text.")
    templates: PromptTemplates = Field(["{}"], description=(
        "Prompt templates with `{}` where the text goes; the loss is averaged over them."))
    n_aug: int = Field(8, ge=1, description="Augmented copies K per step.")
    augment: AugmentParams = Field(default_factory=AugmentParams,
                                   description="Augmentation ranges.")


class ClipConsistencyParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    encoder: str = Field("clip", description="Name of an encoder in the recipe's [encoders].")
    distance: Literal["l2", "kl"] = Field(
        "l2", description="l2 of similarity differences (paper) or KL of softmaxed rows.")

    def min_batch(self) -> int:
        """Samples are compared pairwise: `validate` refuses step kinds with fewer."""
        return 2


class PatchNCEParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    encoder: str = Field("clip", description="Name of an encoder in the recipe's [encoders].")
    n_crops: int = Field(16, ge=2, description="Patches per image (positive + negatives).")
    crop_fraction: float = Field(
        0.125, gt=0, le=1, description="Patch side as a fraction of the image side "
                                       "(128 px at 1024 px in the paper).")
    crop_size: int | None = Field(None, ge=1, description="Patch side in pixels; overrides "
                                                          "crop_fraction.")
    temperature: float = Field(1.0, gt=0, description="InfoNCE temperature tau.")
    micro_batch: int | None = Field(
        None, ge=1, description="Memory mode: backpropagate through the encoder this many "
                                "adapted patches at a time (same loss and gradients, one "
                                "extra forward of the patches); none: all at once.")
