"""Scoring of the quality benchmark's runs: rows, group means, claims with intervals, tables.

Every generator (each run, and per transform G_s and the ideal T(G_s)) is scored once on the
evaluation latents, keeping one value per latent (cached next to the run), so that intervals
can resample latents. Per latent ``i`` (``x_s = G_s(z_i)``, ``x_t = G_t(z_i)``, ``x* = T(x_s)``):

* ``fidelity``: the evaluator's distance between x_t and x* (lower is better);
* ``fidelity_l1``: mean absolute pixel difference; ``ssim`` / ``fidelity_dssim``: SSIM of x_t
  and x* and its dissimilarity (1 - SSIM) / 2 (no network);
* ``diversity``: the evaluator's distance between x_t of latents i and i+1 (a ring);
  ``diversity_ratio`` divides the mean by the ideal's;
* ``attributes``: the fraction of the content attributes (hair style, expression, eyewear) the
  evaluator reads alike from x_s and x_t; ``content``: the evaluator's distance x_s to x_t;
* second opinion, the portraits CLIP: ``fidelity_clip``, ``diversity_clip``,
  ``attributes_clip`` and ``target_clip`` (cosine of x_t to the target image T(x0)).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import quality_targets as qt
import torch
from torch import Tensor

from gan_adapt.evaluation.intervals import Interval, bootstrap_mean_ratio

#: Per-latent values kept for every generator.
LATENT_KEYS = ("fidelity", "fidelity_l1", "fidelity_dssim", "diversity", "attributes",
               "content", "fidelity_clip", "diversity_clip", "attributes_clip")
#: The metrics claims are made on, and whether lower is better.
CLAIMS: tuple[tuple[str, bool], ...] = (
    ("fidelity", True), ("fidelity_l1", True), ("fidelity_dssim", True), ("diversity", False),
    ("attributes", False), ("fidelity_clip", True), ("diversity_clip", False),
    ("attributes_clip", False))
SECOND_OPINION = ("fidelity_clip", "diversity_clip", "attributes_clip", "target_clip")
NO_RUN = ("ideal", "source")
BATCH = 32


# ---------------------------------------------------------------------------------------------
# Instruments


@dataclass
class Instruments:
    """The evaluator (scores), the portraits CLIP (second opinion) and what they are."""

    evaluator: Any  # gan_adapt.evaluation.evaluator.Evaluator
    clip_distance: Callable[[Tensor, Tensor], Tensor]
    clip: Any  # an ImageEncoder
    clip_attributes: Any  # an AttributeClassifier, or None
    info: dict[str, Any]

    @property
    def key(self) -> str:
        """What the cached scores depend on besides n and seed."""
        sha = self.evaluator.sha256 or "memory"
        return f"{sha[:12]}-{self.info['second_opinion']['lpips_choice']}"


def load_scoring_evaluator(choice: str) -> Any:
    """``--evaluator``: an exported folder, or the name of a shipped evaluator."""
    from gan_adapt.errors import GanAdaptError
    from gan_adapt.evaluation.evaluator import from_folder, load_evaluator

    try:
        return from_folder(choice) if Path(choice).is_dir() else load_evaluator(choice)
    except GanAdaptError as exc:
        raise SystemExit(f"--evaluator {choice}: {exc}") from None


def build_instruments(evaluator: str, lpips: str, clip: str, resolution: int) -> Instruments:
    from gan_adapt.evaluation.attributes import AttributeClassifier, can_classify
    from gan_adapt.evaluation.metric_models import build_clip, build_lpips

    device = torch.device("cpu")
    scorer = load_scoring_evaluator(evaluator)
    lpips_model = build_lpips(lpips, None, resolution, device)
    clip_model = build_clip(clip, None, None, device)
    attributes = AttributeClassifier(clip_model.model) if can_classify(clip_model.model) else None
    info = {"evaluator": {"name": scorer.name, "sha256": scorer.sha256,
                          "provenance": scorer.provenance(), "resolution": scorer.resolution},
            "second_opinion": {"lpips": lpips_model.info, "clip": clip_model.info,
                               "lpips_choice": lpips, "attributes": attributes is not None},
            "structure": "SSIM (gan_adapt.evaluation.ssim: gaussian window 7 px, sigma 1.5)"}
    return Instruments(scorer, lpips_model.model, clip_model.model, attributes, info)


# ---------------------------------------------------------------------------------------------
# Scoring one generator


def _kept(a: dict[str, Tensor], b: dict[str, Tensor]) -> Tensor:
    """Per pair: the fraction of the content attributes read alike."""
    from gan_adapt.synthetic_data.portraits import CONTENT_ATTRIBUTES

    same = [(a[name] == b[name]).double() for name in CONTENT_ATTRIBUTES]
    return torch.stack(same).mean(dim=0)


@torch.no_grad()
def score_generator(G_s: Any, G_t: Any, fn: Callable[[Tensor], Tensor], inst: Instruments,
                    n: int, seed: int) -> dict[str, Any]:
    """Per-latent values of :data:`LATENT_KEYS` for G_t, and its mean CLIP embedding."""
    from gan_adapt.evaluation.metrics import l1_distance
    from gan_adapt.evaluation.ssim import ssim

    z_all = torch.randn(n, G_s.z_dim, generator=torch.Generator().manual_seed(seed))
    values: dict[str, list[Tensor]] = {key: [] for key in LATENT_KEYS}
    adapted, embedding = [], None
    for start in range(0, n, BATCH):
        z = z_all[start:start + BATCH]
        x_s = G_s.synthesis(G_s.mapping(z), noise_mode="const").clamp(-1, 1)
        x_t = G_t.synthesis(G_t.mapping(z), noise_mode="const").clamp(-1, 1)
        ideal = fn(x_s)
        adapted.append(x_t)
        values["fidelity"].append(inst.evaluator.distance(x_t, ideal))
        values["fidelity_l1"].append(l1_distance(x_t, ideal))
        values["fidelity_dssim"].append((1 - ssim(x_t, ideal)) / 2)
        values["content"].append(inst.evaluator.distance(x_s, x_t))
        values["attributes"].append(_kept(inst.evaluator.attributes(x_s),
                                          inst.evaluator.attributes(x_t)))
        values["fidelity_clip"].append(inst.clip_distance(x_t, ideal))
        if inst.clip_attributes is not None:
            values["attributes_clip"].append(_kept(inst.clip_attributes.classify(x_s),
                                                   inst.clip_attributes.classify(x_t)))
        e = inst.clip.embed_images(x_t).double().cpu().sum(dim=0)
        embedding = e if embedding is None else embedding + e
    images = torch.cat(adapted)
    following = images.roll(-1, dims=0)  # ring pairs (i, i+1 mod n)
    for start in range(0, n, BATCH):
        a, b = images[start:start + BATCH], following[start:start + BATCH]
        values["diversity"].append(inst.evaluator.distance(a, b))
        values["diversity_clip"].append(inst.clip_distance(a, b))
    scores: dict[str, Any] = {key: [round(float(v), 6) for v in torch.cat(parts).double()]
                              for key, parts in values.items() if parts}
    scores["clip_embedding_mean"] = [float(v) for v in (embedding / n)]
    return scores


def cached_scores(path: Path, compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Scores read from ``path`` if there, else computed and written there."""
    from gan_adapt.io import atomic_files as files

    if path.is_file():
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            pass  # a half-written cache: score again
    scores = compute()
    files.write_json(path, scores)
    return scores


