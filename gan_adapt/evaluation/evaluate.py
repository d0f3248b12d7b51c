"""``gan-adapt eval``: the standard numbers of one adapted generator, reproducibly.

Protocol (every number in ``eval.json`` follows it; the settings are recorded next to them):

1. ``n`` latents ``z`` are drawn from ``torch.Generator().manual_seed(seed)`` and mapped by each
   generator's own mapping network (with ``truncation``, default 1 = none). Images are
   synthesised with the generators' constant noise, so G_s(z) and G_t(z) see the same noise.
   Everything runs in batches; only embeddings and features are kept, never all images.
2. **Diversity** (``diversity_lpips``): mean LPIPS between pairs of different adapted samples.
   Pairs form a ring over the samples in generation order, ``(i, i + 1 mod n)``: n pairs, each
   sample in two. The latents are i.i.d., so each pair is a pair of independent samples and the
   mean is an unbiased estimate of the mean over all n(n-1)/2 pairs (Ojha et al. 2021's
   intra-cluster LPIPS with a single cluster, which is the one-shot case), at O(n) cost.
   ``diversity_lpips_source`` is the same for G_s: the ratio shows how much diversity was lost.
3. **Target similarity**: mean CLIP cosine between each adapted sample and each target image
   (``target_clip_image``) and, for a text target, the target text (``target_clip_text``).
   The same for the source samples (``target_clip_image_source``, ``target_clip_text_source``):
   "did it move towards the target" is one comparison.
4. **Content preservation**: mean LPIPS (``content_lpips``) and CLIP cosine (``content_clip``)
   between G_s(z) and G_t(z), pair by pair.
5. **FID / KID** against a folder of real target-domain images (``--target-dir``): features of
   the n adapted samples against those of every real image (see :mod:`.features`); KID uses
   100 subsets of min(1000, n, n_real) rows, drawn from ``seed``.

Optionally an ``ideal`` function maps each source batch to the image it *should* have become
(the quality benchmark's known transform); ``fidelity_lpips`` / ``fidelity_l1`` then measure
G_t(z) against ideal(G_s(z)).

6. **Attribute preservation** (when the CLIP was trained on the procedural portraits, see
   :mod:`.attributes`): the fraction of pairs whose content attributes (hair style, expression,
   eyewear) read the same from G_t(z) as from G_s(z); ``attribute_preservation`` is their mean.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from gan_adapt.errors import GanAdaptError
from gan_adapt.evaluation.metrics import (
    feature_statistics,
    frechet_distance,
    kernel_distance,
    l1_distance,
    mean_cosine,
)
from gan_adapt.plugin_host.context import TargetData

PAIR_PROTOCOL = ("ring over the samples in generation order, pairs (i, i+1 mod n): n pairs of "
                 "independent samples")


@dataclass
class EvalSettings:
    """How samples are drawn (recorded in eval.json)."""

    n: int = 1000
    seed: int = 0
    batch: int = 16
    truncation: float = 1.0
    noise_mode: str = "const"
    kid_subsets: int = 100
    kid_subset_size: int = 1000


@dataclass
class Instruments:
    """The networks the metrics are measured with, and what they are."""

    lpips: Any  # distance(x, y) -> [N]
    clip: Any  # an ImageEncoder
    info: dict[str, Any] = field(default_factory=dict)
    fid_features: Any = None  # a FeatureExtractor, when FID/KID are asked for
    attributes: Any = None  # an AttributeClassifier, when the CLIP can read portraits


class _Ring:
    """Streaming mean of ``distance`` over the ring pairs (i, i+1 mod n) of a sample stream."""

    def __init__(self, distance: Callable[[Tensor, Tensor], Tensor]) -> None:
        self.distance = distance
        self.first: Tensor | None = None
        self.last: Tensor | None = None
        self.total, self.count = 0.0, 0

    def add(self, batch: Tensor) -> None:
        if self.first is None:
            self.first = batch[:1]
        chain = batch if self.last is None else torch.cat([self.last, batch])
        if chain.shape[0] > 1:
            values = self.distance(chain[:-1], chain[1:])
            self.total += float(values.double().sum())
            self.count += values.numel()
        self.last = batch[-1:]

    def mean(self) -> float:
        if self.first is None or self.count == 0:
            raise ValueError("diversity needs at least 2 samples")
        closing = self.distance(self.last, self.first)  # (n-1, 0) closes the ring
        return (self.total + float(closing.double().sum())) / (self.count + 1)


def sample(G: Any, z: Tensor, settings: EvalSettings) -> Tensor:
    """G(z) with the settings' truncation and noise, clamped to [-1, 1] as saved images are."""
    ws = G.mapping(z, truncation_psi=settings.truncation)
    return G.synthesis(ws, noise_mode=settings.noise_mode).clamp(-1, 1)


