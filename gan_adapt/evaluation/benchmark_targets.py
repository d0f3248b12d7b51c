"""The benchmark's one-shot targets: in range (drawn by G_s, far from w_avg) and out of range.

docs/benchmark.md, "Protocol": each transform T gets one-shot targets T(x) from two sources,
reported as separate groups, because a real user's target is out of the generator's range and
the old single target lay next to where every latent search starts.

* ``gan-S``: x = G_s(z_S) at truncation 1.0, constant noise. :func:`far_seeds` picks the seeds:
  the first ones from 100 on whose distance to G_s(w_avg) (the portraits-CLIP LPIPS-style
  distance) lies above the 75th percentile of that distance over 512 random faces (seeds
  10000-10511).
* ``render-S``: x = the procedural renderer's portrait of seed S
  (:func:`gan_adapt.synthetic_data.portraits.portraits_batch`), which G_s never drew: its training
  stream used seed 0, and 5001, 5002 are not on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from gan_adapt.errors import GanAdaptError

GAN_SEED_START = 100
DEFAULT_RENDER_SEEDS = (5001, 5002)
REFERENCE_SEEDS = range(10_000, 10_512)
FAR_QUANTILE = 0.75
SOURCES = ("gan", "render")


@dataclass(frozen=True)
class Target:
    """One untransformed one-shot target x (the benchmark applies each transform to it)."""

    id: str  # "gan-117", "render-5001"
    source: str  # "gan" (in range) or "render" (out of range)
    seed: int
    image: Tensor  # [1, 3, R, R] in [-1, 1]


@torch.no_grad()
def gan_image(G: Any, seed: int) -> Tensor:
    """G_s(z_seed) at truncation 1.0, constant noise, ``[1, 3, R, R]``."""
    z = torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(seed))
    return G.synthesis(G.mapping(z, truncation_psi=1.0), noise_mode="const").clamp(-1, 1)


@torch.no_grad()
def average_face(G: Any) -> Tensor:
    """G_s(w_avg): where every latent search starts."""
    z = torch.zeros(1, G.z_dim)
    return G.synthesis(G.mapping(z, truncation_psi=0.0), noise_mode="const").clamp(-1, 1)


def render_image(seed: int, resolution: int) -> Tensor:
    """The procedural renderer's portrait of ``seed``, ``[1, 3, R, R]``."""
    from gan_adapt.synthetic_data.portraits import portraits_batch

    return portraits_batch(1, resolution, torch.Generator().manual_seed(seed)).images


def start_distance(G: Any, distance: Any) -> Any:
    """``x -> distance(G_s(w_avg), x)`` per image, as floats."""
    start = average_face(G)

    def measure(images: Tensor) -> Tensor:
        return distance(start.expand_as(images), images).flatten()

    return measure


@torch.no_grad()
def far_seeds(G: Any, distance: Any, count: int) -> tuple[list[int], float]:
    """The first ``count`` seeds from :data:`GAN_SEED_START` on whose target lies above the
    :data:`FAR_QUANTILE` of the start distance over :data:`REFERENCE_SEEDS`; and that
    threshold."""
    measure = start_distance(G, distance)
    reference = torch.cat([measure(gan_image(G, s)) for s in REFERENCE_SEEDS])
    threshold = float(torch.quantile(reference, FAR_QUANTILE))
    seeds, seed = [], GAN_SEED_START
    while len(seeds) < count:
        if float(measure(gan_image(G, seed))) > threshold:
            seeds.append(seed)
        seed += 1
        if seed > GAN_SEED_START + 10_000:
            raise GanAdaptError("no far seed found among 10000 candidates")
    return seeds, threshold


def make_targets(G: Any, sources: str = "both", gan_seeds: list[int] | None = None,
                 render_seeds: list[int] | None = None, gan_count: int = 2,
                 distance: Any = None) -> list[Target]:
    """The targets of the protocol. ``sources``: ``gan``, ``render`` or ``both``; seeds default
    to the rule of the module docstring (``distance`` is needed to pick gan seeds)."""
    if sources not in (*SOURCES, "both"):
        raise GanAdaptError(f"targets must be gan, render or both, not {sources!r}")
    targets: list[Target] = []
    if sources in ("gan", "both"):
        if gan_seeds is None:
            if distance is None:
                raise GanAdaptError("picking far gan seeds needs a distance")
            gan_seeds, _ = far_seeds(G, distance, gan_count)
        targets += [Target(f"gan-{s}", "gan", s, gan_image(G, s)) for s in gan_seeds]
    if sources in ("render", "both"):
        seeds = list(render_seeds) if render_seeds is not None else list(DEFAULT_RENDER_SEEDS)
        targets += [Target(f"render-{s}", "render", s, render_image(s, G.img_resolution))
                    for s in seeds]
    return targets
