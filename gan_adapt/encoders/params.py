"""Recipe parameters of the encoder components (pydantic only: cheap to import)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Precision = Literal["fp32", "fp16", "bf16"]


class ClipParams(BaseModel):
    """``clip``: one open_clip CLIP model."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field("ViT-B-32", description="open_clip architecture (open_clip.list_models()), "
                       "e.g. ViT-B-32, ViT-B-16, ViT-L-14; only a label when model_cfg is given.")
    pretrained: str | None = Field("openai", description="open_clip pretrained tag (openai, "
                                   "laion2b_s34b_b79k, ...); gan-adapt for a CLIP the project "
                                   "ships (model = portraits-clip); none for random weights. With "
                                   "checkpoint it only picks the matching preprocessing.")
    checkpoint: str | None = Field(None, description="Local weights file (.safetensors, .pt, "
                                   ".pth, .bin or OpenAI's TorchScript .pt), relative to the "
                                   "recipe; used instead of the download.")
    model_cfg: dict | None = Field(None, description="Custom open_clip architecture dict "
                                   "(embed_dim, vision_cfg, text_cfg), e.g. a tiny test model.")
    quick_gelu: bool | None = Field(None, description="Force QuickGELU on/off; unset follows "
                                    "the pretrained tag (OpenAI weights need it).")
    precision: Precision = Field("fp32", description="dtype of the weights (fp32, fp16, bf16).")
    image_size: int | None = Field(None, gt=0, description="Side of the images the vision "
                                   "tower sees; unset keeps the model's (224). A smaller "
                                   "multiple of the patch size (e.g. 160 for ViT-B-32) is a "
                                   "memory mode: fewer tokens, resampled position embeddings, "
                                   "slightly different embeddings. ViT towers only.")

    @field_validator("pretrained", mode="before")
    @classmethod
    def _none_string(cls, value: object) -> object:
        """TOML has no null: the string "none" (any case) or "" means random weights."""
        if isinstance(value, str) and value.strip().lower() in ("none", ""):
            return None
        return value


class ClipMember(ClipParams):
    """One member of ``clip_ensemble``."""

    weight: float = Field(1.0, gt=0, description="Relative weight; the weights are normalised "
                          "to sum to one.")


class ClipEnsembleParams(BaseModel):
    """``clip_ensemble``: several CLIP models whose similarities are averaged."""

    model_config = ConfigDict(extra="forbid")

    models: list[ClipMember] = Field(
        default_factory=lambda: [ClipMember(model="ViT-B-32"), ClipMember(model="ViT-B-16")],
        min_length=1,
        description="The members; default ViT-B-32 and ViT-B-16 (openai), as StyleGAN-NADA.",
    )


class DinoParams(BaseModel):
    """``dino``: a DINO or DINOv2 vision transformer from timm."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field("vit_small_patch16_224.dino", description="timm model name, e.g. "
                       "vit_small_patch16_224.dino, vit_base_patch16_224.dino, "
                       "vit_small_patch14_dinov2.lvd142m.")
    pretrained: bool = Field(True, description="Load the model's pretrained weights (false: "
                             "random weights).")
    checkpoint: str | None = Field(None, description="Local weights file (timm or original "
                                   "DINO/DINOv2 format), relative to the recipe.")
    image_size: int | None = Field(None, gt=0, description="Input side in pixels; unset keeps "
                                   "the model's (DINOv2: 518, slow; 224 is usual).")
    precision: Precision = Field("fp32", description="dtype of the weights (fp32, fp16, bf16).")
