"""The quality benchmark's transforms, one-shot targets and their files (see ``quality.py``).

A target is the portrait a user would bring, before the transform: T(target) is what a
one-shot recipe is given. The targets and the rule that picks the in-range seeds are
:mod:`gan_adapt.evaluation.benchmark_targets`'s (docs/benchmark.md, "Protocol"):

* ``gan-<seed>`` (in range): G_s(z_seed) at truncation 1.0; by default the first two seeds from
  100 on whose portraits-CLIP LPIPS from G_s(w_avg) (where every latent search starts) lies
  above the 75th percentile of 512 random faces (seeds 10000-10511): 102 and 104;
* ``render-<seed>`` (out of range): the procedural renderer's portrait (5001, 5002 by default),
  which G_s never drew.

Few-shot (folder) recipes get ten in-range images T(G_s(z_i)) of fixed latents, the same for
every target; text recipes get the transform's caption.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from gan_adapt.evaluation import benchmark_targets as bt

TUNE, TEST, HELD_OUT = "tune", "test", "held-out"
SOURCES = bt.SOURCES
GAN_TARGETS = 2
RENDER_SEEDS = bt.DEFAULT_RENDER_SEEDS
REFERENCE_FACES = len(bt.REFERENCE_SEEDS)
FAR_PERCENTILE = bt.FAR_QUANTILE * 100
#: The few-shot targets (``[target] images`` recipes): T(G_s(z_i)) for these seeded z_i.
FEW_SHOT = 10
FEW_SHOT_SEED = 1000
FEW_SHOT_TRUNCATION = 0.7
#: The target id a text recipe's run is filed under (the caption does not depend on a target).
CAPTION_ID = "caption"
FEW_SHOT_ID = f"fewshot-{FEW_SHOT}"


# ---------------------------------------------------------------------------------------------
# Transforms


@dataclass(frozen=True)
class BenchTransform:
    """A transform of the benchmark: the function, its caption (text target) and its split."""

    name: str
    fn: Callable[[Tensor], Tensor]
    caption: str
    split: str  # TUNE, TEST, or HELD_OUT (registered by a plugin, in neither split)


class TransformFailed(SystemExit):
    """A transform returned something that is not an image batch of its input's shape."""


def checked(name: str, source: str, fn: Callable[[Tensor], Tensor]) -> Callable[[Tensor], Tensor]:
    """``fn``, with its output checked: same shape as the input, finite, within [-1, 1] (to
    1e-4). A violation stops the benchmark with one line naming the transform and plugin."""

    def apply(images: Tensor) -> Tensor:
        where = f"transform {name!r} (plugin {source!r})"
        try:
            out = fn(images)
        except Exception as exc:  # noqa: BLE001 - a plugin's error, named
            raise TransformFailed(f"{where} failed: {type(exc).__name__}: {exc}") from None
        if not isinstance(out, Tensor) or out.shape != images.shape:
            got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
            raise TransformFailed(f"{where} returned {got} for images of shape "
                                  f"{tuple(images.shape)}; a transform keeps the shape")
        if not torch.isfinite(out).all():
            raise TransformFailed(f"{where} returned NaN or infinite values")
        if out.min() < -1 - 1e-4 or out.max() > 1 + 1e-4:
            raise TransformFailed(f"{where} returned values in [{float(out.min()):.3f}, "
                                  f"{float(out.max()):.3f}]; images are in [-1, 1]")
        return out.clamp(-1, 1)

    apply.__doc__ = getattr(fn, "__doc__", None)
    return apply


def registered_transforms(registry: Any) -> dict[str, BenchTransform]:
    """The transforms of the registry (kind ``transform``), each output-checked; a plugin's
    transform without a split is held out, without a caption captioned by its name."""
    table = {}
    for component in registry.components("transform"):
        info = component.factory
        caption = info.caption or f"a {component.name.replace('_', ' ')} picture of a face"
        table[component.name] = BenchTransform(component.name,
                                               checked(component.name, component.source, info.fn),
                                               caption, info.split or HELD_OUT)
    return table


def split_names(table: dict[str, BenchTransform], split: str) -> list[str]:
    """The transforms of one split, in registration order."""
    return [name for name, entry in table.items() if entry.split == split]


# ---------------------------------------------------------------------------------------------
# Targets


@dataclass(frozen=True)
class TargetSpec:
    """One one-shot target: its source (``gan`` or ``render``) and seed."""

    source: str
    seed: int

    @property
    def id(self) -> str:
        return f"{self.source}-{self.seed}"

    @property
    def in_range(self) -> bool:
        return self.source == "gan"


