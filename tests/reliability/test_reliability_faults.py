"""Faults during a run: a NaN loss, weights that overflow, a component that raises, a full disk,
and SIGKILL at random moments. Each stops with a clear message naming the step and the culprit,
keeps the last good checkpoint, and (where the cause is gone) resumes to the exact result of an
uninterrupted run."""

from __future__ import annotations

import errno
import os
import random
import signal

import pytest
import torch

from gan_adapt.engine.launch import start
from gan_adapt.io import atomic_files as files

from .conftest import (
    EVERY_STEP,
    FAULT_PLUGINS,
    FIXTURES,
    all_finite,
    assert_refused,
    checkpoint_steps,
    derived_recipe,
    final_generator,
    load_checkpoint,
    log_records,
    run_cli_subprocess,
    run_meta,
    toy_run_args,
)


def _fault(mode: str, at: int, name: str = "fault") -> dict:
    return {"name": name, "params": {"mode": mode, "at": at}}


# ---------------------------------------------------------------------------------------------
# Divergence


def test_nan_loss_stops_with_step_and_term_and_keeps_the_checkpoint(cli, tmp_path):
    recipe = derived_recipe(tmp_path, extra_losses=[_fault("nan", at=3)], **EVERY_STEP)
    out = tmp_path / "run"
    result = cli(*toy_run_args(out, recipe))
    assert_refused(result, "adapt step 3: the loss became non-finite (term(s): fault)",
                   "keeps its last complete checkpoint, checkpoints/step-000003.pt",
                   "start a new run")
    meta = run_meta(out)
    assert meta["status"] == "failed" and "adapt step 3" in meta["error"]
    assert meta["failed_at"] == {"phase": "adapt", "step": 3}
    assert checkpoint_steps(out) == [2, 3]  # keep_checkpoints = 2; step 4 was never written
    assert all_finite(load_checkpoint(out, 3)["G_t"])
    assert not (out / "generator").exists()


def test_overflowing_gradient_is_caught_in_the_weights_before_the_checkpoint(cli, tmp_path):
    """Every loss value stays finite (sqrt(0) = 0) but the gradient is NaN: the weight check
    at checkpoint time stops the run and refuses to write the poisoned checkpoint."""
    recipe = derived_recipe(tmp_path, extra_losses=[_fault("overflow", at=4)], **EVERY_STEP)
    out = tmp_path / "run"
    result = cli(*toy_run_args(out, recipe))
    assert_refused(result, "adapt step 4: the weights became non-finite (G_t.",
                   "every loss value stayed finite", "Terms applied in those steps:", "fault",
                   "This checkpoint was not written", "checkpoints/step-000004.pt")
    assert run_meta(out)["status"] == "failed"
    assert checkpoint_steps(out) == [3, 4]
    last_good = load_checkpoint(out, 4)
    assert all_finite(last_good["G_t"]) and all_finite(last_good["G_ema"])


def test_nan_in_the_search_phase_names_the_search_term(cli, tmp_path):
    fault = {"name": "fault", "params": {"mode": "nan", "at": 1, "phase": "search"}}
    recipe = derived_recipe(tmp_path, extra_search=[fault])
    out = tmp_path / "run"
    result = cli(*toy_run_args(out, recipe))
    assert_refused(result, "search step 1: the loss became non-finite (term(s): fault)",
                   "has no checkpoint yet")
    assert run_meta(out)["status"] == "failed"


# ---------------------------------------------------------------------------------------------
# A component that raises in the middle of a run


def test_component_raising_mid_run_is_named_and_the_run_folder_kept(cli, tmp_path):
    recipe = derived_recipe(tmp_path, extra_losses=[_fault("raise", at=2)], **EVERY_STEP)
    out = tmp_path / "run"
    result = cli(*toy_run_args(out, recipe))
    assert_refused(result, "adapt.losses[4], loss 'fault' from plugin 'fault_plugin', at adapt "
                   "step 2 failed: RuntimeError: injected failure",
                   "GAN_ADAPT_DEBUG=1", "keeps its last complete checkpoint, "
                   "checkpoints/step-000002.pt", f"gan-adapt run --resume {out}")
    assert result.code == 1
    meta = run_meta(out)
    assert meta["status"] == "failed" and "injected failure" in meta["error"]
    assert meta["last_checkpoint"] == "checkpoints/step-000002.pt"
    assert all_finite(load_checkpoint(out, 2)["G_t"])

    # The CLI keeps working with the same plugins; a run that does not use the broken term runs.
    listed = cli("components", "loss", "--plugins-dir", FIXTURES, "--plugins-dir", FAULT_PLUGINS)
    assert listed.code == 0 and "keep_content" in listed.out and "fault" in listed.out
    healthy = cli(*toy_run_args(tmp_path / "healthy"), "--set", "adapt.steps=1",
                  "--set", "search.steps=1")
    assert healthy.code == 0, healthy.err


def test_discriminator_loss_raising_is_named(cli, tmp_path):
    recipe = derived_recipe(tmp_path, extra_losses=[_fault("raise", 1, "faulty_adversarial")],
                            **EVERY_STEP)
    result = cli(*toy_run_args(tmp_path / "run", recipe))
    assert_refused(result, "adapt.losses[4] (its discriminator loss), loss 'faulty_adversarial' "
                   "from plugin 'fault_plugin', at adapt step 1 failed: ValueError")


