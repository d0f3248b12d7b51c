"""Draws ``sketch.png``: a procedural pencil sketch of a face (our own drawing, free to ship).

The shipped recipes need a target image the repository may distribute; this script makes one
from strokes alone (no photo), so it can be regenerated: ``python recipes/targets/make_sketch.py``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

SIZE = 512


def pencil_line(draw: ImageDraw.ImageDraw, points: list[tuple[float, float]],
                rng: np.random.Generator, passes: int = 3, width: int = 2) -> None:
    """A stroke drawn a few times with small jitter, as a hand with a pencil would."""
    for _ in range(passes):
        jitter = rng.normal(0, 1.2, (len(points), 2))
        shade = int(rng.integers(40, 110))
        draw.line([(x + dx, y + dy) for (x, y), (dx, dy) in zip(points, jitter)],
                  fill=(shade, shade, shade), width=width, joint="curve")


def ellipse_points(cx: float, cy: float, rx: float, ry: float, start: float = 0,
                   end: float = 2 * math.pi, n: int = 90) -> list[tuple[float, float]]:
    return [(cx + rx * math.cos(t), cy + ry * math.sin(t))
            for t in np.linspace(start, end, n)]


DEFAULT_OUT = Path(__file__).with_name("sketch.png")


def main(out: Path = DEFAULT_OUT) -> None:
    rng = np.random.default_rng(7)
    paper = np.full((SIZE, SIZE, 3), 242, dtype=np.float64)
    paper += rng.normal(0, 4, (SIZE, SIZE, 1))  # paper grain
    image = Image.fromarray(np.clip(paper, 0, 255).astype("uint8"))
    draw = ImageDraw.Draw(image)
    c = SIZE / 2
    pencil_line(draw, ellipse_points(c, c + 20, 150, 195), rng, passes=4)  # head
    for side in (-1, 1):  # eyes, brows, ears
        ex = c + side * 62
        pencil_line(draw, ellipse_points(ex, c - 5, 30, 13), rng)
        pencil_line(draw, ellipse_points(ex, c - 5, 10, 10), rng, passes=5, width=3)
        pencil_line(draw, [(ex - 35, c - 40), (ex, c - 52), (ex + 35, c - 42)], rng, width=3)
        pencil_line(draw, ellipse_points(c + side * 150, c + 10, 18, 40,
                                         -math.pi / 2 if side > 0 else math.pi / 2,
                                         math.pi / 2 if side > 0 else 3 * math.pi / 2), rng)
    pencil_line(draw, [(c - 5, c + 5), (c - 18, c + 70), (c, c + 78), (c + 16, c + 72)], rng)
    pencil_line(draw, ellipse_points(c, c + 105, 55, 18, 0.15 * math.pi, 0.85 * math.pi), rng,
                passes=4)  # smile
    for _ in range(70):  # hair: curved strokes over the top of the head
        t = rng.uniform(-2.6, -0.5)
        x0, y0 = c + 150 * math.cos(t), c + 20 + 195 * math.sin(t)
        bend = rng.uniform(-40, 40)
        pencil_line(draw, [(x0, y0), (x0 + bend * 0.5, y0 - 30), (x0 + bend, y0 - 50)], rng,
                    passes=1, width=2)
    for _ in range(160):  # cross-hatched shading on the left cheek and the neck
        x = rng.uniform(c - 140, c - 80)
        y = rng.uniform(c + 30, c + 150)
        pencil_line(draw, [(x, y), (x + 18, y - 12)], rng, passes=1, width=1)
    for _ in range(60):
        x = rng.uniform(c - 70, c + 70)
        pencil_line(draw, [(x, c + 215), (x + 8, c + 255)], rng, passes=1, width=1)
    image = image.filter(ImageFilter.GaussianBlur(0.6))
    image.save(out)


if __name__ == "__main__":
    main()
