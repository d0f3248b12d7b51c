"""The known transforms of the quality benchmark, its parts (target kinds, the fidelity curve
observer, diversity ratios, worker processes) and its --quick mode end to end."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from gan_adapt.synthetic_data.known_transforms import (
    PALETTE,
    TRANSFORMS,
    TransformedGenerator,
    invert,
    posterise,
    sketch,
)

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = ROOT / "benchmarks"


@pytest.fixture(autouse=True)
def _keep_torch_threads():
    """quality.main sets torch's thread count for the process (its --threads); put it back, or
    later tests that compare in-process results with subprocess runs see other float sums."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def test_invert_is_an_involution():
    x = torch.rand(2, 3, 8, 8) * 2 - 1
    assert torch.equal(invert(invert(x)), x)


def test_sketch_of_a_flat_image_is_blank_paper_and_edges_are_dark():
    flat = torch.full((1, 3, 16, 16), 0.3)
    assert torch.allclose(sketch(flat), torch.ones(1, 3, 16, 16), atol=1e-5)
    half = flat.clone()
    half[..., 8:] = -0.8  # a vertical edge between columns 7 and 8
    lines = sketch(half)
    assert lines[0, 0, 8, 7] < 0 and lines[0, 0, 8, 2] == pytest.approx(1.0, abs=1e-5)


def test_posterise_paints_only_palette_colours():
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    out = (posterise(x) + 1) / 2
    colours = {tuple(round(v, 4) for v in c) for c in out.permute(0, 2, 3, 1).reshape(-1, 3)
               .tolist()}
    assert colours <= {tuple(round(v, 4) for v in c) for c in PALETTE}
    # Black maps to the darkest colour, white to the lightest.
    ends = posterise(torch.tensor([-1.0, 1.0]).reshape(2, 1, 1, 1).expand(2, 3, 2, 2))
    assert torch.allclose((ends[0, :, 0, 0] + 1) / 2, torch.tensor(PALETTE[0]))
    assert torch.allclose((ends[1, :, 0, 0] + 1) / 2, torch.tensor(PALETTE[-1]))


@pytest.mark.parametrize("name", sorted(TRANSFORMS))
def test_transforms_keep_shape_and_range(name):
    x = torch.rand(3, 3, 32, 32) * 2 - 1
    y = TRANSFORMS[name](x)
    assert y.shape == x.shape and y.min() >= -1 and y.max() <= 1


def test_transformed_generator_is_the_transform_of_the_generator():
    from gan_adapt.generators import tiny

    G, _ = tiny(resolution=16)
    ideal = TransformedGenerator(G, invert)
    z = torch.randn(2, G.z_dim)
    with torch.no_grad():
        ws = G.mapping(z)
        assert torch.equal(ideal.synthesis(ws), -G.synthesis(ws).clamp(-1, 1))


def _load_benchmark():
    """benchmarks/quality.py as the module ``quality``, importable by name so that the worker
    processes of --jobs (spawned: they re-import it from the parent's sys.path) find it."""
    if str(BENCHMARKS) not in sys.path:
        sys.path.insert(0, str(BENCHMARKS))
    return importlib.import_module("quality")


def test_target_kind_follows_each_recipes_target_table():
    quality = _load_benchmark()
    kinds = {path.stem: quality.target_kind(path) for path in quality.recipe_files(None)}
    assert kinds == {"oneshotclip": "image", "oneshotclip-no-con": "image",
                     "oneshotclip-no-patch": "image", "oneshotclip-kl": "image",
                     "oneshotclip-text": "text", "nada": "text", "mtg": "image",
                     "cdc-10shot": "images", "naive": "image", "best": "image"}