def parse_target_seeds(values: list[str], sources: list[str]) -> list[TargetSpec]:
    """``--target-seeds``: a target id (``gan-117``, ``render-5001``) names one target; a plain
    integer gives a target of that seed for every source of ``--targets``."""
    specs: list[TargetSpec] = []
    for value in values:
        source, _, number = value.rpartition("-")
        try:
            seed = int(number)
        except ValueError:
            raise SystemExit(f"--target-seeds {value!r}: expected a seed (117) or a target id "
                             "(gan-117, render-5001)") from None
        if source and source not in SOURCES:
            raise SystemExit(f"--target-seeds {value!r}: unknown target source {source!r} "
                             f"(known: {', '.join(SOURCES)})")
        for name in ([source] if source else sources):
            if TargetSpec(name, seed) not in specs:
                specs.append(TargetSpec(name, seed))
    return specs


@torch.no_grad()
def seeded_samples(G: Any, seed: int, n: int, truncation: float) -> Tensor:
    """``n`` samples of G from one seeded stream of latents, ``[n, 3, R, R]``."""
    z = torch.randn(n, G.z_dim, generator=torch.Generator().manual_seed(seed))
    return G.synthesis(G.mapping(z, truncation_psi=truncation), noise_mode="const").clamp(-1, 1)


def mean_face(G: Any) -> Tensor:
    """G(w_avg): where every latent search starts, ``[1, 3, R, R]``."""
    return bt.average_face(G)


def portrait(G: Any, spec: TargetSpec) -> Tensor:
    """The untransformed portrait of a target, ``[1, 3, R, R]``."""
    if spec.source == "gan":
        return bt.gan_image(G, spec.seed)
    return bt.render_image(spec.seed, G.img_resolution)


@torch.no_grad()
def reference_distances(G: Any, distance: Callable[[Tensor, Tensor], Tensor],
                        faces: int = REFERENCE_FACES) -> Tensor:
    """The distance from G(w_avg) of the first ``faces`` reference faces of the protocol's
    rule (seeds 10000 on), for the targets' percentiles."""
    measure = bt.start_distance(G, distance)
    return torch.cat([measure(bt.gan_image(G, s)).double()
                      for s in list(bt.REFERENCE_SEEDS)[:faces]])


def percentile_of(value: float, reference: Tensor) -> float:
    """The percentage of reference values below ``value``."""
    return float((reference < value).double().mean() * 100)


def write_pngs(images: Tensor, paths: list[Path]) -> list[Path]:
    """One PNG per image, at the generator's size (no grid padding: the engine reads these)."""
    from gan_adapt.io.atomic_files import write_bytes
    from gan_adapt.io.images import encode_png

    return [write_bytes(path, data) for path, data in zip(paths, encode_png(images))]


@dataclass(frozen=True)
class TargetFiles:
    """Where one transform's targets were written."""

    images: dict[str, Path]  # target id -> T(portrait)
    folder: Path  # the FEW_SHOT images


def few_shot_images(G: Any, fn: Callable[[Tensor], Tensor]) -> Tensor:
    """T(G_s(z_i)) for the FEW_SHOT fixed latents: the folder recipes' targets."""
    return fn(seeded_samples(G, FEW_SHOT_SEED, FEW_SHOT, FEW_SHOT_TRUNCATION))


def write_targets(G: Any, folder: Path, transforms: list[BenchTransform],
                  specs: list[TargetSpec], portraits: dict[str, Tensor]) -> dict[str, TargetFiles]:
    """``folder/portraits/<id>.png`` (untransformed), ``folder/<T>/<id>.png`` and
    ``folder/<T>/fewshot-10/NN.png``. Existing files are kept (they are deterministic: a
    resumed benchmark may have runs reading them)."""
    def write_missing(images: Tensor, paths: list[Path]) -> None:
        if not all(p.is_file() for p in paths):
            write_pngs(images, paths)

    for spec in specs:
        write_missing(portraits[spec.id], [folder / "portraits" / f"{spec.id}.png"])
    written = {}
    for entry in transforms:
        images = {}
        for spec in specs:
            path = folder / entry.name / f"{spec.id}.png"
            write_missing(entry.fn(portraits[spec.id]), [path])
            images[spec.id] = path
        shots = folder / entry.name / FEW_SHOT_ID
        write_missing(few_shot_images(G, entry.fn),
                      [shots / f"{i:02d}.png" for i in range(FEW_SHOT)])
        written[entry.name] = TargetFiles(images, shots)
    return written


def read_png(path: Path) -> Tensor:
    """A target PNG back as ``[1, 3, R, R]`` in [-1, 1] (the exact image a recipe was given,
    8-bit rounding included)."""
    from gan_adapt.io.images import load_image

    return load_image(path)
