"""The quality benchmark: one-shot adaptation towards target domains whose ground truth is known.

Set-up (everything regenerates from this repository; nothing is downloaded):

* the source generator G_s is a small StyleGAN2 (32 px) pretrained by gan-adapt's own minimal
  trainer on procedural "shapes" images (``gan_adapt.training``); its weights are shipped in
  ``benchmarks/assets/shapes-stylegan2-32`` and ``--pretrain`` retrains them;
* a target domain is a known transform T (``sketch``, ``posterise``, ``invert``: see
  ``gan_adapt.evaluation.known_transforms``). Each recipe gets ONE target image T(x0), with x0 a
  fixed sample of G_s, so the ideal adapted generator is T(G_s(z)) for every z;
* every recipe of ``benchmarks/recipes/`` runs once per transform through the normal engine;
  two floors are measured too: the un-adapted source and the recipe ``naive-shapes`` (fine-tuning
  on the reference step only). The row ``ideal`` is T(G_s) itself: the values to aim for.

Numbers per (transform, method), on ``--n`` fixed latents (``gan_adapt.evaluation.evaluate``):
fidelity (LPIPS and L1 between G_t(z) and T(G_s(z)), lower is better), diversity (pairwise
LPIPS among samples), target similarity (CLIP cosine to the target image) and content
(LPIPS between G_s(z) and G_t(z)).

    python benchmarks/quality.py                   # the benchmark (about 15-20 min on 2 cores)
    python benchmarks/quality.py --quick           # a seconds-long smoke test of the pipeline
    python benchmarks/quality.py --pretrain        # retrain the shipped source generator

The encoders default to random-weight stand-ins (``--clip tiny --lpips random-alex``), as no
pretrained weights can be downloaded here; with the weights in the gan-adapt cache, use
``--clip ViT-B-32:openai --lpips alex`` for the real instruments.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parent
ASSETS = ROOT / "assets"
CHECKPOINT = ASSETS / "shapes-stylegan2-32"
RECIPES = ROOT / "recipes"
TRANSFORM_NAMES = ("sketch", "posterise", "invert")
#: The procedural data set of the source domain (see gan_adapt.training.shapes).
SHAPES_DATA = {"max_shapes": 2, "sizes": (0.12, 0.28)}
#: Seed of the source latent x0 = G_s(z0) whose transform is the one-shot target.
TARGET_SEED = 7
TARGET_TRUNCATION = 0.7
#: Recipe overrides of --quick: a few steps of everything, to test the pipeline only.
QUICK_OVERRIDES = ("search.steps=2", "adapt.steps=2", "output.sample_every=2",
                   "output.checkpoint_every=2")


# ---------------------------------------------------------------------------------------------
# Pretraining


def pretrain(out: Path, max_seconds: float | None, steps: int, threads: int) -> Path:
    """Train the shapes generator and write it as a native checkpoint folder at ``out``."""
    from gan_adapt.images import save_grid
    from gan_adapt.training.shapes import ShapesStream
    from gan_adapt.training.trainer import TrainConfig, save_pretrained, train, write_log

    config = TrainConfig(steps=steps, max_seconds=max_seconds)
    stream = ShapesStream(config.resolution, seed=config.data_seed, **SHAPES_DATA)
    work = Path("runs") / f"pretrain-shapes-{time.strftime('%Y%m%d-%H%M%S')}"  # sample grids

    def report(record: dict[str, float]) -> None:
        print(f"step {record['step']:6d}  {record['seconds']:7.1f} s  (CPU "
              f"{record['cpu_seconds']:7.1f} s)  G {record['g_loss']:.3f}  "
              f"D {record['d_loss']:.3f}", flush=True)

    result = train(config, stream.next_batch, out=work, report=report)
    save_pretrained(result, config, out, extra={
        "data": {"source": "gan_adapt.training.shapes.ShapesStream", **SHAPES_DATA},
        "threads": threads})
    write_log(result.log, ASSETS / "shapes-training-log.jsonl")
    with torch.no_grad():
        z = torch.randn(32, result.generator.z_dim, generator=torch.Generator().manual_seed(0))
        save_grid(result.generator(z).clamp(-1, 1), ASSETS / "shapes-samples.png", nrow=8)
    save_grid(ShapesStream(config.resolution, seed=123, **SHAPES_DATA).next_batch(32),
              ASSETS / "shapes-data.png", nrow=8)
    write_targets(result.generator, ASSETS / "targets", TRANSFORM_NAMES)  # the recipes' default
    print(f"wrote {out} after {result.steps} steps, {result.images_seen} images, "
          f"{result.seconds:.0f} s wall, {result.cpu_seconds:.0f} s CPU")
    return out


# ---------------------------------------------------------------------------------------------
# The benchmark


def target_image(G: Any, transform: Any) -> torch.Tensor:
    """T(x0): the transform of the fixed source sample x0 = G_s(z0), ``[1, 3, R, R]``."""
    z0 = torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(TARGET_SEED))
    with torch.no_grad():
        x0 = G.synthesis(G.mapping(z0, truncation_psi=TARGET_TRUNCATION),
                         noise_mode="const").clamp(-1, 1)
    return transform(x0)


def write_targets(G: Any, folder: Path, names: tuple[str, ...]) -> dict[str, Path]:
    """Save T(x0) of each transform as ``folder/<T>.png`` (what the recipes' --target is)."""
    from gan_adapt.evaluation.known_transforms import TRANSFORMS
    from gan_adapt.images import save_grid

    return {name: save_grid(target_image(G, TRANSFORMS[name]), folder / f"{name}.png", nrow=1)
            for name in names}


def _instruments(lpips: str, clip: str, resolution: int) -> Any:
    from gan_adapt.evaluation.evaluate import Instruments
    from gan_adapt.evaluation.metric_models import build_clip, build_lpips

    device = torch.device("cpu")
    lpips_model = build_lpips(lpips, None, resolution, device)
    clip_model = build_clip(clip, None, None, device)
    return Instruments(lpips_model.model, clip_model.model,
                       {"lpips": lpips_model.info, "clip": clip_model.info})


def run_recipe(recipe: Path, target: Path, out: Path, overrides: list[str],
               plugin_set: Any) -> tuple[Any, float]:
    """Run one recipe through the engine (its progress lines go to out/../NAME.log); return
    the adapted generator and the seconds the run took."""
    from gan_adapt.engine import start
    from gan_adapt.generators import load

    started = time.time()
    log = out.parent / f"{out.name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w", encoding="utf-8") as handle, contextlib.redirect_stderr(handle):
        result = start(recipe, plugin_set, out=out, target=str(target), overrides=overrides,
                       device="cpu", progress_live=False)
    return load(result.folder / result.outputs["generator"]), time.time() - started


