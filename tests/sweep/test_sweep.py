"""Sweeps: a 4-run sweep of the smoke recipe locally and on a local Ray instance, and resume;
sweeps over several base recipes (mixes of loss terms)."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from gan_adapt.errors import RecipeError
from gan_adapt.sweep.spec import expand, read_sweep

ROOT = Path(__file__).resolve().parents[2]

SWEEP = """
name = "test-sweep"
base = "{base}"
set = ["adapt.steps=6", "search.steps=2", "output.checkpoint_every=2", "output.sample_every=6"]
seeds = {seeds}
threads_per_run = 1
backend = "{backend}"

[grid]
"adapt.losses[4].weight" = [1.0, 10.0]

[ray]
num_cpus = 2

[eval]
enabled = false
"""


def write_sweep(tmp_path: Path, backend: str = "local", seeds: str = "[0, 1]") -> Path:
    path = tmp_path / f"sweep-{backend}.toml"
    path.write_text(SWEEP.format(base=ROOT / "recipes" / "smoke.toml", backend=backend,
                                 seeds=seeds))
    return path


#: The sweeps that really run: one seed, so 2 runs (grid weight 1 and 10) - every engine run
#: is a fresh process (~10 s of imports), and what these tests check needs two runs, not four.
RUN_SEEDS = "[0]"


def gan_adapt(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gan_adapt.cli", *args], capture_output=True,
                          text=True, cwd=ROOT, timeout=900, **kwargs)


def weights(run_folder: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return {k: v for f in sorted((run_folder / "generator" / "native").glob("*.safetensors"))
            for k, v in load_file(f).items()}


def same(a: Path, b: Path) -> bool:
    wa, wb = weights(a), weights(b)
    return bool(wa) and wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def test_expansion_is_a_stable_product(tmp_path):
    path = write_sweep(tmp_path)
    runs = expand(read_sweep(path), path)
    assert len(runs) == 4
    assert [r.seed for r in runs] == [0, 1, 0, 1]
    assert runs[2].overrides[-1] == "adapt.losses[4].weight=10.0"
    assert [r.run_id for r in runs] == [r.run_id for r in expand(read_sweep(path), path)]
    assert len({r.run_id for r in runs}) == 4


def test_a_single_base_keeps_its_run_ids_and_values(tmp_path):
    # The ids of sweeps written before `base` could be a list: their folders must still resume.
    path = write_sweep(tmp_path)
    runs = expand(read_sweep(path), path)
    assert [r.run_id for r in runs] == ["000-weight1-0-s0-b0e84f", "001-weight1-0-s1-54bec6",
                                        "002-weight10-0-s0-2d654a", "003-weight10-0-s1-d6f7c8"]
    assert all(r.values == {"adapt.losses[4].weight": r.values["adapt.losses[4].weight"]}
               for r in runs)
    assert {r.base for r in runs} == {str((ROOT / "recipes" / "smoke.toml").resolve())}


#: smoke.toml with a different mix of loss terms: only MSE on the reference and L_con.
LITE = """
extends = "{smoke}"
name = "lite"

[[adapt.losses]]
name = "mse"
on = ["reference"]