def means(scores: dict[str, Any]) -> dict[str, float]:
    """The mean of every per-latent list."""
    out = {key: sum(scores[key]) / len(scores[key]) for key in LATENT_KEYS if key in scores}
    if "fidelity_dssim" in out:
        out["ssim"] = 1 - 2 * out["fidelity_dssim"]
    return out


def target_similarity(scores: dict[str, Any], target_embedding: Tensor) -> float:
    """Mean CLIP cosine of the samples to the target (unit embeddings: mean · target)."""
    mean = torch.tensor(scores["clip_embedding_mean"], dtype=torch.float64)
    return float(mean @ target_embedding.double())


# ---------------------------------------------------------------------------------------------
# The benchmark's rows


def score_benchmark(args: argparse.Namespace, record: dict[str, Any], G_s: Any,
                    table: dict[str, qt.BenchTransform], specs: list[qt.TargetSpec],
                    files: dict[str, qt.TargetFiles], outcomes: list[Any], recipes: list[Path],
                    plugin_set: Any) -> dict[str, Any]:
    """Rows per (transform, target, method, seed), group means, claims and the seed noise."""
    import quality

    from gan_adapt.generators import load
    from gan_adapt.synthetic_data.known_transforms import TransformedGenerator

    out = Path(args.out)
    inst = build_instruments(args.evaluator, args.lpips, args.clip, G_s.img_resolution)
    tag = f"n{args.n}-seed{args.seed}-{inst.key}"
    kinds = {r.stem: quality.target_kind(r) for r in recipes}
    flags = {r.stem: recipe_flags(r, args) for r in recipes}
    per_latent: dict[tuple[str, str, str, int | None], dict[str, Any]] = {}
    rows: list[dict[str, Any]] = []
    start_face = qt.mean_face(G_s)
    for spec in specs:  # the targets' distance from the search's start, by the evaluator too
        info = record["targets"]["targets"][spec.id]
        face = qt.portrait(G_s, spec)
        info["evaluator_from_mean_face"] = round(float(inst.evaluator.distance(face,
                                                                               start_face)), 4)
    if args.jobs > 1:
        score_in_workers(args, outcomes, out, tag)
    for name in args.transforms:
        entry = table[name]
        generators: list[tuple[str, int | None, str, Callable[[], Any], Path]] = [
            ("ideal", None, "-", lambda fn=entry.fn: TransformedGenerator(G_s, fn),
             out / "scores" / name / f"ideal-{tag}.json"),
            ("source", None, "-", lambda: G_s, out / "scores" / name / f"source-{tag}.json")]
        for outcome in outcomes:
            if outcome.job.transform == name:
                generators.append((outcome.method, outcome.job.seed, outcome.job.given,
                                   lambda o=outcome: load(o.generator).eval(),
                                   Path(outcome.job.folder) / f"scores-{tag}.json"))
        scored = {}
        for method, seed, given, build, path in generators:
            scored[method, seed, given] = cached_scores(
                path, lambda b=build, fn=entry.fn: score_generator(G_s, b(), fn, inst, args.n,
                                                                   args.seed))
        ideal_diversity = means(scored["ideal", None, "-"])["diversity"]
        ideal_diversity_clip = means(scored["ideal", None, "-"])["diversity_clip"]
        for spec in specs:
            target = qt.read_png(files[name].images[spec.id])
            target_embedding = inst.clip.embed_images(target).double().cpu()[0]
            for (method, seed, given), scores in scored.items():
                if method not in NO_RUN and given != quality.given_target(kinds[method], spec):
                    continue
                row = {"transform": name, "split": entry.split, "target": spec.id,
                       "target_source": spec.source, "in_range": spec.in_range,
                       "method": method, "seed": seed, "given": given, **means(scores),
                       "target_clip": target_similarity(scores, target_embedding)}
                row["diversity_ratio"] = row["diversity"] / ideal_diversity
                row["diversity_clip_ratio"] = row["diversity_clip"] / ideal_diversity_clip
                if method not in NO_RUN:
                    row["flags"] = flags[method]
                    row["run_seconds"] = next(r["seconds"] for r in record["runs"]
                                              if r["recipe"] == method and r["transform"] == name
                                              and r["given"] == given and r["seed"] == seed)
                rows.append(row)
                per_latent[name, spec.id, method, seed] = scores
                _report_row(row)
    write_sheets(out, args, specs, outcomes, table, plugin_set)
    record["instruments"] = inst.info
    record["flags"] = flags
    record["rows"] = rows
    record["groups"] = group_means(rows)
    record["claims"] = claims(per_latent, rows, args.baseline, args.resamples)
    record["seed_noise"] = seed_noise(per_latent, rows, args.baseline, args.resamples)
    return record


