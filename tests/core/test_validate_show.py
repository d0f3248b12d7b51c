"""`validate --show` prints the resolved recipe (a recipe itself); `validate` warns about
settings that can never take effect."""

from __future__ import annotations

import tomllib

import pytest
import torch

from gan_adapt.recipe.schema import read_and_validate, validate
from gan_adapt.recipe.show import resolved_recipe
from gan_adapt.recipe.warnings import idle_setting_notes, ineffective_settings

from .helpers import FIXTURES, TOY_RECIPE, run_cli, toy_plugin_set


@pytest.fixture(scope="module")
def plugin_set():
    return toy_plugin_set()


def _dumps(validated) -> tuple[dict, dict]:
    """What runs: the resolved recipe and every component's validated params."""
    return (resolved_recipe(validated),
            {path: params.model_dump() for path, params in validated.params.items()})


def test_show_fills_every_default_and_round_trips(plugin_set, tmp_path):
    original = read_and_validate(TOY_RECIPE, plugin_set, overrides=["adapt.steps=12"])
    shown = resolved_recipe(original)
    assert shown["adapt"]["steps"] == 12  # --set applied
    assert shown["adapt"]["losses"][1]["params"] == {"r1_gamma": 10.0, "r1_every": 4,
                                                     "flip_real": False}
    assert shown["output"]["keep_checkpoints"] == 2 and shown["adapt"]["precision"]
    assert shown["target"]["image"] == str(FIXTURES / "recipes" / "orange.png")

    printed = run_cli("validate", "--show", str(TOY_RECIPE), "--set", "adapt.steps=12",
                      "--plugins-dir", str(FIXTURES))
    assert printed.returncode == 0, printed.stderr
    copy = tmp_path / "elsewhere" / "resolved.toml"  # another folder: paths must still resolve
    copy.parent.mkdir()
    copy.write_text(printed.stdout)
    again = validate(tomllib.loads(printed.stdout), plugin_set, base_dir=copy.parent)
    assert _dumps(again) == _dumps(original)


def test_the_printed_recipe_runs_the_same(plugin_set, tmp_path):
    """In-process runs (no interpreter start-up): the toy recipe and its resolved copy give
    bit-identical adapted generators."""
    from gan_adapt.engine.launch import start
    from gan_adapt.recipe.show import resolved_toml

    resolved = tmp_path / "copy" / "resolved.toml"
    resolved.parent.mkdir()
    resolved.write_text(resolved_toml(read_and_validate(TOY_RECIPE, plugin_set)))
    weights = []
    for recipe, out in [(TOY_RECIPE, tmp_path / "a"), (resolved, tmp_path / "b")]:
        result = start(str(recipe), plugin_set, out=str(out), progress_live=False)
        assert result.status == "done"
        weights.append(torch.load(out / "generator" / "state_dict.pt", weights_only=True))
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


def _warnings(plugin_set, *overrides: str) -> list[str]:
    validated = read_and_validate(TOY_RECIPE, plugin_set, overrides=list(overrides))
    return ineffective_settings(validated)


def test_a_clean_recipe_has_no_warnings(plugin_set):
    assert _warnings(plugin_set) == []


def _notes(plugin_set, *overrides: str) -> list[str]:
    return idle_setting_notes(read_and_validate(TOY_RECIPE, plugin_set, overrides=list(overrides)))


def test_r1_interval_that_never_meets_the_terms_steps_is_a_note(plugin_set):
    idle = ('adapt.losses[1].on=["random"]', "adapt.losses[1].params={ r1_every = 8 }")
    lines = _notes(plugin_set, *idle)
    assert len(lines) == 1 and _warnings(plugin_set, *idle) == []  # a note, not a warning
    assert "adapt.losses[1].params.r1_every = 8" in lines[0] and "['reference']" in lines[0]
    # r1_gamma = 0 says it on purpose; an interval meeting a random step is fine
    assert _notes(plugin_set, 'adapt.losses[1].on=["random"]',
                  "adapt.losses[1].params={ r1_every = 8, r1_gamma = 0.0 }") == []
    assert _notes(plugin_set, 'adapt.losses[1].on=["random"]',
                  "adapt.losses[1].params={ r1_every = 3 }") == []


def test_step_kind_the_schedule_never_produces(plugin_set):
    lines = _warnings(plugin_set, "adapt.schedule[0].every=1")
    assert any("adapt.schedule[1] ('random'): the schedule never produces" in x for x in lines)
    assert any("adapt.losses[2] ('mean_colour').on: step kind(s) ['random'] never occur" in x
               for x in lines)


def test_term_that_never_applies_and_intervals_longer_than_the_run(plugin_set):
    lines = _warnings(plugin_set, "adapt.losses[0].start=100", "output.sample_every=50",
                      "output.checkpoint_every=9", "search.log_every=6")
    assert any("adapt.losses[0] ('mse') never applies" in x for x in lines)
    assert any(x.startswith("output.sample_every = 50 is longer than the run (8 steps)")
               for x in lines)
    assert any(x.startswith("output.checkpoint_every = 9") for x in lines)
    assert any(x.startswith("search.log_every = 6 is longer than the run (5 steps)")
               for x in lines)


def test_validate_prints_the_warnings_and_still_passes():
    result = run_cli("validate", str(TOY_RECIPE), "--plugins-dir", str(FIXTURES),
                     "--set", "output.sample_every=50")
    assert result.returncode == 0, result.stderr
    assert "warning: output.sample_every = 50 is longer than the run" in result.stderr
    assert ": OK" in result.stdout


def test_official_sampling_gives_the_fine_layers_the_mean_w():
    from gan_adapt.engine.grid_latents import with_mean_layers

    ws = torch.randn(3, 18, 4)
    w_avg = torch.randn(4)
    assert with_mean_layers(ws, w_avg, None) is ws
    official = with_mean_layers(ws, w_avg, 11)
    assert torch.equal(official[:, :11], ws[:, :11])
    assert torch.equal(official[:, 11:], w_avg.expand(3, 7, 4))
    assert torch.equal(with_mean_layers(ws, w_avg, 18), ws)


def test_official_sampling_option_reaches_the_grid(plugin_set, tmp_path):
    """A toy run with mean_w_from_layer = 0: the adapted row of the grid is G_t(w_avg) in every
    column, so its cells are identical, while the source row keeps each sample's w."""
    import numpy as np
    from PIL import Image

    from gan_adapt.engine.launch import start

    result = start(str(TOY_RECIPE), plugin_set, out=str(tmp_path / "run"), progress_live=False,
                   overrides=["output.mean_w_from_layer=0", "adapt.steps=1", "search.steps=1"])
    assert result.status == "done"
    import tomllib

    grid = np.asarray(Image.open(tmp_path / "run" / "samples" / "step-000001.png"))
    # n_samples cells of 16 px per row, 2 px padding (gan_adapt.io.images.make_grid), right of the
    # row labels' margin
    recipe = tomllib.loads((tmp_path / "run" / "recipe.toml").read_text())
    columns = recipe.get("output", {}).get("n_samples", 8)
    assert columns >= 2
    left = grid.shape[1] - (columns * 18 + 2)
    cells = [[grid[2 + r * 18:r * 18 + 18, left + 2 + c * 18:left + c * 18 + 18]
              for c in range(columns)] for r in range(2)]
    source, adapted = cells
    assert all(np.array_equal(adapted[0], cell) for cell in adapted[1:])
    assert not all(np.array_equal(source[0], cell) for cell in source[1:])
