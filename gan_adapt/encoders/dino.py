"""DINO / DINOv2 vision transformers through timm: CLS embeddings and patch-token embeddings.

timm builds the network; the weights are read by us from the gan-adapt cache or a user's file
and handed to timm as a state dict, so timm's checkpoint filter still applies (original DINOv2
files are converted, position embeddings resampled to ``image_size``) and no hub is contacted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from gan_adapt.encoders.base import EncoderBase, freeze
from gan_adapt.encoders.provenance import WeightsSource, set_source
from gan_adapt.encoders.weights import (
    check_timm_model,
    dino_weights,
    fetch,
    read_state_dict,
    timm_full_name,
)
from gan_adapt.errors import CheckpointError, GanAdaptError

_DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


class DinoEncoder(EncoderBase):
    """A frozen timm ViT. ``embed_images`` is the final CLS token, L2-normalised."""

    def __init__(self, model: torch.nn.Module, *, name: str = "dino") -> None:
        cfg = model.pretrained_cfg
        size = model.patch_embed.img_size
        super().__init__(input_size=size[0] if isinstance(size, tuple) else size,
                         embed_dim=model.embed_dim, mean=cfg.get("mean", (0.485, 0.456, 0.406)),
                         std=cfg.get("std", (0.229, 0.224, 0.225)), name=name)
        self.model = freeze(model)

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    def _tokens(self, pixels: Tensor) -> Tensor:
        return self.model.forward_features(pixels.to(self.dtype))  # [B, prefix + T, D], normed

    def encode(self, pixels: Tensor) -> Tensor:
        return self._tokens(pixels)[:, 0]

    def embed_tokens(self, x: Tensor) -> Tensor:
        """Patch tokens ``[N, T, D]`` (CLS and register tokens dropped), each L2-normalised.

        ``T = (input_size / patch_size) ** 2``, in row-major order of the patch grid.
        """
        tokens = self._tokens(self.preprocess(x))[:, self.model.num_prefix_tokens:]
        return F.normalize(tokens.float(), dim=-1)


def build_dino(model: str = "vit_small_patch16_224.dino", pretrained: bool = True, *,
               checkpoint: str | Path | None = None, image_size: int | None = None,
               precision: Literal["fp32", "fp16", "bf16"] = "fp32",
               device: torch.device | str = "cpu") -> DinoEncoder:
    """Build a frozen DINO-family encoder.

    Args:
        model: a timm ViT name, with or without tag (``vit_small_patch14_dinov2`` means
            ``.lvd142m``); ``test_vit`` for tests.
        pretrained: load the weights timm lists for ``model`` (from the gan-adapt cache).
        checkpoint: a local weights file instead (timm or original DINO/DINOv2 format).
        image_size: input side; ``None`` keeps the model's (DINOv2 says 518, which is slow;
            224 is the usual choice).
        precision: dtype of the weights; preprocessing and outputs stay float32.
        device: where the model lives.
    """
    import timm

    check_timm_model(model)
    full = timm_full_name(model) if pretrained and checkpoint is None else model
    path: Path | None = None
    if checkpoint is not None:
        path, source = Path(checkpoint), WeightsSource("file", str(checkpoint))
    elif pretrained:
        known = dino_weights(full)
        path = fetch(known)
        source = WeightsSource("download", known.name, known.sha256)
    else:
        source = WeightsSource("random", "timm initialisation")

    kwargs: dict = {"num_classes": 0}
    if image_size is not None:
        kwargs["img_size"] = image_size
    if path is None:
        network = timm.create_model(full, pretrained=False, **kwargs)
    else:
        state = read_state_dict(path, what=f"DINO {model} checkpoint")
        try:
            network = timm.create_model(full, pretrained=True,
                                        pretrained_cfg_overlay={"state_dict": state}, **kwargs)
        except (RuntimeError, KeyError, ValueError) as exc:
            lines = str(exc).strip().splitlines()
            raise CheckpointError(f"The checkpoint {path} does not fit the timm model '{full}' "
                                  f"({' '.join(lines[:3])[:400]}).") from None
    if not hasattr(network, "num_prefix_tokens") or not hasattr(network, "patch_embed"):
        raise GanAdaptError(f"The dino encoder needs a timm vision transformer; '{full}' "
                            "is not one.")
    network.to(device=torch.device(device), dtype=_DTYPES[precision])
    return set_source(DinoEncoder(network, name=f"dino:{full}").to(torch.device(device)), source)


def tiny_dino(seed: int = 0, device: torch.device | str = "cpu") -> DinoEncoder:
    """timm's ``test_vit`` at 32 px with random weights: runs in milliseconds."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build_dino("test_vit", pretrained=False, image_size=32, device=device)
