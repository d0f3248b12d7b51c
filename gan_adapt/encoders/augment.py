"""Differentiable CLIP augmentations for the latent search, with per-sample random parameters.

OneShotCLIP's search compares the target image with K augmented copies of G(w). Its reference
implementation draws one set of parameters per call, so its K copies are identical; here every
sample gets its own draw. The pipeline, on ``[0, 1]`` images (``[N, 3, H, W]``):

1. random affine (rotation, translation, x-shear) and random perspective, composed into ONE
   homography per sample and applied with a single bilinear ``grid_sample`` (one resampling
   instead of two; the area outside the source is black, as in torchvision);
2. colour jitter: brightness, contrast, saturation (torchvision's definitions) and hue (HSV
   rotation, by kornia), in that fixed order;
3. random erasing: with probability ``erase_p`` a rectangle of 10-40 % of the area is set to 0.

Everything is differentiable w.r.t. the input. Randomness comes from ``generator`` when given,
otherwise from torch's global CPU RNG (so ``torch.manual_seed`` makes it reproducible). The
parameters are drawn on the CPU unless the generator lives elsewhere, so a seed gives the same
augmentations whatever device the images are on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor


@dataclass(frozen=True)
class CLIPAugment:
    """Per-sample random augmentations; defaults are the paper's (via torchvision's semantics).

    Attributes:
        affine_degrees: rotation angle drawn from ``[-d, d]`` degrees.
        translate: shift drawn from ``[-t, t]`` times the width (x) and height (y).
        shear: x-shear angle drawn from ``[-s, s]`` degrees.
        perspective: torchvision's ``distortion_scale``: each corner moves inwards by up to this
            fraction of half the image size.
        perspective_p: probability of the perspective warp (the reference uses 1).
        jitter: brightness, contrast and saturation factors from ``[1 - j, 1 + j]``, hue shift
            from ``[-j, j]`` of the colour circle.
        erase_p: probability of erasing a rectangle.
        erase_scale: range of the erased area, as a fraction of the image.
        erase_ratio: range of the erased rectangle's aspect ratio (drawn log-uniformly).
    """

    affine_degrees: float = 15.0
    translate: float = 0.1
    shear: float = 5.0
    perspective: float = 0.7
    perspective_p: float = 1.0
    jitter: float = 0.1
    erase_p: float = 0.7
    erase_scale: tuple[float, float] = (0.1, 0.4)
    erase_ratio: tuple[float, float] = (0.3, 1 / 0.3)

    def __post_init__(self) -> None:
        for name in ("affine_degrees", "translate", "shear", "perspective", "jitter"):
            if getattr(self, name) < 0:
                raise ValueError(f"CLIPAugment.{name} must be >= 0")
        for name in ("perspective_p", "erase_p"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"CLIPAugment.{name} must be a probability")
        if not 0.0 < self.erase_scale[0] <= self.erase_scale[1] <= 1.0:
            raise ValueError("CLIPAugment.erase_scale must satisfy 0 < low <= high <= 1")
        if not 0.0 < self.erase_ratio[0] <= self.erase_ratio[1]:
            raise ValueError("CLIPAugment.erase_ratio must satisfy 0 < low <= high")
        if self.perspective > 1.0 or self.translate > 1.0:
            raise ValueError("CLIPAugment.perspective and translate must be <= 1")

    def __call__(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Augment every image of ``x`` (``[N, 3, H, W]`` in ``[0, 1]``) with its own draw."""
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"CLIPAugment expects [N, 3, H, W] images, got {tuple(x.shape)}")
        n, _, h, w = x.shape
        draw = _Draw(n, generator, x.device, x.dtype)
        moves = self.affine_degrees or self.translate or self.shear
        if moves or (self.perspective and self.perspective_p):  # else skip a resampling
            x = warp(x, self._geometry(draw, h, w))
        x = self._colour(x, draw)
        return self._erase(x, draw)

    def repeat(self, x: Tensor, k: int, generator: torch.Generator | None = None) -> Tensor:
        """``k`` augmented copies of each image, ``[k * N, 3, H, W]`` (copy-major, like
        ``x.repeat(k, 1, 1, 1)``), every copy with its own parameters."""
        return self(x.repeat(k, 1, 1, 1), generator)

    # -- steps ---------------------------------------------------------------------------------

    def _geometry(self, draw: _Draw, h: int, w: int) -> Tensor:
        """Sampling homographies ``[N, 3, 3]`` (output -> input, normalised coordinates)."""
        angle = draw.uniform(-self.affine_degrees, self.affine_degrees)
        # A fraction of the width is twice that in normalised units (the image spans [-1, 1]).
        tx = draw.uniform(-self.translate, self.translate) * 2.0
        ty = draw.uniform(-self.translate, self.translate) * 2.0
        shear = draw.uniform(-self.shear, self.shear)
        forward_affine = affine_matrix(angle, tx, ty, shear, aspect=w / h)
        end = perspective_corners(draw, self.perspective, self.perspective_p)
        output_to_warped = homography(end, _CORNERS.to(end).expand_as(end))
        return torch.linalg.inv(forward_affine) @ output_to_warped

    def _colour(self, x: Tensor, draw: _Draw) -> Tensor:
        if self.jitter == 0:
            return x
        j = self.jitter
        view = (-1, 1, 1, 1)
        x = (x * draw.uniform(1 - j, 1 + j).view(view)).clamp(0, 1)  # brightness
        mean = _grey(x).mean(dim=(1, 2, 3), keepdim=True)
        c = draw.uniform(1 - j, 1 + j).view(view)
        x = (c * x + (1 - c) * mean).clamp(0, 1)  # contrast, around the mean grey level
        s = draw.uniform(1 - j, 1 + j).view(view)
        x = (s * x + (1 - s) * _grey(x)).clamp(0, 1)  # saturation
        from kornia.enhance import adjust_hue

        return adjust_hue(x, draw.uniform(-j, j) * 2 * math.pi)  # hue: a fraction of the circle

    def _erase(self, x: Tensor, draw: _Draw) -> Tensor:
        if self.erase_p == 0:
            return x
        n, _, h, w = x.shape
        apply = draw.uniform(0, 1) < self.erase_p
        area = draw.uniform(*self.erase_scale) * (h * w)
        log_ratio = draw.uniform(math.log(self.erase_ratio[0]), math.log(self.erase_ratio[1]))
        ratio = log_ratio.exp()
        eh = (area * ratio).sqrt().round().clamp(1, h)
        ew = (area / ratio).sqrt().round().clamp(1, w)
        top = (draw.uniform(0, 1) * (h - eh + 1)).floor()
        left = (draw.uniform(0, 1) * (w - ew + 1)).floor()
        rows = torch.arange(h, device=x.device, dtype=x.dtype).view(1, h, 1)
        cols = torch.arange(w, device=x.device, dtype=x.dtype).view(1, 1, w)
        inside = ((rows >= top.view(-1, 1, 1)) & (rows < (top + eh).view(-1, 1, 1))
                  & (cols >= left.view(-1, 1, 1)) & (cols < (left + ew).view(-1, 1, 1)))
        erased = inside & apply.view(-1, 1, 1)
        return x * (~erased).unsqueeze(1).to(x.dtype)


