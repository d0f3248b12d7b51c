"""Offline wherever the shipped models can serve (issue 28): one translate implementation for
the CLI and the API, ``--lpips`` on translate, and the shipped portraits-clip distance standing
in for a missing LPIPS download in runs without an lpips term."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

import gan_adapt
from gan_adapt.api import public as api

ROOT = Path(__file__).resolve().parents[2]
TINY = {"search.steps": 2, "adapt.steps": 2, "output.n_samples": 2, "output.sample_every": 2}
SKETCH = ROOT / "recipes" / "targets" / "sketch.png"


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> api.RunResult:
    return gan_adapt.run(ROOT / "recipes" / "smoke.toml", out=tmp_path_factory.mktemp("t") / "r",
                         overrides=TINY, progress=False)


@pytest.fixture
def no_downloads(tmp_path, monkeypatch):
    """An empty weights cache, downloads forbidden: what a fresh offline machine has."""
    monkeypatch.setenv("GAN_ADAPT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GAN_ADAPT_OFFLINE", "1")


def _cli(*args: str):
    from gan_adapt.cli.commands import cli

    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_cli_translate_is_run_translate(finished, tmp_path):
    """The command writes exactly the images ``Run.translate`` returns for the same options."""
    out = tmp_path / "sheet.png"
    result = _cli("translate", str(finished.folder), str(SKETCH), "--steps", "3",
                  "--lpips", "portraits-clip", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "portraits-clip" in result.output
    translation = gan_adapt.load_run(finished.folder).translate(SKETCH, steps=3,
                                                                lpips="portraits-clip")
    assert translation.distance["net"] == "portraits-clip"
    from gan_adapt.io.images import to_uint8

    expected = torch.cat([translation.image, translation.reconstruction,
                          translation.translated])
    written = np.asarray(Image.open(out).convert("RGB"))
    size = expected.shape[-1]
    for i, image in enumerate(expected):  # the sheet: one row, a 2-px border between images
        tile = written[2:2 + size, 2 + i * (size + 2):2 + i * (size + 2) + size]
        assert np.array_equal(tile, to_uint8(image).permute(1, 2, 0).numpy()), i


def test_translate_lpips_choices(finished):
    run = gan_adapt.load_run(finished.folder)
    assert run.translate(SKETCH, steps=1, lpips="none").distance["net"] == "none"
    recipe_term = run.translate(SKETCH, steps=1).distance  # the smoke recipe's lpips term
    assert recipe_term["from"].startswith("recipe ")
    with pytest.raises(gan_adapt.errors.GanAdaptError, match="--lpips 'nope'"):
        run.translate(SKETCH, steps=1, lpips="nope")


@pytest.mark.parametrize("recipe", ["oneshotclip-text-smoke.toml", "nada-smoke.toml",
                                    "cdc-10shot-smoke.toml"])
def test_runs_without_an_lpips_term_measure_with_the_shipped_distance_offline(recipe,
                                                                              no_downloads):
    from gan_adapt.evaluation.metric_models import build_lpips
    from gan_adapt.plugin_host.loading import load_plugins
    from gan_adapt.recipe.schema import read_and_validate as load

    validated = load(ROOT / "recipes" / recipe, load_plugins())
    with pytest.warns(UserWarning, match="portraits-clip"):
        built = build_lpips("recipe", validated, 32, torch.device("cpu"))
    assert built.info["net"] == "portraits-clip"
    assert built.info["from"].startswith("fallback: the recipe has no lpips term")


def test_a_missing_lpips_download_names_the_shipped_distance(no_downloads):
    from gan_adapt.errors import WeightsUnavailableError
    from gan_adapt.evaluation.metric_models import build_lpips

    with pytest.raises(WeightsUnavailableError) as caught:
        build_lpips("alex", None, 32, torch.device("cpu"))
    assert any("--lpips portraits-clip" in note for note in caught.value.__notes__)
