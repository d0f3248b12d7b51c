"""The quality benchmark's transforms and one-shot targets (see ``quality.py``'s docstring).

A target is the portrait a user would bring, before the transform: T(target) is what a
one-shot recipe is given. Two sources, reported apart:

* ``gan-<seed>`` (in range): G_s(z_seed) at truncation 1.0. The default seeds are the first
  :data:`GAN_TARGETS` seeds from :data:`GAN_FIRST_SEED` on whose portraits-CLIP LPIPS from
  G_s(w_avg) (where every latent search starts) is above the :data:`FAR_PERCENTILE` th
  percentile of :data:`REFERENCE_FACES` random faces: a target next to the search's start
  would reward staying put.
* ``render-<seed>`` (out of range): ``portraits_batch(1, R, Generator().manual_seed(seed))``,
  a portrait of the procedural renderer that G_s never drew (G_s was trained on data seed 0's
  stream, so these seeds are not its training images).

Few-shot (folder) recipes get ten in-range images T(G_s(z_i)) of fixed latents, the same for
every target; text recipes get the transform's caption.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from torch import Tensor

TUNE, TEST, HELD_OUT = "tune", "test", "held-out"
SOURCES = ("gan", "render")
GAN_FIRST_SEED = 100
GAN_TARGETS = 2
RENDER_SEEDS = (5001, 5002)
REFERENCE_FACES = 512
REFERENCE_SEED = 99
FAR_PERCENTILE = 75.0
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
def gan_portraits(G: Any, seeds: list[int], truncation: float = 1.0) -> Tensor:
    """G(z_seed) for each seed (z from ``manual_seed(seed)``), constant noise, ``[n, 3, R, R]``."""
    z = torch.cat([torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(s))
                   for s in seeds])
    return G.synthesis(G.mapping(z, truncation_psi=truncation), noise_mode="const").clamp(-1, 1)


@torch.no_grad()
def seeded_samples(G: Any, seed: int, n: int, truncation: float) -> Tensor:
    """``n`` samples of G from one seeded stream of latents, ``[n, 3, R, R]``."""
    z = torch.randn(n, G.z_dim, generator=torch.Generator().manual_seed(seed))
    return G.synthesis(G.mapping(z, truncation_psi=truncation), noise_mode="const").clamp(-1, 1)


@torch.no_grad()
def mean_face(G: Any) -> Tensor:
    """G(w_avg): where every latent search starts, ``[1, 3, R, R]``."""
    z = torch.zeros(1, G.z_dim)
    return G.synthesis(G.mapping(z, truncation_psi=0.0), noise_mode="const").clamp(-1, 1)


def render_portrait(seed: int, resolution: int) -> Tensor:
    """The procedural renderer's portrait of ``seed``, ``[1, 3, R, R]`` in [-1, 1]."""
    from gan_adapt.training.portraits import portraits_batch

    return portraits_batch(1, resolution, torch.Generator().manual_seed(seed)).images


def portrait(G: Any, spec: TargetSpec) -> Tensor:
    """The untransformed portrait of a target, ``[1, 3, R, R]``."""
    if spec.source == "gan":
        return gan_portraits(G, [spec.seed])
    return render_portrait(spec.seed, G.img_resolution)


@torch.no_grad()
def reference_distances(G: Any, distance: Callable[[Tensor, Tensor], Tensor],
                        faces: int = REFERENCE_FACES) -> Tensor:
    """The distance of ``faces`` random faces (truncation 1) from G(w_avg)."""
    start = mean_face(G)
    z_all = torch.randn(faces, G.z_dim, generator=torch.Generator().manual_seed(REFERENCE_SEED))
    values = []
    for z in z_all.split(64):
        images = G.synthesis(G.mapping(z), noise_mode="const").clamp(-1, 1)
        values.append(distance(images, start.expand_as(images)).double())
    return torch.cat(values)


@torch.no_grad()
def far_gan_seeds(G: Any, distance: Callable[[Tensor, Tensor], Tensor],
                  count: int = GAN_TARGETS, first: int = GAN_FIRST_SEED,
                  reference: Tensor | None = None) -> list[int]:
    """The first ``count`` seeds from ``first`` on whose G(z_seed) lies farther from G(w_avg)
    than the :data:`FAR_PERCENTILE` th percentile of the reference faces."""
    reference = reference_distances(G, distance) if reference is None else reference
    threshold = float(torch.quantile(reference, FAR_PERCENTILE / 100))
    start = mean_face(G)
    found: list[int] = []
    seed = first
    while len(found) < count:
        seeds = list(range(seed, seed + 32))
        faces = gan_portraits(G, seeds)
        far = distance(faces, start.expand_as(faces)).double()
        found += [s for s, d in zip(seeds, far.tolist()) if d > threshold][:count - len(found)]
        seed += 32
        if seed > first + 10_000:
            raise SystemExit("no seed far enough from G_s(w_avg) among 10000")
    return found


def percentile_of(value: float, reference: Tensor) -> float:
    """The percentage of reference values below ``value``."""
    return float((reference < value).double().mean() * 100)


def write_pngs(images: Tensor, paths: list[Path]) -> list[Path]:
    """One PNG per image, at the generator's size (no grid padding: the engine reads these)."""
    from gan_adapt.files import write_bytes
    from gan_adapt.images import encode_png

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
    from gan_adapt.images import load_image

    return load_image(path)
