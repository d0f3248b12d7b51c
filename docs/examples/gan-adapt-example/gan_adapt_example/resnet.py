"""An encoder backbone: torchvision's ResNet-18, global-pooled, as a gan-adapt image encoder.

Subclassing :class:`gan_adapt.encoders.base.EncoderBase` and writing ``encode`` is all it takes:
the base class converts generator images (``[-1, 1]``, any size) to the backbone's input (crop,
antialiased resize, ImageNet normalisation), L2-normalises the embeddings, and provides patch
embeddings and the batched ``embed_many`` / ``embed_pair`` that the losses use.
"""

from __future__ import annotations

from pathlib import Path

import torch
from pydantic import BaseModel, ConfigDict, Field

from gan_adapt.plugin import EncoderBase, KnownWeights
from gan_adapt.plugin import freeze_module as freeze

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
RESNET18_WEIGHTS = KnownWeights(
    name="torchvision:resnet18", url="https://download.pytorch.org/models/resnet18-f37072fd.pth",
    filename="resnet18-f37072fd.pth", subdir="example",
    description="ImageNet ResNet-18 (torchvision IMAGENET1K_V1)")


class ResNetEncoder(EncoderBase):
    """Frozen ResNet-18 trunk; the embedding is its 512-d global-average-pooled feature."""

    def __init__(self, trunk: torch.nn.Module, input_size: int) -> None:
        super().__init__(input_size=input_size, embed_dim=512, mean=IMAGENET_MEAN,
                         std=IMAGENET_STD, name="resnet18")
        self.trunk = freeze(trunk)

    def encode(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.trunk(pixels)


class ResNetParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    pretrained: bool = Field(True, description="ImageNet weights (false: random, for tests).")
    checkpoint: str | None = Field(None, description="Local weights file, relative to the recipe.")
    input_size: int = Field(224, ge=16, description="Side of the images the trunk sees.")


def resnet18(params: ResNetParams, ctx) -> ResNetEncoder:
    """torchvision ResNet-18 (ImageNet), global-pooled, as an image encoder."""
    import torchvision

    trunk = torchvision.models.resnet18(weights=None)
    trunk.fc = torch.nn.Identity()  # keep the pooled 512-d feature
    path = _weights_file(params, ctx)
    if path is not None:
        state = torch.load(path, map_location="cpu", weights_only=True)
        state = {k: v for k, v in state.items() if not k.startswith("fc.")}
        trunk.load_state_dict(state)
    return ResNetEncoder(trunk, params.input_size).to(ctx.device)


def _weights_file(params: ResNetParams, ctx) -> Path | None:
    if params.checkpoint is not None:
        return Path(ctx.resolve_path(params.checkpoint))
    if not params.pretrained:
        return None
    from gan_adapt.plugin import ensure_weights as ensure

    return ensure(RESNET18_WEIGHTS)  # the engine's preflight has already fetched it


def _required_weights(params: ResNetParams, ctx) -> list[KnownWeights]:
    """What the preflight must find in the cache (or download) before anything is built."""
    return [RESNET18_WEIGHTS] if params.pretrained and params.checkpoint is None else []


resnet18.Params = ResNetParams  # type: ignore[attr-defined]
resnet18.required_weights = _required_weights  # type: ignore[attr-defined]