def benchmark(args: argparse.Namespace) -> dict[str, Any]:
    """Run every (transform, method) pair; return the results record."""
    from gan_adapt import files
    from gan_adapt.engine.context import TargetData
    from gan_adapt.evaluation.compare import compare_runs
    from gan_adapt.evaluation.evaluate import EvalSettings, eval_record, evaluate_generators
    from gan_adapt.evaluation.known_transforms import TRANSFORMS, TransformedGenerator
    from gan_adapt.generators import load
    from gan_adapt.plugins import load_plugins

    out = Path(args.out)
    if out.exists() and any(out.iterdir()):
        raise SystemExit(f"--out {out} exists and is not empty")
    G_s = load(CHECKPOINT).eval().requires_grad_(False)
    instruments = _instruments(args.lpips, args.clip, G_s.img_resolution)
    settings = EvalSettings(n=args.n, seed=args.seed, batch=32)
    plugin_set = load_plugins()
    recipes = sorted(RECIPES.glob("*.toml")) if not args.recipes else \
        [RECIPES / f"{name}.toml" for name in args.recipes]
    overrides = list(args.set) + (list(QUICK_OVERRIDES) if args.quick else [])
    targets = write_targets(G_s, out / "targets", tuple(args.transforms))
    rows: list[dict[str, Any]] = []
    for name in args.transforms:
        transform = TRANSFORMS[name]
        image = target_image(G_s, transform)
        target = TargetData(image=image, images=image, path=str(targets[name]))
        candidates: list[tuple[str, Any, float, Path | None]] = [
            ("ideal T(G_s)", TransformedGenerator(G_s, transform), 0.0, None),
            ("source (no adaptation)", G_s, 0.0, None)]
        for recipe in recipes:
            folder = out / "runs" / f"{name}-{recipe.stem}"
            G_t, seconds = run_recipe(recipe, targets[name], folder, overrides, plugin_set)
            candidates.append((recipe.stem, G_t, seconds, folder))
        for method, G_t, seconds, folder in candidates:
            started = time.time()
            metrics = evaluate_generators(G_s, G_t, target, instruments, settings,
                                          ideal=transform)
            if folder is not None:  # `gan-adapt compare` and `report` show these numbers
                files.write_json(folder / "eval.json", eval_record(
                    metrics, settings, instruments, time.time() - started, run=str(folder),
                    recipe=method, target={"path": str(targets[name]), "transform": name}))
            rows.append({"transform": name, "method": method, "run_seconds": round(seconds, 1),
                         **metrics})
            print(f"{name:10s} {method:24s} fidelity {metrics['fidelity_lpips']:.4f} / "
                  f"{metrics['fidelity_l1']:.4f}  diversity {metrics['diversity_lpips']:.4f}  "
                  f"target {metrics['target_clip_image']:.4f}  ({seconds:.0f} s)", flush=True)
        runs = [folder for *_, folder in candidates if folder is not None]
        if runs:  # one picture per transform: the same latents through G_s and every run
            compare_runs(runs, plugin_set, out=out / f"sheet-{name}.png", n=8, seed=0)
    return {"settings": {"n": args.n, "seed": args.seed, "quick": args.quick,
                         "overrides": overrides, "threads": torch.get_num_threads(),
                         "recipes": [r.name for r in recipes], "target_seed": TARGET_SEED,
                         "checkpoint": str(CHECKPOINT.relative_to(ROOT.parent))},
            "instruments": instruments.info, "rows": rows}