[[adapt.losses]]
name = "clip_consistency"
on = ["random"]
weight = 10.0
params = {{ encoder = "clip", distance = "l2" }}
"""


def write_bases_sweep(tmp_path: Path, body: str) -> Path:
    """A sweep over smoke.toml and ``mixes/lite.toml`` (written next to it) plus ``body``."""
    (tmp_path / "mixes").mkdir(exist_ok=True)
    (tmp_path / "mixes" / "lite.toml").write_text(
        LITE.format(smoke=ROOT / "recipes" / "smoke.toml"))
    path = tmp_path / "bases.toml"
    path.write_text(f'name = "bases"\nbase = ["{ROOT / "recipes" / "smoke.toml"}", '
                    f'"mixes/lite.toml"]\n{body}')
    return path


def test_several_bases_expand_base_outermost(tmp_path):
    path = write_bases_sweep(tmp_path, 'seeds = [0, 1]\n[grid]\n"adapt.lr" = [0.001, 0.002]\n')
    runs = expand(read_sweep(path), path)
    assert len(runs) == 2 * 2 * 2
    smoke, lite = str((ROOT / "recipes" / "smoke.toml").resolve()), \
        str((tmp_path / "mixes" / "lite.toml").resolve())
    assert [r.base for r in runs] == [smoke] * 4 + [lite] * 4
    assert [r.values["base"] for r in runs] == ["smoke"] * 4 + ["lite"] * 4
    assert [r.values["adapt.lr"] for r in runs] == [0.001, 0.001, 0.002, 0.002] * 2
    assert [r.seed for r in runs] == [0, 1] * 4
    assert [r.overrides for r in runs[:4]] == [r.overrides for r in runs[4:]]
    assert all("base" not in item for r in runs for item in r.overrides)  # not a `--set`
    assert len({r.run_id for r in runs}) == 8
    assert runs[0].run_id.startswith("000-smoke-") and runs[4].run_id.startswith("004-lite-")
    assert [r.run_id for r in runs] == [r.run_id for r in expand(read_sweep(path), path)]
    assert runs[4].cli_args()[0] == lite


def test_missing_and_same_named_bases_are_reported_together(tmp_path):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "mix.toml").write_text(LITE.format(smoke=ROOT / "recipes" /
                                                                "smoke.toml"))
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\nbase = ["a/mix.toml", "missing.toml", "b/mix.toml"]\n'
                   '[grid]\n"a.b" = []\n')
    with pytest.raises(RecipeError) as info:
        read_sweep(bad)
    problems = info.value.problems
    assert any(p.startswith("base[1]: recipe missing.toml does not exist") for p in problems)
    assert any(p.startswith("base[2]: recipe b/mix.toml has the same file name stem 'mix' as "
                            "a/mix.toml") for p in problems)
    assert any(p.startswith("grid.a.b: give a non-empty list") for p in problems)
    for base, message in (("[]", "base: give a recipe or a non-empty list of recipes"),
                          ('["a/mix.toml", 3]', "base: expected a recipe path or a list")):
        bad.write_text(f'name = "x"\nbase = {base}\n')
        with pytest.raises(RecipeError) as info:
            read_sweep(bad)
        assert [p for p in info.value.problems if p.startswith("base")] == [
            p for p in info.value.problems if p.startswith(message)], info.value.problems


def test_bad_sweep_files_are_reported(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\nbase = "missing.toml"\nbakend = "ray"\n[grid]\n"a.b" = []\n')
    with pytest.raises(RecipeError) as info:
        read_sweep(bad)
    assert any("bakend: unknown key (did you mean 'backend'?)" in p for p in info.value.problems)
    bad.write_text('name = "x"\nbase = "missing.toml"\n[grid]\n"a.b" = []\n')
    with pytest.raises(RecipeError) as info:
        read_sweep(bad)
    text = "\n".join(info.value.problems)
    assert "grid.a.b: give a non-empty list" in text and "missing.toml does not exist" in text


@pytest.fixture(scope="module")
def local_sweep(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("sweep")
    out = tmp / "out"
    result = gan_adapt("sweep", str(write_sweep(tmp, seeds=RUN_SEEDS)), "--out", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    return out


def test_local_sweep_runs_every_run_and_tabulates(local_sweep):
    with open(local_sweep / "results.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 2 and {r["status"] for r in rows} == {"done"}
    assert [r["adapt.losses[4].weight"] for r in rows] == ["1.0", "10.0"]
    assert all(r["train/clip_consistency"] for r in rows)
    runs = sorted((local_sweep / "runs").iterdir())
    assert len(runs) == 2
    assert not same(runs[0], runs[1])  # different L_con weights, different results


@pytest.mark.ray
def test_ray_backend_gives_identical_results(local_sweep, tmp_path):
    out = tmp_path / "ray"
    result = gan_adapt("sweep", str(write_sweep(tmp_path, "ray", seeds=RUN_SEEDS)), "--out",
                       str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    for local_run in sorted((local_sweep / "runs").iterdir()):
        assert same(local_run, out / "runs" / local_run.name), local_run.name


def test_rerun_skips_finished_and_resumes_a_killed_run(local_sweep, tmp_path):
    sweep = write_sweep(tmp_path, seeds=RUN_SEEDS)
    out = tmp_path / "out"
    process = subprocess.Popen([sys.executable, "-m", "gan_adapt.cli", "sweep", str(sweep),
                                "--out", str(out)], cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    # Kill the whole sweep (driver and run) once the second run has written a checkpoint.
    deadline = time.time() + 600
    second = None
    while time.time() < deadline:
        runs = sorted((out / "runs").glob("001-*")) if (out / "runs").exists() else []
        if runs and list((runs[0] / "checkpoints").glob("step-*.pt")):
            second = runs[0]
            break
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert second is not None, "the second run never wrote a checkpoint"
    result = gan_adapt("sweep", str(sweep), "--out", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "skipped  000-" in result.stdout
    assert f"done     {second.name} [resumed" in result.stdout
    for run in sorted((out / "runs").iterdir()):
        assert same(run, local_sweep / "runs" / run.name), run.name


def test_local_sweep_over_two_bases_runs_each_with_its_own(tmp_path):
    path = write_bases_sweep(tmp_path, 'set = ["adapt.steps=4", "search.steps=2", '
                             '"output.checkpoint_every=4", "output.sample_every=4"]\n'
                             'seeds = [0]\nthreads_per_run = 1\n[eval]\nenabled = false\n')
    out = tmp_path / "out"
    result = gan_adapt("sweep", str(path), "--out", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    with open(out / "results.csv") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
    assert reader.fieldnames[:3] == ["run_id", "status", "base"]
    assert [(r["base"], r["status"]) for r in rows] == [("smoke", "done"), ("lite", "done")]
    # each run trained its own base's terms: patch_nce is smoke's only
    assert rows[0]["train/patch_nce"] and not rows[1].get("train/patch_nce")
    plan = json.loads((out / "sweep.json").read_text())
    assert plan["base"] == [r["base"] for r in plan["runs"]] == [
        str((ROOT / "recipes" / "smoke.toml").resolve()),
        str((tmp_path / "mixes" / "lite.toml").resolve())]
    again = gan_adapt("sweep", str(path), "--out", str(out))  # its own folder: it resumes
    assert again.returncode == 0 and again.stdout.count("skipped") == 2, again.stdout
