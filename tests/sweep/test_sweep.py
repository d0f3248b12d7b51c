"""Sweeps: a 4-run sweep of the smoke recipe locally and on a local Ray instance, and resume."""

from __future__ import annotations

import csv
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
seeds = [0, 1]
threads_per_run = 1
backend = "{backend}"

[grid]
"adapt.losses[4].weight" = [1.0, 10.0]

[ray]
num_cpus = 2

[eval]
enabled = false
"""


def write_sweep(tmp_path: Path, backend: str = "local") -> Path:
    path = tmp_path / f"sweep-{backend}.toml"
    path.write_text(SWEEP.format(base=ROOT / "recipes" / "smoke.toml", backend=backend))
    return path


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
    result = gan_adapt("sweep", str(write_sweep(tmp)), "--out", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    return out


def test_local_sweep_runs_every_run_and_tabulates(local_sweep):
    with open(local_sweep / "results.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 4 and {r["status"] for r in rows} == {"done"}
    assert {r["adapt.losses[4].weight"] for r in rows} == {"1.0", "10.0"}
    assert all(r["train/clip_consistency"] for r in rows)
    runs = sorted((local_sweep / "runs").iterdir())
    assert len(runs) == 4
    assert not same(runs[0], runs[1])  # different seeds, different results


@pytest.mark.ray
def test_ray_backend_gives_identical_results(local_sweep, tmp_path):
    out = tmp_path / "ray"
    result = gan_adapt("sweep", str(write_sweep(tmp_path, "ray")), "--out", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    for local_run in sorted((local_sweep / "runs").iterdir()):
        assert same(local_run, out / "runs" / local_run.name), local_run.name


def test_rerun_skips_finished_and_resumes_a_killed_run(local_sweep, tmp_path):
    sweep = write_sweep(tmp_path)
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
