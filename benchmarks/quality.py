"""The quality benchmark: adaptation towards target domains whose ground truth is known.

Protocol (docs/benchmark.md, "Protocol"; the why in docs/benchmark-protocol notes):

* the source generator G_s is the shipped 32-px portraits StyleGAN2 (``portraits-stylegan2-32``);
* a target domain is a known transform T, so the ideal adapted generator is T(G_s(z)) for
  every z. Transforms come in splits: ``tune`` (sketch, posterise, invert, watercolour, hatch:
  every recipe and sweep was chosen on them) and ``test`` (grade, pixelart, relief, lineart,
  canvas: for reporting only). Plugins add transforms (hook ``register_transforms``); those
  belong to neither split (``held-out``) and run only when named;
* each transform has several one-shot targets T(x0), from two sources reported apart (see
  ``quality_targets.py``): ``gan-<seed>`` (in range: G_s(z_seed) at truncation 1, seeds far
  from G_s(w_avg)) and ``render-<seed>`` (out of range: the procedural renderer's portrait);
  a case is one (transform, target). Image recipes get T(x0); folder recipes (``cdc-10shot``)
  get ten in-range images T(G_s(z_i)), text recipes the transform's caption: their run is the
  same for every target, so it runs once (filed under ``fewshot-10`` / ``caption``) and is
  scored in every case of its transform;
* every recipe runs once per recipe seed (``--recipe-seeds``; the engine's ``seed`` key);
* two rows need no run: ``source`` (G_s) and ``ideal`` (T(G_s)).

Numbers (``quality_scoring.py``), on ``--n`` latents of ``--seed``: measured by the
independent evaluator (``--evaluator``, default the shipped ``portraits-evaluator``: a CNN no
recipe can name): fidelity (distance of G_t(z) to T(G_s(z))), diversity (pairwise, and its
ratio to the ideal's), attribute preservation (hair style, expression, eyewear of G_s(z) and
G_t(z)); with no network: fidelity L1 and SSIM. The portraits-CLIP figures (fidelity,
diversity, attributes, target similarity) stay beside them as a second opinion; every recipe
that trains against the portraits CLIP is flagged, and one that names the evaluator is refused.
Claims are means over cases of per-case ratios to ``--baseline``, with bootstrap 95% intervals
(``gan_adapt.evaluation.intervals``), overall, per group (tune/test x gan/render) and per
transform; the seed noise is the baseline's seed 1 over its seed 0.

Runs are resumable: every engine run writes ``<out>/runs/<recipe>/<transform>/<target>/seed<k>/``
and is reused once finished (``benchmark-run.json`` marks it), restarted if not. ``--out`` may
be an existing folder of this benchmark (it resumes, and may add recipes, transforms, targets
or seeds); any other non-empty folder is refused. Scores are cached per run and settings.

Options:
  --split tune|test [..]     transforms of these splits (default: tune)
  --transforms NAME...       these transforms instead (plugin transforms by name)
  --plugins-dir DIR          load extra transforms (and other components) from DIR's *.py
  --targets gan|render|both  target sources (default: both)
  --target-seeds S...        target seeds (117: for every source; gan-117 / render-5001: one);
                             default: the 2 far gan seeds and render 5001 5002
  --recipes NAME|FILE...     recipes of benchmarks/recipes or recipe files (default: all)
  --recipe-seeds K...        engine seeds of each recipe (default: 0 1)
  --baseline NAME            the recipe ratios are taken against (default: oneshotclip)
  --n N, --seed S            evaluation latents and their seed (default 256, 0)
  --evaluator NAME|FOLDER    the scoring instrument (default: portraits-evaluator)
  --jobs J                   runs at once, one thread each (default: one per core)
  --runs-only                run (or resume) the runs, score nothing
  --json FILE                also write the results record to FILE
  --resamples B              bootstrap resamples (default 2000)
  --quick                    2 steps, 2 transforms, 2 targets, 3 recipes, 8 latents: pipeline test
  --score-sweep SWEEP        score a `gan-adapt sweep`'s finished runs (tune split only)
  --write-targets DIR        only write the targets (for sweep files)
  --table RESULTS_JSON       only print a results.json's Markdown tables (for docs)

    python benchmarks/quality.py --split test --recipes oneshotclip best --out runs/q-test
    python benchmarks/quality.py --quick                  # under a minute: the pipeline only
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from gan_adapt import hookimpl

sys.path.insert(0, str(Path(__file__).resolve().parent))  # quality_targets, quality_scoring
import quality_targets as qt  # noqa: E402

ROOT = Path(__file__).resolve().parent
RECIPES = ROOT / "recipes"
#: The shipped source generator (``gan_adapt.weights.shipped``).
SOURCE = "portraits-stylegan2-32"
#: The tune split (kept for the sweep files and older callers).
TRANSFORM_NAMES = ("sketch", "posterise", "invert", "watercolour", "hatch")
#: The description of the source domain given to text recipes.
SOURCE_TEXT = "a photo of a face"
#: The legacy one-shot target of the sweeps (``--score-sweep`` of runs made before the
#: protocol's targets): G_s(seed 7, truncation 0.7).
LEGACY_TARGET_SEED = 7
LEGACY_TARGET_TRUNCATION = 0.7
#: Recipes whose fidelity-versus-step curve is recorded (with --curve > 0).
CURVE_RECIPES = ("oneshotclip",)
#: --quick: one recipe of each target kind (image, text, folder), a transform of each split,
#: one target of each source, two steps, one recipe seed.
QUICK_RECIPES = ("oneshotclip", "nada", "cdc-10shot")
QUICK_TRANSFORMS = ("sketch", "grade")
QUICK_TARGETS = ("gan-0", "render-5001")
QUICK_STEPS = 2
QUICK_REFERENCE_FACES = 64  # --quick: the targets' distance percentiles among 64 faces
#: A curve point is "as good as the best" within this relative margin.
PLATEAU_TOLERANCE = 0.02
#: The file that marks a folder as this benchmark's output (and what it was started with).
MARKER = "benchmark.json"
#: The file that marks an engine run of the benchmark as finished.
RUN_MARKER = "benchmark-run.json"
LAYOUT = 2


# ---------------------------------------------------------------------------------------------
# Recipes


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


def target_kind(recipe: Path) -> str:
    """How the recipe's ``[target]`` is given (``extends`` merged): ``"text"``, ``"images"``
    (a folder) or ``"image"``."""
    from gan_adapt.recipe.schema import read_toml

    target = read_toml(recipe).get("target") or {}
    for kind in ("text", "images", "image"):
        if target.get(kind):
            return kind
    raise SystemExit(f"{recipe}: [target] has no image, images or text")


def quick_overrides(recipe: Path) -> list[str]:
    """--quick: a few steps of each phase the recipe has (a [search] it lacks stays absent)."""
    from gan_adapt.recipe.schema import read_toml

    steps = [f"adapt.steps={QUICK_STEPS}", f"output.sample_every={QUICK_STEPS}",
             f"output.checkpoint_every={QUICK_STEPS}"]
    if read_toml(recipe).get("search") is not None:
        steps.append(f"search.steps={QUICK_STEPS}")
    return steps


def _strings(value: Any) -> list[str]:
    """Every string inside a TOML value (tables and arrays walked)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for item in value.values() for s in _strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return []