@dataclass(frozen=True)
class ScoreTask:
    """One generator to score in a worker process (picklable): a run's generator folder, or
    None for the ``source`` / ``ideal`` row of the transform."""

    transform: str
    which: str  # "run", "source" or "ideal"
    generator: str | None
    cache: str
    n: int
    seed: int
    instruments: tuple[str, str, str]  # --evaluator, --lpips, --clip
    plugins_dirs: tuple[str, ...]


_SCORER: Any = None  # a worker process builds G_s, the instruments and the transforms once


def _score_task(task: ScoreTask) -> str:
    """Entry point of a scoring worker: one thread; writes the task's cache file."""
    global _SCORER
    import quality

    from gan_adapt.generators import load
    from gan_adapt.plugin_host.loading import load_plugins
    from gan_adapt.synthetic_data.known_transforms import TransformedGenerator

    torch.set_num_threads(1)
    if _SCORER is None:
        G_s = load(quality.SOURCE).eval().requires_grad_(False)
        _SCORER = (G_s, build_instruments(*task.instruments, G_s.img_resolution),
                   quality.transform_table(load_plugins(list(task.plugins_dirs))))
    G_s, inst, table = _SCORER
    fn = table[task.transform].fn
    G_t = {"source": lambda: G_s, "ideal": lambda: TransformedGenerator(G_s, fn),
           "run": lambda: load(task.generator).eval()}[task.which]()
    cached_scores(Path(task.cache), lambda: score_generator(G_s, G_t, fn, inst, task.n,
                                                            task.seed))
    return task.cache


