"""Threads that degrade gracefully, the run's header, and honest progress lines (issue 28)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import torch

from gan_adapt.engine.progress import PhaseProgress, format_duration, format_speed
from gan_adapt.errors import GanAdaptError
from gan_adapt.recipe.threads import choose_threads, parse_threads, prefer_passive_wait

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("cores, load, expected", [
    (1, 0.0, 1), (2, 0.0, 1), (2, 9.0, 1),   # small machines: 1 thread, idle or busy
    (8, 0.0, 8), (8, 3.0, 5), (8, 20.0, 1),  # the cores other work leaves idle
    (64, 0.0, 8),                             # at most 8
])
def test_auto_threads(cores, load, expected):
    choice = choose_threads("auto", cores=cores, load=load, env={})
    assert choice.threads == expected and choice.reason.startswith("auto")


def test_explicit_and_environment_threads_win():
    assert choose_threads(3, cores=2, load=0, env={}).threads == 3
    assert choose_threads("4", cores=2, load=0, env={}).reason == "as asked"
    env = {"OMP_NUM_THREADS": "2"}
    assert choose_threads("auto", cores=2, load=0, env=env).threads == 2
    assert choose_threads(None, cores=16, load=0, env=env).threads == 2


@pytest.mark.parametrize("bad", ["0", "-1", "two", "1.5"])
def test_bad_thread_counts_are_one_line_errors(bad):
    with pytest.raises(GanAdaptError, match="positive number of threads"):
        parse_threads(bad)


def test_passive_wait_is_a_default_not_an_override():
    env: dict[str, str] = {}
    prefer_passive_wait(env)
    assert env == {"OMP_WAIT_POLICY": "PASSIVE"}
    env = {"OMP_WAIT_POLICY": "ACTIVE"}
    prefer_passive_wait(env)
    assert env["OMP_WAIT_POLICY"] == "ACTIVE"


def test_recipe_run_threads_is_validated():
    from gan_adapt.errors import RecipeError
    from gan_adapt.plugin_host.loading import load_plugins
    from gan_adapt.recipe.schema import read_and_validate as load

    plugin_set = load_plugins()
    smoke = ROOT / "recipes" / "smoke.toml"
    assert load(smoke, plugin_set).recipe.run.threads == "auto"
    assert load(smoke, plugin_set, overrides=["run.threads=3"]).recipe.run.threads == 3
    with pytest.raises(RecipeError, match="run.threads"):
        load(smoke, plugin_set, overrides=["run.threads=0"])


def test_progress_marks_values_from_an_earlier_step():
    stream = io.StringIO()
    with PhaseProgress("adapt", 4, stream=stream, live=False, lines=4) as progress:
        progress.update(0, {"loss": 1.5})
        progress.update(1, {})
        progress.update(2, {"loss": 0.5})
        progress.update(3, {})
    lines = stream.getvalue().splitlines()
    assert "loss=1.5" in lines[0] and "@step" not in lines[0]
    assert "loss=1.5" in lines[1] and lines[1].endswith("(@step 1)")
    assert "loss=0.5" in lines[2] and "@step" not in lines[2]
    assert lines[3].endswith("(@step 3)")
    assert all(" eta " in line for line in lines)


def test_speed_and_duration_formats():
    assert format_speed(0.25) == "4.00 it/s" and format_speed(15.0) == "15.0 s/step"
    assert format_duration(42) == "42s" and format_duration(725) == "12m05s"
    assert format_duration(2.7 * 3600) == "2h42m" and format_duration(float("nan")) == "?"


def test_run_prints_its_header_and_uses_the_chosen_threads(tmp_path, capfd):
    import gan_adapt

    before = torch.get_num_threads()
    try:
        result = gan_adapt.run(ROOT / "recipes" / "smoke.toml", out=tmp_path / "run",
                               overrides=["adapt.steps=2", "search.steps=2"], progress=False,
                               threads=2)
    finally:
        torch.set_num_threads(before)
    err = capfd.readouterr().err
    header = err[err.index("Running recipe 'smoke'"):].splitlines()[:5]
    assert f"run folder  {result.folder}" in header[1]
    assert header[2].strip() == "device      cpu, 2 threads (as asked)"
    assert header[3].strip().startswith("precision   search ")
    assert header[4].strip() == "steps       search 2, adapt 2"
    assert json.loads((result.folder / "environment.json").read_text())["threads"] == 2


def test_sample_grids_carry_row_labels(tmp_path):
    """The labels (source; adapted and the step) sit in a white margin left of the images."""
    import numpy as np
    from PIL import Image

    from gan_adapt.io.images import make_grid, save_labelled_grid

    images = torch.zeros(6, 3, 32, 32)  # mid-grey images: the text is the only black
    path = save_labelled_grid(images, tmp_path / "grid.png", 3, ["source", "adapted\nstep 600"])
    picture = np.asarray(Image.open(path).convert("L"))
    plain = make_grid(images, 3)
    margin = picture.shape[1] - plain.shape[2]
    assert picture.shape[0] == plain.shape[1] and margin > 20
    label_area = picture[:, :margin]
    row1, row2 = label_area[2:34], label_area[36:68]
    assert (row1 < 64).sum() > 20 and (row2 < 64).sum() > (row1 < 64).sum()  # two lines of text
    assert (picture[:, margin:] < 64).sum() == 0  # nothing drawn over the images