#: Recipe keys that configure no term (what the target is, where outputs go, prose).
NOT_TERMS = ("target", "output", "name", "description", "extends")


def instrument_use(recipe: Path, overrides: list[str], names: list[str]) -> list[str]:
    """Which of ``names`` (instrument names or folders) the recipe (``extends`` merged, the
    overrides applied) mentions outside its target, outputs and prose: a recipe that trains
    against a scoring instrument games it."""
    from gan_adapt.recipe.schema import apply_overrides, read_toml

    data, _ = apply_overrides(read_toml(recipe), overrides)
    text = [s.lower() for key, value in data.items() if key not in NOT_TERMS
            for s in _strings(value)]
    return [name for name in names if any(name.lower() in s for s in text)]


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
    """The curves as Markdown: one table per recipe, a row per step, a column per run."""
    parts = []
    for recipe, by_run in curves.items():
        names = list(by_run)
        header = "| step | " + " | ".join(f"{t} LPIPS / L1" for t in names) + " |"
        lines = [f"Fidelity (portraits-CLIP LPIPS / L1) of `{recipe}` against T(G_s) during "
                 "adaptation:", "", header, "|" + "---|" * (len(names) + 1)]
        steps = [int(p["step"]) for p in by_run[names[0]]]
        for index, step in enumerate(steps):
            cells = [f"{by_run[t][index]['fidelity_lpips']:.4f} / "
                     f"{by_run[t][index]['fidelity_l1']:.4f}" if index < len(by_run[t])
                     else "–" for t in names]
            lines.append(f"| {step} | " + " | ".join(cells) + " |")
        lines.append("| stops improving (within 2% of the best LPIPS) | " + " | ".join(
            f"step {plateau_step(by_run[t])}" for t in names) + " |")
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