def _embed(encoder: Any, images: Tensor) -> Tensor:
    return encoder.embed_images(images).double().cpu()


@torch.no_grad()
def evaluate_generators(source: Any, adapted: Any, target: TargetData, instruments: Instruments,
                        settings: EvalSettings, real_images: Tensor | None = None,
                        ideal: Callable[[Tensor], Tensor] | None = None,
                        device: torch.device | str = "cpu") -> dict[str, float]:
    """Every metric of the module doc for one (G_s, G_t) pair; returns ``{name: value}``."""
    from gan_adapt.recipe.user_numbers import sample_count

    device = torch.device(device)
    if settings.n < 2:
        raise ValueError("evaluation needs n >= 2 samples")
    sample_count(min(settings.batch, settings.n), source.img_resolution, "batch", device)
    gen = torch.Generator().manual_seed(settings.seed)
    z_all = torch.randn(settings.n, source.z_dim, generator=gen)
    diversity, diversity_source = _Ring(instruments.lpips), _Ring(instruments.lpips)
    sums: dict[str, float] = {"content_lpips": 0.0, "content_clip": 0.0}
    if ideal is not None:
        sums.update(fidelity_lpips=0.0, fidelity_l1=0.0, fidelity_lpips_source=0.0,
                    fidelity_l1_source=0.0)
    adapted_embeddings, source_embeddings, fid_features = [], [], []
    preservation = None
    if instruments.attributes is not None:
        from gan_adapt.evaluation.attributes import PreservationCounter

        preservation = PreservationCounter(instruments.attributes)
    for start in range(0, settings.n, settings.batch):
        z = z_all[start:start + settings.batch].to(device)
        x_s, x_t = sample(source, z, settings), sample(adapted, z, settings)
        diversity.add(x_t)
        diversity_source.add(x_s)
        sums["content_lpips"] += float(instruments.lpips(x_s, x_t).double().sum())
        e_s, e_t = _embed(instruments.clip, x_s), _embed(instruments.clip, x_t)
        sums["content_clip"] += float((e_s * e_t).sum(dim=1).sum())  # unit vectors: cosines
        adapted_embeddings.append(e_t)
        source_embeddings.append(e_s)
        if preservation is not None:
            preservation.add(x_s, x_t)
        if ideal is not None:
            x_ideal = ideal(x_s)
            sums["fidelity_lpips"] += float(instruments.lpips(x_t, x_ideal).double().sum())
            sums["fidelity_l1"] += float(l1_distance(x_t, x_ideal).double().sum())
            sums["fidelity_lpips_source"] += float(instruments.lpips(x_s, x_ideal).double().sum())
            sums["fidelity_l1_source"] += float(l1_distance(x_s, x_ideal).double().sum())
        if instruments.fid_features is not None and real_images is not None:
            fid_features.append(instruments.fid_features(x_t))
    metrics = {"diversity_lpips": diversity.mean(),
               "diversity_lpips_source": diversity_source.mean()}
    metrics.update({k: v / settings.n for k, v in sums.items()})
    embeddings, embeddings_source = torch.cat(adapted_embeddings), torch.cat(source_embeddings)
    target_images = target.images if target.images is not None else target.image
    if target_images is not None:
        target_embeddings = _embed(instruments.clip, target_images.to(device))
        metrics["target_clip_image"] = mean_cosine(embeddings, target_embeddings)
        metrics["target_clip_image_source"] = mean_cosine(embeddings_source, target_embeddings)
    if target.text:
        text_embedding = instruments.clip.embed_text([target.text]).double().cpu()
        metrics["target_clip_text"] = mean_cosine(embeddings, text_embedding)
        metrics["target_clip_text_source"] = mean_cosine(embeddings_source, text_embedding)
    if preservation is not None:
        metrics.update(preservation.metrics())
    if fid_features:
        fake = torch.cat(fid_features)
        real = _features_in_batches(instruments.fid_features, real_images, settings.batch,
                                    device)
        metrics["fid"] = frechet_distance(feature_statistics(real), feature_statistics(fake))
        kid, kid_std = kernel_distance(real, fake, settings.kid_subsets,
                                       settings.kid_subset_size, seed=settings.seed)
        metrics.update(kid=kid, kid_std=kid_std, n_real=real.shape[0])
    return metrics


def _features_in_batches(extractor: Any, images: Tensor, batch: int,
                         device: torch.device) -> Tensor:
    return torch.cat([extractor(images[i:i + batch].to(device))
                      for i in range(0, images.shape[0], batch)])


