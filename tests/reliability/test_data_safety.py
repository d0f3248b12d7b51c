"""Data safety: a resume continues only the run a folder really holds, one process at a time;
checkpoint rotation touches only the files it wrote; `convert` and `sweep --out` never overwrite
what they did not write."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import tomli_w
import torch

from gan_adapt.engine.run_folder import RunFolder

from .conftest import (
    EVERY_STEP,
    FAULT_PLUGINS,
    FIXTURES,
    ROOT,
    TOY_RECIPE,
    assert_refused,
    derived_recipe,
    run_meta,
)

PLUGIN_ARGS = ("--plugins-dir", FIXTURES, "--plugins-dir", FAULT_PLUGINS)


# ---------------------------------------------------------------------------------------------
# A finished toy run whose target lives in a temporary folder (so a test can change it)


@pytest.fixture(scope="module")
def own_target_run(tmp_path_factory, fault_plugin_set):
    """(folder of the target image, finished run folder) of the toy recipe, 8 steps, a
    checkpoint after each step, its target a private copy of the toy target."""
    from gan_adapt.engine.launch import start

    base = tmp_path_factory.mktemp("own-target")
    target = base / "target.png"
    shutil.copyfile(TOY_RECIPE.parent / "orange.png", target)
    recipe = derived_recipe(base / "recipe", output={**EVERY_STEP["output"],
                                                     "keep_checkpoints": 8})
    data = tomllib.loads(recipe.read_text())
    data["target"] = {"image": str(target)}
    recipe.write_text(tomli_w.dumps(data))
    start(recipe, fault_plugin_set, out=base / "run", progress_live=False)
    return target, base / "run"


def _resumable(run: Path, tmp_path: Path, keep_steps: int = 8) -> Path:
    """A copy of a finished run, marked interrupted, with checkpoints up to ``keep_steps``."""
    folder = tmp_path / "copy"
    shutil.copytree(run, folder)
    for path in (folder / "checkpoints").glob("step-*.pt"):
        if int(path.stem.split("-")[1]) > keep_steps:
            path.unlink()
    meta = run_meta(folder)
    (folder / "run.json").write_text(json.dumps({**meta, "status": "interrupted"}))
    return folder


def _edit_recipe(folder: Path, section: str, key: str, value) -> None:
    recipe = tomllib.loads((folder / "recipe.toml").read_text())
    recipe.setdefault(section, {})[key] = value
    (folder / "recipe.toml").write_text(tomli_w.dumps(recipe))


def test_identity_is_recorded_in_run_json_and_every_checkpoint(own_target_run):
    _, run = own_target_run
    identity = run_meta(run)["identity"]
    assert set(identity) >= {"recipe", "results", "sections", "target"}
    for path in sorted((run / "checkpoints").glob("step-*.pt")):
        assert torch.load(path, weights_only=True)["identity"] == identity
    assert torch.load(run / "search" / "w_ref.pt", weights_only=True)["identity"] == identity


@pytest.mark.parametrize("section,key,value,named", [
    ("adapt", "steps", 9, "adapt"),
    ("search", "lr", 0.5, "search"),
    (None, "seed", 4, "seed"),
])
def test_resume_refuses_an_edited_recipe(section, key, value, named, own_target_run, cli,
                                         tmp_path):
    folder = _resumable(own_target_run[1], tmp_path, keep_steps=4)
    if section is None:
        recipe = tomllib.loads((folder / "recipe.toml").read_text())
        recipe[key] = value
        (folder / "recipe.toml").write_text(tomli_w.dumps(recipe))
    else:
        _edit_recipe(folder, section, key, value)
    before = sorted(p.name for p in (folder / "checkpoints").iterdir())
    result = cli("run", "--resume", folder, *PLUGIN_ARGS)
    assert_refused(result, "is not the run it was started as", named)
    assert run_meta(folder)["status"] == "interrupted"
    assert sorted(p.name for p in (folder / "checkpoints").iterdir()) == before


def test_resume_refuses_a_changed_target(own_target_run, cli, tmp_path):
    target, run = own_target_run
    folder = _resumable(run, tmp_path, keep_steps=4)
    original = target.read_bytes()
    try:
        from PIL import Image

        Image.new("RGB", (32, 32), (0, 0, 255)).save(target)
        result = cli("run", "--resume", folder, *PLUGIN_ARGS)
    finally:
        target.write_bytes(original)
    assert_refused(result, "is not the run it was started as", "the target")
    assert run_meta(folder)["status"] == "interrupted"


def test_output_only_edit_needs_the_explicit_override(own_target_run, cli, tmp_path):
    folder = _resumable(own_target_run[1], tmp_path, keep_steps=6)
    _edit_recipe(folder, "output", "keep_checkpoints", 1)
    refused = cli("run", "--resume", folder, *PLUGIN_ARGS)
    assert_refused(refused, "[output]", "--allow-output-changes")
    done = cli("run", "--resume", folder, "--allow-output-changes", *PLUGIN_ARGS)
    assert done.code == 0, done.err
    meta = run_meta(folder)
    assert meta["status"] == "done"
    assert meta["identity"]["recipe"] != run_meta(own_target_run[1])["identity"]["recipe"]
    # The weights are those of the uninterrupted run: [output] cannot change them.
    ours = torch.load(folder / "generator" / "state_dict.pt", weights_only=True)
    reference = torch.load(own_target_run[1] / "generator" / "state_dict.pt", weights_only=True)
    assert all(torch.equal(ours[k], reference[k]) for k in reference)


@pytest.mark.parametrize("tamper", ["another run's identity", "no identity"])
def test_resume_refuses_a_checkpoint_of_another_run(tamper, own_target_run, cli, tmp_path):
    folder = _resumable(own_target_run[1], tmp_path, keep_steps=6)
    path = folder / "checkpoints" / "step-000006.pt"
    checkpoint = torch.load(path, weights_only=True)
    if tamper == "no identity":
        del checkpoint["identity"]
    else:
        checkpoint["identity"] = {**checkpoint["identity"], "results": "0" * 64,
                                  "recipe": "0" * 64}
    torch.save(checkpoint, path)
    result = cli("run", "--resume", folder, *PLUGIN_ARGS)
    assert_refused(result, str(path))
    assert run_meta(folder)["status"] != "done"


def test_a_folder_from_before_identities_still_resumes(own_target_run, cli, tmp_path):
    folder = _resumable(own_target_run[1], tmp_path, keep_steps=6)
    meta = run_meta(folder)
    del meta["identity"]
    (folder / "run.json").write_text(json.dumps(meta))
    result = cli("run", "--resume", folder, *PLUGIN_ARGS)
    assert result.code == 0, result.err
    assert run_meta(folder)["status"] == "done"


# ---------------------------------------------------------------------------------------------
# One process per run folder


_HOLD_LOCK = """
import sys
from gan_adapt.engine.run_folder import RunFolder
folder = RunFolder(sys.argv[1])
folder.lock()
print("locked", flush=True)
sys.stdin.read()
"""


def test_a_second_resume_of_a_busy_folder_is_refused(own_target_run, cli, tmp_path):
    folder = _resumable(own_target_run[1], tmp_path, keep_steps=4)
    partial = folder / "checkpoints" / ".step-000005.pt.abc.tmp"  # what the other is writing
    partial.write_bytes(b"half")
    holder = subprocess.Popen([sys.executable, "-c", _HOLD_LOCK, str(folder)], cwd=ROOT,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        result = cli("run", "--resume", folder, *PLUGIN_ARGS)
        assert_refused(result, "in use by another gan-adapt run", f"process {holder.pid}")
        assert partial.exists(), "the refused resume cleaned the running process's files"
        assert run_meta(folder)["status"] == "interrupted"
    finally:
        holder.communicate("", timeout=30)
    # Once the other process has ended, the lock is free again.
    result = cli("run", "--resume", folder, *PLUGIN_ARGS)
    assert result.code == 0, result.err


def test_the_lock_is_released_when_a_run_ends(tmp_path):
    folder = RunFolder(tmp_path / "run")
    folder.root.mkdir()
    folder.lock()
    other = RunFolder(folder.root)
    with pytest.raises(Exception, match="in use by another gan-adapt run"):
        other.lock()
    folder.unlock()
    other.lock()
    other.unlock()


# ---------------------------------------------------------------------------------------------
# Checkpoint rotation and resume look only at the files they wrote


def _touch_checkpoint(folder: RunFolder, name: str, step: int = 0) -> Path:
    path = folder.checkpoints / name
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"step": step}, path)
    return path


def test_checkpoints_sort_by_step_beyond_a_million(tmp_path):
    folder = RunFolder(tmp_path)
    for step in (999_999, 1_000_000, 12, 10_000_000):
        _touch_checkpoint(folder, folder.checkpoint_path(step).name, step)
    assert [p.name for p in folder.list_checkpoints()] == [
        "step-000012.pt", "step-999999.pt", "step-1000000.pt", "step-10000000.pt"]


USER_FILES = ["step-000013 (copy).pt", "step-final.pt", "step-13.pt", "step-000013.pt.bak",
              "Step-000001.pt", "step-000002.pt~", "notes.txt", "step-.pt", "step-00000x.pt"]


def test_rotation_deletes_only_the_checkpoints_it_wrote(tmp_path):
    folder = RunFolder(tmp_path)
    users = [_touch_checkpoint(folder, name) for name in USER_FILES]
    for step in (1, 2, 3, 999_999):
        _touch_checkpoint(folder, folder.checkpoint_path(step).name, step)
    folder.save_checkpoint({"step": 1_000_000}, 1_000_000, keep=2)
    assert [p.name for p in folder.list_checkpoints()] == ["step-999999.pt", "step-1000000.pt"]
    assert all(p.exists() for p in users)


def test_resume_ignores_and_keeps_the_users_files(own_target_run, cli, tmp_path):
    folder = _resumable(own_target_run[1], tmp_path, keep_steps=6)
    checkpoints = folder / "checkpoints"
    shutil.copyfile(checkpoints / "step-000006.pt", checkpoints / "step-000013 (copy).pt")
    (checkpoints / "step-final.pt").write_bytes(b"not a checkpoint")
    (folder / "samples" / "step-final.png").write_bytes(b"not a png")
    result = cli("run", "--resume", folder, *PLUGIN_ARGS)
    assert result.code == 0, result.err
    assert (checkpoints / "step-000013 (copy).pt").exists()
    assert (checkpoints / "step-final.pt").read_bytes() == b"not a checkpoint"
    assert json.loads((folder / "result.json").read_text())["outputs"]["samples"] == \
        "samples/step-000008.png"


# ---------------------------------------------------------------------------------------------
# `convert` never overwrites silently

ROS_CKPT = ROOT / "tests" / "data" / "generators" / "ros64_rosinality_ckpt.pt"


def test_convert_onto_its_source_is_refused(tmp_path, cli):
    source = tmp_path / "ckpt.pt"
    shutil.copyfile(ROS_CKPT, source)
    before = source.read_bytes()
    for dst in (source, tmp_path / "." / "ckpt.pt"):
        result = cli("convert", source, dst)
        assert_refused(result, "is the source checkpoint itself", "--force")
    assert source.read_bytes() == before
    native = tmp_path / "native"
    assert cli("convert", source, native).code == 0
    config = (native / "config.json").read_bytes()
    for dst in (native, native / "model.safetensors"):
        result = cli("convert", native, dst, "--to", "native")
        assert_refused(result, "is the source checkpoint itself")
    assert (native / "config.json").read_bytes() == config


def test_convert_onto_an_existing_file_needs_force(tmp_path, cli):
    existing = tmp_path / "out.pt"
    existing.write_bytes(b"the user's file")
    result = cli("convert", ROS_CKPT, existing)
    assert_refused(result, "already exists", "--force")
    assert existing.read_bytes() == b"the user's file"
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    assert_refused(cli("convert", ROS_CKPT, folder), "already exists")
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt"]
    forced = cli("convert", ROS_CKPT, existing, "--force")
    assert forced.code == 0, forced.err
    assert existing.read_bytes() != b"the user's file"


# ---------------------------------------------------------------------------------------------
# `sweep --out` refuses a folder that is not this sweep's


def _sweep_file(tmp_path: Path, name: str = "s", seeds: str = "[0]") -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(f'name = "{name}"\nbase = "{TOY_RECIPE}"\nseeds = {seeds}\n'
                    "[eval]\nenabled = false\n")
    return path


@pytest.mark.parametrize("occupant", ["other files", "another sweep", "damaged sweep.json"])
def test_sweep_out_refuses_a_folder_that_is_not_this_sweeps(occupant, tmp_path, cli):
    out = tmp_path / "out"
    out.mkdir()
    if occupant == "other files":
        (out / "results.csv").write_text("mine")
        (out / "sweep.toml").write_text("mine")
    elif occupant == "another sweep":
        other = {"name": "s", "base": str(TOY_RECIPE), "runs": [{"id": "000-other"}]}
        (out / "sweep.json").write_text(json.dumps(other))
        (out / "results.csv").write_text("mine")
    else:
        (out / "sweep.json").write_text("{not json")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    result = cli("sweep", _sweep_file(tmp_path), "--out", out)
    assert_refused(result, str(out))
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_sweep_out_on_a_file_is_refused(tmp_path, cli):
    out = tmp_path / "out"
    out.write_text("mine")
    assert_refused(cli("sweep", _sweep_file(tmp_path), "--out", out), "is a file")
    assert out.read_text() == "mine"


def test_sweep_out_accepts_its_own_folder(tmp_path):
    from gan_adapt.sweep.runner import claim_folder

    out = tmp_path / "out"
    plan = {"name": "s", "base": str(TOY_RECIPE), "runs": [{"id": "000-run-abc"}]}
    claim_folder(out, plan)  # new
    (out / "sweep.json").write_text(json.dumps(plan))
    (out / "results.csv").write_text("rows")
    claim_folder(out, plan)  # the same sweep again: it resumes
    with pytest.raises(Exception, match="holds a different sweep"):
        claim_folder(out, {**plan, "runs": [{"id": "000-run-def"}]})


def test_trackers_see_only_the_sample_grids_the_run_wrote(tmp_path):
    from gan_adapt.tracking.run_images import NewImages

    (tmp_path / "samples").mkdir()
    for name in ("step-000004.png", "step-final.png", "step-1000000.png", "step-999999.png",
                 "step-000013 (copy).png"):
        (tmp_path / "samples" / name).write_bytes(b"")
    images = [(i.step, i.path.name) for i in NewImages(tmp_path)() if i.step]
    assert images == [(4, "step-000004.png"), (999_999, "step-999999.png"),
                      (1_000_000, "step-1000000.png")]