def test_target_arguments_give_text_recipes_the_caption_and_the_source_text(tmp_path):
    quality = _load_benchmark()
    table = quality.transform_table()
    files = quality.qt.TargetFiles({"render-5001": tmp_path / "sketch" / "render-5001.png"},
                                   tmp_path / "sketch" / "fewshot-10")
    text, overrides = quality.target_arguments("text", table["sketch"], "caption", files)
    assert text == "a pencil sketch of a face"
    assert overrides == ["target.source_text=a photo of a face"]
    assert quality.target_arguments("text", table["invert"], "caption", files)[0] == \
        "a colour negative of a face"
    assert quality.target_arguments("text", table["grade"], "caption", files)[0] == \
        "a colour-graded film still of a face"
    assert quality.target_arguments("image", table["sketch"], "render-5001", files) == (
        str(files.images["render-5001"].resolve()), [])
    assert quality.target_arguments("images", table["sketch"], "fewshot-10", files) == (
        str(files.folder.resolve()), [])
    # Text and folder recipes do not depend on the target: one run per transform and seed.
    spec = quality.qt.TargetSpec("gan", 117)
    assert [quality.given_target(k, spec) for k in ("image", "text", "images")] == [
        "gan-117", "caption", "fewshot-10"]


def test_splits_hold_the_five_tune_and_the_five_test_transforms():
    quality = _load_benchmark()
    table = quality.transform_table()
    assert quality.qt.split_names(table, "tune") == list(TRANSFORMS)
    assert quality.qt.split_names(table, "test") == ["grade", "pixelart", "relief", "lineart",
                                                     "canvas"]
    args = quality.parse_args(["--split", "test", "--out", "x"])
    assert quality.choose_transforms(args, table) == quality.qt.split_names(table, "test")
    args = quality.parse_args(["--split", "tune", "test", "--out", "x"])
    assert len(quality.choose_transforms(args, table)) == 10
    args = quality.parse_args(["--transforms", "relief", "sketch", "--out", "x"])
    assert quality.choose_transforms(args, table) == ["relief", "sketch"]
    with pytest.raises(SystemExit, match="unknown transform nosuch"):
        quality.choose_transforms(quality.parse_args(["--transforms", "nosuch"]), table)


def test_target_seeds_are_ids_or_seeds_for_every_source():
    qt = _load_benchmark().qt
    specs = qt.parse_target_seeds(["117", "render-5001"], ["gan", "render"])
    assert [s.id for s in specs] == ["gan-117", "render-117", "render-5001"]
    assert [s.in_range for s in specs] == [True, False, False]
    assert [s.id for s in qt.parse_target_seeds(["7"], ["render"])] == ["render-7"]
    with pytest.raises(SystemExit, match="unknown target source 'photo'"):
        qt.parse_target_seeds(["photo-3"], ["gan"])
    with pytest.raises(SystemExit, match="expected a seed"):
        qt.parse_target_seeds(["gan-x"], ["gan"])


def test_targets_are_the_protocols_and_their_percentiles_use_its_reference_faces():
    from gan_adapt.evaluation import benchmark_targets as bt
    from gan_adapt.generators import tiny

    qt = _load_benchmark().qt
    G, _ = tiny(resolution=16)
    assert torch.equal(qt.portrait(G, qt.TargetSpec("gan", 7)), bt.gan_image(G, 7))
    assert torch.equal(qt.portrait(G, qt.TargetSpec("render", 5001)), bt.render_image(5001, 16))
    l1 = lambda x, y: (x - y).abs().flatten(1).mean(dim=1)  # noqa: E731
    reference = qt.reference_distances(G, l1, faces=8)
    by_hand = [float(l1(bt.gan_image(G, s), bt.average_face(G))) for s in range(10000, 10008)]
    assert reference.tolist() == pytest.approx(by_hand)
    assert qt.percentile_of(max(by_hand) + 1, reference) == 100.0
    assert qt.percentile_of(sorted(by_hand)[2], reference) == 25.0  # 2 of 8 lie below


def test_quick_overrides_leave_a_missing_search_absent():
    quality = _load_benchmark()
    with_search = quality.quick_overrides(quality.RECIPES / "oneshotclip.toml")
    without = quality.quick_overrides(quality.RECIPES / "nada.toml")
    assert "search.steps=2" in with_search and "adapt.steps=2" in with_search
    assert not any(o.startswith("search.") for o in without) and "adapt.steps=2" in without


