"""Shared helpers of the reliability tests: the CLI run in-process, derived toy recipes, and
checks of a refusal ("clear error, no traceback, nothing written")."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
TOY_RECIPE = FIXTURES / "recipes" / "toy.toml"
SMOKE_RECIPE = ROOT / "recipes" / "smoke.toml"
FAULT_PLUGINS = Path(__file__).resolve().parent / "plugins"
DATA = ROOT / "tests" / "data" / "generators"


@dataclass
class CliResult:
    """What one ``gan-adapt`` invocation printed and returned."""

    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch):
    """``cli(*args, plugins="")`` runs ``gan-adapt ARGS`` in this process.

    In-process is the strict form of "no traceback": an exception that is not a GanAdaptError
    escapes main() and fails the test. ``plugins`` is GAN_ADAPT_LOAD_PLUGINS (entry points).
    """
    from gan_adapt.cli.commands import main

    def invoke(*args: str, plugins: str = "") -> CliResult:
        monkeypatch.setenv("GAN_ADAPT_LOAD_PLUGINS", plugins)
        capsys.readouterr()
        try:
            main([str(a) for a in args])
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        out, err = capsys.readouterr()
        return CliResult(code, out, err)

    return invoke


def toy_run_args(out: Path, recipe: Path = TOY_RECIPE, *extra: str) -> list[str]:
    """``run RECIPE --out OUT`` with the toy and fault plugins and no progress bar noise."""
    return ["run", str(recipe), "--out", str(out), "--plugins-dir", str(FIXTURES),
            "--plugins-dir", str(FAULT_PLUGINS), *extra]


def assert_refused(result: CliResult, *needles: str, code: int | None = None) -> None:
    """A clean refusal: non-zero exit, one "Error:" message naming ``needles``, no traceback."""
    assert result.code != 0, result.err
    if code is not None:
        assert result.code == code, result.err
    assert "Traceback" not in result.err, result.err
    assert "Error" in result.err, result.err
    for needle in needles:
        assert needle in result.err, f"{needle!r} not in:\n{result.err}"


#: Every fault run checkpoints after every step, so "the last good checkpoint" is exact.
EVERY_STEP = {"output": {"checkpoint_every": 1, "sample_every": 100}}


@pytest.fixture(scope="session")
def fault_plugin_set():
    """Default plugins, the toy fixture plugin and the fault plugin; no entry points."""
    from gan_adapt.plugin_host.loading import load_plugins

    sys.path.insert(0, str(FIXTURES))
    try:
        import toy_plugin
    finally:
        sys.path.remove(str(FIXTURES))
    return load_plugins(FAULT_PLUGINS, entry_points=False, extra=[toy_plugin])


@pytest.fixture(scope="session")
def uninterrupted(tmp_path_factory, fault_plugin_set):
    """(recipe, run folder) of the derived toy recipe (8 steps, a checkpoint after each) run to
    the end in this process: the reference of every resume, and a run folder to tamper with."""
    from gan_adapt.engine.launch import start

    folder = tmp_path_factory.mktemp("reference")
    recipe = derived_recipe(folder / "recipe", **EVERY_STEP)
    start(recipe, fault_plugin_set, out=folder / "run", progress_live=False)
    return recipe, folder / "run"


def derived_recipe(folder: Path, *, extra_losses: list[dict[str, Any]] = (),
                   extra_search: list[dict[str, Any]] = (), **sections: dict[str, Any]) -> Path:
    """The toy recipe with extra terms and section values, written to ``folder/recipe.toml``.

    Its target is the toy target by absolute path, so the recipe can live anywhere.
    """
    import tomli_w

    from gan_adapt.recipe.schema import deep_merge, read_toml

    data = read_toml(TOY_RECIPE)
    data["target"] = {"image": str(TOY_RECIPE.parent / "orange.png")}
    data["adapt"]["losses"] = data["adapt"]["losses"] + list(extra_losses)
    data["search"]["objective"] = data["search"]["objective"] + list(extra_search)
    data = deep_merge(data, sections)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "recipe.toml"
    path.write_text(tomli_w.dumps(data))
    return path


def run_meta(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "run.json").read_text())


def checkpoint_steps(folder: Path) -> list[int]:
    return [int(p.stem.split("-")[1]) for p in sorted((folder / "checkpoints").glob("step-*.pt"))]


def load_checkpoint(folder: Path, step: int) -> dict[str, Any]:
    return torch.load(folder / "checkpoints" / f"step-{step:06d}.pt", weights_only=True)


def all_finite(state: dict[str, torch.Tensor]) -> bool:
    return all(bool(torch.isfinite(t).all()) for t in state.values() if t.is_floating_point())


def final_generator(folder: Path) -> dict[str, torch.Tensor]:
    return torch.load(folder / "generator" / "state_dict.pt", weights_only=True)


def log_records(folder: Path) -> list[dict[str, Any]]:
    """The records of log.jsonl (both phases) without their wall-clock time."""
    records = [json.loads(line) for line in (folder / "log.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k != "time"} for r in records]


def run_cli_subprocess(*args: str, env: dict[str, str] | None = None,
                       timeout: float = 300) -> subprocess.CompletedProcess:
    """``gan-adapt ARGS`` in a fresh process (for SIGKILL); entry-point plugins off."""
    full_env = {**os.environ, "GAN_ADAPT_LOAD_PLUGINS": "", **(env or {})}
    return subprocess.run([sys.executable, "-m", "gan_adapt.cli", *map(str, args)],
                          capture_output=True, text=True, env=full_env, cwd=ROOT, timeout=timeout)
