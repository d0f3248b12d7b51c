"""Perceptual and pixel distances between image batches: LPIPS and MSE, per sample.

Both take images in the generator's range ``[-1, 1]`` and return one value per sample (``[N]``),
so a loss can weight, mask or average them as it likes. Two batches of different sizes (a
1024 px generator output and a 512 px target) are first brought to one size by
:func:`match_size`, the *same* antialiased resize applied to both. Resizing only one side would
compare an antialiased image with a raw one, and LPIPS is sensitive to exactly that kind of
high-frequency difference.

LPIPS uses the ``lpips`` package: its calibrated linear heads ship inside the package, and the
ImageNet backbone (alex, vgg or squeeze from torchvision) is read by us from the gan-adapt cache,
so nothing downloads behind the user's back.

:class:`ClipFeatureDistance` is the offline counterpart: an LPIPS-style distance on the vision
features of a CLIP the project trained and ships (``net = "portraits-clip"``), a *trained*
network where LPIPS's backbones cannot be downloaded. :func:`perceptual_distance` builds
either from an ``lpips`` term's settings.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gan_adapt.errors import CheckpointError

Net = Literal["alex", "vgg", "squeeze"]
#: Shipped CLIP models whose vision features serve as a perceptual distance (``net = ...``).
TRAINED_FEATURE_NETS = ("portraits-clip",)


def match_size(x: Tensor, y: Tensor, size: int | None = None) -> tuple[Tensor, Tensor]:
    """Resize ``x`` and ``y`` (``[N, C, H, W]``) to ``size x size`` with one antialiased resize.

    ``size=None`` keeps the smaller of the two sizes (no upsampling of the smaller image).
    A batch already at the target size is returned unchanged.
    """
    if size is None:
        if x.shape[-2:] == y.shape[-2:]:
            return x, y
        h = min(x.shape[-2], y.shape[-2])
        w = min(x.shape[-1], y.shape[-1])
    else:
        h = w = size

    def fit(t: Tensor) -> Tensor:
        if tuple(t.shape[-2:]) == (h, w):
            return t
        return F.interpolate(t, size=(h, w), mode="bilinear", antialias=True, align_corners=False)

    return fit(x), fit(y)


def mse(x: Tensor, y: Tensor, size: int | None = None) -> Tensor:
    """Mean squared error per sample, ``[N]``; sizes are matched by :func:`match_size`."""
    x, y = match_size(x, y, size)
    return (x - y).pow(2).flatten(1).mean(dim=1)


class LPIPSDistance(nn.Module):
    """LPIPS (Zhang et al. 2018) per sample, frozen, differentiable w.r.t. both inputs.

    Args:
        net: backbone, ``"alex"`` (the default of the paper and of most GAN work), ``"vgg"``
            or ``"squeeze"``.
        pretrained: ``True``: calibrated heads + ImageNet backbone (from the cache or
            ``checkpoint``). ``False``: random backbone and random non-negative heads; a fast,
            download-free stand-in for tests (not a meaningful distance).
        resize_to: both inputs are resized to this side first (256: the scale LPIPS behaves well
            at, and the same number for every generator resolution); ``None`` or ``"full"``
            keeps the smaller input size (the generator's resolution for a target loaded at it,
            which is where OneShotCLIP's official code computes LPIPS).
        checkpoint: a local torchvision state-dict file of the backbone instead of the cache.
    """

    def __init__(self, net: Net = "alex", pretrained: bool = True,
                 resize_to: int | Literal["full"] | None = 256,
                 checkpoint: str | Path | None = None) -> None:
        super().__init__()
        import lpips

        from gan_adapt.encoders.weights import LPIPS_BACKBONES, fetch, read_state_dict

        if net not in LPIPS_BACKBONES:
            raise ValueError(f"LPIPS net must be one of {sorted(LPIPS_BACKBONES)}, got {net!r}")
        # Resolve the backbone file first, so an offline user hears about it before any build.
        path = None
        if pretrained:
            path = Path(checkpoint) if checkpoint is not None else fetch(LPIPS_BACKBONES[net])
        with warnings.catch_warnings():  # lpips calls torchvision's deprecated `pretrained=`
            warnings.simplefilter("ignore")
            # pnet_rand=True: lpips must not download the backbone itself; we load it below.
            self.lpips = lpips.LPIPS(net=net, pretrained=pretrained, pnet_rand=True, verbose=False)
        if path is not None:
            state = read_state_dict(path, what=f"LPIPS {net} backbone")
            _load_backbone(self.lpips.net, state, path)
        else:
            with torch.no_grad():  # trained LPIPS heads are non-negative; keep distances >= 0
                for lin in self.lpips.lins:
                    lin.model[-1].weight.abs_()
        self.net_name = net
        self.resize_to = None if resize_to == "full" else resize_to
        self.lpips.eval().requires_grad_(False)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        """``[N]`` distances between ``x`` and ``y`` (``[N, 3, H, W]`` in ``[-1, 1]``)."""
        x, y = match_size(x, y, self.resize_to)
        return self.lpips(x, y, normalize=False).flatten()

    def train(self, mode: bool = True) -> LPIPSDistance:
        """Always stays in eval mode (the heads have dropout)."""
        return super().train(False)


def _load_backbone(trunk: nn.Module, state: dict[str, Tensor], path: Path) -> None:
    """Load torchvision ``features.<i>.*`` weights into lpips's ``slice<k>.<i>.*`` modules.

    lpips copies torchvision's ``features`` layers into slices but keeps each layer's index as
    its name, so ``slice2.3.weight`` is torchvision's ``features.3.weight``.
    """
    wanted = trunk.state_dict()
    mapped = {}
    for key in wanted:
        source = "features." + key.split(".", 1)[1]
        if source not in state:
            raise CheckpointError(f"The LPIPS backbone file {path} lacks '{source}'; it should be "
                                  "torchvision's ImageNet state dict of that network.")
        if state[source].shape != wanted[key].shape:
            raise CheckpointError(f"The LPIPS backbone file {path} has '{source}' of shape "
                                  f"{tuple(state[source].shape)}, expected "
                                  f"{tuple(wanted[key].shape)}.")
        mapped[key] = state[source]
    trunk.load_state_dict(mapped, strict=True)


class ClipFeatureDistance(nn.Module):
    """An LPIPS-style distance on a trained CLIP's vision features, per sample.

    Both images go through the CLIP vision tower (at its own input size, with CLIP's
    normalisation); at the patch embedding and after every transformer block the spatial
    tokens (not the class token) are unit-normalised along channels, as LPIPS does with its
    backbone's activations, and the squared differences are averaged over channels and
    positions; the distance is the mean over those layers. LPIPS then weights channels with
    heads fit to human similarity judgements; no such judgements exist for this domain, so every
    channel and layer weighs the same (LPIPS's "baseline" variant). What it measures is
    therefore what the CLIP learnt to tell apart: content, colour and drawing style of the
    procedural portraits, from the raw patches up to the caption-level features.

    Args:
        name: a shipped CLIP (:data:`TRAINED_FEATURE_NETS`).
        pretrained: ``False`` builds the same architecture with random weights (tests).
    """

    def __init__(self, name: str = "portraits-clip", pretrained: bool = True) -> None:
        super().__init__()
        from gan_adapt.encoders.clip import build_clip

        if name not in TRAINED_FEATURE_NETS:
            raise ValueError(f"ClipFeatureDistance net must be one of {TRAINED_FEATURE_NETS}, "
                             f"got {name!r}")
        if pretrained:
            encoder = build_clip(name, "gan-adapt")
        else:
            from gan_adapt.errors import CheckpointError
            from gan_adapt.io.json_files import read_object
            from gan_adapt.weights import shipped

            config = read_object(shipped.path(name) / "config.json", what="model config",
                                 error=CheckpointError)
            encoder = build_clip(name, None, model_cfg=config["model_cfg"])
        self.visual = encoder.model.visual.float().eval().requires_grad_(False)
        self.register_buffer("mean", encoder.mean.reshape(1, 3, 1, 1).float().clone(),
                             persistent=False)
        self.register_buffer("std", encoder.std.reshape(1, 3, 1, 1).float().clone(),
                             persistent=False)
        size = self.visual.image_size
        self.size = int(size[0] if isinstance(size, (tuple, list)) else size)
        self.net_name = name

    def features(self, x: Tensor) -> list[Tensor]:
        """Unit-normalised ``[N, C, g, g]`` feature maps of images in [-1, 1]."""
        if tuple(x.shape[-2:]) != (self.size, self.size):
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", antialias=True,
                              align_corners=False)
        x = ((x + 1) / 2 - self.mean) / self.std
        maps = [self.visual.conv1(x)]
        maps += self.visual.forward_intermediates(x, intermediates_only=True,
                                                  output_fmt="NCHW")["image_intermediates"]
        return [m / (m.norm(dim=1, keepdim=True) + 1e-10) for m in maps]

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        """``[N]`` distances between ``x`` and ``y`` (``[N, 3, H, W]`` in ``[-1, 1]``)."""
        x, y = match_size(x, y)
        layers = [(a - b).square().sum(dim=1).mean(dim=(1, 2))
                  for a, b in zip(self.features(x), self.features(y))]
        return torch.stack(layers).mean(dim=0)

    def train(self, mode: bool = True) -> ClipFeatureDistance:
        """Always stays in eval mode."""
        return super().train(False)


def perceptual_distance(net: str = "alex", pretrained: bool = True,
                        resize_to: int | Literal["full"] | None = 256) -> nn.Module:
    """An ``lpips`` term's distance: :class:`LPIPSDistance` for an ImageNet backbone, or
    :class:`ClipFeatureDistance` for a shipped CLIP (``resize_to`` does not apply there: the
    CLIP sees its own input size)."""
    if net in TRAINED_FEATURE_NETS:
        return ClipFeatureDistance(net, pretrained=pretrained)
    return LPIPSDistance(net=net, pretrained=pretrained, resize_to=resize_to)