def _fake_run(G_s, G_ema, steps):
    recipe = SimpleNamespace(adapt=SimpleNamespace(steps=steps))
    return SimpleNamespace(components=SimpleNamespace(generator=G_s), G_ema=G_ema,
                           validated=SimpleNamespace(recipe=recipe))


def test_curve_observer_records_every_k_steps_through_the_hook():
    import pluggy

    from gan_adapt.generators import tiny
    from gan_adapt.plugin_host import hookspecs

    quality = _load_benchmark()
    G_s, _ = tiny(resolution=16)
    l1 = lambda x, y: (x - y).abs().flatten(1).mean(dim=1)  # noqa: E731
    curve = quality.FidelityCurve(invert, l1, every=3, n=4, seed=0)
    manager = pluggy.PluginManager("gan_adapt")
    manager.add_hookspecs(hookspecs)
    manager.register(curve, name="curve")  # as the benchmark does, on the run's manager
    run = _fake_run(G_s, G_s, steps=7)
    rng = torch.get_rng_state()
    for step in range(3):
        manager.hook.on_step_end(run=run, phase="search", step=step, values={})
    assert curve.points == []  # search steps are not adaptation steps
    for step in range(7):
        manager.hook.on_step_end(run=run, phase="adapt", step=step, values={})
    assert [p["step"] for p in curve.points] == [0, 3, 6, 7]  # G_s, every 3rd, the last
    # The run's result here is G_s itself: its distance to T(G_s) is that of the source.
    assert curve.points[0]["fidelity_l1"] == pytest.approx(curve.points[-1]["fidelity_l1"])
    assert curve.points[0]["fidelity_l1"] > 0.1
    assert torch.equal(torch.get_rng_state(), rng)  # the watched run's randomness is untouched


def test_plateau_step_is_the_first_step_within_two_percent_of_the_best():
    quality = _load_benchmark()
    points = [{"step": s, "fidelity_lpips": v}
              for s, v in [(0, 1.0), (25, 0.6), (50, 0.505), (75, 0.5), (100, 0.52)]]
    assert quality.plateau_step(points) == 50
    assert quality.plateau_step(points[:1]) == 0


@pytest.mark.slow
def test_jobs_run_in_worker_processes_and_finished_runs_are_reused(tmp_path):
    quality = _load_benchmark()
    steps = ("adapt.steps=1", "output.sample_every=1", "output.checkpoint_every=1", "seed=3")
    jobs = [quality.Job(str(quality.RECIPES / "nada.toml"), name, "caption", 3,
                        str(tmp_path / name / "seed3"), f"a {name} of a face", steps)
            for name in ("sketch", "invert")]
    outcomes = quality.run_jobs(jobs, 2, plugin_set=None)
    assert [o.job.transform for o in outcomes] == ["sketch", "invert"]  # the list's order
    for outcome in outcomes:
        assert Path(outcome.generator).is_dir() and outcome.seconds > 0 and not outcome.reused
        folder = Path(outcome.job.folder)
        meta = json.loads((folder / "run.json").read_text())
        assert meta["status"] == "done" and meta["target_override"] == outcome.job.target
        assert (folder / quality.RUN_MARKER).is_file()
        assert "seed=3" in meta["overrides"]  # the recipe seed is the engine's seed
    # A finished run is reused; an interrupted one (no marker) starts again from scratch.
    (Path(jobs[1].folder) / quality.RUN_MARKER).unlink()
    again = quality.run_jobs(jobs, 1, plugin_set=_plugins())
    assert [o.reused for o in again] == [True, False]
    assert again[0].seconds == pytest.approx(outcomes[0].seconds, abs=0.1)


def _plugins():
    from gan_adapt.plugin_host.loading import load_plugins

    return load_plugins()


