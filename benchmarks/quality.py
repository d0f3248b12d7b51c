"""The quality benchmark: adaptation towards target domains whose ground truth is known.

Set-up (everything ships with the repository; nothing is downloaded):

* the source generator G_s is the shipped 32-px portraits StyleGAN2 (``portraits-stylegan2-32``,
  trained by ``python -m gan_adapt.training.portrait_gan`` on procedural portraits);
* a target domain is a known transform T (``sketch``, ``posterise``, ``invert``, ``watercolour``,
  ``hatch``: ``gan_adapt.synthetic_data.known_transforms``), so the ideal adapted generator is
  T(G_s(z)) for every z;
* every recipe of ``benchmarks/recipes/`` runs once per transform through the normal engine,
  given the target the way its own ``[target]`` is written: an image recipe gets ONE image
  T(x0) (x0 a fixed sample of G_s), a folder recipe (``cdc-10shot``) TEN images T(G_s(z_i)) of
  fixed latents, a text recipe (``oneshotclip-text``, ``nada``) the transform's caption
  ("a pencil sketch of a face") with the source text "a photo of a face";
* two rows need no training: ``source`` (G_s itself) and ``ideal`` (T(G_s): the values to aim at).

Numbers per (transform, method), on ``--n`` fixed latents (``gan_adapt.evaluation.evaluate``),
measured by the shipped, trained portraits CLIP: fidelity (an LPIPS-style distance on that
CLIP's features, and L1, between G_t(z) and T(G_s(z)); lower is better), diversity (pairwise
distance among samples) and its ratio to the ideal's, target similarity (CLIP cosine to T(x0)
and to the caption, for every row alike), attribute preservation (hair style, expression and
eyewear read zero-shot from G_s(z) and G_t(z) agree), content distance (G_s(z) to G_t(z)).

The paper recipe (``oneshotclip``) also records a fidelity-versus-step curve: every
``--curve`` adaptation steps an observer plugin measures the run's G_ema against T(G_s) on
``--curve-n`` fixed latents (``curves`` in results.json, ``curve.md``, ``curve.png``).

    python benchmarks/quality.py                   # the benchmark (every recipe, 5 transforms;
                                                   # one run per core at once, 1 thread each)
    python benchmarks/quality.py --recipes oneshotclip best   # the paper recipe vs gan-adapt's
    python benchmarks/quality.py --quick           # under a minute: tests the pipeline only
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from gan_adapt import hookimpl

ROOT = Path(__file__).resolve().parent
RECIPES = ROOT / "recipes"
#: The shipped source generator (``gan_adapt.weights.shipped``).
SOURCE = "portraits-stylegan2-32"
TRANSFORM_NAMES = ("sketch", "posterise", "invert", "watercolour", "hatch")
#: The description of the source domain given to text recipes.
SOURCE_TEXT = "a photo of a face"
#: Seed of the source latent x0 = G_s(z0) whose transform is the one-shot target.
TARGET_SEED = 7
TARGET_TRUNCATION = 0.7
#: The few-shot targets (``[target] images`` recipes): T(G_s(z_i)) for these many seeded z_i.
FEW_SHOT = 10
FEW_SHOT_SEED = 1000
#: Recipes whose fidelity-versus-step curve is recorded (with --curve > 0).
CURVE_RECIPES = ("oneshotclip",)
#: --quick: one recipe of each target kind (image, text, folder), two transforms, two steps.
QUICK_RECIPES = ("oneshotclip", "nada", "cdc-10shot")
QUICK_TRANSFORMS = ("sketch", "invert")
QUICK_STEPS = 2
#: A curve point is "as good as the best" within this relative margin.
PLATEAU_TOLERANCE = 0.02


# ---------------------------------------------------------------------------------------------
# Targets


def caption(transform: str) -> str:
    """The text target of a transform: its domain phrase, as the portraits CLIP learnt it."""
    from gan_adapt.synthetic_data.portraits import DOMAINS

    return f"{DOMAINS[transform]} of a face"


@torch.no_grad()
def source_samples(G: Any, seed: int, n: int, truncation: float) -> torch.Tensor:
    """``n`` seeded samples of G (constant noise), ``[n, 3, R, R]`` in [-1, 1]."""
    z = torch.randn(n, G.z_dim, generator=torch.Generator().manual_seed(seed))
    return G.synthesis(G.mapping(z, truncation_psi=truncation), noise_mode="const").clamp(-1, 1)


def target_image(G: Any, transform: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """T(x0): the transform of the fixed source sample x0 = G_s(z0), ``[1, 3, R, R]``."""
    return transform(source_samples(G, TARGET_SEED, 1, TARGET_TRUNCATION))


def few_shot_images(G: Any, transform: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """T(G_s(z_i)) for the FEW_SHOT fixed latents: the folder recipes' targets."""
    return transform(source_samples(G, FEW_SHOT_SEED, FEW_SHOT, TARGET_TRUNCATION))


