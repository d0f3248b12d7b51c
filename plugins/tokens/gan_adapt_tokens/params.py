"""Params models of the tokens plugin's terms (torch-free: validating a recipe imports only
these)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

_LAYERS = ("Token maps compared: 0 is the patch embedding (the tokens before the first "
           "transformer block), k >= 1 the output of block k; negative numbers count from the "
           "last block (-1: the last). The default suits the shipped 4-block portraits CLIP "
           "(the quality benchmark's choice; docs/benchmark.md).")


class TokenTermParams(BaseModel):
    """What every term of the plugin reads: an encoder and some of its token maps."""

    model_config = ConfigDict(extra="forbid")
    encoder: str = Field("clip", description="Name of a ViT encoder in the recipe's [encoders].")
    layers: list[int] = Field([0, 2], min_length=1, description=_LAYERS)

    @field_validator("layers")
    @classmethod
    def distinct(cls, layers: list[int]) -> list[int]:
        if len(set(layers)) != len(layers):
            raise ValueError(f"layers must be distinct, got {layers}")
        return layers


class SelfSimilarityParams(TokenTermParams):
    pass


#: The normal float32 range: a temperature and its inverse (the attention divides by it in
#: float32 or bfloat16, whose exponents are the same) must both lie within it.
_FLOAT32_NORMAL = (2.0 ** -126, 2.0 ** 126)


class AttentiveStyleParams(TokenTermParams):
    temperature: float = Field(0.1, gt=0, description=(
        "Softmax temperature of the attention of G_s(w)'s tokens over G_s(w_ref)'s (on cosine "
        "similarities): small values copy the single most similar reference token, large ones "
        "blend many."))

    @field_validator("temperature")
    @classmethod
    def float32_sized(cls, temperature: float) -> float:
        low, high = _FLOAT32_NORMAL
        if not low <= temperature <= high:
            raise ValueError(f"temperature {temperature:g} is outside [{low:.3g}, {high:.3g}]: "
                             "it or 1/temperature would overflow or underflow float32")
        return temperature


#: The analogy loss's params under its honest name (``AttentiveStyleParams`` is the old one).
TokenAnalogyParams = AttentiveStyleParams
#: The token self-similarity's params under its honest name.
TokenSelfSimilarityParams = SelfSimilarityParams


class DifaAttentiveStyleParams(TokenTermParams):
    layers: list[int] = Field([4], min_length=1, description=(
        "Token maps compared, numbered as in the other terms (0 the patch embedding, k >= 1 the "
        "output of block k, negative from the last). DiFa reads the output of the 4th block "
        "(its clip_layer = 3, counted from 0), so the default is 4: the last block of the "
        "shipped 4-block portraits CLIP, the 4th of 12 on a ViT-B. Several layers: the mean of "
        "their distances (DiFa uses one)."))


class KeySelfSimilarityParams(TokenTermParams):
    layers: list[int] = Field([-1], min_length=1, description=(
        "Transformer blocks whose attention keys are compared: k >= 1 block k, negative "
        "numbers from the last (-1: the last, Splice's choice). 0, the patch embedding, has no "
        "keys. Several blocks: the mean of their distances (Splice uses one)."))

    @field_validator("layers")
    @classmethod
    def blocks_only(cls, layers: list[int]) -> list[int]:
        if 0 in layers:
            raise ValueError("layer 0 is the patch embedding, which has no attention keys; "
                             "blocks are 1, 2, ... or -1 (the last), -2, ...")
        return layers
