"""The benchmark's TEST-split transforms: kinds of style that no tuning decision has seen.

The five transforms of :mod:`gan_adapt.synthetic_data.known_transforms` form the tune split: every
recipe and sweep of this project was chosen on them. These five are reserved for reporting
(docs/benchmark.md, "Protocol"); nothing that picks a recipe may score on them. Each is a
different kind from every tune transform, and each maps ``[N, 3, H, W]`` in ``[-1, 1]`` to the
same shape and range, deterministically, at any resolution.

* ``grade``: a colour grade (split toning): saturation halved, shadows pushed to teal and
  highlights to orange, contrast raised by an S-curve;
* ``pixelart``: a mosaic of 2x2-pixel cells (at 32 px; ``resolution / 16`` in general), each
  cell's mean colour snapped to the nearest of an eight-colour palette;
* ``relief``: an embossed bronze plate: the luminance's directional derivative (light from the
  top left) around mid-grey, tinted bronze;
* ``lineart``: clean black contour lines on white: the zero-free band of a
  difference-of-Gaussians of the luminance, thresholded (no shading, unlike ``sketch`` and
  ``hatch``);
* ``canvas``: an oil-on-canvas texture: colours slightly desaturated and blurred, multiplied by
  a woven weave of horizontal and vertical threads.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from gan_adapt.synthetic_data.known_transforms import _blur, luminance

#: ``pixelart``'s eight colours (RGB in [0, 1]): black, white, skin, dark brown, red, blue,
#: green, yellow.
PIXEL_PALETTE = ((0.05, 0.05, 0.08), (0.96, 0.95, 0.90), (0.93, 0.72, 0.58), (0.40, 0.24, 0.14),
                 (0.78, 0.20, 0.20), (0.25, 0.40, 0.80), (0.30, 0.62, 0.32), (0.95, 0.80, 0.30))
_TEAL = (0.0, 0.45, 0.50)
_ORANGE = (1.0, 0.62, 0.25)
_BRONZE = (0.80, 0.55, 0.30)


def _unit(x: Tensor) -> Tensor:
    return (x.clamp(-1, 1) + 1) / 2


def _colour(values: tuple[float, ...], like: Tensor) -> Tensor:
    return torch.tensor(values, dtype=like.dtype, device=like.device).reshape(1, 3, 1, 1)


def grade(x: Tensor) -> Tensor:
    """Split toning: ``mix(desaturated, teal, (1-l)^2 * 0.6)`` then towards orange by
    ``l^2 * 0.45``, then a smoothstep contrast curve."""
    rgb = _unit(x)
    luma = luminance(x)
    rgb = 0.5 * rgb + 0.5 * luma
    rgb = torch.lerp(rgb, _colour(_TEAL, x), (1 - luma).square() * 0.6)
    rgb = torch.lerp(rgb, _colour(_ORANGE, x), luma.square() * 0.45)
    rgb = rgb.clamp(0, 1)
    rgb = rgb * rgb * (3 - 2 * rgb)
    return (rgb * 2 - 1).contiguous()


def pixelart(x: Tensor) -> Tensor:
    """Cells of ``max(1, H // 16)`` pixels, each the palette colour nearest its mean."""
    h, w = x.shape[-2:]
    cell = max(1, h // 16)
    rgb = F.avg_pool2d(_unit(x), cell, ceil_mode=True)
    palette = torch.tensor(PIXEL_PALETTE, dtype=x.dtype, device=x.device)  # [8, 3]
    distance = (rgb[:, None] - palette[None, :, :, None, None]).square().sum(dim=2)
    snapped = palette[distance.argmin(dim=1)].permute(0, 3, 1, 2)  # [N, 3, h', w']
    big = F.interpolate(snapped, scale_factor=cell, mode="nearest")[..., :h, :w]
    return (big * 2 - 1).contiguous()


def relief(x: Tensor, strength: float = 3.0) -> Tensor:
    """``0.5 + strength * (l(p) - l(p + (1, 1)))``, clamped, times bronze."""
    luma = _blur(luminance(x), passes=1)
    padded = F.pad(luma, (0, 1, 0, 1), mode="replicate")
    slope = padded[..., :-1, :-1] - padded[..., 1:, 1:]
    plate = (0.5 + strength * slope).clamp(0, 1)
    return ((plate * _colour(_BRONZE, x) * 1.2).clamp(0, 1) * 2 - 1).contiguous()


def lineart(x: Tensor, threshold: float = 0.03) -> Tensor:
    """Black where ``|blur1(l) - blur4(l)| > threshold``, white elsewhere."""
    luma = luminance(x)
    dog = _blur(luma, passes=1) - _blur(luma, passes=4)
    ink = (dog.abs() > threshold).to(x.dtype)
    return ((1 - ink) * 2 - 1).expand(-1, 3, -1, -1).contiguous()


def canvas(x: Tensor, period: int = 3) -> Tensor:
    """``blur(0.8 * rgb + 0.2 * l) * weave``: threads every ``period`` pixels, 25% darker
    where they cross."""
    rgb = _blur(0.8 * _unit(x) + 0.2 * luminance(x), passes=1)
    h, w = x.shape[-2:]
    rows = (torch.arange(h, device=x.device) % period == 0).to(x.dtype)[:, None]
    cols = (torch.arange(w, device=x.device) % period == 0).to(x.dtype)[None, :]
    weave = 1 - 0.12 * rows - 0.12 * cols
    return ((rgb * weave).clamp(0, 1) * 2 - 1).contiguous()


TEST_TRANSFORMS: dict[str, Callable[[Tensor], Tensor]] = {
    "grade": grade, "pixelart": pixelart, "relief": relief, "lineart": lineart, "canvas": canvas,
}

#: Each test transform's domain phrase, for text recipes ("<phrase> of a face").
TEST_CAPTIONS: dict[str, str] = {
    "grade": "a colour-graded film still", "pixelart": "a pixel-art sprite",
    "relief": "an embossed bronze relief", "lineart": "a clean line drawing",
    "canvas": "an oil painting on canvas",
}