def write_pngs(images: torch.Tensor, paths: list[Path]) -> list[Path]:
    """One PNG per image, at the generator's size (no grid padding: the engine reads these)."""
    from gan_adapt.io.atomic_files import write_bytes
    from gan_adapt.io.images import encode_png

    return [write_bytes(path, data) for path, data in zip(paths, encode_png(images))]


@dataclass(frozen=True)
class TargetFiles:
    """Where a transform's targets were written."""

    image: Path  # T(x0)
    folder: Path  # the FEW_SHOT images


def write_targets(G: Any, folder: Path, names: list[str]) -> dict[str, TargetFiles]:
    """``folder/<T>.png`` and ``folder/<T>-10/NN.png`` for each transform."""
    from gan_adapt.synthetic_data.known_transforms import TRANSFORMS

    written = {}
    for name in names:
        image = folder / f"{name}.png"
        write_pngs(target_image(G, TRANSFORMS[name]), [image])
        shots = folder / f"{name}-{FEW_SHOT}"
        write_pngs(few_shot_images(G, TRANSFORMS[name]),
                   [shots / f"{i:02d}.png" for i in range(FEW_SHOT)])
        written[name] = TargetFiles(image, shots)
    return written


def target_kind(recipe: Path) -> str:
    """How the recipe's ``[target]`` is given (``extends`` merged): ``"text"``, ``"images"``
    (a folder) or ``"image"``."""
    from gan_adapt.recipe.schema import read_toml

    target = read_toml(recipe).get("target") or {}
    for kind in ("text", "images", "image"):
        if target.get(kind):
            return kind
    raise SystemExit(f"{recipe}: [target] has no image, images or text")


def target_arguments(kind: str, transform: str, files: TargetFiles) -> tuple[str, list[str]]:
    """The engine's ``target`` value and the extra overrides for one (recipe kind, transform)."""
    if kind == "text":
        # --target replaces the text and keeps the recipe's source text; set it explicitly so
        # that every text recipe starts from the same description.
        return caption(transform), [f"target.source_text={SOURCE_TEXT}"]
    if kind == "images":
        return str(files.folder.resolve()), []
    return str(files.image.resolve()), []


def quick_overrides(recipe: Path) -> list[str]:
    """--quick: a few steps of each phase the recipe has (a [search] it lacks stays absent)."""
    from gan_adapt.recipe.schema import read_toml

    steps = [f"adapt.steps={QUICK_STEPS}", f"output.sample_every={QUICK_STEPS}",
             f"output.checkpoint_every={QUICK_STEPS}"]
    if read_toml(recipe).get("search") is not None:
        steps.append(f"search.steps={QUICK_STEPS}")
    return steps


# ---------------------------------------------------------------------------------------------
# The fidelity-versus-step curve


class FidelityCurve:
    """Observer plugin: fidelity of a run's result (G_ema) against T(G_s) on fixed latents.

    Registered on the run's plugin manager, it sees every ``on_step_end`` and measures after
    every ``every``-th adaptation step and the last one (step 0 is G_s itself). It uses no
    random numbers (fixed latents, constant noise, a deterministic distance), so the run it
    watches is the same as without it.
    """

    def __init__(self, transform: Callable[[torch.Tensor], torch.Tensor], distance: Any,
                 every: int, n: int, seed: int) -> None:
        self.transform, self.distance = transform, distance
        self.every, self.n, self.seed = every, n, seed
        self.points: list[dict[str, float]] = []
        self._ws: torch.Tensor | None = None
        self._ideal: torch.Tensor | None = None

    def due(self, done: int, total: int) -> bool:
        """Whether to measure after ``done`` of ``total`` adaptation steps."""
        return done % self.every == 0 or done == total

    @torch.no_grad()
    def measure(self, G: Any, step: int) -> dict[str, float]:
        """Record fidelity LPIPS / L1 of ``G`` on the fixed latents as the point of ``step``."""
        from gan_adapt.evaluation.metrics import l1_distance

        x = G.synthesis(self._ws, noise_mode="const").clamp(-1, 1)
        point = {"step": step,
                 "fidelity_lpips": float(self.distance(x, self._ideal).double().mean()),
                 "fidelity_l1": float(l1_distance(x, self._ideal).double().mean())}
        self.points.append(point)
        return point

    def start(self, G_s: Any) -> None:
        """Fix the latents (mapped by G_s, as the engine maps them) and their ideal images."""
        with torch.no_grad():
            z = torch.randn(self.n, G_s.z_dim, generator=torch.Generator().manual_seed(self.seed))
            self._ws = G_s.mapping(z.to(G_s.w_avg.device))
            self._ideal = self.transform(G_s.synthesis(self._ws, noise_mode="const").clamp(-1, 1))
        self.measure(G_s, 0)

    @hookimpl
    def on_step_end(self, run: Any, phase: str, step: int) -> None:
        """The engine's hook, called after every step of a phase."""
        if phase != "adapt":
            return
        if self._ws is None:
            self.start(run.components.generator)
        done = step + 1
        if self.due(done, run.validated.recipe.adapt.steps):
            self.measure(run.G_ema, done)