def test_an_out_folder_is_new_or_one_of_this_benchmarks(tmp_path):
    quality = _load_benchmark()
    args = quality.parse_args(["--out", str(tmp_path / "b")])
    quality.open_out(tmp_path / "b", args)
    assert json.loads((tmp_path / "b" / quality.MARKER).read_text())["layout"] == quality.LAYOUT
    quality.open_out(tmp_path / "b", args)  # reopened: resumes
    with pytest.raises(SystemExit, match="resuming needs the same --quick and --set"):
        quality.open_out(tmp_path / "b", quality.parse_args(["--quick"]))
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(SystemExit, match="not a folder of this benchmark"):
        quality.open_out(tmp_path / "other", args)


def test_a_finished_run_given_other_settings_is_refused_not_mixed(tmp_path):
    quality = _load_benchmark()
    folder = tmp_path / "seed0"
    (folder / "generator").mkdir(parents=True)
    (folder / "result.json").write_text(json.dumps({"status": "done",
                                                    "outputs": {"generator": "generator"}}))
    (folder / quality.RUN_MARKER).write_text(json.dumps({"overrides": ["seed=0"], "target": "t",
                                                         "seconds": 5.0}))
    job = quality.Job("r.toml", "sketch", "gan-1", 0, str(folder), "t", ("seed=0",))
    assert quality.finished(job).seconds == 5.0
    with pytest.raises(SystemExit, match="was run with other settings"):
        quality.finished(quality.Job("r.toml", "sketch", "gan-1", 0, str(folder), "t",
                                     ("seed=0", "adapt.steps=2")))


def test_recipe_seeds_become_the_engine_seed_and_the_run_folder():
    quality = _load_benchmark()
    args = quality.parse_args(["--recipes", "oneshotclip", "nada", "--recipe-seeds", "0", "1",
                               "--transforms", "sketch", "--out", "o"])
    specs = [quality.qt.TargetSpec("gan", 117), quality.qt.TargetSpec("render", 5001)]
    files = {"sketch": quality.qt.TargetFiles({s.id: Path(f"{s.id}.png") for s in specs},
                                              Path("fewshot-10"))}
    jobs = quality.plan_jobs(args, quality.recipe_files(args.recipes), quality.transform_table(),
                             specs, files, Path("o"))
    folders = sorted(str(Path(j.folder)) for j in jobs)
    assert folders == sorted(str(Path("o/runs") / p) for p in [
        "oneshotclip/sketch/gan-117/seed0", "oneshotclip/sketch/gan-117/seed1",
        "oneshotclip/sketch/render-5001/seed0", "oneshotclip/sketch/render-5001/seed1",
        "nada/sketch/caption/seed0", "nada/sketch/caption/seed1"])  # text: once per seed
    assert all(j.overrides[-1] == f"seed={j.seed}" for j in jobs)


def test_no_benchmark_recipe_uses_the_evaluator_and_the_evaluator_is_refused(tmp_path):
    quality = _load_benchmark()
    names = quality.evaluator_names("portraits-evaluator")
    for recipe in quality.recipe_files(None):
        assert quality.instrument_use(recipe, [], names) == [], recipe.name
    assert quality.instrument_use(quality.RECIPES / "oneshotclip.toml", [],
                                  ["portraits-clip"]) == ["portraits-clip"]
    # A recipe whose terms name the evaluator (here through an override) is refused.
    override = 'adapt.losses[0].params.clip="portraits-evaluator"'
    assert quality.instrument_use(quality.RECIPES / "oneshotclip.toml", [override],
                                  names) == ["portraits-evaluator"]
    with pytest.raises(SystemExit, match="uses the evaluator"):
        quality.main(["--recipes", "oneshotclip", "--set", override, "--transforms", "sketch",
                      "--out", str(tmp_path / "o")])
    assert not (tmp_path / "o").exists()  # refused before anything was written