COLUMNS = (("fidelity_lpips", "fidelity LPIPS ↓"), ("fidelity_l1", "fidelity L1 ↓"),
           ("diversity_lpips", "diversity ↑"), ("target_clip_image", "target CLIP ↑"),
           ("content_lpips", "content LPIPS"), ("run_seconds", "run s"))


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """The results as a Markdown table (what docs/benchmark.md shows)."""
    header = "| transform | method | " + " | ".join(label for _, label in COLUMNS) + " |"
    lines = [header, "|" + "---|" * (len(COLUMNS) + 2)]
    for row in rows:
        cells = [f"{row[key]:.1f}" if key == "run_seconds" else f"{row[key]:.4f}"
                 for key, _ in COLUMNS]
        lines.append(f"| {row['transform']} | {row['method']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def print_table(rows: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table("transform", "method", *(label for _, label in COLUMNS),
                  title="gan-adapt quality benchmark")
    for row in rows:
        table.add_row(row["transform"], row["method"],
                      *(f"{row[key]:.1f}" if key == "run_seconds" else f"{row[key]:.4f}"
                        for key, _ in COLUMNS))
    Console(width=140).print(table)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python benchmarks/quality.py",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=None, help="Output folder (default "
                        "runs/quality-<timestamp>); must be new or empty.")
    parser.add_argument("--transforms", nargs="+", choices=TRANSFORM_NAMES,
                        default=list(TRANSFORM_NAMES))
    parser.add_argument("--recipes", nargs="+", default=None,
                        help="Recipe names of benchmarks/recipes (default: all).")
    parser.add_argument("--n", type=int, default=256, help="Evaluation latents.")
    parser.add_argument("--seed", type=int, default=0, help="Seed of the evaluation latents.")
    parser.add_argument("--lpips", default="random-alex",
                        help="LPIPS of the metrics (alex with real weights).")
    parser.add_argument("--clip", default="tiny",
                        help="CLIP of the metrics (ViT-B-32:openai with real weights).")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="Recipe override applied to every recipe (repeatable).")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (1 is fastest on a busy 2-core machine).")
    parser.add_argument("--quick", action="store_true",
                        help="A few steps of everything, one transform, 8 latents: tests the "
                             "pipeline in seconds (numbers mean nothing).")
    parser.add_argument("--pretrain", action="store_true",
                        help="Retrain the source generator into benchmarks/assets instead.")
    parser.add_argument("--pretrain-steps", type=int, default=3000,
                        help="Steps of --pretrain (3000: the shipped generator).")
    parser.add_argument("--pretrain-minutes", type=float, default=None,
                        help="Also stop --pretrain after this many wall-clock minutes "
                             "(makes the result depend on the machine).")
    args = parser.parse_args(argv)
    if args.quick:
        args.n = min(args.n, 8)
        if args.transforms == list(TRANSFORM_NAMES):
            args.transforms = ["invert"]
    if args.out is None:
        args.out = f"runs/quality-{time.strftime('%Y%m%d-%H%M%S')}"
    return args


def main(argv: list[str] | None = None) -> dict[str, Any] | None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.pretrain:
        minutes = args.pretrain_minutes
        pretrain(CHECKPOINT, minutes * 60 if minutes else None, args.pretrain_steps, args.threads)
        return None
    started = time.time()
    record = benchmark(args)
    record["seconds"] = round(time.time() - started, 1)
    out = Path(args.out)
    (out / "results.json").write_text(json.dumps(record, indent=2) + "\n")
    (out / "table.md").write_text(markdown_table(record["rows"]))
    print_table(record["rows"])
    for name, info in record["instruments"].items():
        print(f"  {name}: {info.get('weights')}")
    print(f"total {record['seconds']:.0f} s; wrote {out / 'results.json'} and {out / 'table.md'}")
    return record


if __name__ == "__main__":
    sys.exit(0 if main() is not None or "--pretrain" in sys.argv else 1)