def plateau_step(points: list[dict[str, float]], key: str = "fidelity_lpips",
                 tolerance: float = PLATEAU_TOLERANCE) -> int:
    """The first step whose ``key`` (lower is better) is within ``tolerance`` of the best."""
    best = min(point[key] for point in points)
    return next(int(p["step"]) for p in points if p[key] <= best + tolerance * abs(best))


def curve_markdown(curves: dict[str, dict[str, list[dict[str, float]]]]) -> str:
    """The curves as Markdown: one table per recipe, a row per step, a column per transform."""
    parts = []
    for recipe, by_transform in curves.items():
        names = list(by_transform)
        header = "| step | " + " | ".join(f"{t} LPIPS / L1" for t in names) + " |"
        lines = [f"Fidelity of `{recipe}` against T(G_s) during adaptation:", "", header,
                 "|" + "---|" * (len(names) + 1)]
        steps = [int(p["step"]) for p in by_transform[names[0]]]
        for index, step in enumerate(steps):
            cells = [f"{by_transform[t][index]['fidelity_lpips']:.4f} / "
                     f"{by_transform[t][index]['fidelity_l1']:.4f}" for t in names]
            lines.append(f"| {step} | " + " | ".join(cells) + " |")
        lines.append("| stops improving (within 2% of the best LPIPS) | " + " | ".join(
            f"step {plateau_step(by_transform[t])}" for t in names) + " |")
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


def plot_curves(curves: dict[str, dict[str, list[dict[str, float]]]], path: Path) -> Path | None:
    """Fidelity LPIPS and L1 against steps, a line per (recipe, transform); None without
    matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    figure, axes = plt.subplots(1, 2, figsize=(10, 4))
    for recipe, by_transform in curves.items():
        for transform, points in by_transform.items():
            steps = [p["step"] for p in points]
            label = transform if len(curves) == 1 else f"{recipe} {transform}"
            for axis, key in zip(axes, ("fidelity_lpips", "fidelity_l1")):
                axis.plot(steps, [p[key] for p in points], marker=".", label=label)
    for axis, title in zip(axes, ("fidelity LPIPS (portraits CLIP) ↓", "fidelity L1 ↓")):
        axis.set_xlabel("adaptation step")
        axis.set_title(title)
        axis.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


# ---------------------------------------------------------------------------------------------
# Runs (in this process, or N at once in worker processes)


@dataclass(frozen=True)
class Job:
    """One engine run of the benchmark (picklable: sent to worker processes)."""

    recipe: str
    transform: str
    folder: str
    target: str  # the engine's `target` value: an image, a folder or a text
    overrides: tuple[str, ...]
    curve_every: int = 0  # 0: no curve
    curve_n: int = 32
    curve_seed: int = 0
    lpips: str = "portraits-clip"  # the curve's distance


@dataclass
class Outcome:
    """What a finished job reports back."""

    job: Job
    seconds: float
    generator: str  # the adapted generator's folder
    curve: list[dict[str, float]] = field(default_factory=list)

    @property
    def method(self) -> str:
        return Path(self.job.recipe).stem


def execute(job: Job, plugin_set: Any) -> Outcome:
    """Run one job through the engine; its progress lines go to ``<folder>.log``."""
    from gan_adapt.engine.launch import start
    from gan_adapt.synthetic_data.known_transforms import TRANSFORMS
    from gan_adapt.evaluation.metric_models import build_lpips

    folder = Path(job.folder)
    log = folder.parent / f"{folder.name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    curve = None
    if job.curve_every > 0:
        distance = build_lpips(job.lpips, None, 32, torch.device("cpu")).model
        curve = FidelityCurve(TRANSFORMS[job.transform], distance, job.curve_every,
                              job.curve_n, job.curve_seed)
        plugin_set.manager.register(curve, name=f"quality-curve-{folder.name}")
    started = time.time()
    try:
        with open(log, "w", encoding="utf-8") as handle, contextlib.redirect_stderr(handle):
            result = start(job.recipe, plugin_set, out=folder, target=job.target,
                           overrides=list(job.overrides), device="cpu", progress_live=False)
    finally:
        if curve is not None:  # the plugin set outlives this run (in-process jobs)
            plugin_set.manager.unregister(curve)
    return Outcome(job, time.time() - started, str(result.folder / result.outputs["generator"]),
                   curve.points if curve else [])


_WORKER_PLUGINS: Any = None  # a worker process loads the plugins once


def _worker(job: Job) -> Outcome:
    """Entry point of a worker process: one thread, its own plugin set."""
    global _WORKER_PLUGINS
    from gan_adapt.plugin_host.loading import load_plugins

    torch.set_num_threads(1)  # N workers share the cores
    if _WORKER_PLUGINS is None:
        _WORKER_PLUGINS = load_plugins()
    return execute(job, _WORKER_PLUGINS)


def run_jobs(jobs: list[Job], workers: int, plugin_set: Any) -> list[Outcome]:
    """Every job, in order of the list: in this process, or ``workers`` at once."""
    outcomes: list[Outcome] = []
    if workers <= 1:
        for job in jobs:
            outcomes.append(execute(job, plugin_set))
            _report_run(outcomes[-1])
        return outcomes
    import multiprocessing

    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(_worker, job) for job in jobs]
        for future in futures:  # in order, so the rows keep the list's order
            outcomes.append(future.result())
            _report_run(outcomes[-1])
    return outcomes


def _report_run(outcome: Outcome) -> None:
    print(f"{outcome.job.transform:11s} {outcome.method:22s} run done in "
          f"{outcome.seconds:.0f} s", flush=True)


def plan_jobs(args: argparse.Namespace, recipes: list[Path],
              targets: dict[str, TargetFiles], out: Path) -> list[Job]:
    """A job per (transform, recipe), each given the target its recipe's [target] asks for."""
    kinds = {recipe: target_kind(recipe) for recipe in recipes}
    jobs = []
    for transform in args.transforms:
        for recipe in recipes:
            value, extra = target_arguments(kinds[recipe], transform, targets[transform])
            quick = quick_overrides(recipe) if args.quick else []
            curve = args.curve if recipe.stem in args.curve_recipes else 0
            folder = out / "runs" / f"{transform}-{recipe.stem}"
            jobs.append(Job(str(recipe), transform, str(folder), value,
                            tuple(list(args.set) + quick + extra), curve, args.curve_n,
                            args.seed, args.lpips))
    return jobs