def plot_curves(curves: dict[str, dict[str, list[dict[str, float]]]], path: Path) -> Path | None:
    """Fidelity LPIPS and L1 against steps, a line per (recipe, run); None without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    figure, axes = plt.subplots(1, 2, figsize=(10, 4))
    for recipe, by_run in curves.items():
        for name, points in by_run.items():
            steps = [p["step"] for p in points]
            label = name if len(curves) == 1 else f"{recipe} {name}"
            for axis, key in zip(axes, ("fidelity_lpips", "fidelity_l1")):
                axis.plot(steps, [p[key] for p in points], marker=".", label=label)
    for axis, title in zip(axes, ("fidelity LPIPS (portraits CLIP) ↓", "fidelity L1 ↓")):
        axis.set_xlabel("adaptation step")
        axis.set_title(title)
        axis.grid(alpha=0.3)
    axes[0].legend(fontsize=6)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


# ---------------------------------------------------------------------------------------------
# Runs (in this process, or N at once in worker processes), each resumable


@dataclass(frozen=True)
class Job:
    """One engine run of the benchmark (picklable: sent to worker processes)."""

    recipe: str
    transform: str
    given: str  # the target id the run is filed under: gan-117, render-5001, caption, fewshot-10
    seed: int  # the recipe seed (the engine's `seed`)
    folder: str
    target: str  # the engine's `target` value: an image, a folder or a text
    overrides: tuple[str, ...]
    curve_every: int = 0  # 0: no curve
    curve_n: int = 32
    curve_seed: int = 0
    lpips: str = "portraits-clip"  # the curve's distance
    plugins_dirs: tuple[str, ...] = ()

    @property
    def method(self) -> str:
        return Path(self.recipe).stem

    @property
    def label(self) -> str:
        return f"{self.method}/{self.transform}/{self.given}/seed{self.seed}"


@dataclass
class Outcome:
    """What a finished job reports back."""

    job: Job
    seconds: float
    generator: str  # the adapted generator's folder
    curve: list[dict[str, float]] = field(default_factory=list)
    reused: bool = False

    @property
    def method(self) -> str:
        return self.job.method


def finished(job: Job) -> Outcome | None:
    """The outcome of a job whose run finished earlier (its marker and result exist)."""
    folder = Path(job.folder)
    try:
        marker = json.loads((folder / RUN_MARKER).read_text(encoding="utf-8"))
        result = json.loads((folder / "result.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    generator = folder / result.get("outputs", {}).get("generator", "generator")
    if result.get("status") != "done" or not generator.is_dir():
        return None
    if list(marker.get("overrides", [])) != list(job.overrides) \
            or marker.get("target") != job.target:
        raise SystemExit(f"{folder} was run with other settings (overrides "
                         f"{marker.get('overrides')}, target {marker.get('target')!r}); give "
                         "the benchmark the settings it was started with, or another --out")
    return Outcome(job, float(marker.get("seconds", 0.0)), str(generator),
                   list(marker.get("curve", [])), reused=True)


def execute(job: Job, plugin_set: Any) -> Outcome:
    """Run one job through the engine (an unfinished earlier attempt is removed first); its
    progress lines go to ``<folder>.log``; the marker is written last."""
    from gan_adapt.engine.launch import start
    from gan_adapt.io import atomic_files as files

    done = finished(job)
    if done is not None:
        return done
    folder = Path(job.folder)
    if folder.exists():
        shutil.rmtree(folder)  # an interrupted run: start it again from scratch
    log = folder.parent / f"{folder.name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    curve = None
    if job.curve_every > 0:
        from gan_adapt.evaluation.metric_models import build_lpips

        distance = build_lpips(job.lpips, None, 32, torch.device("cpu")).model
        table = transform_table(plugin_set)
        curve = FidelityCurve(table[job.transform].fn, distance, job.curve_every,
                              job.curve_n, job.curve_seed)
        plugin_set.manager.register(curve, name=f"quality-curve-{job.label}")
    started = time.time()
    try:
        with open(log, "w", encoding="utf-8") as handle, contextlib.redirect_stderr(handle):
            result = start(job.recipe, plugin_set, out=folder, target=job.target,
                           overrides=list(job.overrides), device="cpu", progress_live=False)
    finally:
        if curve is not None:  # the plugin set outlives this run (in-process jobs)
            plugin_set.manager.unregister(curve)
    outcome = Outcome(job, time.time() - started, str(result.folder / result.outputs["generator"]),
                      curve.points if curve else [])
    files.write_json(folder / RUN_MARKER, {"job": asdict(job), "seconds": round(outcome.seconds, 1),
                                           "overrides": list(job.overrides), "target": job.target,
                                           "curve": outcome.curve})
    return outcome


_WORKER_PLUGINS: Any = None  # a worker process loads the plugins once


def _worker(job: Job) -> Outcome:
    """Entry point of a worker process: one thread, its own plugin set."""
    global _WORKER_PLUGINS
    from gan_adapt.plugin_host.loading import load_plugins

    torch.set_num_threads(1)  # N workers share the cores
    if _WORKER_PLUGINS is None:
        _WORKER_PLUGINS = load_plugins(list(job.plugins_dirs))
    return execute(job, _WORKER_PLUGINS)


def run_jobs(jobs: list[Job], workers: int, plugin_set: Any) -> list[Outcome]:
    """Every job, in order of the list: in this process, or ``workers`` at once. Finished runs
    are reused without a worker. A failed run is reported and the others go on; the failures
    are raised together at the end (their folders restart on the next call)."""
    outcomes: list[Outcome] = []
    failures: list[str] = []
    pending = []
    for job in jobs:
        done = finished(job)
        if done is not None:
            outcomes.append(done)
        else:
            pending.append(job)
    if pending:
        print(f"{len(pending)} runs to do, {len(outcomes)} finished earlier", flush=True)
    if workers <= 1 or len(pending) <= 1:
        for job in pending:
            try:
                outcomes.append(execute(job, plugin_set))
                _report_run(outcomes[-1])
            except Exception as exc:  # noqa: BLE001 - reported, the other runs go on
                failures.append(f"{job.label}: {type(exc).__name__}: {exc}")
    else:
        import multiprocessing

        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            futures = [(job, pool.submit(_worker, job)) for job in pending]
            for job, future in futures:
                try:
                    outcomes.append(future.result())
                    _report_run(outcomes[-1])
                except Exception as exc:  # noqa: BLE001 - reported, the other runs go on
                    failures.append(f"{job.label}: {type(exc).__name__}: {exc}")
    if failures:
        raise SystemExit(f"{len(failures)} of {len(jobs)} runs failed (the others are kept; "
                         "run the same command again to retry):\n  " + "\n  ".join(failures))
    order = {job.folder: index for index, job in enumerate(jobs)}
    return sorted(outcomes, key=lambda o: order[o.job.folder])


def _report_run(outcome: Outcome) -> None:
    print(f"{outcome.job.label:50s} run done in {outcome.seconds:.0f} s", flush=True)


def given_target(kind: str, spec: qt.TargetSpec) -> str:
    """The id a recipe of ``kind`` files its run under for target ``spec``."""
    return {"text": qt.CAPTION_ID, "images": qt.FEW_SHOT_ID}.get(kind, spec.id)


def target_arguments(kind: str, entry: qt.BenchTransform, given: str,
                     files: qt.TargetFiles) -> tuple[str, list[str]]:
    """The engine's ``target`` value and the extra overrides for one (recipe kind, transform,
    given target)."""
    if kind == "text":
        # --target replaces the text and keeps the recipe's source text; set it explicitly so
        # that every text recipe starts from the same description.
        return entry.caption, [f"target.source_text={SOURCE_TEXT}"]
    if kind == "images":
        return str(files.folder.resolve()), []
    return str(files.images[given].resolve()), []


def run_folder(out: Path, recipe: str, transform: str, given: str, seed: int) -> Path:
    """``<out>/runs/<recipe>/<transform>/<target>/seed<k>``."""
    return out / "runs" / recipe / transform / given / f"seed{seed}"


def plan_jobs(args: argparse.Namespace, recipes: list[Path], table: dict[str, qt.BenchTransform],
              specs: list[qt.TargetSpec], targets: dict[str, qt.TargetFiles],
              out: Path) -> list[Job]:
    """A job per (recipe, transform, given target, recipe seed)."""
    kinds = {recipe: target_kind(recipe) for recipe in recipes}
    jobs: dict[str, Job] = {}
    for transform in args.transforms:
        for recipe in recipes:
            quick = quick_overrides(recipe) if args.quick else []
            curve = args.curve if recipe.stem in args.curve_recipes else 0
            for spec in specs:
                given = given_target(kinds[recipe], spec)
                value, extra = target_arguments(kinds[recipe], table[transform], given,
                                                targets[transform])
                for seed in args.recipe_seeds:
                    folder = run_folder(out, recipe.stem, transform, given, seed)
                    jobs.setdefault(str(folder), Job(
                        str(recipe), transform, given, seed, str(folder), value,
                        tuple(list(args.set) + quick + extra + [f"seed={seed}"]), curve,
                        args.curve_n, args.seed, args.lpips, tuple(args.plugins_dir)))
    return list(jobs.values())


# ---------------------------------------------------------------------------------------------
# Transforms and targets


def transform_table(plugin_set: Any = None) -> dict[str, qt.BenchTransform]:
    """Every transform the registry knows (``register_transforms``): the built-in tune and test
    splits (registered by gan_adapt.evaluation.plugin), then plugins' (held out)."""
    from gan_adapt.plugin_host.loading import load_plugins

    plugin_set = plugin_set if plugin_set is not None else load_plugins()
    from gan_adapt.evaluation.plugin import TEST_CAPTIONS, TUNE_CAPTIONS

    table = qt.registered_transforms(plugin_set.registry)
    splits = {split: index for index, split in enumerate((qt.TUNE, qt.TEST, qt.HELD_OUT))}
    builtin = {name: index for index, name in enumerate([*TUNE_CAPTIONS, *TEST_CAPTIONS])}
    return dict(sorted(table.items(), key=lambda item: (
        splits[item[1].split], builtin.get(item[0], len(builtin)), item[0])))


