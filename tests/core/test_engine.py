"""End-to-end runs of the engine through the CLI on the toy fixture plugin."""

from __future__ import annotations

import json

import pytest
import torch

from .helpers import FIXTURES, TOY_RECIPE, assert_clean_error, run_cli


def run_toy(out, *extra, env=None):
    return run_cli("run", str(TOY_RECIPE), "--plugins-dir", str(FIXTURES), "--out", str(out),
                   *extra, env=env)


def final_generator(folder) -> dict[str, torch.Tensor]:
    return torch.load(folder / "generator" / "state_dict.pt", weights_only=True)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "full"
    result = run_toy(out)
    assert result.returncode == 0, result.stderr
    return out


def test_run_folder_holds_every_output(uninterrupted):
    out = uninterrupted
    for name in ["recipe.toml", "run.json", "plugins.json", "environment.json", "log.jsonl",
                 "metrics.json", "result.json", "loss_curves.png", "search/w_ref.pt",
                 "search/target_vs_reference.png", "samples/step-000000.png",
                 "samples/step-000008.png", "generator/state_dict.pt", "generator/w_ref.pt"]:
        assert (out / name).is_file(), name
    assert json.loads((out / "run.json").read_text())["status"] == "done"
    assert "toy_plugin" in json.loads((out / "plugins.json").read_text())["plugins"]
    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    adapt = [r for r in records if r["phase"] == "adapt"]
    assert [r["step"] for r in adapt] == list(range(8))
    assert [r["kind"] for r in adapt][:5] == ["reference", "random", "random", "random",
                                              "reference"]
    assert "mse" in adapt[0] and "mean_colour" not in adapt[0]  # schedules honoured
    assert "mean_colour" in adapt[1] and "D/adversarial" in adapt[1]
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) >= {"mse", "adversarial", "mean_colour", "keep_content", "total"}
    # only the two newest checkpoints are kept
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step-000006.pt",
                                                                       "step-000008.pt"]


def test_frozen_groups_do_not_change(uninterrupted):
    import sys

    sys.path.insert(0, str(FIXTURES))
    try:
        from toy_plugin import ToyGenerator
    finally:
        sys.path.remove(str(FIXTURES))
    source = ToyGenerator(ToyGenerator.Params()).state_dict()
    adapted = final_generator(uninterrupted)
    for name in ["mapping_net.weight", "torgb.weight", "torgb.bias"]:
        assert torch.equal(source[name], adapted[name]), name
    assert not torch.equal(source["conv8.weight"], adapted["conv8.weight"])


def test_same_seed_same_result(uninterrupted, tmp_path):
    again = tmp_path / "again"
    assert run_toy(again).returncode == 0
    a, b = final_generator(uninterrupted), final_generator(again)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_interrupt_then_resume_equals_uninterrupted(uninterrupted, tmp_path):
    out = tmp_path / "interrupted"
    # The toy plugin sends SIGINT to the process after adapt step 4 (0-based).
    first = run_toy(out, env={"TOY_INTERRUPT_AT": "4"})
    assert first.returncode == 130, first.stderr
    assert "gan-adapt run --resume" in first.stderr and "Traceback" not in first.stderr
    assert json.loads((out / "run.json").read_text())["status"] == "interrupted"
    assert (out / "checkpoints" / "step-000005.pt").is_file()
    assert not (out / "generator").exists()  # no final output from an unfinished run

    second = run_cli("run", "--resume", str(out), "--plugins-dir", str(FIXTURES))
    assert second.returncode == 0, second.stderr
    a, b = final_generator(uninterrupted), final_generator(out)
    assert all(torch.equal(a[k], b[k]) for k in a), "resumed run differs"
    steps = [json.loads(line)["step"] for line in (out / "log.jsonl").read_text().splitlines()
             if json.loads(line)["phase"] == "adapt"]
    assert steps == list(range(8))  # no step logged twice
    finished = run_cli("run", "--resume", str(out), "--plugins-dir", str(FIXTURES))
    assert_clean_error(finished)
    assert "already finished" in finished.stderr


def test_target_override_and_bad_inputs_leave_nothing(tmp_path):
    missing = tmp_path / "missing.png"
    out = tmp_path / "never"
    result = run_toy(out, "--target", str(missing))
    assert_clean_error(result)
    assert "missing.png" in result.stderr
    assert not out.exists()

    not_image = tmp_path / "notes.png"
    not_image.write_text("hello")
    result = run_toy(out, "--target", str(not_image))
    assert_clean_error(result)
    assert "not an image" in result.stderr and not out.exists()

    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "keep.txt").write_text("mine")
    result = run_toy(occupied)
    assert_clean_error(result)
    assert "not empty" in result.stderr and (occupied / "keep.txt").read_text() == "mine"


def test_set_overrides_reach_the_run(tmp_path):
    out = tmp_path / "short"
    result = run_toy(out, "--set", "adapt.steps=3", "--set", "search.steps=2")
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert max(r["step"] for r in records if r["phase"] == "adapt") == 2
    assert "steps = 3" in (out / "recipe.toml").read_text()
    bad = run_toy(tmp_path / "bad", "--set", "adapt.steps=many")
    assert_clean_error(bad, code=2)
    assert "adapt.steps" in bad.stderr and not (tmp_path / "bad").exists()