def eval_record(metrics: dict[str, float], settings: EvalSettings, instruments: Instruments,
                seconds: float, **extra: Any) -> dict[str, Any]:
    """The JSON object written to ``eval.json``."""
    from gan_adapt._version import __version__

    return {"gan_adapt_version": __version__, **extra,
            "settings": {**asdict(settings), "pairs": PAIR_PROTOCOL},
            "instruments": instruments.info, "metrics": metrics,
            "seconds": round(seconds, 2)}


def evaluate_run(run_dir: str | Path, plugin_set: Any, settings: EvalSettings, *,
                 target_dir: str | Path | None = None, lpips: str = "recipe",
                 clip: str = "recipe", fid_features: str = "inception",
                 device: str | torch.device = "cpu", out: str | Path | None = None,
                 transform: str | None = "auto") -> dict[str, Any]:
    """Evaluate a finished run and write ``eval.json`` (into the run folder unless ``out``).

    ``transform``: the known transform T that made the target (``"auto"``: recognised for the
    shipped targets, see :data:`.known_transforms.KNOWN_TARGETS`; None or ``"none"``: unknown).
    When known, the fidelity metrics are measured and ``record["ideal"]`` holds every metric of
    the ideal adapted generator T(G_s), measured the same way: the value to aim for."""
    from gan_adapt.evaluation.metric_models import build_clip, build_lpips
    from gan_adapt.evaluation.runs import open_finished_run
    from gan_adapt.io import atomic_files as files

    started = time.time()
    run = open_finished_run(run_dir, plugin_set, device)
    resolution = run.source.img_resolution
    # Build every instrument (and fetch its weights) before generating anything.
    lpips_model = build_lpips(lpips, run.validated, resolution, run.device)
    clip_model = build_clip(clip, run.validated, plugin_set, run.device)
    instruments = Instruments(lpips_model.model, clip_model.model,
                              {"lpips": lpips_model.info, "clip": clip_model.info})
    from gan_adapt.evaluation.attributes import AttributeClassifier, can_classify

    if can_classify(clip_model.model):
        instruments.attributes = AttributeClassifier(clip_model.model)
        instruments.info["attributes"] = {
            "weights": "zero-shot with the recipe's trained portraits CLIP: the domain, then "
                       "hair style, expression and eyewear in that domain's words; preserved = "
                       "the value read from the source sample", "from": "clip"}
    real = None
    if target_dir is not None:
        from gan_adapt.io.images import load_image_folder

        real = load_image_folder(target_dir, resolution)
        instruments.fid_features = _fid_extractor(fid_features, clip_model, run.device)
        instruments.info["fid"] = {**instruments.fid_features.describe(),
                                   "real_images": str(Path(target_dir).resolve()),
                                   "real_count": real.shape[0], "resolution": resolution}
    from gan_adapt.synthetic_data.known_transforms import (
        TRANSFORMS,
        TransformedGenerator,
        transform_of_target,
    )

    name = transform_of_target(run.target.path) if transform == "auto" else \
        (None if transform in (None, "none") else transform)
    if name is not None and name not in TRANSFORMS:
        raise GanAdaptError(f"--transform {name!r}: use auto, none or one of "
                            f"{', '.join(TRANSFORMS)}")
    T = TRANSFORMS[name] if name is not None else None
    metrics = evaluate_generators(run.source, run.adapted, run.target, instruments, settings,
                                  real_images=real, ideal=T, device=run.device)
    extra: dict[str, Any] = {}
    if T is not None:
        ideal_metrics = evaluate_generators(run.source, TransformedGenerator(run.source, T),
                                            run.target, instruments, settings,
                                            real_images=real, ideal=T, device=run.device)
        extra["ideal"] = {"transform": name, "generator": f"{name}(G_s(z)), the ideal adapted "
                          "generator, measured with the same latents and instruments",
                          "metrics": {k: v for k, v in ideal_metrics.items()
                                      if not k.endswith("_source")}}
    record = eval_record(metrics, settings, instruments, time.time() - started,
                         run=str(run.folder.root.resolve()), recipe=run.validated.recipe.name,
                         target=_target_record(run.target), **extra)
    files.write_json(Path(out) if out is not None else run.folder.root / "eval.json", record)
    return record


def _fid_extractor(kind: str, clip_model: Any, device: torch.device) -> Any:
    from gan_adapt.evaluation.features import EncoderFeatures, InceptionFeatures

    if kind == "inception":
        return InceptionFeatures(device)
    if kind == "clip":
        return EncoderFeatures(clip_model.model, {"encoder": clip_model.info})
    raise ValueError(f"unknown FID features {kind!r}")


def _target_record(target: TargetData) -> dict[str, Any]:
    record: dict[str, Any] = {}
    if target.path:
        record["path"] = target.path
        if target.images is not None:
            record["count"] = int(target.images.shape[0])
    if target.text:
        record["text"] = target.text
    return record
