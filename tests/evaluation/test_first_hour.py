"""Snags of a newcomer's first hour (issue 28): eval on a run that is still going, tables in a
pipe, and eval's reference values."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from gan_adapt.cli.commands import main
from gan_adapt.engine.run_folder import RunFolder


def _copy_as(smoke_run: Path, tmp_path: Path, status: str) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(smoke_run, copy)
    meta = json.loads((copy / "run.json").read_text())
    (copy / "run.json").write_text(json.dumps({**meta, "status": status}))
    (copy / "result.json").unlink()
    return copy


def _eval(capsys, *args: str) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(["eval", *args])
    return exit_info.value.code, capsys.readouterr().err


def test_eval_of_a_run_still_going_says_so_at_once(smoke_run, tmp_path, capsys):
    copy = _copy_as(smoke_run, tmp_path, "running")
    holder = RunFolder(copy)
    holder.lock()  # what the running process holds
    try:
        code, err = _eval(capsys, str(copy))
    finally:
        holder.unlock()
    assert code != 0
    assert "is still running" in err and "--resume" not in err
    assert "adapt step 8 logged" in err


def test_eval_refuses_an_unfinished_run_before_importing_torch(smoke_run, tmp_path):
    """The refusal comes before torch is imported (most of a minute on a busy machine)."""
    import os
    import subprocess
    import sys

    copy = _copy_as(smoke_run, tmp_path, "running")
    code = ("import sys\nfrom gan_adapt.cli import main\ntry:\n    main(['eval', sys.argv[1]])\n"
            "except SystemExit as exc:\n    print('exit', exc.code, 'torch' in sys.modules)\n")
    holder = RunFolder(copy)
    holder.lock()
    try:
        out = subprocess.run([sys.executable, "-c", code, str(copy)], capture_output=True,
                             text=True, env={**os.environ}, timeout=300)
    finally:
        holder.unlock()
    assert "is still running" in out.stderr, out.stderr
    assert out.stdout.split()[-3:] == ["exit", "1", "False"], out.stdout


def test_eval_of_a_stopped_run_names_the_resume(smoke_run, tmp_path, capsys):
    copy = _copy_as(smoke_run, tmp_path, "interrupted")
    code, err = _eval(capsys, str(copy))
    assert code != 0
    assert f"gan-adapt run --resume {copy}" in err and "still running" not in err


def test_tables_in_a_pipe_are_not_cut(capsys):
    """Printed to a pipe or a file, each row stays whole on one line (no 80-column cut)."""
    main(["components", "loss"])
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if "│ loss" in line]
    assert rows and any(len(line) > 120 for line in rows)
    assert any("patch_adversarial" in line for line in rows)


def test_the_demo_target_has_a_known_transform():
    from gan_adapt.synthetic_data.known_transforms import transform_of_target

    root = Path(__file__).resolve().parents[2] / "recipes" / "targets"
    assert transform_of_target(str(root / "portrait-sketch.png")) == "sketch"
    assert transform_of_target(str(root / "sketch.png")) is None  # not made by a transform
    assert transform_of_target(None) is None


def test_eval_prints_source_and_ideal_values(smoke_run, tmp_path):
    from click.testing import CliRunner

    from gan_adapt.cli.commands import cli

    out = tmp_path / "eval.json"
    result = CliRunner().invoke(cli, ["eval", str(smoke_run), "--n", "4", "--batch", "4",
                                      "--transform", "sketch", "--out", str(out)])
    assert result.exit_code == 0, result.output
    record = json.loads(out.read_text())
    metrics, ideal = record["metrics"], record["ideal"]["metrics"]
    assert record["ideal"]["transform"] == "sketch"
    assert ideal["fidelity_lpips"] == 0 and ideal["fidelity_l1"] == 0  # T(G_s) is the ideal
    assert metrics["fidelity_l1_source"] > 0
    header = next(line for line in result.output.splitlines() if "metric" in line)
    assert all(word in header for word in ("value", "source", "ideal", "meaning"))
    row = next(line for line in result.output.splitlines() if "│ diversity_lpips " in line)
    cells = [c.strip() for c in row.strip("│ ").split("│")]
    assert cells[1:4] == [f"{metrics['diversity_lpips']:.4f}",
                          f"{metrics['diversity_lpips_source']:.4f}",
                          f"{ideal['diversity_lpips']:.4f}"]
    assert "│ diversity_lpips_source" not in result.output  # shown in the source column
    content = next(line for line in result.output.splitlines() if "│ content_clip " in line)
    assert "1.0000" in content  # the source against itself