def choose_transforms(args: argparse.Namespace, table: dict[str, qt.BenchTransform]) -> list[str]:
    """``--transforms`` if given, else the transforms of ``--split`` (--quick: one of each)."""
    if args.transforms:
        unknown = [t for t in args.transforms if t not in table]
        if unknown:
            raise SystemExit(f"unknown transform {', '.join(unknown)} (known: "
                             f"{', '.join(table)}; a plugin's transform needs --plugins-dir)")
        return list(dict.fromkeys(args.transforms))
    if args.quick:
        return list(QUICK_TRANSFORMS)
    return [name for split in args.split for name in qt.split_names(table, split)]


def choose_targets(args: argparse.Namespace, G_s: Any,
                   folder: Path) -> tuple[list[qt.TargetSpec], dict[str, Any]]:
    """The target specs and what is known about them (``<folder>/targets.json``): for each,
    its portraits-CLIP LPIPS from G_s(w_avg) and that distance's percentile among random
    faces. The default gan seeds are chosen by that distance (quality_targets)."""
    from gan_adapt.evaluation import benchmark_targets as bt
    from gan_adapt.evaluation.metric_models import build_lpips

    sources = list(qt.SOURCES) if args.targets == "both" else [args.targets]
    cache = folder / "targets.json"
    known = json.loads(cache.read_text()) if cache.is_file() else {}
    distance = build_lpips("portraits-clip", None, G_s.img_resolution, torch.device("cpu")).model
    if args.target_seeds:
        specs = qt.parse_target_seeds(args.target_seeds, sources)
    elif args.quick:
        specs = [s for s in qt.parse_target_seeds(list(QUICK_TARGETS), sources)
                 if s.source in sources]
    else:
        if "gan" in sources and "default_gan_seeds" not in known:
            seeds, threshold = bt.far_seeds(G_s, distance, qt.GAN_TARGETS)
            known["default_gan_seeds"], known["far_threshold"] = seeds, round(threshold, 4)
        specs = [qt.TargetSpec("gan", s) for s in known.get("default_gan_seeds", [])
                 if "gan" in sources]
        specs += [qt.TargetSpec("render", s) for s in qt.RENDER_SEEDS if "render" in sources]
    faces = QUICK_REFERENCE_FACES if args.quick else qt.REFERENCE_FACES
    reference = known.get("reference_distances")
    if reference is None or len(reference) != faces:
        reference = [round(float(v), 6) for v in qt.reference_distances(G_s, distance, faces)]
        known["reference_distances"] = reference
    reference_tensor = torch.tensor(reference, dtype=torch.float64)
    start = qt.mean_face(G_s)
    info = known.setdefault("targets", {})
    portraits = {}
    for spec in specs:
        portraits[spec.id] = qt.portrait(G_s, spec)
        value = float(distance(start, portraits[spec.id]))
        info[spec.id] = {"source": spec.source, "seed": spec.seed, "in_range": spec.in_range,
                         "clip_lpips_from_mean_face": round(value, 4),
                         "clip_lpips_percentile": round(qt.percentile_of(value,
                                                                         reference_tensor), 1)}
    known["reference"] = {"faces": faces, "seeds": f"{bt.REFERENCE_SEEDS.start}-"
                          f"{bt.REFERENCE_SEEDS.start + faces - 1}",
                          "percentile": qt.FAR_PERCENTILE,
                          "threshold": round(float(torch.quantile(reference_tensor,
                                                                  qt.FAR_PERCENTILE / 100)), 4),
                          "median": round(float(reference_tensor.median()), 4)}
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(known, indent=2) + "\n")
    return specs, {"portraits": portraits, "info": known}


