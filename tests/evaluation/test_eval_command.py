"""`gan-adapt eval` on a finished smoke run: numbers, eval.json, determinism, FID/KID, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from gan_adapt.errors import InputError, WeightsUnavailableError

N = 12


def run_eval(smoke_run: Path, *args: str):
    from gan_adapt.cli.commands import cli

    result = CliRunner().invoke(cli, ["eval", str(smoke_run), "--n", str(N), "--batch", "8",
                                      *args], catch_exceptions=True)
    return result


def test_eval_writes_every_metric_and_the_instruments(smoke_run, tmp_path):
    out = tmp_path / "eval.json"
    result = run_eval(smoke_run, "--out", str(out))
    assert result.exit_code == 0, result.output + repr(result.exception)
    for key in ("diversity_lpips", "content_lpips", "content_clip", "target_clip_image"):
        assert key in result.output
    record = json.loads(out.read_text())
    metrics = record["metrics"]
    assert set(metrics) >= {"diversity_lpips", "diversity_lpips_source", "content_lpips",
                            "content_clip", "target_clip_image"}
    assert metrics["diversity_lpips"] > 0
    assert -1 <= metrics["content_clip"] <= 1 + 1e-6
    assert record["settings"]["n"] == N and record["settings"]["seed"] == 0
    assert "ring" in record["settings"]["pairs"]
    # The run's own instruments by default: the smoke recipe's random LPIPS and tiny CLIP.
    assert record["instruments"]["lpips"]["from"] == "recipe adapt.losses[1]"
    assert record["instruments"]["lpips"]["pretrained"] is False
    assert record["instruments"]["clip"]["from"] == "recipe encoders.clip"
    assert "random" in record["instruments"]["clip"]["weights"]


def test_eval_is_deterministic_whatever_the_batch_and_depends_on_the_seed(smoke_run, plugin_set,
                                                                          tmp_path):
    from gan_adapt.evaluation.evaluate import EvalSettings, evaluate_run

    settings = EvalSettings(n=N, seed=0, batch=5)  # a batch size that does not divide n
    first = evaluate_run(smoke_run, plugin_set, settings, out=tmp_path / "a.json")
    second = evaluate_run(smoke_run, plugin_set, settings, out=tmp_path / "b.json")
    assert first["metrics"] == second["metrics"]
    assert json.loads((tmp_path / "a.json").read_text())["metrics"] == first["metrics"]
    # One batch of all samples: the same numbers up to float summation order.
    whole = evaluate_run(smoke_run, plugin_set, EvalSettings(n=N, seed=0, batch=N),
                         out=tmp_path / "c.json")
    for key, value in first["metrics"].items():
        assert whole["metrics"][key] == pytest.approx(value, rel=1e-4, abs=1e-6), key
    other = evaluate_run(smoke_run, plugin_set, EvalSettings(n=N, seed=1, batch=5),
                         out=tmp_path / "d.json")
    assert other["metrics"]["diversity_lpips"] != first["metrics"]["diversity_lpips"]


def test_fid_and_kid_with_encoder_features(smoke_run, plugin_set, tmp_path):
    """FD/KID of the adapted samples against real images: the pipeline, with CLIP features."""
    import torch

    from gan_adapt.evaluation.evaluate import EvalSettings, evaluate_run
    from gan_adapt.evaluation.runs import open_finished_run
    from gan_adapt.io.images import save_grid

    run = open_finished_run(smoke_run, plugin_set)
    z = torch.randn(10, run.source.z_dim, generator=torch.Generator().manual_seed(9))
    with torch.no_grad():
        real = run.source(z).clamp(-1, 1)
    folder = tmp_path / "real"
    for k, image in enumerate(real):
        save_grid(image[None], folder / f"{k:02d}.png", nrow=1)
    record = evaluate_run(smoke_run, plugin_set, EvalSettings(n=N, batch=8, kid_subsets=5),
                          target_dir=folder, fid_features="clip", out=tmp_path / "e.json")
    metrics = record["metrics"]
    assert metrics["n_real"] == 10
    assert metrics["fid"] >= 0 and "kid" in metrics and "kid_std" in metrics
    assert record["instruments"]["fid"]["features"] == "encoder"
    assert record["instruments"]["fid"]["real_count"] == 10


def test_fid_offline_names_the_inception_weights(smoke_run, tmp_path):
    folder = tmp_path / "real"
    folder.mkdir()
    (folder / "a.png").write_bytes((smoke_run / "samples" / "step-000008.png").read_bytes())
    result = run_eval(smoke_run, "--target-dir", str(folder), "--out", str(tmp_path / "x.json"))
    assert result.exit_code != 0
    assert isinstance(result.exception, WeightsUnavailableError)
    message = str(result.exception)
    assert "fid-inception-v3" in message and "weights-inception-2015-12-05" in message
    assert not (tmp_path / "x.json").exists()


def test_unfinished_run_is_a_clear_error(smoke_run, plugin_set, tmp_path):
    import shutil

    from gan_adapt.evaluation.evaluate import EvalSettings, evaluate_run

    copy = tmp_path / "unfinished"
    shutil.copytree(smoke_run, copy)
    meta = json.loads((copy / "run.json").read_text())
    (copy / "run.json").write_text(json.dumps({**meta, "status": "interrupted"}))
    with pytest.raises(InputError, match="no adapted generator yet"):
        evaluate_run(copy, plugin_set, EvalSettings(n=N))
    with pytest.raises(InputError, match="no such run folder"):
        evaluate_run(tmp_path / "nothing", plugin_set, EvalSettings(n=N))


def test_unknown_instrument_choices_are_user_errors(smoke_run):
    result = run_eval(smoke_run, "--lpips", "resnet")
    assert result.exit_code != 0 and "--lpips 'resnet'" in str(result.exception)
    result = run_eval(smoke_run, "--clip", "bigclip")
    assert result.exit_code != 0 and "--clip 'bigclip'" in str(result.exception)
