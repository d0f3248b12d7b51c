"""Known image transforms T that define target domains with a ground truth.

If a one-shot recipe is given the target ``T(x0)`` for a source image ``x0``, the ideal adapted
generator is ``T(G_s(w))`` for every latent ``w``: how far ``G_t(w)`` is from it measures the
adaptation directly (see ``benchmarks/quality.py``). Each transform maps ``[N, 3, H, W]`` in
``[-1, 1]`` to the same shape and range, deterministically, at any resolution.

* ``sketch``: dark pencil lines on white paper where the luminance has edges (Sobel magnitude
  of the slightly blurred luminance);
* ``posterise``: the luminance mapped onto a fixed four-colour palette (hard thresholds);
* ``invert``: the colour negative;
* ``watercolour``: a soft wash: the blurred image, each channel quantised to a few levels,
  faded towards the paper and with darker pigment where neighbouring washes meet;
* ``hatch``: a black-ink line drawing on white: outlines where the luminance has edges, and
  diagonal hatching (cross-hatching where darker) whose density follows the darkness.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

_LUMA = (0.299, 0.587, 0.114)
#: Dark to light: ink blue, brick red, ochre, cream (RGB in [0, 1]).
PALETTE = ((0.10, 0.13, 0.30), (0.70, 0.20, 0.18), (0.90, 0.65, 0.20), (0.97, 0.94, 0.82))


def luminance(x: Tensor) -> Tensor:
    """``[N, 1, H, W]`` luma in [0, 1] of images in [-1, 1]."""
    weights = torch.tensor(_LUMA, dtype=x.dtype, device=x.device).reshape(1, 3, 1, 1)
    return ((x.clamp(-1, 1) + 1) / 2 * weights).sum(dim=1, keepdim=True)


def sketch(x: Tensor, strength: float = 4.0) -> Tensor:
    """Pencil sketch: ``1 - clamp(strength * |Sobel(blur(luma))|)``, grey, in [-1, 1]."""
    luma = luminance(x)
    blur = torch.tensor([1.0, 2.0, 1.0], dtype=x.dtype, device=x.device)
    blur = (blur[:, None] * blur[None, :] / 16).reshape(1, 1, 3, 3)
    luma = F.conv2d(F.pad(luma, (1, 1, 1, 1), mode="replicate"), blur)
    sobel_x = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]],
                           dtype=x.dtype, device=x.device).reshape(1, 1, 3, 3) / 4
    padded = F.pad(luma, (1, 1, 1, 1), mode="replicate")
    gx = F.conv2d(padded, sobel_x)
    gy = F.conv2d(padded, sobel_x.transpose(2, 3))
    paper = 1 - (strength * torch.sqrt(gx**2 + gy**2 + 1e-12)).clamp(0, 1)
    return (paper * 2 - 1).expand(-1, 3, -1, -1).contiguous()


def posterise(x: Tensor) -> Tensor:
    """The luminance quantised to four levels, each painted with a :data:`PALETTE` colour."""
    level = (luminance(x) * len(PALETTE)).floor().clamp(0, len(PALETTE) - 1).long()
    palette = torch.tensor(PALETTE, dtype=x.dtype, device=x.device)  # [4, 3]
    colours = palette[level[:, 0]]  # [N, H, W, 3]
    return colours.permute(0, 3, 1, 2) * 2 - 1


def invert(x: Tensor) -> Tensor:
    """The colour negative."""
    return -x.clamp(-1, 1)


def _blur(x: Tensor, passes: int) -> Tensor:
    """``passes`` 3x3 binomial blurs (about a Gaussian of sigma ``0.7 * sqrt(passes)`` px)."""
    kernel = torch.tensor([1.0, 2.0, 1.0], dtype=x.dtype, device=x.device)
    kernel = (kernel[:, None] * kernel[None, :] / 16).reshape(1, 1, 3, 3)
    kernel = kernel.expand(x.shape[1], 1, 3, 3)
    for _ in range(passes):
        x = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), kernel, groups=x.shape[1])
    return x


def watercolour(x: Tensor, levels: int = 5) -> Tensor:
    """Blur, quantise each channel to ``levels`` washes, fade 20% towards cream paper, and
    darken the borders between washes (where pigment pools on real paper)."""
    rgb = _blur((x.clamp(-1, 1) + 1) / 2, passes=1)
    washes = (rgb * (levels - 1)).round() / (levels - 1)
    paper = torch.tensor((0.98, 0.96, 0.90), dtype=x.dtype, device=x.device).reshape(1, 3, 1, 1)
    faded = 0.8 * washes + 0.2 * paper
    border = (washes - _blur(washes, passes=1)).abs().sum(dim=1, keepdim=True).clamp(0, 1)
    return ((faded * (1 - 0.5 * border)).clamp(0, 1) * 2 - 1).contiguous()


def hatch(x: Tensor, period: int = 4) -> Tensor:
    """Ink outlines (the sketch's edges, thresholded) and hatching: ``/`` lines where the
    luminance is below 0.6, ``\\`` lines too below 0.3; one line every ``period`` pixels."""
    luma = _blur(luminance(x), passes=1)
    h, w = x.shape[-2:]
    rows = torch.arange(h, device=x.device)[:, None]
    cols = torch.arange(w, device=x.device)[None, :]
    forward = ((rows + cols) % period == 0).to(x.dtype)
    backward = ((rows - cols) % period == 0).to(x.dtype)
    ink = forward * (luma < 0.45).to(x.dtype) + backward * (luma < 0.25).to(x.dtype)
    edges = (sketch(x)[:, :1] < -0.3).to(x.dtype)
    paper = 1 - (ink + edges).clamp(0, 1)
    return (paper * 2 - 1).expand(-1, 3, -1, -1).contiguous()


TRANSFORMS: dict[str, Callable[[Tensor], Tensor]] = {
    "sketch": sketch, "posterise": posterise, "invert": invert,
    "watercolour": watercolour, "hatch": hatch,
}


#: Shipped target images made by a known transform (sha256 of the file -> transform): eval
#: recognises them and prints the ideal adapted generator's values beside the run's.
#: ``recipes/targets/portrait-sketch.png`` (the offline demo's target) is ``sketch`` of a portrait.
KNOWN_TARGETS: dict[str, str] = {
    "9e3b004e6530b834b828d54f19b73e7056edf882be735e68fbf13061722167d6": "sketch",
}


def transform_of_target(path: str | None) -> str | None:
    """The transform that made the target image at ``path``, when it is a shipped target of
    :data:`KNOWN_TARGETS`; None otherwise (folders, text targets, the user's own images)."""
    import hashlib
    from pathlib import Path

    if not path or not Path(path).is_file():
        return None
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    return KNOWN_TARGETS.get(digest)


class TransformedGenerator(torch.nn.Module):
    """``T(G(z))`` with G's interface (``z_dim``, ``mapping``, ``synthesis``): the ideal adapted
    generator of a known-transform target, evaluated like any other generator."""

    def __init__(self, generator: torch.nn.Module, transform: Callable[[Tensor], Tensor]) -> None:
        super().__init__()
        self.generator, self.transform = generator, transform
        self.z_dim, self.w_dim = generator.z_dim, generator.w_dim
        self.num_ws, self.img_resolution = generator.num_ws, generator.img_resolution

    def mapping(self, z: Tensor, c: Tensor | None = None, **kwargs) -> Tensor:
        return self.generator.mapping(z, c, **kwargs)

    def synthesis(self, ws: Tensor, **kwargs) -> Tensor:
        return self.transform(self.generator.synthesis(ws, **kwargs).clamp(-1, 1))
