"""Procedural portraits: a seeded face domain whose every image comes with its attribute record.

The benchmark and the offline demo need a source domain close to the paper's task (faces to
sketches) whose content is known exactly. A portrait is drawn from signed distance functions
(ellipses, rings, bars) at twice the output size and box-filtered down, so the edges are
anti-aliased at any resolution. The features are drawn large and with strong contrast, so a
person can read every attribute at 32 px.

Attributes (the index into each tuple is what :class:`Portraits` records):

* ``skin``: the face's tone;
* ``hair_colour``: also the brows' colour (still recorded, but not visible as hair, when bald);
* ``hair_style``: short (a cap with a fringe), long (down to the shoulders), bald;
* ``expression``: smiling (an arc), neutral (a straight line), surprised (an open mouth and
  raised brows);
* ``eyewear``: none, glasses (dark rings and a bridge), sunglasses (filled dark lenses);
* ``background``: a muted colour with a faint vertical gradient.

Nuisance variation that no caption names: head position, size and aspect, the shirt's colour,
small jitter of every colour. Nothing is stored: a batch is a pure function of the seeded
``torch.Generator`` that draws it, so the domain is endless and reproducible.

Captions name content and domain ("a pencil sketch of a smiling face with short red hair and
glasses"); :data:`DOMAINS` lists the phrase of the photo domain and of every known transform.
"""

from __future__ import annotations

import random as _random
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

#: Attribute name -> the words each value is called by (index = recorded value).
ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "skin": ("light", "tan", "brown", "dark"),
    "hair_colour": ("black", "brown", "blonde", "red", "grey"),
    "hair_style": ("short", "long", "bald"),
    "expression": ("smiling", "neutral", "surprised"),
    "eyewear": ("no glasses", "glasses", "sunglasses"),
    "background": ("blue", "green", "yellow", "pink"),
}

#: Attributes that describe a portrait's content (what a style transfer must keep) rather than
#: its colours (which a sketch, a negative or a posterised print legitimately change).
CONTENT_ATTRIBUTES = ("hair_style", "expression", "eyewear")

#: Domain name -> the phrase captions start with. ``photo`` is the source domain; the others
#: are the known transforms of :mod:`gan_adapt.synthetic_data.known_transforms`.
DOMAINS: dict[str, str] = {
    "photo": "a photo",
    "sketch": "a pencil sketch",
    "posterise": "a posterised print",
    "invert": "a colour negative",
    "watercolour": "a watercolour painting",
    "hatch": "a hatched ink drawing",
}

_SKIN = ((0.96, 0.80, 0.69), (0.85, 0.64, 0.46), (0.62, 0.42, 0.28), (0.36, 0.24, 0.17))
_HAIR = ((0.08, 0.07, 0.07), (0.42, 0.25, 0.12), (0.95, 0.82, 0.42), (0.85, 0.30, 0.10),
         (0.72, 0.72, 0.74))
_BACKGROUND = ((0.45, 0.60, 0.85), (0.50, 0.75, 0.50), (0.92, 0.85, 0.45), (0.90, 0.62, 0.72))
_INK = (0.05, 0.04, 0.05)
_LIPS = (0.55, 0.12, 0.14)


@dataclass
class Portraits:
    """A batch of portraits: ``images`` ``[N, 3, R, R]`` in [-1, 1] and one ``[N]`` long tensor
    of attribute values per name of :data:`ATTRIBUTES`."""

    images: Tensor
    attributes: dict[str, Tensor]

    def record(self, index: int) -> dict[str, str]:
        """Sample ``index``'s attributes in words."""
        return {name: ATTRIBUTES[name][int(values[index])]
                for name, values in self.attributes.items()}


