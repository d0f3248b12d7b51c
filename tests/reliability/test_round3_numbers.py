"""Every number a user passes to a command or an API call is checked
(gan_adapt.recipe.user_numbers): seeds, counts, truncations, class labels and images given to
`translate`.

Each class is generated with several members: a wrong one is refused with one line naming it
(a NumberError: a GanAdaptError, and a ValueError as the API raised before), before anything is
computed or written; `sample(n)` of any size is bounded by memory and made in batches.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

import gan_adapt
from gan_adapt.api import public as api
from gan_adapt.errors import GanAdaptError
from gan_adapt.recipe import user_numbers
from gan_adapt.recipe.user_numbers import NumberError

from .conftest import DATA, FAULT_PLUGINS, FIXTURES, assert_refused

BAD_COUNTS = [0, -1, 2.5, 3.0, True, False, "3", None, float("nan"), 10 ** 30, 2 ** 62]
BAD_SEEDS = [-1, -(2 ** 70), 2 ** 64, 2 ** 100, 1.5, 0.0, True, "0", None, float("inf")]
BAD_TRUNCATIONS = [float("nan"), float("inf"), -float("inf"), 1e39, 101.0, -1e300, "0.7",
                   True, None, np.float32("nan")]
GOOD_SEEDS = [0, 1, 2 ** 63, 2 ** 64 - 1, np.int64(7), np.uint64(2 ** 64 - 1)]


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
    """A finished toy run opened through the API (module-wide: a run takes a second)."""
    import sys

    from gan_adapt.engine.launch import start
    from gan_adapt.plugin_host.loading import load_plugins

    from .conftest import derived_recipe

    sys.path.insert(0, str(FIXTURES))
    try:
        import toy_plugin
    finally:
        sys.path.remove(str(FIXTURES))
    plugin_set = load_plugins(FAULT_PLUGINS, entry_points=False, extra=[toy_plugin])
    folder = tmp_path_factory.mktemp("numbers")
    recipe = derived_recipe(folder / "recipe")
    start(recipe, plugin_set, out=folder / "run", progress_live=False)
    return gan_adapt.load_run(folder / "run", plugins=plugin_set)


# ---------------------------------------------------------------------------------------------
# The checks themselves


@pytest.mark.parametrize("value", BAD_SEEDS, ids=repr)
def test_bad_seeds_are_refused(value):
    with pytest.raises(NumberError, match="seed"):
        user_numbers.seed(value)


@pytest.mark.parametrize("value", GOOD_SEEDS, ids=repr)
def test_every_64_bit_seed_seeds_torch(value):
    torch.Generator().manual_seed(user_numbers.seed(value))


@pytest.mark.parametrize("value", BAD_TRUNCATIONS, ids=repr)
def test_bad_truncations_are_refused(value):
    with pytest.raises(NumberError, match="truncation"):
        user_numbers.truncation(value)


def test_a_number_error_is_both_a_gan_adapt_error_and_a_value_error():
    assert issubclass(NumberError, GanAdaptError) and issubclass(NumberError, ValueError)


# ---------------------------------------------------------------------------------------------
# The API


@pytest.mark.parametrize("n", BAD_COUNTS, ids=repr)
def test_sample_refuses_a_bad_count_before_drawing_anything(n, toy_run, monkeypatch):
    monkeypatch.setattr(torch, "randn", lambda *a, **k: pytest.fail("drew latents"))
    with pytest.raises(NumberError, match=r"\bn\b"):
        toy_run.sample(n)


@pytest.mark.parametrize("seed", BAD_SEEDS, ids=repr)
def test_sample_refuses_a_bad_seed(seed, toy_run):
    with pytest.raises(NumberError, match="seed"):
        toy_run.sample(2, seed=seed)


@pytest.mark.parametrize("truncation", BAD_TRUNCATIONS[:-3] + [np.float32("nan")], ids=repr)
def test_sample_and_compare_refuse_a_bad_truncation(truncation, toy_run):
    with pytest.raises(NumberError, match="truncation"):
        toy_run.sample(2, truncation=truncation)
    with pytest.raises(NumberError, match="truncation"):
        toy_run.compare(2, truncation=truncation)


@pytest.mark.parametrize("seed", GOOD_SEEDS, ids=repr)
def test_sample_takes_every_64_bit_seed_and_numpy_counts(seed, toy_run):
    images = toy_run.sample(np.int64(3), seed=seed, truncation=np.float64(0.5))
    assert images.shape[0] == 3 and bool(torch.isfinite(images).all())


def test_a_large_sample_is_made_in_batches_with_the_same_images(toy_run, monkeypatch):
    whole = toy_run.sample(10, seed=4)
    calls = []
    synthesis = toy_run.adapted.synthesis

    def counting(ws, **kwargs):
        calls.append(len(ws))
        return synthesis(ws, **kwargs)

    monkeypatch.setattr(api, "SAMPLE_BATCH", 4)
    monkeypatch.setattr(toy_run.adapted, "synthesis", counting)
    batched = toy_run.sample(10, seed=4)
    assert calls == [4, 4, 2]
    assert torch.allclose(whole, batched, atol=1e-5)


def test_sample_refuses_more_images_than_memory_holds(toy_run, monkeypatch):
    from gan_adapt.recipe import limits as recipe_limits

    monkeypatch.setattr(recipe_limits, "machine_memory", lambda device=None: 2 ** 20)
    with pytest.raises(NumberError, match="at most"):
        toy_run.sample(10_000)


def _empty_pil(width, height):
    return Image.new("RGB", (width, height))


BAD_IMAGES = {
    "empty tensor": lambda: torch.zeros(1, 3, 0, 0),
    "no rows": lambda: torch.zeros(1, 3, 0, 8),
    "no columns": lambda: torch.zeros(3, 8, 0),
    "nan pixels": lambda: torch.full((1, 3, 8, 8), float("nan")),
    "one inf pixel": lambda: torch.zeros(1, 3, 8, 8).index_fill_(3, torch.tensor([2]), math.inf),
    "bool tensor": lambda: torch.ones(1, 3, 8, 8, dtype=torch.bool),
    "uint8 tensor": lambda: torch.full((1, 3, 8, 8), 255, dtype=torch.uint8),
    "complex tensor": lambda: torch.zeros(1, 3, 8, 8, dtype=torch.complex64),
    "grey tensor": lambda: torch.zeros(1, 1, 8, 8),
    "two images": lambda: torch.zeros(2, 3, 8, 8),
    "empty PIL": lambda: _empty_pil(0, 0),
    "PIL without rows": lambda: _empty_pil(5, 0),
    "not an image": lambda: [1, 2, 3],
}


@pytest.mark.parametrize("case", list(BAD_IMAGES))
def test_translate_refuses_an_unusable_image(case, toy_run):
    with pytest.raises(NumberError, match="image"):
        toy_run.translate(BAD_IMAGES[case](), steps=1)


@pytest.mark.parametrize("setting", [{"steps": -1}, {"steps": 2.5}, {"steps": True},
                                     {"steps": 10 ** 12},
                                     {"lr": float("nan")}, {"lr": 0}, {"lr": -0.1},
                                     {"lr": float("inf")}, {"lr": "0.1"}])
def test_translate_refuses_bad_settings(setting, toy_run):
    with pytest.raises(NumberError, match=next(iter(setting))):
        toy_run.translate(torch.zeros(1, 3, 8, 8), **{"steps": 1, **setting})


def test_translate_takes_a_good_image_of_any_size(toy_run):
    for image in (torch.rand(1, 3, 5, 9) * 2 - 1, torch.zeros(3, 1, 1), _empty_pil(3, 7)):
        result = toy_run.translate(image, steps=1)
        assert bool(torch.isfinite(result.translated).all())


@pytest.mark.parametrize("setting", [{"n": 1}, {"n": 2.5}, {"n": True}, {"n": 10 ** 12},
                                     {"seed": -1}, {"seed": 2 ** 64}, {"truncation": math.nan},
                                     {"truncation": math.inf}, {"batch": 0}, {"batch": 1.5}])
def test_evaluate_refuses_bad_settings_before_any_work(setting, toy_run, monkeypatch):
    from gan_adapt.evaluation import evaluate as evaluation

    monkeypatch.setattr(evaluation, "evaluate_run", lambda *a, **k: pytest.fail("evaluated"))
    with pytest.raises(NumberError, match=next(iter(setting))):
        toy_run.evaluate(**setting)


# ---------------------------------------------------------------------------------------------
# The CLI


SHIPPED_GENERATOR = "portraits-stylegan2-32"


@pytest.mark.parametrize("args, words", [
    (["--truncation", "nan"], "--truncation must be a finite number"),
    (["--truncation", "inf"], "--truncation must be a finite number"),
    (["--truncation", "-inf"], "--truncation must be a finite number"),
    (["--truncation", "1e39"], "--truncation must lie within"),
    (["--seed", str(2 ** 64)], "--seed must be from 0"),
    (["--seed", str(2 ** 200)], "--seed must be from 0"),
    (["--seed", "-1"], "--seed must be from 0"),
    (["--class", "0"], "this generator is unconditional"),
    (["--class", "5"], "this generator is unconditional"),
    (["--n", str(10 ** 12)], "at most"),
    (["--n", str(2 ** 63)], "at most"),
])
def test_sample_refuses_bad_numbers_and_writes_nothing(args, words, cli, tmp_path):
    out = tmp_path / "grid.png"
    result = cli("sample", SHIPPED_GENERATOR, "--out", out, "--device", "cpu", *args)
    assert_refused(result, words)
    assert not out.exists()


def test_sample_checks_the_class_of_a_conditional_generator(cli, tmp_path):
    checkpoint = DATA / "nv32c_nvlabs_network-snapshot.pkl"
    out = tmp_path / "grid.png"
    result = cli("sample", checkpoint, "--out", out, "--device", "cpu", "--n", "2",
                 "--class", "3")
    assert_refused(result, "--class 3 is out of range: the generator has 3 classes (0..2)")
    assert not out.exists()
    result = cli("sample", checkpoint, "--out", out, "--device", "cpu", "--n", "2",
                 "--class", "2")
    assert result.code == 0, result.err


def test_sample_with_a_huge_nrow_writes_a_normal_grid(cli, tmp_path):
    out = tmp_path / "grid.png"
    result = cli("sample", SHIPPED_GENERATOR, "--out", out, "--device", "cpu", "--n", "3",
                 "--nrow", str(10 ** 9))
    assert result.code == 0, result.err
    assert Image.open(out).size[0] < 200


def test_sample_never_writes_a_grid_of_non_finite_pixels(cli, tmp_path, monkeypatch):
    """Whatever makes the pixels non-finite (here, a generator whose weights are), no PNG."""
    from gan_adapt import generators

    real_load = generators.load

    def poisoned(*args, **kwargs):
        G = real_load(*args, **kwargs)
        with torch.no_grad():
            next(G.synthesis.parameters()).fill_(float("nan"))
        return G

    monkeypatch.setattr(generators, "load", poisoned)
    out = tmp_path / "grid.png"
    result = cli("sample", SHIPPED_GENERATOR, "--out", out, "--device", "cpu", "--n", "2")
    assert_refused(result, "NaN or infinite pixels")
    assert not out.exists()


@pytest.mark.parametrize("args, words", [
    (["--truncation", "nan"], "truncation"), (["--seed", "-3"], "seed"),
    (["--seed", str(2 ** 64)], "seed"), (["--n", "1"], "--n"),
])
def test_eval_refuses_bad_numbers(args, words, cli, toy_run):
    result = cli("eval", toy_run.folder, *args, "--plugins-dir", FIXTURES, "--plugins-dir",
                 FAULT_PLUGINS)
    assert_refused(result, words)
    assert not (toy_run.folder / "eval.json").exists()


@pytest.mark.parametrize("args", [["--truncation", "nan"], ["--seed", "-3"],
                                  ["--seed", str(2 ** 64 - 1)]])
def test_compare_refuses_bad_numbers(args, cli, toy_run, tmp_path):
    out = tmp_path / "sheet.png"
    result = cli("compare", toy_run.folder, "--out", out, *args, "--plugins-dir", FIXTURES,
                 "--plugins-dir", FAULT_PLUGINS)
    assert_refused(result, args[0].lstrip("-"))
    assert not out.exists()