class _Draw:
    """Uniform draws of shape ``[N]`` from one RNG (on the generator's device, the CPU by
    default), moved to the images' device."""

    def __init__(self, n: int, generator: torch.Generator | None, device: torch.device,
                 dtype: torch.dtype) -> None:
        self.n, self.generator, self.device, self.dtype = n, generator, device, dtype

    def uniform(self, low: float, high: float, shape: tuple[int, ...] = ()) -> Tensor:
        where = self.generator.device if self.generator is not None else "cpu"
        u = torch.rand((self.n, *shape), generator=self.generator, dtype=torch.float64,
                       device=where)
        return (low + (high - low) * u).to(device=self.device, dtype=self.dtype)


# Corners in normalised coordinates (x, y), clockwise from the top-left.
_CORNERS = torch.tensor([[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]])


def affine_matrix(angle: Tensor, tx: Tensor, ty: Tensor, shear: Tensor,
                  aspect: float = 1.0) -> Tensor:
    """Forward affine maps ``[N, 3, 3]`` in normalised coordinates (``[-1, 1]`` over the image).

    Rotation by ``angle`` degrees (counter-clockwise on screen, like torchvision) and x-shear by
    ``shear`` degrees about the centre, then a shift by ``(tx, ty)`` normalised units (positive
    moves content right / down). The rotation is done
    in pixel-proportional coordinates, so a non-square image is not skewed.
    """
    a, s = torch.deg2rad(angle), torch.deg2rad(shear)
    cos, sin, tan = a.cos(), a.sin(), s.tan()
    one, zero = torch.ones_like(a), torch.zeros_like(a)
    rotate = torch.stack([cos, sin, zero, -sin, cos, zero, zero, zero, one], -1).view(-1, 3, 3)
    shear_x = torch.stack([one, tan, zero, zero, one, zero, zero, zero, one], -1).view(-1, 3, 3)
    to_pixels = torch.diag(torch.tensor([aspect, 1.0, 1.0])).to(a)  # x-units -> y-units
    linear = torch.linalg.inv(to_pixels) @ rotate @ shear_x @ to_pixels
    shift = torch.stack([one, zero, tx, zero, one, ty, zero, zero, one], -1).view(-1, 3, 3)
    return shift @ linear