def _ellipse(x: Tensor, y: Tensor, cx: Tensor, cy: Tensor, rx: Tensor, ry: Tensor) -> Tensor:
    """Approximate signed distance (negative inside) to an axis-aligned ellipse; every argument
    broadcasts against ``[N, S, S]``."""
    radius = torch.minimum(torch.as_tensor(rx), torch.as_tensor(ry))
    return (torch.sqrt(((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 + 1e-12) - 1.0) * radius


def _box(x: Tensor, y: Tensor, cx: Tensor, cy: Tensor, hx: Tensor, hy: Tensor) -> Tensor:
    """Signed distance to an axis-aligned box of half-sizes ``hx``, ``hy``."""
    qx, qy = (x - cx).abs() - hx, (y - cy).abs() - hy
    outside = torch.sqrt(qx.clamp(min=0) ** 2 + qy.clamp(min=0) ** 2)
    return outside + torch.maximum(qx, qy).clamp(max=0)


def _col(values: tuple, index: Tensor, jitter: Tensor) -> Tensor:
    """``[N, 3, 1, 1]`` colours picked from a palette, each channel jittered by ``jitter``."""
    palette = torch.tensor(values, dtype=torch.float32)
    return (palette[index] + jitter).clamp(0, 1)[:, :, None, None]


def _paint(canvas: Tensor, sdf: Tensor, colour: Tensor, edge: float,
           mask: Tensor | None = None) -> Tensor:
    """Alpha-blend ``colour`` over ``canvas`` inside ``sdf < 0`` (one-pixel soft edge);
    ``mask`` ``[N]`` limits it to some samples."""
    alpha = (0.5 - sdf / edge).clamp(0, 1)
    if mask is not None:
        alpha = alpha * mask.float()[:, None, None]
    alpha = alpha[:, None]
    return canvas * (1 - alpha) + colour * alpha


def portraits_batch(n: int, resolution: int, gen: torch.Generator,
                    supersample: int = 2) -> Portraits:
    """``n`` portraits at ``resolution`` drawn from ``gen`` (see the module docstring)."""
    size = resolution * supersample
    coords = (torch.arange(size, dtype=torch.float32) + 0.5) / size
    y, x = torch.meshgrid(coords, coords, indexing="ij")
    x, y = x[None], y[None]
    edge = 1.5 / size

    def pick(name: str) -> Tensor:
        return torch.randint(0, len(ATTRIBUTES[name]), (n,), generator=gen)

    def uniform(low: float, high: float) -> Tensor:
        return (low + (high - low) * torch.rand(n, generator=gen))[:, None, None]

    def jitter(scale: float) -> Tensor:
        return (torch.rand(n, 3, generator=gen) - 0.5) * 2 * scale

    attrs = {name: pick(name) for name in ATTRIBUTES}
    cx, cy = uniform(0.46, 0.54), uniform(0.48, 0.54)
    rx, ry = uniform(0.23, 0.27), uniform(0.29, 0.33)
    skin = _col(_SKIN, attrs["skin"], jitter(0.03))
    hair = _col(_HAIR, attrs["hair_colour"], jitter(0.04))
    shirt = (0.15 + 0.7 * torch.rand(n, 3, generator=gen))[:, :, None, None]
    background = _col(_BACKGROUND, attrs["background"], jitter(0.04))

    canvas = background * (1.08 - 0.16 * y[:, None])  # lighter at the top
    style = attrs["hair_style"]
    long_hair = style == 1
    # Long hair falls behind the head down to the shoulders.
    behind = torch.minimum(_ellipse(x, y, cx, cy - 0.02, rx * 1.28, ry * 1.12),
                           _box(x, y, cx, cy + 0.22, rx * 1.22, ry * 0.75))
    canvas = _paint(canvas, behind, hair, edge, long_hair)
    shoulders = _ellipse(x, y, cx, cy + ry + 0.25, rx * 1.9, 0.3)
    canvas = _paint(canvas, shoulders, shirt, edge)
    neck = _box(x, y, cx, cy + ry * 0.9, rx * 0.35, ry * 0.3)
    canvas = _paint(canvas, neck, skin * 0.85, edge)
    canvas = _paint(canvas, _ellipse(x, y, cx, cy, rx, ry), skin, edge)
    # Hair on top of the head: a cap cut off at a fringe line.
    cap = torch.maximum(_ellipse(x, y, cx, cy - 0.03, rx * 1.1, ry * 1.06),
                        y - (cy - ry * 0.45))
    canvas = _paint(canvas, cap, hair, edge, ~(style == 2))

    eye_y = cy - ry * 0.12
    surprised = attrs["expression"] == 2
    for side in (-1.0, 1.0):
        ex = cx + side * rx * 0.42
        brow_y = eye_y - ry * torch.where(surprised, 0.42, 0.28)[:, None, None]
        canvas = _paint(canvas, _box(x, y, ex, brow_y, rx * 0.22, 0.012), hair * 0.8, edge)
        canvas = _paint(canvas, _ellipse(x, y, ex, eye_y, rx * 0.17, ry * 0.09),
                        torch.ones(1, 3, 1, 1), edge)
        canvas = _paint(canvas, _ellipse(x, y, ex, eye_y, rx * 0.09, rx * 0.09),
                        torch.tensor(_INK)[None, :, None, None], edge)
        lens = _ellipse(x, y, ex, eye_y, rx * 0.3, rx * 0.3)
        ring = lens.abs() - 0.016
        ink = torch.tensor(_INK)[None, :, None, None]
        canvas = _paint(canvas, ring, ink, edge, attrs["eyewear"] == 1)
        canvas = _paint(canvas, lens, ink + 0.08, edge, attrs["eyewear"] == 2)
    bridge = _box(x, y, cx, eye_y, rx * 0.14, 0.012)
    canvas = _paint(canvas, bridge, torch.tensor(_INK)[None, :, None, None], edge,
                    attrs["eyewear"] > 0)

    mouth_y = cy + ry * 0.48
    lips = torch.tensor(_LIPS)[None, :, None, None]
    # Smiling: the lower half of a ring. Neutral: a bar. Surprised: an open oval.
    smile = torch.maximum(_ellipse(x, y, cx, mouth_y - ry * 0.12, rx * 0.45, ry * 0.22).abs()
                          - 0.018, mouth_y - ry * 0.08 - y)
    canvas = _paint(canvas, smile, lips, edge, attrs["expression"] == 0)
    canvas = _paint(canvas, _box(x, y, cx, mouth_y, rx * 0.36, 0.017), lips, edge,
                    attrs["expression"] == 1)
    canvas = _paint(canvas, _ellipse(x, y, cx, mouth_y, rx * 0.2, ry * 0.14), lips * 0.6, edge,
                    surprised)
    image = F.avg_pool2d(canvas.clamp(0, 1), supersample) if supersample > 1 else canvas
    return Portraits(image.clamp(0, 1) * 2 - 1, attrs)


class PortraitStream:
    """An endless, seeded stream of portraits whose position can be saved and restored.

    ``images(n)`` is the trainer's data interface; ``next(n)`` also returns the attributes.
    ``state()``/``set_state()`` make a resumed training run see exactly the images it would
    have seen without the interruption.
    """

    def __init__(self, resolution: int, seed: int = 0) -> None:
        self.resolution = resolution
        self.gen = torch.Generator().manual_seed(seed)

    def next(self, n: int) -> Portraits:
        return portraits_batch(n, self.resolution, self.gen)

    def images(self, n: int) -> Tensor:
        return self.next(n).images

    def state(self) -> Tensor:
        return self.gen.get_state()

    def set_state(self, state: Tensor) -> None:
        self.gen.set_state(state)


def _hair_words(record: dict[str, str]) -> str:
    if record["hair_style"] == "bald":
        return "a bald head"
    return f"{record['hair_style']} {record['hair_colour']} hair"


def caption(record: dict[str, str], domain: str = "photo", rng: _random.Random | None = None,
            keep: float = 1.0) -> str:
    """A caption naming ``domain`` and the content of ``record`` (attribute words).

    With ``rng`` and ``keep < 1`` each attribute is mentioned with probability ``keep``, so a
    contrastive model learns each attribute's words on their own (the zero-shot prompts of
    :func:`attribute_prompts` mention one attribute at a time).
    """
    def mention() -> bool:
        return rng is None or rng.random() < keep

    expression = f"{record['expression']} " if mention() else ""
    parts = []
    if mention():
        parts.append(_hair_words(record))
    if mention() and record["eyewear"] != "no glasses":
        parts.append(record["eyewear"])
    elif parts and mention() and record["eyewear"] == "no glasses":
        parts.append("no glasses")
    text = f"{DOMAINS[domain]} of a {expression}face"
    if parts:
        text += " with " + " and ".join(parts)
    extras = []
    if mention():
        extras.append(f"{record['skin']} skin")
    if mention():
        extras.append(f"on a {record['background']} background")
    if extras:
        text += ", " + ", ".join(extras)
    return text


def domain_prompts() -> dict[str, str]:
    """Zero-shot prompt of each domain ("a pencil sketch of a face")."""
    return {name: f"{phrase} of a face" for name, phrase in DOMAINS.items()}


def attribute_prompts(domain: str = "photo") -> dict[str, list[str]]:
    """Zero-shot prompts, one per value of each attribute, in ``domain``'s words."""
    lead = DOMAINS[domain]
    prompts: dict[str, list[str]] = {}
    for name, values in ATTRIBUTES.items():
        if name == "expression":
            prompts[name] = [f"{lead} of a {value} face" for value in values]
        elif name == "hair_style":
            prompts[name] = [f"{lead} of a face with " + ("a bald head" if value == "bald"
                                                           else f"{value} hair")
                             for value in values]
        elif name == "hair_colour":
            prompts[name] = [f"{lead} of a face with {value} hair" for value in values]
        elif name == "eyewear":
            prompts[name] = [f"{lead} of a face with {value}" for value in values]
        elif name == "skin":
            prompts[name] = [f"{lead} of a face, {value} skin" for value in values]
        else:
            prompts[name] = [f"{lead} of a face, on a {value} background" for value in values]
    return prompts
