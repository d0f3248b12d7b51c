"""Draws ``sketches-10/``: ten procedural pencil sketches of different faces, the few-shot target
of ``recipes/cdc-10shot.toml`` (our own drawings, free to ship).

Each face varies the head's shape, the eyes, brows, nose, mouth, hair and shading, so the ten
images share a domain (pencil sketches of faces) but not an identity. Regenerate with
``python recipes/targets/make_sketches_10.py``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from make_sketch import ellipse_points, pencil_line
from PIL import Image, ImageDraw, ImageFilter

SIZE = 256
COUNT = 10


def draw_face(seed: int) -> Image.Image:
    """One sketch; every proportion is drawn from the seed."""
    rng = np.random.default_rng(100 + seed)
    paper = np.full((SIZE, SIZE, 3), 240, dtype=np.float64) + rng.normal(0, 3, (SIZE, SIZE, 1))
    image = Image.fromarray(np.clip(paper, 0, 255).astype("uint8"))
    draw = ImageDraw.Draw(image)
    s = SIZE / 512  # proportions are set on a 512-px face, as in make_sketch.py
    cx = SIZE / 2 + rng.uniform(-12, 12)
    cy = SIZE / 2 + rng.uniform(-6, 10)
    rx, ry = rng.uniform(125, 165) * s, rng.uniform(170, 210) * s
    pencil_line(draw, ellipse_points(cx, cy + 20 * s, rx, ry), rng, passes=4)  # head
    eye_gap, eye_y = rng.uniform(48, 72) * s, cy - rng.uniform(0, 18) * s
    eye_w, eye_h = rng.uniform(22, 34) * s, rng.uniform(9, 15) * s
    slant = rng.uniform(-10, 10) * s
    for side in (-1, 1):  # eyes, pupils, brows, ears
        ex = cx + side * eye_gap
        pencil_line(draw, ellipse_points(ex, eye_y, eye_w, eye_h), rng)
        pencil_line(draw, ellipse_points(ex, eye_y, eye_h * 0.7, eye_h * 0.7), rng, passes=5,
                    width=2)
        brow_y = eye_y - rng.uniform(30, 48) * s
        pencil_line(draw, [(ex - eye_w, brow_y + side * slant), (ex, brow_y - 10 * s),
                           (ex + eye_w, brow_y - side * slant)], rng, width=2)
        start, end = ((-math.pi / 2, math.pi / 2) if side > 0 else (math.pi / 2, 1.5 * math.pi))
        pencil_line(draw, ellipse_points(cx + side * rx, eye_y + 15 * s, 16 * s, 38 * s,
                                         start, end), rng)
    nose = rng.uniform(55, 85) * s
    pencil_line(draw, [(cx - 4 * s, eye_y + 10 * s), (cx - 16 * s, eye_y + nose),
                       (cx, eye_y + nose + 8 * s), (cx + 15 * s, eye_y + nose + 2 * s)], rng)
    mouth_y, mouth_w = eye_y + nose + rng.uniform(28, 45) * s, rng.uniform(35, 65) * s
    bend = rng.uniform(0.1, 0.25)
    pencil_line(draw, ellipse_points(cx, mouth_y, mouth_w, rng.uniform(8, 22) * s,
                                     bend * math.pi, (1 - bend) * math.pi), rng, passes=4)
    hair_length = rng.uniform(25, 70) * s
    for _ in range(int(rng.integers(40, 90))):  # hair over the top of the head
        t = rng.uniform(-2.7, -0.45)
        x0, y0 = cx + rx * math.cos(t), cy + 20 * s + ry * math.sin(t)
        curl = rng.uniform(-30, 30) * s
        pencil_line(draw, [(x0, y0), (x0 + curl * 0.5, y0 - hair_length * 0.6),
                           (x0 + curl, y0 - hair_length)], rng, passes=1, width=1)
    side = rng.choice([-1, 1])  # cross-hatched shading on one cheek
    for _ in range(int(rng.integers(60, 140))):
        x = cx + side * rng.uniform(rx * 0.55, rx * 0.95)
        y = rng.uniform(cy + 20 * s, cy + ry * 0.8)
        pencil_line(draw, [(x, y), (x + 9 * s * 2, y - 6 * s * 2)], rng, passes=1, width=1)
    return image.filter(ImageFilter.GaussianBlur(0.5))


DEFAULT_OUT = Path(__file__).with_name("sketches-10")


def main(out: Path = DEFAULT_OUT) -> None:
    out.mkdir(exist_ok=True)
    for i in range(COUNT):
        draw_face(i).save(out / f"sketch-{i:02d}.png", optimize=True)


if __name__ == "__main__":
    main()
