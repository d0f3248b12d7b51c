"""SSIM: the structural similarity index of Wang et al. (2004), in pure torch, no network.

For two images the index compares, in a gaussian window around every pixel, the local means
(luminance), standard deviations (contrast) and correlation (structure)::

    SSIM(x, y) = (2 mu_x mu_y + C1) (2 sigma_xy + C2)
                 / ((mu_x^2 + mu_y^2 + C1)(sigma_x^2 + sigma_y^2 + C2))

with ``C1 = (0.01 L)^2``, ``C2 = (0.03 L)^2`` and ``L`` the data range. Images in [-1, 1] are
mapped to [0, 1] first (``L = 1``). The map is averaged over channels and over the positions
where the whole window fits ("valid", so no padding invents structure at the border). The
window is the paper's gaussian with sigma 1.5, but 7 pixels wide instead of 11: at the
benchmark's 32 px an 11-pixel window would leave a 22x22 map and smear features that are only
a few pixels wide. 1 means identical images; lower is less similar (it can be negative).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

WINDOW = 7
SIGMA = 1.5
K1, K2 = 0.01, 0.03


def gaussian_window(size: int = WINDOW, sigma: float = SIGMA) -> Tensor:
    """The normalised 2-D gaussian ``[size, size]`` (sums to 1)."""
    coords = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    line = torch.exp(-coords.square() / (2 * sigma * sigma))
    line = line / line.sum()
    return line[:, None] * line[None, :]


def ssim(x: Tensor, y: Tensor, window: int = WINDOW, sigma: float = SIGMA) -> Tensor:
    """SSIM per image pair, ``[N]``, for images ``[N, C, H, W]`` in [-1, 1] (module doc).

    Images smaller than the window use a window as large as the image."""
    if x.shape != y.shape or x.dim() != 4:
        raise ValueError(f"ssim needs two [N, C, H, W] batches of one shape, got "
                         f"{tuple(x.shape)} and {tuple(y.shape)}")
    size = min(window, x.shape[-2], x.shape[-1])
    kernel = gaussian_window(size, sigma).to(x.device)
    channels = x.shape[1]
    weight = kernel.expand(channels, 1, size, size).contiguous()
    a = (x.double().clamp(-1, 1) + 1) / 2
    b = (y.double().clamp(-1, 1) + 1) / 2

    def local_mean(t: Tensor) -> Tensor:
        return F.conv2d(t, weight, groups=channels)

    mu_a, mu_b = local_mean(a), local_mean(b)
    var_a = local_mean(a * a) - mu_a.square()
    var_b = local_mean(b * b) - mu_b.square()
    cov = local_mean(a * b) - mu_a * mu_b
    c1, c2 = K1 ** 2, K2 ** 2
    index = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / (
        (mu_a.square() + mu_b.square() + c1) * (var_a + var_b + c2))
    return index.mean(dim=(1, 2, 3)).to(x.dtype if x.is_floating_point() else torch.float32)
