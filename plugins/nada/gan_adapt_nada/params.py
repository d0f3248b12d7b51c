"""Params models of StyleGAN-NADA's term (torch-free: validating a recipe imports only these)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from gan_adapt.plugin import PromptTemplates


class AdaptiveLayers(BaseModel):
    """Settings of the adaptive layer selection (StyleGAN-NADA's ``auto_layer_*`` options)."""

    model_config = ConfigDict(extra="forbid")
    k: int = Field(ge=1, description="Styled convolutions trained per step (capped at the "
                                     "generator's count: 17 at 1024 px, 13 at 256 px).")
    iters: int = Field(1, ge=1, description="SGD steps on the W+ codes before ranking.")
    batch: int = Field(8, ge=1, description="W+ codes optimised for the ranking.")
    lr: float = Field(0.01, gt=0, description="SGD learning rate on the W+ codes.")


class DirectionalParams(BaseModel):
    """Parameters of ``clip_directional``."""

    model_config = ConfigDict(extra="forbid")
    encoder: str = Field("clip", description="Name of an encoder in the recipe's [encoders] "
                                             "(a clip_ensemble is averaged member by member).")
    direction: Literal["text", "images", "reference"] = Field(
        "text", description="Where the domain direction comes from: two texts, the target "
                            "image(s) against G_s samples, or the target image against "
                            "G_s(w_ref).")
    source_text: str | None = Field(None, description="Source description; default: the "
                                                      "recipe's target.source_text.")
    target_text: str | None = Field(None, description="Target description; default: the "
                                                      "recipe's target.text.")
    templates: PromptTemplates = Field(["{}"], description=(
        "Prompt templates, each with `{}` where the text goes; the direction is averaged over "
        "them. `[\"{}\"]` uses the texts as they are."))
    source_samples: int = Field(16, ge=1, description="G_s samples whose mean embedding is the "
                                                      "source end of an `images` direction.")
    min_norm: float = Field(0.01, gt=0, description="Edit directions shorter than this are "
                                                    "divided by it instead of their length "
                                                    "(bounded gradient at step 0).")
    adaptive_layers: AdaptiveLayers | None = Field(
        None, description="Train only the k layers chosen by adaptive layer selection; "
                          "omitted: every trainable layer.")