def test_write_targets_writes_each_targets_transform_and_the_ten_shot_folder(tmp_path):
    quality = _load_benchmark()
    assert quality.main(["--write-targets", str(tmp_path), "--transforms", "hatch",
                         "--target-seeds", "gan-3", "render-5001"]) == {}
    assert (tmp_path / "hatch" / "gan-3.png").is_file()
    assert (tmp_path / "hatch" / "render-5001.png").is_file()
    assert (tmp_path / "portraits" / "render-5001.png").is_file()
    assert len(list((tmp_path / "hatch" / "fewshot-10").glob("*.png"))) == 10
    info = json.loads((tmp_path / "targets.json").read_text())["targets"]
    assert info["render-5001"]["in_range"] is False and info["gan-3"]["in_range"] is True
    assert 0 <= info["gan-3"]["clip_lpips_percentile"] <= 100


def _scoring():
    _load_benchmark()
    return importlib.import_module("quality_scoring")


def test_verdicts_follow_each_metrics_direction():
    from gan_adapt.evaluation.intervals import Interval

    scoring = _scoring()
    below, around, above = Interval(0.8, 0.7, 0.9, 3), Interval(1.0, 0.9, 1.1, 3), \
        Interval(1.2, 1.1, 1.3, 3)
    assert scoring.verdict(below, lower_is_better=True) == "better"  # fidelity 0.8x
    assert scoring.verdict(below, lower_is_better=False) == "worse"  # diversity 0.8x
    assert scoring.verdict(above, lower_is_better=True) == "worse"
    assert scoring.verdict(around, lower_is_better=True) == "no claim"


def test_claims_average_seeds_then_take_per_case_ratios_per_group():
    scoring = _scoring()
    rows, per_latent = [], {}
    # Two cases; the baseline `b` ran seeds 0 and 1, the recipe `r` seeds 0 and 1.
    values = {("sketch", "gan-1"): {("b", 0): [2.0, 2.0], ("b", 1): [4.0, 4.0],
                                   ("r", 0): [1.0, 1.0], ("r", 1): [2.0, 2.0]},
              ("grade", "render-2"): {("b", 0): [1.0, 3.0], ("b", 1): [1.0, 3.0],
                                      ("r", 0): [1.0, 1.0], ("r", 1): [1.0, 1.0]}}
    for (transform, target), by_run in values.items():
        split = "tune" if transform == "sketch" else "test"
        for (method, seed), latents in by_run.items():
            rows.append({"transform": transform, "target": target, "split": split,
                         "target_source": target.split("-")[0], "method": method, "seed": seed})
            per_latent[transform, target, method, seed] = {"fidelity": latents}
    found = scoring.claims(per_latent, rows, "b", resamples=200)
    groups = found["methods"]["r"]["groups"]
    # sketch: (1.5) / (3) = 0.5 (seeds averaged first); grade: 1 / 2 = 0.5 -> 0.5 everywhere
    assert groups["all"]["fidelity"]["mean"] == pytest.approx(0.5)
    assert groups["all"]["fidelity"]["cases"] == 2
    assert groups["tune-gan"]["fidelity"]["cases"] == 1
    assert groups["tune-gan"]["fidelity"]["verdict"] == "better"  # constant latents: 0.5 exactly
    assert groups["tune-gan"]["fidelity"]["low"] == groups["tune-gan"]["fidelity"]["high"] == 0.5
    # grade's baseline latents differ (1 and 3): a resample of both latents at 1 gives ratio 1,
    # both at 3 gives 1/3, so the interval reaches 1 and no claim stands on that case alone.
    grade = groups["test-render"]["fidelity"]
    assert (grade["low"], grade["high"]) == pytest.approx((1 / 3, 1.0))
    assert grade["verdict"] == "no claim"
    assert set(groups) == {"all", "tune", "test", "tune-gan", "test-render", "transform:sketch",
                           "transform:grade"}
    assert "diversity" not in groups["all"]  # a metric nobody measured is not claimed
    noise = scoring.seed_noise(per_latent, rows, "b", resamples=200)
    # seed 1 over seed 0: sketch 4 / 2 = 2, grade 2 / 2 = 1 -> mean 1.5
    assert noise["seeds"] == [0, 1]
    assert noise["groups"]["all"]["fidelity"]["mean"] == pytest.approx(1.5)
    assert noise["groups"]["all"]["fidelity"]["low"] <= 1.0  # one case at 1: no claim
    assert noise["groups"]["all"]["fidelity"]["verdict"] == "no claim"