# ---------------------------------------------------------------------------------------------
# The output folder


def open_out(out: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Create ``out`` or reopen a folder of this benchmark (then the settings that change runs
    must be the ones it was started with); refuse any other non-empty folder."""
    settings = {"quick": bool(args.quick), "set": list(args.set)}
    marker = out / MARKER
    if out.exists() and not out.is_dir():
        raise SystemExit(f"--out {out} is a file")
    if out.exists() and any(out.iterdir()):
        if not marker.is_file():
            raise SystemExit(f"--out {out} is not empty and not a folder of this benchmark "
                             f"(no {MARKER}); choose a new folder")
        record = json.loads(marker.read_text(encoding="utf-8"))
        if record.get("layout") != LAYOUT:
            raise SystemExit(f"--out {out} was written by another version of the benchmark "
                             f"(layout {record.get('layout')}, this one {LAYOUT})")
        if record.get("runs") != settings:
            raise SystemExit(f"--out {out} was started with {record.get('runs')}; resuming "
                             f"needs the same --quick and --set (got {settings})")
        return record
    out.mkdir(parents=True, exist_ok=True)
    record = {"benchmark": "gan-adapt quality", "layout": LAYOUT, "runs": settings,
              "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    marker.write_text(json.dumps(record, indent=2) + "\n")
    return record


# ---------------------------------------------------------------------------------------------
# Command line


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python benchmarks/quality.py",
                                     description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=None, help="Output folder (default "
                        "runs/quality-<timestamp>): new, empty, or one of this benchmark's "
                        "(resumed).")
    parser.add_argument("--split", nargs="+", choices=(qt.TUNE, qt.TEST), default=[qt.TUNE],
                        help="The transforms of these splits (default: tune).")
    parser.add_argument("--transforms", nargs="+", default=None,
                        help="These transforms instead of a split (plugin transforms too).")
    parser.add_argument("--plugins-dir", action="append", default=[], metavar="DIR",
                        help="Load plugins (e.g. transforms) from DIR's *.py (repeatable).")
    parser.add_argument("--targets", choices=("gan", "render", "both"), default="both",
                        help="Target sources: in range (gan), out of range (render), both.")
    parser.add_argument("--target-seeds", nargs="+", default=None, metavar="S",
                        help="Target seeds: 117 (for every source of --targets) or target ids "
                             "gan-117 / render-5001 (default: 2 far gan seeds, render 5001 "
                             "5002; --quick: gan-0 render-5001).")
    parser.add_argument("--recipes", nargs="+", default=None,
                        help="Recipe names of benchmarks/recipes, or recipe files (*.toml) "
                             "(default: all; --quick: " + " ".join(QUICK_RECIPES) + ").")
    parser.add_argument("--recipe-seeds", nargs="+", type=int, default=None, metavar="K",
                        help="Engine seeds of each recipe run (default: 0 1; --quick: 0).")
    parser.add_argument("--baseline", default="oneshotclip",
                        help="The recipe the ratios are taken against (default: oneshotclip).")
    parser.add_argument("--n", type=int, default=256, help="Evaluation latents.")
    parser.add_argument("--seed", type=int, default=0,
                        help="Seed of the evaluation latents (and of the curve's).")
    parser.add_argument("--evaluator", default="portraits-evaluator",
                        help="The scoring instrument: a shipped evaluator's name or an "
                             "exported folder (default: portraits-evaluator).")
    parser.add_argument("--lpips", default="portraits-clip",
                        help="Second-opinion perceptual distance (default: the portraits CLIP's).")
    parser.add_argument("--clip", default="portraits-clip",
                        help="Second-opinion CLIP (default: the shipped portraits CLIP, which "
                             "also reads the attributes).")
    parser.add_argument("--resamples", type=int, default=2000,
                        help="Bootstrap resamples of every interval.")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="Recipe override applied to every recipe (repeatable).")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads of this process (1 is fastest on a busy "
                             "2-core machine); worker processes of --jobs use 1 each.")
    parser.add_argument("--jobs", type=int, default=None,
                        help="Runs at once, each in a worker process of one thread (default: "
                             "one per CPU core, at most 4; --quick: 1, in this process). The "
                             "results do not depend on it.")
    parser.add_argument("--runs-only", action="store_true",
                        help="Only run (or resume) the engine runs; score nothing.")
    parser.add_argument("--json", default=None, metavar="FILE",
                        help="Also write the results record (rows, means, intervals) to FILE.")
    parser.add_argument("--curve", type=int, default=25, metavar="K",
                        help="Record fidelity every K adaptation steps for --curve-recipes "
                             "(0: no curve; --quick: every step).")
    parser.add_argument("--curve-n", type=int, default=32, help="Latents of the curve.")
    parser.add_argument("--curve-recipes", nargs="+", default=list(CURVE_RECIPES),
                        help="Recipes whose curve is recorded (default: oneshotclip).")
    parser.add_argument("--quick", action="store_true",
                        help=f"{QUICK_STEPS} steps of each phase, 2 transforms, 2 targets, 3 "
                             "recipes, 8 latents: tests the pipeline (numbers mean nothing).")
    parser.add_argument("--score-sweep", metavar="SWEEP_TOML", default=None,
                        help="Instead of running recipes: score the finished runs of this "
                             "`gan-adapt sweep` file (tune-split transforms only) and rank its "
                             "settings (use --seed 1: not the benchmark's latents).")
    parser.add_argument("--sweep-out", default=None,
                        help="The sweep's folder if not the default sweeps/<name>.")
    parser.add_argument("--table", metavar="RESULTS_JSON", default=None,
                        help="Only print the Markdown tables (targets, ratios with intervals per "
                             "group, means per group) of a results.json; with --transforms-rows "
                             "also the per-transform ratios.")
    parser.add_argument("--transforms-rows", action="store_true",
                        help="--table: add the per-transform groups to the ratio table.")
    parser.add_argument("--write-targets", metavar="DIR", default=None,
                        help="Only write the transforms' targets (and the 10-shot folders) "
                             "into DIR, e.g. for a sweep file.")
    args = parser.parse_args(argv)
    if args.quick:
        args.n = min(args.n, 8)
        args.curve = min(args.curve, 1) if args.curve else 0
        args.curve_n = min(args.curve_n, 4)
    if args.recipe_seeds is None:
        args.recipe_seeds = [0] if args.quick else [0, 1]
    args.recipe_seeds = list(dict.fromkeys(args.recipe_seeds))
    if args.recipes is None and args.quick:
        args.recipes = list(QUICK_RECIPES)
    if args.n < 2:
        raise SystemExit("--n must be at least 2 (diversity compares pairs)")
    if args.out is None:
        args.out = f"runs/quality-{time.strftime('%Y%m%d-%H%M%S')}"
    return args


def default_jobs(quick: bool) -> int:
    """One worker per usable core (at most 4: each holds its models, ~1 GB); 1 for --quick."""
    if quick:
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(cores or 1, 4))


def collect_curves(outcomes: list[Outcome]) -> dict[str, dict[str, list[dict[str, float]]]]:
    """``{recipe: {"<transform>/<target>/seed<k>": points}}`` of the runs with a curve."""
    curves: dict[str, dict[str, list[dict[str, float]]]] = {}
    for outcome in outcomes:
        if outcome.curve:
            job = outcome.job
            curves.setdefault(outcome.method, {})[
                f"{job.transform}/{job.given}/seed{job.seed}"] = outcome.curve
    return curves


def benchmark(args: argparse.Namespace) -> dict[str, Any]:
    """Run (or resume) every job; unless --runs-only, score every row and state the claims."""
    from gan_adapt.generators import load
    from gan_adapt.plugin_host.loading import load_plugins

    out = Path(args.out)
    recipes = recipe_files(args.recipes)
    plugin_set = load_plugins(args.plugins_dir)
    table = transform_table(plugin_set)
    args.transforms = choose_transforms(args, table)
    for recipe in recipes:  # before anything is written
        if args.evaluator_names and instrument_use(recipe, args.set, args.evaluator_names):
            raise SystemExit(f"recipe {recipe.stem} uses the evaluator "
                             f"({', '.join(args.evaluator_names)}) in its terms: it could "
                             "train against the instrument that scores it")
    if not args.runs_only:  # a missing evaluator is found now, not after hours of runs
        import quality_scoring

        quality_scoring.load_scoring_evaluator(args.evaluator)
    open_out(out, args)
    G_s = load(SOURCE).eval().requires_grad_(False)
    specs, targets = choose_targets(args, G_s, out / "targets")
    files = qt.write_targets(G_s, out / "targets", [table[t] for t in args.transforms], specs,
                             targets["portraits"])
    jobs = plan_jobs(args, recipes, table, specs, files, out)
    print(f"{len(jobs)} runs: {len(recipes)} recipes x {len(args.transforms)} transforms x "
          f"{len(specs)} targets x {len(args.recipe_seeds)} seeds", flush=True)
    outcomes = run_jobs(jobs, args.jobs, plugin_set)
    settings = {"n": args.n, "seed": args.seed, "quick": args.quick, "overrides": list(args.set),
                "threads": args.threads, "jobs": args.jobs,
                "recipes": [r.name for r in recipes], "recipe_seeds": list(args.recipe_seeds),
                "baseline": args.baseline, "split": list(args.split),
                "transforms": {t: table[t].split for t in args.transforms},
                "targets": [s.id for s in specs], "source": SOURCE, "source_text": SOURCE_TEXT,
                "few_shot": {"count": qt.FEW_SHOT, "seed": qt.FEW_SHOT_SEED,
                             "truncation": qt.FEW_SHOT_TRUNCATION, "in_range": True},
                "captions": {t: table[t].caption for t in args.transforms},
                "target_kinds": {r.stem: target_kind(r) for r in recipes},
                "curve": {"every": args.curve, "n": args.curve_n,
                          "recipes": list(args.curve_recipes)},
                "resamples": args.resamples}
    record: dict[str, Any] = {"settings": settings, "targets": targets["info"],
                              "runs": [{"recipe": o.method, "transform": o.job.transform,
                                        "given": o.job.given, "seed": o.job.seed,
                                        "folder": o.job.folder, "seconds": round(o.seconds, 1),
                                        "reused": o.reused} for o in outcomes],
                              "curves": collect_curves(outcomes)}
    if args.runs_only:
        return record
    import quality_scoring

    return quality_scoring.score_benchmark(args, record, G_s, table, specs, files, outcomes,
                                           recipes, plugin_set)


def evaluator_names(choice: str) -> list[str]:
    """The names and folder by which a recipe could name the evaluator ``choice``."""
    names = [choice, "portraits-evaluator"]
    path = Path(choice)
    if path.is_dir():
        names.append(str(path.resolve()))
    return list(dict.fromkeys(names))


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    if args.jobs is None:
        args.jobs = default_jobs(args.quick)
    args.evaluator_names = evaluator_names(args.evaluator)
    torch.set_num_threads(args.threads)
    if args.table:
        import quality_scoring

        text = quality_scoring.docs_tables(Path(args.table), args.transforms_rows)
        print(text)
        return {"markdown": text}
    if args.write_targets:
        from gan_adapt.generators import load
        from gan_adapt.plugin_host.loading import load_plugins

        table = transform_table(load_plugins(args.plugins_dir))
        names = choose_transforms(args, table)
        G_s = load(SOURCE).eval().requires_grad_(False)
        folder = Path(args.write_targets)
        specs, targets = choose_targets(args, G_s, folder)
        written = qt.write_targets(G_s, folder, [table[t] for t in names], specs,
                                   targets["portraits"])
        for name, files in written.items():
            print(f"{name}: " + ", ".join(str(p) for p in files.images.values()))
        return {}
    if args.score_sweep:
        import quality_scoring

        return quality_scoring.score_sweep_command(args)
    started = time.time()
    record = benchmark(args)
    record["seconds"] = round(time.time() - started, 1)
    if args.runs_only:
        new_runs = sum(not r["reused"] for r in record["runs"])
        print(f"runs done in {record['seconds']:.0f} s ({new_runs}"
              f" new); score them by running the same command without --runs-only")
        return record
    import quality_scoring

    written = quality_scoring.write_results(record, Path(args.out), args.json)
    quality_scoring.print_summary(record)
    print(f"total {record['seconds']:.0f} s; wrote " + ", ".join(str(p) for p in written))
    return record


if __name__ == "__main__":
    main()
    sys.exit(0)