# ---------------------------------------------------------------------------------------------
# Evaluation


def build_instruments(lpips: str, clip: str, resolution: int) -> Any:
    """The metrics' LPIPS and CLIP, and the attribute classifier when that CLIP can read
    portraits."""
    from gan_adapt.evaluation.attributes import AttributeClassifier, can_classify
    from gan_adapt.evaluation.evaluate import Instruments
    from gan_adapt.evaluation.metric_models import build_clip, build_lpips

    device = torch.device("cpu")
    lpips_model = build_lpips(lpips, None, resolution, device)
    clip_model = build_clip(clip, None, None, device)
    instruments = Instruments(lpips_model.model, clip_model.model,
                              {"lpips": lpips_model.info, "clip": clip_model.info})
    if can_classify(clip_model.model):
        instruments.attributes = AttributeClassifier(clip_model.model)
        # eval.json's instruments are records (dicts): `compare` and `report` read them back
        instruments.info["attributes"] = {
            "classifier": "gan_adapt.evaluation.attributes.AttributeClassifier",
            "weights": "zero-shot with the portraits CLIP; preserved = the same hair style, "
                       "expression and eyewear read from G_t(z) as from G_s(z)"}
    return instruments


def add_diversity_ratio(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``diversity_ratio``: each row's diversity over the ``ideal`` row's of its transform
    (None when that transform has no ideal row or the ideal has no diversity)."""
    ideal = {row["transform"]: row["diversity_lpips"] for row in rows if row["method"] == "ideal"}
    for row in rows:
        reference = ideal.get(row["transform"])
        row["diversity_ratio"] = row["diversity_lpips"] / reference if reference else None
    return rows


def write_sheet(runs: list[Path], ideal: Any, ideal_metrics: dict[str, float], plugin_set: Any,
                path: Path) -> Path:
    """``gan-adapt compare``'s sheet (G_s, then every run, same latents) with the ideal
    T(G_s) as the second row."""
    from gan_adapt.evaluation.compare import (SHEET_METRICS, Row, compose_sheet, latents,
                                              load_rows, render_rows, tile_size)

    rows = load_rows(runs, plugin_set, torch.device("cpu"))
    lines = [f"{short} {ideal_metrics[key]:.3f}" for key, short in SHEET_METRICS
             if isinstance(ideal_metrics.get(key), (int, float))]
    rows.insert(1, Row("ideal T(G_s)", lines, ideal))
    tile = tile_size(rows[0].generator.img_resolution)
    images = render_rows(rows, latents(rows[0].generator, 8, 0, 0.7), tile)
    path.parent.mkdir(parents=True, exist_ok=True)
    compose_sheet(rows, images, tile).save(path)
    return path


def evaluate_transform(name: str, G_s: Any, outcomes: list[Outcome], instruments: Any,
                       settings: Any, targets: TargetFiles, plugin_set: Any,
                       out: Path) -> list[dict[str, Any]]:
    """The rows of one transform (ideal, source, every run), each run's eval.json, the sheet."""
    from gan_adapt.io import atomic_files as files
    from gan_adapt.plugin_host.context import TargetData
    from gan_adapt.evaluation.evaluate import eval_record, evaluate_generators
    from gan_adapt.synthetic_data.known_transforms import TRANSFORMS, TransformedGenerator
    from gan_adapt.generators import load

    transform = TRANSFORMS[name]
    # Every row is measured against the same target: the one image T(x0) and the caption.
    target = TargetData(image=target_image(G_s, transform), text=caption(name),
                        source_text=SOURCE_TEXT, path=str(targets.image))
    ideal = TransformedGenerator(G_s, transform)
    candidates: list[tuple[str, Any, Outcome | None]] = [("ideal", ideal, None),
                                                         ("source", G_s, None)]
    for outcome in outcomes:
        candidates.append((outcome.method, load(outcome.generator).eval(), outcome))
    rows = []
    for method, G_t, outcome in candidates:
        started = time.time()
        metrics = evaluate_generators(G_s, G_t, target, instruments, settings, ideal=transform)
        if outcome is not None:  # `gan-adapt compare` and `report` show these numbers
            files.write_json(Path(outcome.job.folder) / "eval.json", eval_record(
                metrics, settings, instruments, time.time() - started, run=outcome.job.folder,
                recipe=method, target={"transform": name, "given": outcome.job.target,
                                       "measured_against": [str(targets.image), caption(name)]}))
        rows.append({"transform": name, "method": method,
                     "run_seconds": round(outcome.seconds, 1) if outcome else 0.0, **metrics})
        _report_row(rows[-1])
    if outcomes:  # one picture per transform: the same latents through every generator
        write_sheet([Path(o.job.folder) for o in outcomes], ideal, rows[0], plugin_set,
                    out / f"sheet-{name}.png")
    return rows


def _report_row(row: dict[str, Any]) -> None:
    print(f"{row['transform']:11s} {row['method']:22s} fidelity {row['fidelity_lpips']:.4f} / "
          f"{row['fidelity_l1']:.4f}  diversity {row['diversity_lpips']:.4f}  target "
          f"{row['target_clip_image']:.4f} / {row['target_clip_text']:.4f}  attributes "
          f"{row.get('attribute_preservation', float('nan')):.3f}", flush=True)


# ---------------------------------------------------------------------------------------------
# The benchmark


def recipe_files(names: list[str] | None) -> list[Path]:
    """The recipes named: a name is a file of ``benchmarks/recipes`` (all of them when None),
    an argument ending in ``.toml`` is a recipe file anywhere (a sweep's candidate)."""
    if not names:
        return sorted(RECIPES.glob("*.toml"))
    paths = [Path(n) if n.endswith(".toml") else RECIPES / f"{n}.toml" for n in names]
    missing = [n for n, p in zip(names, paths) if not p.is_file()]
    if missing:
        known = ", ".join(p.stem for p in sorted(RECIPES.glob("*.toml")))
        raise SystemExit(f"no recipe {', '.join(missing)} (the names of {RECIPES}: {known}; "
                         f"or give a path ending in .toml)")
    stems = [p.stem for p in paths]
    twice = sorted({s for s in stems if stems.count(s) > 1})
    if twice:  # rows and run folders are named after the file's stem
        raise SystemExit(f"two recipes share the name {', '.join(twice)}")
    return [p.resolve() if n.endswith(".toml") else p for n, p in zip(names, paths)]


def collect_curves(outcomes: list[Outcome]) -> dict[str, dict[str, list[dict[str, float]]]]:
    """``{recipe: {transform: points}}`` of the runs that recorded a curve."""
    curves: dict[str, dict[str, list[dict[str, float]]]] = {}
    for outcome in outcomes:
        if outcome.curve:
            curves.setdefault(outcome.method, {})[outcome.job.transform] = outcome.curve
    return curves


def benchmark(args: argparse.Namespace) -> dict[str, Any]:
    """Run every (transform, recipe) pair, evaluate every row; return the results record."""
    from gan_adapt.evaluation.evaluate import EvalSettings
    from gan_adapt.generators import load
    from gan_adapt.plugin_host.loading import load_plugins

    out = Path(args.out)
    if out.exists() and any(out.iterdir()):
        raise SystemExit(f"--out {out} exists and is not empty")
    G_s = load(SOURCE).eval().requires_grad_(False)
    recipes = recipe_files(args.recipes)
    plugin_set = load_plugins()
    targets = write_targets(G_s, out / "targets", args.transforms)
    jobs = plan_jobs(args, recipes, targets, out)
    outcomes = run_jobs(jobs, args.jobs, plugin_set)
    instruments = build_instruments(args.lpips, args.clip, G_s.img_resolution)
    settings = EvalSettings(n=args.n, seed=args.seed, batch=32)
    rows: list[dict[str, Any]] = []
    for name in args.transforms:
        mine = [o for o in outcomes if o.job.transform == name]
        rows += evaluate_transform(name, G_s, mine, instruments, settings, targets[name],
                                   plugin_set, out)
    return {"settings": {"n": args.n, "seed": args.seed, "quick": args.quick,
                         "overrides": list(args.set), "threads": args.threads,
                         "jobs": args.jobs, "recipes": [r.name for r in recipes],
                         "transforms": list(args.transforms), "source": SOURCE,
                         "target_seed": TARGET_SEED, "few_shot_seed": FEW_SHOT_SEED,
                         "source_text": SOURCE_TEXT,
                         "captions": {t: caption(t) for t in args.transforms},
                         "targets": {o.method: _kind_of(o) for o in outcomes},
                         "curve": {"every": args.curve, "n": args.curve_n,
                                   "recipes": list(args.curve_recipes)}},
            "instruments": instruments.info, "rows": add_diversity_ratio(rows),
            "curves": collect_curves(outcomes)}


def finish_record(record: dict[str, Any]) -> dict[str, Any]:
    """Add the per-method means over transforms."""
    record["means"] = method_means(record["rows"])
    return record


def _kind_of(outcome: Outcome) -> str:
    return target_kind(Path(outcome.job.recipe))


COLUMNS = (("fidelity_lpips", "fidelity LPIPS ↓"), ("fidelity_l1", "fidelity L1 ↓"),
           ("diversity_lpips", "diversity"), ("diversity_ratio", "diversity / ideal"),
           ("target_clip_image", "target CLIP image ↑"),
           ("target_clip_text", "target CLIP text ↑"),
           ("attribute_preservation", "attributes kept ↑"), ("content_lpips", "content LPIPS"),
           ("run_seconds", "run s"))


#: Columns averaged over transforms per method (the numbers issue-level targets compare).
MEAN_KEYS = ("fidelity_lpips", "fidelity_l1", "diversity_lpips", "diversity_ratio",
             "target_clip_image", "attribute_preservation", "run_seconds")


def method_means(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per method: the mean of each of :data:`MEAN_KEYS` over its transforms (in the
    order methods first appear)."""
    methods = list(dict.fromkeys(row["method"] for row in rows))
    means = []
    for method in methods:
        mine = [row for row in rows if row["method"] == method]
        entry: dict[str, Any] = {"method": method, "transforms": len(mine)}
        for key in MEAN_KEYS:
            values = [row[key] for row in mine if row.get(key) is not None]
            entry[key] = sum(values) / len(values) if len(values) == len(mine) else None
        means.append(entry)
    return means


def means_markdown(means: list[dict[str, Any]], baseline: str = "oneshotclip") -> str:
    """The per-method means, and each method's ratio to ``baseline`` where it ran."""
    base = next((m for m in means if m["method"] == baseline), None)
    keys = [k for k in MEAN_KEYS if k != "run_seconds"] + ["run_seconds"]
    header = "| method (mean over transforms) | " + " | ".join(keys) + " |"
    lines = [header, "|" + "---|" * (len(keys) + 1)]
    for entry in means:
        cells = []
        for key in keys:
            value = entry.get(key)
            cell = "–" if value is None else (f"{value:.1f}" if key == "run_seconds"
                                              else f"{value:.4f}")
            if base is not None and entry is not base and value is not None \
                    and base.get(key) and key != "run_seconds":
                cell += f" ({value / base[key]:.2f}x)"
            cells.append(cell)
        lines.append(f"| {entry['method']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _cell(row: dict[str, Any], key: str) -> str:
    value = row.get(key)
    if value is None:
        return "–"
    return f"{value:.1f}" if key == "run_seconds" else f"{value:.4f}"


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """The results as a Markdown table (what docs/benchmark.md shows)."""
    header = "| transform | method | " + " | ".join(label for _, label in COLUMNS) + " |"
    lines = [header, "|" + "---|" * (len(COLUMNS) + 2)]
    for row in rows:
        cells = [_cell(row, key) for key, _ in COLUMNS]
        lines.append(f"| {row['transform']} | {row['method']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def print_table(rows: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table("transform", "method", *(label for _, label in COLUMNS),
                  title="gan-adapt quality benchmark")
    for row in rows:
        table.add_row(row["transform"], row["method"], *(_cell(row, key) for key, _ in COLUMNS))
    Console(width=180).print(table)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python benchmarks/quality.py",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=None, help="Output folder (default "
                        "runs/quality-<timestamp>); must be new or empty.")
    parser.add_argument("--transforms", nargs="+", choices=TRANSFORM_NAMES, default=None,
                        help="Target transforms (default: all five; --quick: sketch invert).")
    parser.add_argument("--recipes", nargs="+", default=None,
                        help="Recipe names of benchmarks/recipes, or recipe files (*.toml) (default: all; --quick: "
                             + " ".join(QUICK_RECIPES) + ").")
    parser.add_argument("--n", type=int, default=256, help="Evaluation latents.")
    parser.add_argument("--seed", type=int, default=0,
                        help="Seed of the evaluation latents (and of the curve's).")
    parser.add_argument("--lpips", default="portraits-clip",
                        help="Perceptual distance of the metrics (default: the LPIPS-style "
                             "distance on the shipped portraits CLIP).")
    parser.add_argument("--clip", default="portraits-clip",
                        help="CLIP of the metrics (default: the shipped portraits CLIP, which "
                             "also classifies the attributes).")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="Recipe override applied to every recipe (repeatable).")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads of this process (1 is fastest on a busy "
                             "2-core machine); worker processes of --jobs use 1 each.")
    parser.add_argument("--jobs", type=int, default=None,
                        help="Recipe runs at once, each in a worker process of one thread "
                             "(default: one per CPU core, at most 4; --quick: 1, in this "
                             "process). The results do not depend on it.")
    parser.add_argument("--curve", type=int, default=25, metavar="K",
                        help="Record fidelity every K adaptation steps for --curve-recipes "
                             "(0: no curve; --quick: every step).")
    parser.add_argument("--curve-n", type=int, default=32, help="Latents of the curve.")
    parser.add_argument("--curve-recipes", nargs="+", default=list(CURVE_RECIPES),
                        help="Recipes whose curve is recorded (default: oneshotclip).")
    parser.add_argument("--quick", action="store_true",
                        help=f"{QUICK_STEPS} steps of each phase, 2 transforms, 3 recipes, "
                             "8 latents: tests the pipeline (numbers mean nothing).")
    parser.add_argument("--score-sweep", metavar="SWEEP_TOML", default=None,
                        help="Instead of running recipes: score the finished runs of this "
                             "`gan-adapt sweep` file with the benchmark's metrics and rank its "
                             "settings (use --seed 1: not the benchmark's latents).")
    parser.add_argument("--sweep-out", default=None,
                        help="The sweep's folder if not the default sweeps/<name>.")
    parser.add_argument("--write-targets", metavar="DIR", default=None,
                        help="Only write the transforms' one-shot targets T(x0) (and the "
                             "10-shot folders) into DIR, e.g. for a sweep file.")
    args = parser.parse_args(argv)
    if args.quick:
        args.n = min(args.n, 8)
        args.curve = min(args.curve, 1) if args.curve else 0
        args.curve_n = min(args.curve_n, 4)
    args.transforms = args.transforms or list(QUICK_TRANSFORMS if args.quick else TRANSFORM_NAMES)
    if args.recipes is None and args.quick:
        args.recipes = list(QUICK_RECIPES)
    if args.out is None:
        args.out = f"runs/quality-{time.strftime('%Y%m%d-%H%M%S')}"
    return args


def write_results(record: dict[str, Any], out: Path) -> list[Path]:
    """results.json, table.md and, with curves, curve.md and curve.png."""
    written = [out / "results.json", out / "table.md"]
    written[0].write_text(json.dumps(record, indent=2) + "\n")
    written[1].write_text(markdown_table(record["rows"]) + "\n" + means_markdown(record["means"]))
    if record["curves"]:
        (out / "curve.md").write_text(curve_markdown(record["curves"]))
        written.append(out / "curve.md")
        plot = plot_curves(record["curves"], out / "curve.png")
        written += [plot] if plot else []
    return written


def report_curves(curves: dict[str, dict[str, list[dict[str, float]]]]) -> None:
    for recipe, by_transform in curves.items():
        for transform, points in by_transform.items():
            print(f"{recipe} on {transform}: fidelity LPIPS stops improving after "
                  f"~{plateau_step(points)} steps (first step within 2% of the best, "
                  f"{min(p['fidelity_lpips'] for p in points):.4f})")


# ---------------------------------------------------------------------------------------------
# Scoring a sweep (`gan-adapt sweep benchmarks/sweeps/*.toml`)


def score_sweep(sweep_file: Path, sweep_out: Path | None, settings: Any,
                instruments: Any) -> dict[str, Any]:
    """Every finished run of a sweep, scored like a benchmark row against T(G_s) (the
    transform is the target file's stem), then the grid points ranked by their mean over
    transforms: fidelity LPIPS first. Unfinished runs are listed, never guessed."""
    from gan_adapt.plugin_host.context import TargetData
    from gan_adapt.evaluation.evaluate import evaluate_generators
    from gan_adapt.synthetic_data.known_transforms import TRANSFORMS
    from gan_adapt.evaluation.runs import open_finished_run
    from gan_adapt.generators import load
    from gan_adapt.plugin_host.loading import load_plugins
    from gan_adapt.sweep.runner import sweep_folder
    from gan_adapt.sweep.spec import expand, read_sweep

    sweep = read_sweep(sweep_file)
    folder = sweep_out if sweep_out is not None else sweep_folder(sweep.name, None)
    G_s = load(SOURCE).eval().requires_grad_(False)
    plugin_set = load_plugins()
    rows, missing = [], []
    for run in expand(sweep, sweep_file):
        transform = Path(run.target or "").stem
        run_dir = folder / "runs" / run.run_id
        if transform not in TRANSFORMS:
            raise SystemExit(f"{run.run_id}: the target {run.target!r} is not named after a "
                             f"known transform ({', '.join(TRANSFORMS)})")
        if not (run_dir / "result.json").is_file():
            missing.append(run.run_id)
            continue
        adapted = open_finished_run(run_dir, plugin_set, "cpu").adapted
        image = target_image(G_s, TRANSFORMS[transform])
        metrics = evaluate_generators(G_s, adapted, TargetData(image=image, images=image),
                                      instruments, settings, ideal=TRANSFORMS[transform])
        rows.append({"run_id": run.run_id, "transform": transform,
                     "setting": json.dumps(run.values, sort_keys=True), **metrics})
    ranking = []
    for setting in dict.fromkeys(row["setting"] for row in rows):
        mine = [row for row in rows if row["setting"] == setting]
        entry = {"setting": json.loads(setting), "transforms": sorted(r["transform"]
                                                                       for r in mine)}
        for key in ("fidelity_lpips", "fidelity_l1", "diversity_lpips",
                    "attribute_preservation", "target_clip_image"):
            values = [r[key] for r in mine if r.get(key) is not None]
            entry[key] = sum(values) / len(values) if values else None
        ranking.append(entry)
    complete = len({r["transform"] for r in rows})
    ranking.sort(key=lambda e: (-len(e["transforms"]), e["fidelity_lpips"]))
    return {"sweep": str(sweep_file), "folder": str(folder), "seed": settings.seed,
            "n": settings.n, "transforms_seen": complete, "missing": missing,
            "rows": rows, "ranking": ranking}


def print_ranking(scored: dict[str, Any], top: int = 15) -> None:
    print(f"{len(scored['rows'])} runs scored on latent seed {scored['seed']} "
          f"(n={scored['n']}); {len(scored['missing'])} not finished")
    print("rank  fid-LPIPS  fid-L1   divers.  attrs   target  transforms  setting")
    for rank, entry in enumerate(scored["ranking"][:top], 1):
        cells = [f"{entry[k]:.4f}" if entry[k] is not None else "   –  " for k in
                 ("fidelity_lpips", "fidelity_l1", "diversity_lpips",
                  "attribute_preservation", "target_clip_image")]
        print(f"{rank:4d}  " + "  ".join(cells) + f"  {len(entry['transforms'])}  "
              f"{json.dumps(entry['setting'])}")


def default_jobs(quick: bool) -> int:
    """One worker per usable core (at most 4: each holds its models, ~1 GB); 1 for --quick."""
    if quick:
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(cores or 1, 4))


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    if args.jobs is None:
        args.jobs = default_jobs(args.quick)
    torch.set_num_threads(args.threads)
    if args.write_targets:
        from gan_adapt.generators import load

        G_s = load(SOURCE).eval().requires_grad_(False)
        for name, files in write_targets(G_s, Path(args.write_targets), args.transforms).items():
            print(f"{name}: {files.image}")
        return {}
    if args.score_sweep:
        from gan_adapt.evaluation.evaluate import EvalSettings

        instruments = build_instruments(args.lpips, args.clip, 32)
        scored = score_sweep(Path(args.score_sweep),
                             Path(args.sweep_out) if args.sweep_out else None,
                             EvalSettings(n=args.n, seed=args.seed, batch=32), instruments)
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "sweep-scores.json").write_text(json.dumps(scored, indent=2) + "\n")
        print_ranking(scored)
        print(f"wrote {out / 'sweep-scores.json'}")
        return scored
    started = time.time()
    record = finish_record(benchmark(args))
    record["seconds"] = round(time.time() - started, 1)
    out = Path(args.out)
    written = write_results(record, out)
    print_table(record["rows"])
    print(means_markdown(record["means"]))
    report_curves(record["curves"])
    for name, info in record["instruments"].items():
        print(f"  {name}: {info.get('weights', info) if isinstance(info, dict) else info}")
    print(f"total {record['seconds']:.0f} s; wrote " + ", ".join(str(p) for p in written))
    return record


if __name__ == "__main__":
    main()
    sys.exit(0)
