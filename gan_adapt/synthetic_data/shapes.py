"""Procedural "shapes" images: one or two coloured shapes on a two-colour linear gradient.

Every image is a pure function of a seeded ``torch.Generator``, so the data set of the benchmark
is defined by (resolution, seed) and never stored. Shapes are drawn from signed distance
functions with a one-pixel soft edge, which gives anti-aliased outlines at any resolution.

Shapes: disc, square and equilateral triangle, each with a random centre, size, rotation and a
saturated random colour. Backgrounds: a linear gradient between two muted random colours along
a random direction.
"""

from __future__ import annotations

import math

import torch

SHAPES = ("disc", "square", "triangle")


def _grid(resolution: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel-centre coordinates in [0, 1], each ``[R, R]`` (x to the right, y down)."""
    coords = (torch.arange(resolution, dtype=torch.float32) + 0.5) / resolution
    y, x = torch.meshgrid(coords, coords, indexing="ij")
    return x, y


def _saturated_colours(n: int, gen: torch.Generator) -> torch.Tensor:
    """``[n, 3]`` bright colours in [0, 1]: a random hue at full saturation, high value."""
    hue = torch.rand(n, generator=gen) * 6.0
    value = 0.75 + 0.25 * torch.rand(n, generator=gen)
    # HSV -> RGB with saturation 1: each channel is a clamped triangle wave of the hue.
    offsets = torch.tensor([0.0, 4.0, 2.0])
    k = (offsets + hue[:, None] + 0.0) % 6.0  # [n, 3]
    channel = 1.0 - torch.clamp(torch.minimum(k, 4.0 - k), 0.0, 1.0)
    return channel.flip(1) * value[:, None]


def _signed_distance(kind: torch.Tensor, px: torch.Tensor, py: torch.Tensor,
                     size: torch.Tensor) -> torch.Tensor:
    """Signed distance (negative inside) of each sample's shape; ``px``/``py`` are ``[n, R, R]``
    coordinates in the shape's rotated frame, ``size`` its circumradius ``[n, 1, 1]``."""
    disc = torch.sqrt(px**2 + py**2) - size
    half = size / math.sqrt(2.0)  # a square inscribed in the same circle
    qx, qy = px.abs() - half, py.abs() - half
    square = (torch.sqrt(qx.clamp(min=0) ** 2 + qy.clamp(min=0) ** 2)
              + torch.minimum(torch.maximum(qx, qy), torch.zeros_like(qx)))
    # Equilateral triangle with circumradius `size`: the max of its three edge distances
    # (exact inside, a slight over-estimate outside; fine for a one-pixel soft edge).
    inradius = size / 2.0
    edges = [px * math.cos(a) + py * math.sin(a) - inradius
             for a in (math.pi / 2, math.pi / 2 + 2 * math.pi / 3, math.pi / 2 + 4 * math.pi / 3)]
    triangle = torch.maximum(torch.maximum(edges[0], edges[1]), edges[2])
    k = kind[:, None, None]
    return torch.where(k == 0, disc, torch.where(k == 1, square, triangle))


def shapes_batch(n: int, resolution: int, gen: torch.Generator, max_shapes: int = 2,
                 sizes: tuple[float, float] = (0.12, 0.28)) -> torch.Tensor:
    """``n`` images ``[n, 3, R, R]`` in [-1, 1], drawn from ``gen``: 1 to ``max_shapes``
    shapes whose circumradius is uniform in ``sizes`` (fractions of the image side)."""
    x, y = _grid(resolution)
    # Background: gradient between two muted colours along a random direction.
    angle = torch.rand(n, generator=gen) * 2 * math.pi
    c0 = 0.15 + 0.6 * torch.rand(n, 3, generator=gen)
    c1 = 0.15 + 0.6 * torch.rand(n, 3, generator=gen)
    t = ((x[None] - 0.5) * torch.cos(angle)[:, None, None]
         + (y[None] - 0.5) * torch.sin(angle)[:, None, None]) / math.sqrt(0.5) * 0.5 + 0.5
    t = t.clamp(0, 1)[:, None]  # [n, 1, R, R]
    image = c0[:, :, None, None] * (1 - t) + c1[:, :, None, None] * t
    count = torch.randint(1, max_shapes + 1, (n,), generator=gen)
    edge = 1.0 / resolution
    for index in range(max_shapes):
        kind = torch.randint(0, len(SHAPES), (n,), generator=gen)
        centre = 0.25 + 0.5 * torch.rand(n, 2, generator=gen)
        size = (sizes[0] + (sizes[1] - sizes[0]) * torch.rand(n, generator=gen))[:, None, None]
        rot = torch.rand(n, generator=gen) * 2 * math.pi
        colour = _saturated_colours(n, gen)
        dx, dy = x[None] - centre[:, 0, None, None], y[None] - centre[:, 1, None, None]
        cos, sin = torch.cos(rot)[:, None, None], torch.sin(rot)[:, None, None]
        px, py = cos * dx + sin * dy, -sin * dx + cos * dy
        alpha = (0.5 - _signed_distance(kind, px, py, size) / edge).clamp(0, 1)
        alpha = alpha * (index < count).float()[:, None, None]
        image = image * (1 - alpha[:, None]) + colour[:, :, None, None] * alpha[:, None]
    return image * 2 - 1


class ShapesStream:
    """An endless, seeded stream of shapes batches: ``next_batch(n)`` is reproducible."""

    def __init__(self, resolution: int, seed: int = 0, max_shapes: int = 2,
                 sizes: tuple[float, float] = (0.12, 0.28)) -> None:
        self.resolution, self.max_shapes, self.sizes = resolution, max_shapes, sizes
        self.gen = torch.Generator().manual_seed(seed)

    def next_batch(self, n: int) -> torch.Tensor:
        return shapes_batch(n, self.resolution, self.gen, self.max_shapes, self.sizes)

    def images(self, n: int) -> torch.Tensor:
        """The trainer's :class:`~gan_adapt.training.trainer.DataStream` interface."""
        return self.next_batch(n)

    def state(self) -> torch.Tensor:
        return self.gen.get_state()

    def set_state(self, state: torch.Tensor) -> None:
        self.gen.set_state(state)
