"""The known transforms of the quality benchmark, its parts (target kinds, the fidelity curve
observer, diversity ratios, worker processes) and its --quick mode end to end."""

from __future__ import annotations

import importlib
import json
import sys
from types import SimpleNamespace
from pathlib import Path

import pytest
import torch

from gan_adapt.synthetic_data.known_transforms import (PALETTE, TRANSFORMS, TransformedGenerator,
                                                       invert, posterise, sketch)

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
    files = quality.TargetFiles(tmp_path / "sketch.png", tmp_path / "sketch-10")
    text, overrides = quality.target_arguments("text", "sketch", files)
    assert text == "a pencil sketch of a face"
    assert overrides == ["target.source_text=a photo of a face"]
    assert quality.target_arguments("text", "invert", files)[0] == "a colour negative of a face"
    assert quality.target_arguments("image", "sketch", files) == (str(files.image.resolve()), [])
    assert quality.target_arguments("images", "sketch", files) == (str(files.folder.resolve()),
                                                                   [])


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

    from gan_adapt.plugin_host import hookspecs
    from gan_adapt.generators import tiny

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


def test_diversity_ratio_is_relative_to_the_ideal_of_the_same_transform():
    quality = _load_benchmark()
    rows = [{"transform": "sketch", "method": "ideal", "diversity_lpips": 0.5},
            {"transform": "sketch", "method": "naive", "diversity_lpips": 0.25},
            {"transform": "invert", "method": "ideal", "diversity_lpips": 0.8},
            {"transform": "invert", "method": "naive", "diversity_lpips": 0.4},
            {"transform": "hatch", "method": "naive", "diversity_lpips": 0.4}]
    ratios = [row["diversity_ratio"] for row in quality.add_diversity_ratio(rows)]
    assert ratios == [1.0, 0.5, 1.0, 0.5, None]
    table = quality.markdown_table([{**row, "run_seconds": 0.0} for row in rows])
    assert "| hatch | naive |" in table and "–" in table  # a missing number is a dash


@pytest.mark.slow
def test_jobs_run_in_worker_processes(tmp_path):
    quality = _load_benchmark()
    jobs = [quality.Job(str(quality.RECIPES / "nada.toml"), name, str(tmp_path / name),
                        quality.caption(name), ("adapt.steps=1", "output.sample_every=1",
                                                "output.checkpoint_every=1"))
            for name in ("sketch", "invert")]
    outcomes = quality.run_jobs(jobs, 2, plugin_set=None)
    assert [o.job.transform for o in outcomes] == ["sketch", "invert"]  # the list's order
    for outcome in outcomes:
        assert Path(outcome.generator).is_dir() and outcome.seconds > 0
        meta = json.loads((Path(outcome.job.folder) / "run.json").read_text())
        assert meta["status"] == "done" and meta["target_override"] == outcome.job.target


@pytest.mark.slow
def test_quick_benchmark_runs_end_to_end(tmp_path):
    quality = _load_benchmark()
    out = tmp_path / "q"
    # One thread, the benchmark's default: on a busy 2-core machine more threads spin and crawl.
    record = quality.main(["--quick", "--out", str(out), "--threads", "1"])
    methods = {"ideal", "source", *quality.QUICK_RECIPES}
    rows = {(row["transform"], row["method"]): row for row in record["rows"]}
    assert set(rows) == {(t, m) for t in quality.QUICK_TRANSFORMS for m in methods}
    for name in quality.QUICK_TRANSFORMS:
        # Known answers: the ideal generator has zero fidelity error; the source is G_s.
        assert rows[name, "ideal"]["fidelity_l1"] == 0.0
        assert rows[name, "ideal"]["diversity_ratio"] == 1.0
        assert rows[name, "source"]["content_lpips"] == pytest.approx(0.0, abs=1e-6)
        assert rows[name, "source"]["fidelity_l1"] > 0.1
        assert 0.0 <= rows[name, "source"]["attribute_preservation"] <= 1.0
        assert (out / "targets" / f"{name}.png").exists()
        assert len(list((out / "targets" / f"{name}-10").glob("*.png"))) == 10
        assert (out / f"sheet-{name}.png").exists()
    # Each recipe got the target its [target] asks for: an image, the caption, ten images.
    given = {m: json.loads((out / "runs" / f"sketch-{m}" / "run.json").read_text())
             for m in quality.QUICK_RECIPES}
    assert given["nada"]["target_override"] == "a pencil sketch of a face"
    assert given["oneshotclip"]["target_override"].endswith("sketch.png")
    assert given["cdc-10shot"]["target_override"].endswith("sketch-10")
    # The curve of the paper recipe: G_s, then every step of the two.
    curve = record["curves"]["oneshotclip"]["sketch"]
    assert [p["step"] for p in curve] == [0, 1, 2]
    saved = json.loads((out / "results.json").read_text())
    assert len(saved["rows"]) == len(rows) and saved["settings"]["quick"] is True
    assert saved["curves"]["oneshotclip"]["invert"] == record["curves"]["oneshotclip"]["invert"]
    table = (out / "table.md").read_text().split("\n\n")[0].splitlines()
    assert table[0].startswith("| transform | method |") and len(table) == 2 + len(rows)
    means = {m["method"]: m for m in saved["means"]}
    assert set(means) == methods and means["ideal"]["fidelity_l1"] == 0.0
    assert means["source"]["transforms"] == len(quality.QUICK_TRANSFORMS)
    assert (out / "curve.md").read_text().count("| 2 |") == 1
    run_eval = json.loads((out / "runs" / "invert-nada" / "eval.json").read_text())
    assert run_eval["metrics"]["fidelity_l1"] == rows["invert", "nada"]["fidelity_l1"]


def test_method_means_average_over_transforms_and_show_ratios_to_the_paper_recipe():
    quality = _load_benchmark()
    rows = [{"transform": t, "method": m, "fidelity_lpips": v, "fidelity_l1": v / 2,
             "diversity_lpips": 1.0, "diversity_ratio": 1.0, "target_clip_image": 0.5,
             "attribute_preservation": 0.5, "run_seconds": 10.0}
            for t, m, v in [("sketch", "oneshotclip", 1.0), ("invert", "oneshotclip", 3.0),
                            ("sketch", "best", 0.5), ("invert", "best", 1.5)]]
    rows.append({"transform": "sketch", "method": "partial", "fidelity_lpips": 1.0})
    means = {m["method"]: m for m in quality.method_means(rows)}
    assert means["oneshotclip"]["fidelity_lpips"] == 2.0 and means["best"]["fidelity_l1"] == 0.5
    assert means["partial"]["fidelity_l1"] is None  # missing values are not averaged away
    table = quality.means_markdown(list(means.values()))
    assert "| best | 1.0000 (0.50x) | 0.5000 (0.50x) |" in table


def test_write_targets_only_writes_the_one_shot_and_ten_shot_targets(tmp_path):
    quality = _load_benchmark()
    assert quality.main(["--write-targets", str(tmp_path), "--transforms", "hatch"]) == {}
    assert (tmp_path / "hatch.png").is_file()
    assert len(list((tmp_path / "hatch-10").glob("*.png"))) == 10


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