def test_debug_env_shows_the_component_traceback(cli, tmp_path, monkeypatch):
    recipe = derived_recipe(tmp_path, extra_losses=[_fault("raise", at=0)])
    monkeypatch.setenv("GAN_ADAPT_DEBUG", "1")
    result = cli(*toy_run_args(tmp_path / "run", recipe))
    assert result.code == 1
    assert "Traceback" in result.err and "fault_plugin.py" in result.err


# ---------------------------------------------------------------------------------------------
# Disk full while a checkpoint is written


def test_disk_full_during_a_checkpoint_keeps_the_previous_one(uninterrupted, fault_plugin_set,
                                                              tmp_path, monkeypatch):
    recipe, reference = uninterrupted
    real_fsync = os.fsync

    def fsync_without_space(fd: int) -> None:
        # The checkpoint's bytes are in the temporary file; the disk refuses to keep them.
        if ".step-000005.pt." in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    monkeypatch.setattr(files.os, "fsync", fsync_without_space)
    out = tmp_path / "run"
    with pytest.raises(files.WriteError) as info:
        start(recipe, fault_plugin_set, out=out, progress_live=False)
    message = str(info.value)
    assert "step-000005.pt" in message and "No space left on device" in message
    assert "checkpoints/step-000004.pt" in "".join(info.value.__notes__)
    assert run_meta(out)["status"] == "failed"
    assert checkpoint_steps(out) == [3, 4]
    assert all_finite(load_checkpoint(out, 4)["G_t"])
    assert not list(out.rglob("*.tmp")), "a half-written file was left behind"

    monkeypatch.setattr(files.os, "fsync", real_fsync)  # space freed: resume
    result = start(None, fault_plugin_set, resume=out, progress_live=False)
    assert result.status == "done"
    expected, got = final_generator(reference), final_generator(out)
    assert all(torch.equal(expected[k], got[k]) for k in expected)
    assert log_records(out) == log_records(reference)


def test_log_write_failure_is_a_clean_error(uninterrupted, fault_plugin_set, tmp_path,
                                            monkeypatch):
    from gan_adapt.engine.run_folder import RunFolder

    def no_space(self, record):
        raise files.WriteError(self.log, OSError(errno.ENOSPC, "No space left on device"))

    monkeypatch.setattr(RunFolder, "append_log", no_space)
    with pytest.raises(files.WriteError, match="log.jsonl: No space left on device"):
        start(uninterrupted[0], fault_plugin_set, out=tmp_path / "run", progress_live=False)
    assert run_meta(tmp_path / "run")["status"] == "failed"


# ---------------------------------------------------------------------------------------------
# SIGKILL at random moments


#: Kill points of the chained test, drawn from a seeded generator: each process of the chain is
#: killed a random 0-80 ms after a random step, i.e. anywhere inside the next step, a sample
#: grid or a checkpoint write. The first kill always lands in the latent search.
KILL_SEED = int(os.environ.get("GAN_ADAPT_KILL_SEED", "9"))  # other seeds: a longer soak
KILLS = 3


def test_sigkill_at_random_moments_then_resume_equals_an_uninterrupted_run(uninterrupted,
                                                                          tmp_path):
    """The reference ran in this process; the same code on the same machine gives the same
    bits in a fresh process (the suite's other resume tests compare process against process)."""
    recipe, reference = uninterrupted
    rng = random.Random(KILL_SEED)
    out = tmp_path / "killed"
    survived = 0
    kill_at = f"search:{rng.randrange(1, 4)}"
    command = toy_run_args(out, recipe)
    for _ in range(KILLS):
        delay = f"{rng.uniform(0.0, 0.08):.3f}"
        killed = run_cli_subprocess(*command, env={"FAULT_KILL_AT": kill_at,
                                                  "FAULT_KILL_DELAY": delay})
        assert killed.returncode == -signal.SIGKILL, (kill_at, delay, killed.stderr)
        survived += 1
        # Whatever the moment: every checkpoint on disk is complete and loads.
        for step in checkpoint_steps(out):
            assert all_finite(load_checkpoint(out, step)["G_t"])
        assert run_meta(out)["status"] in ("running", "created")
        last = max(checkpoint_steps(out), default=0)
        kill_at = f"adapt:{min(rng.randrange(last, last + 3), 7)}"  # before the last step ends
        command = ["run", "--resume", out, "--plugins-dir", FIXTURES,
                   "--plugins-dir", FAULT_PLUGINS]

    finished = run_cli_subprocess(*command)
    assert finished.returncode == 0, finished.stderr
    assert survived == KILLS
    expected, got = final_generator(reference), final_generator(out)
    assert all(torch.equal(expected[k], got[k]) for k in expected), "resumed run differs"
    assert log_records(out) == log_records(reference)  # every step logged once, same values
    assert not list(out.rglob("*.tmp"))
    assert (out / "search" / "target_vs_reference.png").is_file()