def perspective_corners(draw: _Draw, distortion: float, p: float) -> Tensor:
    """Where each image corner lands, ``[N, 4, 2]``: moved inwards by up to ``distortion``
    (in units of half the image), independently per coordinate, as torchvision does."""
    inward = torch.tensor([[1.0, 1.0], [-1.0, 1.0], [-1.0, -1.0], [1.0, -1.0]])
    offset = draw.uniform(0.0, distortion, (4, 2))
    offset = offset * (draw.uniform(0, 1) < p).to(offset.dtype).view(-1, 1, 1)
    return _CORNERS.to(offset) + inward.to(offset) * offset


def homography(src: Tensor, dst: Tensor) -> Tensor:
    """The ``[N, 3, 3]`` homographies mapping 4 points ``src[n]`` onto ``dst[n]`` (both
    ``[N, 4, 2]``)."""
    x, y = src.unbind(-1)
    u, v = dst.unbind(-1)
    one, zero = torch.ones_like(x), torch.zeros_like(x)
    rows_u = torch.stack([x, y, one, zero, zero, zero, -u * x, -u * y], -1)
    rows_v = torch.stack([zero, zero, zero, x, y, one, -v * x, -v * y], -1)
    system = torch.cat([rows_u, rows_v], dim=1)  # [N, 8, 8]
    rhs = torch.cat([u, v], dim=1).unsqueeze(-1)  # [N, 8, 1]
    h = torch.linalg.solve(system.double(), rhs.double()).squeeze(-1).to(src.dtype)
    return torch.cat([h, torch.ones_like(h[:, :1])], dim=1).view(-1, 3, 3)


def warp(x: Tensor, sampling: Tensor) -> Tensor:
    """Resample ``x`` with per-sample homographies mapping OUTPUT to INPUT normalised coordinates.

    Pixel centres follow ``align_corners=False``; samples outside the input read 0 (black).
    """
    n, _, h, w = x.shape
    ys = (torch.arange(h, device=x.device, dtype=x.dtype) * 2 + 1) / h - 1
    xs = (torch.arange(w, device=x.device, dtype=x.dtype) * 2 + 1) / w - 1
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    points = torch.stack([gx, gy, torch.ones_like(gx)], -1).view(1, -1, 3)  # [1, H*W, 3]
    mapped = points @ sampling.to(x.dtype).transpose(1, 2)  # [N, H*W, 3]
    grid = mapped[..., :2] / mapped[..., 2:].clamp_min(1e-8)
    return F.grid_sample(x, grid.view(n, h, w, 2), mode="bilinear", padding_mode="zeros",
                         align_corners=False)


def _grey(x: Tensor) -> Tensor:
    """ITU-R 601 luma, ``[N, 1, H, W]`` (torchvision's greyscale)."""
    r, g, b = x.unbind(1)
    return (0.299 * r + 0.587 * g + 0.114 * b).unsqueeze(1)
