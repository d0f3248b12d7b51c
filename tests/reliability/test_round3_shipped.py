"""Issue 26, critical: shipped names cannot be shadowed silently.

A recipe that says ``checkpoint = "portraits-stylegan2-32"`` means the sha256-checked model the
project ships. A local folder of the same name (beside the recipe, or in the current folder)
must not replace it while recipe.toml still records the shipped name. The rule: a string that is
exactly a shipped or model-zoo name is that model, always (a note names the local path that is
not used); ``./portraits-stylegan2-32`` is a path. ``run.json`` records which it was.
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import pytest
import tomli_w

from gan_adapt.errors import GanAdaptError, WeightsUnavailableError
from gan_adapt.generators.checkpoints import describe_source, load, model_name_kind, resolve
from gan_adapt.weights import shipped

from .conftest import TOY_RECIPE

NAME = "portraits-stylegan2-32"
TINY = Path(__file__).resolve().parents[2] / "recipes" / "assets" / "tiny-stylegan2-32.pt"


@pytest.fixture
def impostor(tmp_path, monkeypatch):
    """A folder named like the shipped generator, holding another (valid) checkpoint, in the
    current folder; returns the folder."""
    from gan_adapt.generators.conversion import convert

    folder = tmp_path / NAME
    convert(TINY, folder)
    monkeypatch.chdir(tmp_path)
    return folder


def _shipped_files() -> set[str]:
    return {str(p.resolve()) for p in shipped.path(NAME).iterdir()}


def test_a_bare_shipped_name_is_the_shipped_model_even_beside_a_local_folder(impostor):
    with pytest.warns(UserWarning, match=r"is not used. Write './portraits-stylegan2-32'"):
        folder = resolve(NAME)
    assert folder.resolve() == shipped.path(NAME).resolve()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        G = load(NAME)
    assert Path(G.checkpoint_info["path"]).resolve().is_relative_to(shipped.ASSETS)


def test_a_path_spelling_means_the_local_folder(impostor):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no note: nothing is ambiguous
        assert resolve(f"./{NAME}").resolve() == impostor.resolve()
        G = load(f"./{NAME}")
    assert Path(G.checkpoint_info["path"]).resolve().is_relative_to(impostor.resolve())
    assert model_name_kind(Path(NAME)) is None  # a Path object is always a path


def test_zoo_names_follow_the_same_rule(tmp_path, monkeypatch):
    local = tmp_path / "ffhq-256"
    shutil.copy(TINY, local)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GAN_ADAPT_OFFLINE", "1")
    monkeypatch.setenv("GAN_ADAPT_HOME", str(tmp_path / "home"))
    assert model_name_kind("ffhq-256") == "zoo"
    with pytest.warns(UserWarning, match="is not used"), \
            pytest.raises(WeightsUnavailableError):
        resolve("ffhq-256")  # the zoo file (offline: not there), never the local one
    assert resolve("./ffhq-256") == Path("ffhq-256")


def _recipe_beside_impostor(impostor: Path, checkpoint: str) -> Path:
    import tomllib

    data = tomllib.loads(TOY_RECIPE.read_text())
    data["target"] = {"image": str(TOY_RECIPE.parent / "orange.png")}
    data["generator"] = {"name": "stylegan2", "params": {"checkpoint": checkpoint}}
    recipe = impostor.parent / "recipe.toml"
    recipe.write_text(tomli_w.dumps(data))
    return recipe


@pytest.mark.parametrize("spelling, expected", [(NAME, f"shipped:{NAME}"),
                                                (f"./{NAME}", "path:")])
def test_the_run_records_which_one_it_used(spelling, expected, impostor, fault_plugin_set):
    from gan_adapt.engine.build import BuildContext
    from gan_adapt.engine.launch import checkpoint_sources, read_recipe
    from gan_adapt.generators.plugin import _checkpoint
    from gan_adapt.plugin_host.context import TargetData

    recipe = _recipe_beside_impostor(impostor, spelling)
    validated = read_recipe(recipe, fault_plugin_set)
    recorded = checkpoint_sources(validated)["generator.params.checkpoint"]
    assert recorded.startswith(expected)
    if expected == "path:":
        assert recorded == f"path:{impostor.resolve()}"
    ctx = BuildContext(device="cpu", base_dir=validated.base_dir, target=TargetData())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = _checkpoint(spelling, ctx)
    if spelling == NAME:
        assert value == NAME  # the name, resolved to the checked asset by the loader
        assert any("is not used" in str(w.message) and str(impostor) in str(w.message)
                   for w in caught)
    else:
        assert Path(value).resolve() == impostor.resolve() and not caught


def test_the_cli_prints_the_note_and_uses_the_shipped_model(impostor, cli):
    out = impostor.parent / "samples.png"
    result = cli("sample", NAME, "--n", "2", "--out", out)
    assert result.code == 0, result.err
    assert f"note: checkpoint '{NAME}' means the shipped model" in result.err
    assert "is not used" in result.err


@pytest.mark.parametrize("model", ["local-dir:/tmp", "hf-hub:someone/clip"])
def test_clip_names_that_would_read_a_folder_or_download_are_refused(model):
    from gan_adapt.encoders.clip import build_clip

    with pytest.raises(GanAdaptError, match="no architecture named"):
        build_clip(model, pretrained=None)


def test_describe_source():
    assert describe_source(NAME) == f"shipped:{NAME}"
    assert describe_source("cifar10-32") == "zoo:cifar10-32"
    assert describe_source("a/b.pt", Path("/base")) == f"path:{Path('/base/a/b.pt').resolve()}"


def test_extends_never_turns_a_shipped_name_into_a_local_path(impostor, fault_plugin_set):
    """A base recipe beside a folder named like the model: the name stays a name."""
    from gan_adapt.engine.launch import checkpoint_sources, read_recipe

    base = _recipe_beside_impostor(impostor, NAME)
    child = impostor.parent / "child" / "recipe.toml"
    child.parent.mkdir()
    child.write_text(f'extends = "{base}"\n')
    validated = read_recipe(child, fault_plugin_set)
    assert validated.raw["generator"]["params"]["checkpoint"] == NAME
    assert checkpoint_sources(validated) == {"generator.params.checkpoint": f"shipped:{NAME}"}
