"""``[adapt] train_noise = false`` keeps the source generator's noise strengths (issue 28: the
demo's rainbow speckle was the fixed noise maps, painted in by trained noise strengths)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import gan_adapt

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("train_noise", [True, False])
def test_noise_strengths_train_only_when_asked(tmp_path, train_noise):
    result = gan_adapt.run(ROOT / "recipes" / "smoke.toml", out=tmp_path / "run", progress=False,
                           overrides={"search.steps": 1, "adapt.steps": 4,
                                      "adapt.train_noise": train_noise,
                                      "adapt.generator_optimizer.lr": 0.05})
    run = gan_adapt.load_run(result.folder)
    source = dict(run.source.named_parameters())
    adapted = dict(run.adapted.named_parameters())
    noise = [name for name in source if name.endswith("noise_strength")]
    assert noise
    changed = [n for n in noise if not torch.equal(source[n], adapted[n])]
    others = [n for n in source if n not in noise and not torch.equal(source[n], adapted[n])]
    assert others  # the rest of the generator trains either way
    assert bool(changed) == train_noise
