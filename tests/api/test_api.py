"""The Python API (gan_adapt.load_recipe / run / load_run / evaluate) and the CLI calling it.

One tiny smoke run (2 search + 2 adapt steps) is shared by the module; docs/user-guide.md's
doctests cover the documented walk-through.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

import gan_adapt
from gan_adapt.api import public as api
from gan_adapt.errors import InputError, RecipeError
from gan_adapt.recipe.schema import parse_override

ROOT = Path(__file__).resolve().parents[2]
SMOKE = ROOT / "recipes" / "smoke.toml"
TINY = {"search.steps": 2, "adapt.steps": 2, "output.n_samples": 3, "output.sample_every": 1}


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> api.RunResult:
    out = tmp_path_factory.mktemp("api") / "run <&> one"  # a name that needs HTML escaping
    return gan_adapt.run(SMOKE, out=out, overrides=TINY, progress=False)


def test_overrides_as_a_dict_become_toml_literals_that_parse_back():
    values = {"adapt.steps": 3, "adapt.ema_decay": 0.5, "target.text": 'a "quoted" sketch',
              "search.compile": True, "adapt.freeze": ["mapping", "*.torgb"]}
    strings = api._override_list(values)
    assert [parse_override(s) for s in strings] == [
        (key.split("."), value) for key, value in values.items()]
    assert api._override_list(["adapt.steps=3"]) == ["adapt.steps=3"]
    assert api._override_list("adapt.steps=3") == ["adapt.steps=3"]


def test_load_recipe_applies_overrides_and_target_like_the_cli():
    recipe = gan_adapt.load_recipe(SMOKE, overrides={"adapt.steps": 7}, target="a pencil sketch")
    assert recipe.settings.adapt.steps == 7
    assert recipe.settings.target.text == "a pencil sketch"
    assert recipe.settings.target.image is None  # --target replaces the recipe's target
    assert 'steps = 7' in recipe.to_toml()
    with pytest.raises(RecipeError, match="adapt.stepz"):
        gan_adapt.load_recipe(SMOKE, overrides={"adapt.stepz": 7})


def test_run_result_holds_the_outputs(finished: api.RunResult):
    assert (finished.status, finished.steps_done) == ("done", 2)
    assert finished.paths["generator"].is_dir()
    assert finished.metrics == json.loads((finished.folder / "metrics.json").read_text())
    assert finished.w_ref.shape == (1, finished.adapted.num_ws, finished.adapted.w_dim)
    saved = torch.load(finished.folder / "search" / "w_ref.pt", weights_only=True)["w_ref"]
    assert torch.equal(finished.w_ref, saved.expand_as(finished.w_ref))
    assert finished.generator is finished.adapted is finished.generators["adapted"]
    assert finished.generators["source"] is finished.source
    # The loaded generator is the one in the folder, not the source.
    source_state, adapted_state = finished.source.state_dict(), finished.adapted.state_dict()
    assert any(not torch.equal(source_state[k], adapted_state[k]) for k in source_state)


def test_load_run_samples_reproducibly(finished: api.RunResult):
    run = gan_adapt.load_run(finished.folder)
    for name, param in finished.adapted.state_dict().items():
        assert torch.equal(param, run.adapted.state_dict()[name]), name
    first = run.sample(3, seed=5, truncation=0.5)
    assert first.shape == (3, 3, 32, 32) and first.min() >= -1 and first.max() <= 1
    assert torch.equal(first, run.sample(3, seed=5, truncation=0.5))
    assert not torch.equal(first, run.sample(3, seed=6, truncation=0.5))
    assert not torch.equal(first, run.sample(3, seed=5, truncation=0.5, generator="source"))
    assert run.compare(3, seed=5).size == (3 * 34 + 2, 2 * 34 + 2)
    with pytest.raises(ValueError, match="generator must be"):
        run.sample(2, generator="ema")


def test_translate_inverts_the_image_in_the_source_generator(finished: api.RunResult):
    run = gan_adapt.load_run(finished.folder)
    image = run.sample(1, seed=11, generator="source")  # an image G_s can make exactly
    start = run.translate(image, steps=0)
    found = run.translate(image, steps=40)
    error = lambda t: float((t.reconstruction - t.image).square().mean())  # noqa: E731
    assert error(found) < 0.5 * error(start)
    assert found.translated.shape == image.shape
    with torch.no_grad():
        expected = run.adapted.synthesis(found.w, noise_mode="const").clamp(-1, 1)
    assert torch.equal(found.translated, expected)
    assert run.translate(ROOT / "recipes" / "targets" / "sketch.png", steps=1).image.shape == \
        (1, 3, 32, 32)


def test_a_run_shows_itself_in_a_notebook_with_escaped_text(finished: api.RunResult):
    page = finished._repr_html_()
    assert page.count("<img ") == 2  # target|reference and the newest sample grid
    assert "run &lt;&amp;&gt; one" in page and "run <&> one" not in page
    assert "total" in page


def test_unfinished_runs_are_refused_with_a_clear_error(finished: api.RunResult, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(finished.folder, copy)
    meta = json.loads((copy / "run.json").read_text())
    (copy / "run.json").write_text(json.dumps({**meta, "status": "interrupted"}))
    with pytest.raises(InputError, match="no adapted generator yet"):
        gan_adapt.load_run(copy)
    interrupted = api.RunResult(copy, status="interrupted", steps_done=1,
                                plugins=api._plugins(None))
    with pytest.raises(InputError, match="no adapted generator yet"):
        interrupted.adapted  # noqa: B018
    with pytest.raises(InputError, match="no such run folder"):
        gan_adapt.load_run(tmp_path / "nothing")


def test_cli_run_resume_and_eval_go_through_the_api(monkeypatch, tmp_path, capsys):
    from gan_adapt.cli import commands as cli

    calls = []

    def fake_run(recipe, **kwargs):
        calls.append(("run", recipe, kwargs))
        return api.RunResult(tmp_path, status="done", steps_done=1, plugins=kwargs["plugins"])

    def fake_resume(folder, **kwargs):
        calls.append(("resume", folder, kwargs))
        return api.RunResult(tmp_path, status="done", steps_done=1, plugins=kwargs["plugins"])

    def fake_evaluate(folder, **kwargs):
        calls.append(("evaluate", folder, kwargs))
        return {"recipe": "x", "metrics": {"diversity_lpips": 0.5}}

    monkeypatch.setattr(api, "run", fake_run)
    monkeypatch.setattr(api, "resume", fake_resume)
    monkeypatch.setattr(api, "evaluate", fake_evaluate)
    cli.main(["run", str(SMOKE), "--out", str(tmp_path), "--set", "adapt.steps=3",
              "--target", "a sketch", "--device", "cpu"])
    cli.main(["run", "--resume", str(tmp_path)])
    cli.main(["eval", str(tmp_path), "--n", "4", "--lpips", "random-alex"])
    kinds = [(kind, str(what)) for kind, what, _ in calls]
    assert kinds == [("run", str(SMOKE)), ("resume", str(tmp_path)),
                     ("evaluate", str(tmp_path))]
    run_kwargs = calls[0][2]
    assert (run_kwargs["out"], run_kwargs["overrides"], run_kwargs["target"],
            run_kwargs["device"]) == (str(tmp_path), ["adapt.steps=3"], "a sketch", "cpu")
    assert (calls[2][2]["n"], calls[2][2]["lpips"]) == (4, "random-alex")
    assert f"Done: {tmp_path}" in capsys.readouterr().out


def test_the_api_names_are_reachable_from_the_package_without_importing_them_first():
    import subprocess
    import sys

    code = ("import sys, gan_adapt; assert 'torch' not in sys.modules; "
            "print(sorted(set(gan_adapt.__all__) - set(dir(gan_adapt)))); "
            "print(gan_adapt.run.__module__, gan_adapt.load_run.__module__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.split("\n")[:2] == ["[]", "gan_adapt.api gan_adapt.api"], out.stderr