def test_sweep_runs_name_their_transform_by_file_or_folder():
    scoring = _scoring()
    table = _load_benchmark().transform_table()
    assert scoring.sweep_transform("targets/sketch.png", table) == "sketch"
    assert scoring.sweep_transform("t/grade/render-5001.png", table) == "grade"
    assert scoring.sweep_transform("t/other/x.png", table) is None


@pytest.fixture(scope="module")
def quick_evaluator(tmp_path_factory):
    """A quickly trained evaluator export (the tests do not depend on the shipped weights)."""
    import subprocess

    work = tmp_path_factory.mktemp("evaluator")
    result = subprocess.run([sys.executable, "-m", "gan_adapt.training.portrait_evaluator",
                             "--quick", "--work", str(work / "w"), "--export", str(work / "e")],
                            capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert result.returncode == 0, result.stderr
    return work / "e"


@pytest.mark.slow
def test_quick_benchmark_runs_end_to_end_and_resumes(tmp_path, quick_evaluator):
    quality = _load_benchmark()
    out = tmp_path / "q"
    # One thread, the benchmark's default: on a busy 2-core machine more threads spin and crawl.
    argv = ["--quick", "--out", str(out), "--threads", "1", "--evaluator", str(quick_evaluator),
            "--json", str(tmp_path / "r.json")]
    record = quality.main(argv)
    methods = {"ideal", "source", *quality.QUICK_RECIPES}
    cases = {(t, g) for t in quality.QUICK_TRANSFORMS for g in quality.QUICK_TARGETS}
    rows = {(row["transform"], row["target"], row["method"]): row for row in record["rows"]}
    assert set(rows) == {(t, g, m) for t, g in cases for m in methods}
    for name, target in cases:
        # Known answers: the ideal generator has zero fidelity error; the source is G_s.
        ideal, source = rows[name, target, "ideal"], rows[name, target, "source"]
        assert ideal["fidelity"] == 0.0 and ideal["fidelity_l1"] == 0.0
        assert ideal["ssim"] == pytest.approx(1.0) and ideal["diversity_ratio"] == 1.0
        assert source["content"] == pytest.approx(0.0, abs=1e-6)
        assert source["attributes"] == 1.0 and source["fidelity_l1"] > 0.05
        assert (out / "targets" / name / f"{target}.png").exists()
        assert (out / "sheets" / f"{name}-{target}.png").exists()
        assert rows[name, target, "oneshotclip"]["given"] == target
        assert rows[name, target, "nada"]["given"] == "caption"
        assert rows[name, target, "cdc-10shot"]["given"] == "fewshot-10"
    assert {rows[k]["split"] for k in rows} == {"tune", "test"}
    # Each recipe got the target its [target] asks for: an image, the caption, ten images.
    runs = out / "runs"
    given = {m: json.loads(p.read_text()) for m, p in [
        ("oneshotclip", runs / "oneshotclip/sketch/render-5001/seed0/run.json"),
        ("nada", runs / "nada/grade/caption/seed0/run.json"),
        ("cdc-10shot", runs / "cdc-10shot/sketch/fewshot-10/seed0/run.json")]}
    assert given["nada"]["target_override"] == "a colour-graded film still of a face"
    assert given["oneshotclip"]["target_override"].endswith("sketch/render-5001.png")
    assert given["cdc-10shot"]["target_override"].endswith("sketch/fewshot-10")
    # The curve of the paper recipe: G_s, then every step of the two.
    curve = record["curves"]["oneshotclip"]["sketch/gan-0/seed0"]
    assert [p["step"] for p in curve] == [0, 1, 2]
    saved = json.loads((tmp_path / "r.json").read_text())
    assert saved == json.loads((out / "results.json").read_text())
    assert len(saved["rows"]) == len(rows) and saved["settings"]["quick"] is True
    assert saved["instruments"]["evaluator"]["sha256"]
    assert set(saved["targets"]["targets"]["render-5001"]) >= {
        "clip_lpips_from_mean_face", "evaluator_from_mean_face", "in_range"}
    groups = {(g["group"], g["method"]) for g in saved["groups"]}
    assert {("test-render", "nada"), ("tune-gan", "ideal"), ("all", "source")} <= groups
    claims = saved["claims"]["methods"]["nada"]["groups"]
    assert set(claims) >= {"all", "tune-gan", "test-render", "transform:grade"}
    assert claims["all"]["fidelity"]["cases"] == 4
    assert claims["all"]["fidelity"]["low"] <= claims["all"]["fidelity"]["mean"] \
        <= claims["all"]["fidelity"]["high"]
    assert saved["flags"]["oneshotclip"] and saved["seed_noise"] == {}  # one seed
    table = (out / "table.md").read_text()
    assert "## Ratios to the baseline" in table and "| all (4) | nada † (0) |" in table
    # Resumed: every run is reused, the scores come from their caches, the numbers agree.
    again = quality.main(argv)
    assert all(run["reused"] for run in again["runs"])
    assert [r["fidelity"] for r in again["rows"]] == [r["fidelity"] for r in record["rows"]]


def test_recipes_are_names_of_the_benchmark_or_recipe_files(tmp_path):
    quality = _load_benchmark()
    assert quality.recipe_files(["oneshotclip"]) == [BENCHMARKS / "recipes" / "oneshotclip.toml"]
    base = BENCHMARKS / "sweeps" / "bases"
    candidate = next(iter(sorted(base.glob("*.toml"))))
    assert quality.recipe_files([str(candidate)]) == [candidate.resolve()]
    with pytest.raises(SystemExit, match=r"no recipe nosuch, \S*elsewhere.toml \(the names of "):
        quality.recipe_files(["nosuch", str(tmp_path / "elsewhere.toml")])
    twin = tmp_path / "oneshotclip.toml"  # rows and run folders are named after the stem
    twin.write_text((BENCHMARKS / "recipes" / "oneshotclip.toml").read_text())
    with pytest.raises(SystemExit, match="share the name oneshotclip"):
        quality.recipe_files(["oneshotclip", str(twin)])


def test_default_jobs_is_one_per_core_at_most_four_and_one_for_quick(monkeypatch):
    import os

    quality = _load_benchmark()
    assert quality.default_jobs(quick=True) == 1
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(16)), raising=False)
    assert quality.default_jobs(quick=False) == 4
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    assert quality.default_jobs(quick=False) == 2


def test_benchmark_recipes_and_sweep_bases_validate_and_the_sweeps_expand():
    """Every recipe the benchmark or its sweeps run validates (terms registered, params right),
    and every sweep file expands into one run per base x transform x grid point."""
    import subprocess

    from gan_adapt.sweep.spec import expand, read_sweep

    recipes = sorted((BENCHMARKS / "recipes").glob("*.toml"))
    recipes += sorted((BENCHMARKS / "sweeps" / "bases").glob("*.toml"))
    assert any(p.name == "best.toml" for p in recipes)
    result = subprocess.run([sys.executable, "-m", "gan_adapt.cli", "validate", *map(str, recipes)],
                            capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count(": OK") == len(recipes)
    sweeps = sorted((BENCHMARKS / "sweeps").glob("*.toml"))
    assert len(sweeps) >= 2
    for path in sweeps:
        sweep = read_sweep(path)
        runs = expand(sweep, path)
        points = 1
        for values in sweep.grid.values():
            points *= len(values)
        assert len(runs) == len(sweep.bases) * len(sweep.targets) * points, path.name
        assert {Path(r.target).stem for r in runs} == set(TRANSFORMS), path.name
        assert all(Path(r.base).is_file() for r in runs)