def score_in_workers(args: argparse.Namespace, outcomes: list[Any], out: Path, tag: str) -> None:
    """Score every generator without a cache in ``--jobs`` worker processes (the rows are then
    read from the caches; the numbers do not depend on it)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    common = dict(n=args.n, seed=args.seed, instruments=(args.evaluator, args.lpips, args.clip),
                  plugins_dirs=tuple(args.plugins_dir))
    tasks = []
    for name in args.transforms:
        for which in ("ideal", "source"):
            tasks.append(ScoreTask(name, which, None,
                                   str(out / "scores" / name / f"{which}-{tag}.json"), **common))
        tasks += [ScoreTask(name, "run", o.generator,
                            str(Path(o.job.folder) / f"scores-{tag}.json"), **common)
                  for o in outcomes if o.job.transform == name]
    missing = [task for task in tasks if not Path(task.cache).is_file()]
    if len(missing) < 2:
        return
    print(f"scoring {len(missing)} generators in {args.jobs} worker processes", flush=True)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(args.jobs, mp_context=context) as pool:
        for done, _ in enumerate(pool.map(_score_task, missing), 1):
            if done % 10 == 0 or done == len(missing):
                print(f"  scored {done}/{len(missing)}", flush=True)


def recipe_flags(recipe: Path, args: argparse.Namespace) -> list[str]:
    """``"second-opinion CLIP in its terms"`` when the recipe trains against the portraits CLIP
    (its figures are then not independent of the recipe)."""
    import quality

    names = [args.clip, args.lpips, "portraits-clip"]
    return ["trains on the portraits CLIP (second opinion)"] if quality.instrument_use(
        recipe, args.set, list(dict.fromkeys(names))) else []


def _report_row(row: dict[str, Any]) -> None:
    seed = "" if row["seed"] is None else f"s{row['seed']}"
    print(f"{row['transform']:11s} {row['target']:12s} {row['method'] + seed:22s} fidelity "
          f"{row['fidelity']:.4f} L1 {row['fidelity_l1']:.4f} SSIM {row['ssim']:.3f} diversity "
          f"{row['diversity']:.4f} attributes {row['attributes']:.3f} | CLIP fidelity "
          f"{row['fidelity_clip']:.4f}", flush=True)


def write_sheets(out: Path, args: argparse.Namespace, specs: list[qt.TargetSpec],
                 outcomes: list[Any], table: dict[str, qt.BenchTransform],
                 plugin_set: Any) -> None:
    """``sheets/<transform>-<target>.png``: G_s, the ideal, then every recipe's first-seed run
    on the same latents (``gan-adapt compare``'s sheet)."""
    from gan_adapt.evaluation.compare import (
        Row,
        compose_sheet,
        latents,
        load_rows,
        render_rows,
        tile_size,
    )
    from gan_adapt.synthetic_data.known_transforms import TransformedGenerator

    first = min(args.recipe_seeds)
    for name in args.transforms:
        for spec in specs:
            path = out / "sheets" / f"{name}-{spec.id}.png"
            runs = [Path(o.job.folder) for o in outcomes if o.job.transform == name
                    and o.job.seed == first and o.job.given in (spec.id, qt.CAPTION_ID,
                                                                 qt.FEW_SHOT_ID)]
            if not runs or path.is_file():
                continue
            rows = load_rows(runs, plugin_set, torch.device("cpu"))
            rows.insert(1, Row("ideal T(G_s)", [], TransformedGenerator(rows[0].generator,
                                                                        table[name].fn)))
            tile = tile_size(rows[0].generator.img_resolution)
            images = render_rows(rows, latents(rows[0].generator, 8, 0, 0.7), tile)
            path.parent.mkdir(parents=True, exist_ok=True)
            compose_sheet(rows, images, tile).save(path)


# ---------------------------------------------------------------------------------------------
# Groups, claims and the seed noise


def group_of(row: dict[str, Any]) -> str:
    """``<split>-<source>``: tune-gan, tune-render, test-gan, test-render, held-out-..."""
    return f"{row['split']}-{row['target_source']}"


def groups_of(row: dict[str, Any]) -> list[str]:
    """Every group a case counts in: all, its split, its split x source, its transform."""
    return ["all", row["split"], group_of(row), f"transform:{row['transform']}"]


MEAN_KEYS = ("fidelity", "fidelity_l1", "ssim", "diversity", "diversity_ratio", "attributes",
             "fidelity_clip", "diversity_clip", "attributes_clip", "target_clip")


def group_means(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (group, method): the mean over cases of each case's value (seeds averaged)."""
    cases: dict[tuple[str, str], dict[tuple[str, str], list[dict[str, Any]]]] = {}
    for row in rows:
        for group in groups_of(row):
            cases.setdefault((group, row["method"]), {}).setdefault(
                (row["transform"], row["target"]), []).append(row)
    out = []
    for (group, method), by_case in cases.items():
        entry: dict[str, Any] = {"group": group, "method": method, "cases": len(by_case),
                                 "seeds": sorted({r["seed"] for rs in by_case.values()
                                                  for r in rs if r["seed"] is not None})}
        for key in MEAN_KEYS:
            per_case = []
            for case_rows in by_case.values():
                values = [r[key] for r in case_rows if r.get(key) is not None]
                if values:
                    per_case.append(sum(values) / len(values))
            entry[key] = sum(per_case) / len(per_case) if len(per_case) == len(by_case) else None
        out.append(entry)
    return out


def _seed_mean(per_latent: dict[tuple, dict[str, Any]], case: tuple[str, str], method: str,
               seeds: list[int | None], key: str) -> list[float] | None:
    """Per latent: the mean over ``seeds`` of a method's values in a case (None if missing)."""
    lists = [per_latent.get((*case, method, seed), {}).get(key) for seed in seeds]
    if not lists or any(values is None for values in lists):
        return None
    return [sum(column) / len(column) for column in zip(*lists)]


def verdict(interval: Interval, lower_is_better: bool) -> str:
    """``better`` / ``worse`` where the interval excludes 1, else ``no claim``."""
    if not interval.excludes(1.0):
        return "no claim"
    below = interval.high < 1.0
    return "better" if below == lower_is_better else "worse"


def _case_groups(rows: list[dict[str, Any]]) -> dict[str, list[tuple[str, str]]]:
    groups: dict[str, list[tuple[str, str]]] = {}
    for row in rows:
        case = (row["transform"], row["target"])
        for group in groups_of(row):
            if case not in groups.setdefault(group, []):
                groups[group].append(case)
    return groups


def ratio_intervals(per_latent: dict[tuple, dict[str, Any]], rows: list[dict[str, Any]],
                    method: str, method_seeds: list[int | None], baseline: str,
                    baseline_seeds: list[int | None], resamples: int) -> dict[str, Any]:
    """``{group: {metric: interval + verdict}}`` of ``method`` against ``baseline``."""
    result: dict[str, Any] = {}
    for group, cases in _case_groups(rows).items():
        entry = {}
        for key, lower in CLAIMS:
            pairs = []
            for case in cases:
                mine = _seed_mean(per_latent, case, method, method_seeds, key)
                base = _seed_mean(per_latent, case, baseline, baseline_seeds, key)
                if mine is not None and base is not None:
                    pairs.append((mine, base))
            if pairs:
                interval = bootstrap_mean_ratio(pairs, resamples=resamples)
                entry[key] = {**interval.as_dict(), "verdict": verdict(interval, lower)}
        if entry:
            result[group] = entry
    return result


def _seeds(rows: list[dict[str, Any]], method: str) -> list[int | None]:
    return sorted({r["seed"] for r in rows if r["method"] == method},
                  key=lambda s: -1 if s is None else s)


def claims(per_latent: dict[tuple, dict[str, Any]], rows: list[dict[str, Any]], baseline: str,
           resamples: int) -> dict[str, Any]:
    """Every method (source included, ideal not) against the baseline, over its seeds."""
    if not any(r["method"] == baseline for r in rows):
        return {}
    base_seeds = _seeds(rows, baseline)
    methods = [m for m in dict.fromkeys(r["method"] for r in rows) if m not in ("ideal", baseline)]
    return {"baseline": baseline, "baseline_seeds": base_seeds,
            "methods": {m: {"seeds": _seeds(rows, m),
                            "groups": ratio_intervals(per_latent, rows, m, _seeds(rows, m),
                                                      baseline, base_seeds, resamples)}
                        for m in methods}}


def seed_noise(per_latent: dict[tuple, dict[str, Any]], rows: list[dict[str, Any]],
               baseline: str, resamples: int) -> dict[str, Any]:
    """The baseline's second seed over its first: what two runs of one recipe differ by."""
    seeds = [s for s in _seeds(rows, baseline) if s is not None]
    if len(seeds) < 2:
        return {}
    return {"method": baseline, "seeds": seeds[:2],
            "groups": ratio_intervals(per_latent, rows, baseline, [seeds[1]], baseline,
                                      [seeds[0]], resamples)}


# ---------------------------------------------------------------------------------------------
# Tables and files

GROUP_ORDER = ("all", "tune", "tune-gan", "tune-render", "test", "test-gan", "test-render",
               "held-out", "held-out-gan", "held-out-render")
RATIO_COLUMNS = (("fidelity", "fidelity"), ("fidelity_l1", "L1"), ("fidelity_dssim", "1-SSIM"),
                 ("diversity", "diversity"), ("attributes", "attributes"),
                 ("fidelity_clip", "fidelity (CLIP)"), ("diversity_clip", "diversity (CLIP)"),
                 ("attributes_clip", "attributes (CLIP)"))
MEAN_COLUMNS = (("fidelity", "fidelity ↓"), ("fidelity_l1", "L1 ↓"), ("ssim", "SSIM ↑"),
                ("diversity", "diversity"), ("diversity_ratio", "div / ideal"),
                ("attributes", "attributes ↑"), ("fidelity_clip", "fidelity (CLIP) ↓"),
                ("diversity_clip", "diversity (CLIP)"), ("attributes_clip", "attributes (CLIP) ↑"),
                ("target_clip", "target (CLIP) ↑"))


def _ordered_groups(names: list[str], per_transform: bool) -> list[str]:
    known = [g for g in GROUP_ORDER if g in names]
    rest = sorted(g for g in names if g not in GROUP_ORDER)
    return known + ([g for g in rest if g.startswith("transform:")] if per_transform else [])


def _interval_cell(entry: dict[str, Any] | None) -> str:
    if entry is None:
        return "–"
    mark = {"better": " ✓", "worse": " ✗"}.get(entry["verdict"], "")
    return f"{entry['mean']:.3f}x [{entry['low']:.3f}, {entry['high']:.3f}]{mark}"


def claims_markdown(record: dict[str, Any], per_transform: bool = False) -> str:
    """Per group and method: each metric's mean ratio to the baseline and its 95% interval
    (✓ better, ✗ worse where the interval excludes 1); then the seed noise."""
    found = record.get("claims") or {}
    if not found:
        return "(no ratios: the baseline did not run)\n"
    flags = record.get("flags", {})
    header = "| group | method (seeds) | " + " | ".join(label for _, label in RATIO_COLUMNS) + " |"
    lines = [f"Mean per-case ratio to `{found['baseline']}` (seeds "
             f"{', '.join(map(str, found['baseline_seeds']))}), bootstrap 95% interval; ✓/✗: "
             "better/worse, the interval excludes 1. The CLIP columns are the second opinion.",
             "", header, "|" + "---|" * (len(RATIO_COLUMNS) + 2)]
    groups = sorted({g for m in found["methods"].values() for g in m["groups"]})
    for group in _ordered_groups(groups, per_transform):
        for method, entry in found["methods"].items():
            cells = entry["groups"].get(group)
            if cells is None:
                continue
            cases = next(iter(cells.values()))["cases"]
            seeds = ",".join("-" if s is None else str(s) for s in entry["seeds"])
            mark = " †" if flags.get(method) else ""
            lines.append(f"| {group} ({cases}) | {method}{mark} ({seeds}) | "
                         + " | ".join(_interval_cell(cells.get(k)) for k, _ in RATIO_COLUMNS)
                         + " |")
    noise = record.get("seed_noise") or {}
    if noise:
        lines += ["", f"Seed noise: `{noise['method']}` seed {noise['seeds'][1]} over seed "
                  f"{noise['seeds'][0]}:", "", header.replace("method (seeds)", "method"),
                  "|" + "---|" * (len(RATIO_COLUMNS) + 2)]
        for group in _ordered_groups(list(noise["groups"]), per_transform):
            cells = noise["groups"][group]
            lines.append(f"| {group} | {noise['method']} | "
                         + " | ".join(_interval_cell(cells.get(k)) for k, _ in RATIO_COLUMNS)
                         + " |")
    if any(flags.values()):
        lines += ["", "† trains on the portraits CLIP: its CLIP columns are not independent."]
    return "\n".join(lines) + "\n"


def _number(value: Any) -> str:
    return "–" if value is None else f"{value:.4f}"


def means_markdown(record: dict[str, Any], per_transform: bool = False) -> str:
    """Per group, every method's mean over cases (seeds averaged)."""
    header = "| group (cases) | method | " + " | ".join(label for _, label in MEAN_COLUMNS) + " |"
    lines = [header, "|" + "---|" * (len(MEAN_COLUMNS) + 2)]
    entries = record["groups"]
    for group in _ordered_groups(sorted({e["group"] for e in entries}), per_transform):
        for entry in (e for e in entries if e["group"] == group):
            lines.append(f"| {group} ({entry['cases']}) | {entry['method']} | "
                         + " | ".join(_number(entry[k]) for k, _ in MEAN_COLUMNS) + " |")
    return "\n".join(lines) + "\n"


def rows_markdown(rows: list[dict[str, Any]]) -> str:
    """Every row: transform, target, method and seed, then the numbers."""
    header = ("| transform | target | method | seed | "
              + " | ".join(label for _, label in MEAN_COLUMNS) + " |")
    lines = [header, "|" + "---|" * (len(MEAN_COLUMNS) + 4)]
    for row in rows:
        seed = "–" if row["seed"] is None else str(row["seed"])
        lines.append(f"| {row['transform']} | {row['target']} | {row['method']} | {seed} | "
                     + " | ".join(_number(row.get(k)) for k, _ in MEAN_COLUMNS) + " |")
    return "\n".join(lines) + "\n"


def targets_markdown(record: dict[str, Any]) -> str:
    """Each target's distance from G_s(w_avg), where the latent searches start."""
    info = record["targets"]
    lines = ["| target | in range | CLIP LPIPS from G_s(w_avg) (percentile) | evaluator |",
             "|---|---|---|---|"]
    for target, entry in info.get("targets", {}).items():
        if target in record["settings"]["targets"]:
            lines.append(f"| {target} | {'yes' if entry['in_range'] else 'no'} | "
                         f"{entry['clip_lpips_from_mean_face']:.3f} "
                         f"({entry['clip_lpips_percentile']:.0f}) | "
                         f"{_number(entry.get('evaluator_from_mean_face'))} |")
    reference = info.get("reference", {})
    if reference:
        lines.append(f"\nRandom faces: median {reference['median']:.3f}, "
                     f"{reference['percentile']:.0f}th percentile {reference['threshold']:.3f}.")
    return "\n".join(lines) + "\n"


def write_results(record: dict[str, Any], out: Path, json_file: str | None) -> list[Path]:
    """results.json, table.md (targets, ratios, means, rows) and the curves."""
    import quality

    written = [out / "results.json", out / "table.md"]
    text = json.dumps(record, indent=2) + "\n"
    written[0].write_text(text)
    if json_file:
        Path(json_file).parent.mkdir(parents=True, exist_ok=True)
        Path(json_file).write_text(text)
        written.append(Path(json_file))
    written[1].write_text("\n".join([
        "## Targets", "", targets_markdown(record), "## Ratios to the baseline", "",
        claims_markdown(record, per_transform=True), "## Means per group", "",
        means_markdown(record), "## Every row", "", rows_markdown(record["rows"])]))
    if record["curves"]:
        (out / "curve.md").write_text(quality.curve_markdown(record["curves"]))
        written.append(out / "curve.md")
        plot = quality.plot_curves(record["curves"], out / "curve.png")
        written += [plot] if plot else []
    return written


def docs_tables(path: Path, per_transform: bool = False) -> str:
    """The Markdown docs/benchmark.md shows for a results.json: settings, targets, the ratios
    with intervals per group (and per transform), the means per group."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        settings = record["settings"]
        record["rows"], record["groups"]  # noqa: B018 - a scored record, not --runs-only
    except (OSError, ValueError, KeyError) as exc:
        raise SystemExit(f"--table {path}: not a scored results.json of this benchmark "
                         f"({type(exc).__name__}: {exc})") from None
    seeds = ", ".join(map(str, settings["recipe_seeds"]))
    evaluator = record["instruments"]["evaluator"]
    head = (f"Transforms: {', '.join(f'{t} ({s})' for t, s in settings['transforms'].items())}; "
            f"targets: {', '.join(settings['targets'])}; recipe seeds: {seeds}; n = "
            f"{settings['n']} latents of seed {settings['seed']}; {settings['resamples']} "
            f"bootstrap resamples; evaluator {evaluator['name']} (sha256 "
            f"{str(evaluator['sha256'])[:16]}...)" + ("; QUICK (numbers mean nothing)"
                                                       if settings["quick"] else "") + ".")
    return "\n".join([head, "", targets_markdown(record), claims_markdown(record, per_transform),
                      means_markdown(record)])


def print_summary(record: dict[str, Any]) -> None:
    print()
    print(targets_markdown(record))
    print(means_markdown(record))
    print(claims_markdown(record))
    for name, info in record["instruments"].items():
        print(f"  {name}: {info.get('provenance', info) if isinstance(info, dict) else info}")


# ---------------------------------------------------------------------------------------------
# Scoring a sweep (`gan-adapt sweep benchmarks/sweeps/*.toml`)


def sweep_transform(target: str, table: dict[str, qt.BenchTransform]) -> str | None:
    """The transform of a sweep run's target file: its stem (``targets/sketch.png``) or its
    folder (``targets/sketch/render-5001.png``, written by --write-targets)."""
    path = Path(target)
    for name in (path.stem, path.parent.name):
        if name in table:
            return name
    return None


def score_sweep(sweep_file: Path, sweep_out: Path | None, n: int, seed: int,
                inst: Instruments) -> dict[str, Any]:
    """Every finished run of a sweep, scored like a benchmark row against T(G_s), then the grid
    points ranked by their mean over cases: the evaluator's fidelity first. Only tune-split
    transforms may be scored (a sweep chooses recipes). Unfinished runs are listed."""
    import quality

    from gan_adapt.evaluation.runs import open_finished_run as load_run
    from gan_adapt.generators import load
    from gan_adapt.plugin_host.loading import load_plugins
    from gan_adapt.sweep.runner import sweep_folder
    from gan_adapt.sweep.spec import expand, read_sweep

    sweep = read_sweep(sweep_file)
    folder = sweep_out if sweep_out is not None else sweep_folder(sweep.name, None)
    G_s = load(quality.SOURCE).eval().requires_grad_(False)
    plugin_set = load_plugins()
    table = quality.transform_table(plugin_set)
    rows, missing = [], []
    for run in expand(sweep, sweep_file):
        transform = sweep_transform(run.target or "", table)
        if transform is None:
            raise SystemExit(f"{run.run_id}: the target {run.target!r} is not named after a "
                             f"known transform ({', '.join(table)})")
        if table[transform].split != qt.TUNE:
            raise SystemExit(f"{run.run_id}: {transform} is a {table[transform].split} "
                             "transform; a sweep chooses recipes, so it may see the tune split "
                             "only")
        run_dir = folder / "runs" / run.run_id
        if not (run_dir / "result.json").is_file():
            missing.append(run.run_id)
            continue
        adapted = load_run(run_dir, plugin_set, "cpu").adapted
        scores = score_generator(G_s, adapted, table[transform].fn, inst, n, seed)
        target = qt.read_png(Path(run.target))
        row = {"run_id": run.run_id, "transform": transform, "target": str(run.target),
               "setting": json.dumps(run.values, sort_keys=True), **means(scores),
               "target_clip": target_similarity(
                   scores, inst.clip.embed_images(target).double().cpu()[0])}
        rows.append(row)
    ranking = []
    for setting in dict.fromkeys(row["setting"] for row in rows):
        mine = [row for row in rows if row["setting"] == setting]
        entry = {"setting": json.loads(setting), "cases": len(mine),
                 "transforms": sorted({r["transform"] for r in mine})}
        for key in MEAN_KEYS:
            values = [r[key] for r in mine if r.get(key) is not None]
            entry[key] = sum(values) / len(values) if values else None
        ranking.append(entry)
    ranking.sort(key=lambda e: (-e["cases"], e["fidelity"]))
    return {"sweep": str(sweep_file), "folder": str(folder), "seed": seed, "n": n,
            "instruments": inst.info, "missing": missing, "rows": rows, "ranking": ranking}


def print_ranking(scored: dict[str, Any], top: int = 15) -> None:
    print(f"{len(scored['rows'])} runs scored on latent seed {scored['seed']} "
          f"(n={scored['n']}); {len(scored['missing'])} not finished")
    keys = ("fidelity", "fidelity_l1", "ssim", "diversity", "attributes", "fidelity_clip")
    print("rank  " + "  ".join(f"{k[:9]:>9s}" for k in keys) + "  cases  setting")
    for rank, entry in enumerate(scored["ranking"][:top], 1):
        cells = [f"{entry[k]:9.4f}" if entry[k] is not None else "      –  " for k in keys]
        print(f"{rank:4d}  " + "  ".join(cells) + f"  {entry['cases']:5d}  "
              f"{json.dumps(entry['setting'])}")


def score_sweep_command(args: argparse.Namespace) -> dict[str, Any]:
    """``--score-sweep``: score, write ``<out>/sweep-scores.json``, print the ranking."""
    inst = build_instruments(args.evaluator, args.lpips, args.clip, 32)
    scored = score_sweep(Path(args.score_sweep), Path(args.sweep_out) if args.sweep_out else None,
                         args.n, args.seed, inst)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "sweep-scores.json").write_text(json.dumps(scored, indent=2) + "\n")
    print_ranking(scored)
    print(f"wrote {out / 'sweep-scores.json'}")
    return scored
