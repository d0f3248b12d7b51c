"""`validate --show` round-trips every shipped recipe and cannot be given extra header lines;
malformed environment variables get one line naming the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from gan_adapt.recipe.schema import read_and_validate as load
from gan_adapt.recipe.show import resolved_recipe, resolved_toml

from .conftest import FIXTURES, TOY_RECIPE, assert_refused, derived_recipe, toy_run_args

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted([*(ROOT / "recipes").glob("*.toml"), *(ROOT / "benchmarks" / "recipes").glob(
    "*.toml")])


@pytest.fixture(scope="module")
def all_plugins():
    """The shipped plugins (installed entry points) and the toy fixture."""
    from gan_adapt.plugin_host.loading import load_plugins

    plugin_set = load_plugins(FIXTURES)
    assert not plugin_set.failures, plugin_set.failures
    return plugin_set


def _body(text: str) -> str:
    """The shown recipe without its two header lines (they name the source file)."""
    assert text.startswith("# ")
    return text.split("\n", 2)[2]


def _show_twice(path: Path, plugin_set, tmp_path: Path) -> tuple[str, str]:
    first = resolved_toml(load(path, plugin_set))
    copy = tmp_path / "elsewhere" / "shown.toml"
    copy.parent.mkdir(parents=True, exist_ok=True)
    copy.write_text(first, encoding="utf-8")
    second = resolved_toml(load(copy, plugin_set))
    return first, second


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_showing_a_shown_shipped_recipe_gives_the_same_recipe(path, all_plugins, tmp_path):
    first, second = _show_twice(path, all_plugins, tmp_path)
    assert _body(first) == _body(second)


def test_a_parameter_that_validates_to_none_is_shown_as_written(all_plugins, tmp_path):
    recipe = tmp_path / "r.toml"
    recipe.write_text(f'extends = "{ROOT / "recipes" / "smoke.toml"}"\n'
                      '[encoders.clip]\nname = "clip"\nparams = { model = "tiny", '
                      'pretrained = "none" }\n')
    validated = load(recipe, all_plugins)
    assert validated.params["encoders.clip"].pretrained is None
    assert resolved_recipe(validated)["encoders"]["clip"]["params"]["pretrained"] == "none"
    first, second = _show_twice(recipe, all_plugins, tmp_path)
    assert _body(first) == _body(second) and "openai" not in first
    copy = load(tmp_path / "elsewhere" / "shown.toml", all_plugins)
    assert copy.params["encoders.clip"].pretrained is None


@pytest.mark.parametrize("name", ["evil\nname = \"x\"\n.toml", "a\rb.toml", "c\x1b[2Jd.toml",
                                  "e\u2028f.toml", "g\x85h.toml", "i\x00j"])
def test_no_file_name_adds_a_line_to_the_header(name, all_plugins, tmp_path):
    from gan_adapt.recipe.schema import read_toml, validate

    data = read_toml(TOY_RECIPE)
    data["target"] = {"image": str(TOY_RECIPE.parent / "orange.png")}
    validated = validate(data, all_plugins, base_dir=TOY_RECIPE.parent, source=name)
    text = resolved_toml(validated)
    header = text.split("\n", 2)[:2]
    assert all(line.startswith("# ") for line in header)
    assert all(ch.isprintable() for line in header for ch in line)
    assert _body(text) == _body(resolved_toml(load(TOY_RECIPE, all_plugins)))


def test_validate_show_of_a_file_with_a_newline_in_its_name(cli, tmp_path):
    recipe = derived_recipe(tmp_path / "x\ny = 1\n")
    result = cli("validate", "--show", recipe, "--plugins-dir", FIXTURES)
    assert result.code == 0, result.err
    assert result.out.split("\n", 1)[0].startswith("# ") and "x\\ny = 1\\n" in result.out
    assert "\ny = 1" not in result.out.split("\n", 2)[0] + "\n" + result.out.split("\n", 2)[1]


# ---------------------------------------------------------------------------------------------
# Environment variables


@pytest.mark.parametrize("variable, value", [
    ("WORLD_SIZE", "abc"), ("WORLD_SIZE", "0"), ("WORLD_SIZE", "-2"), ("WORLD_SIZE", "2.5"),
    ("WORLD_SIZE", "9" * 40), ("WORLD_SIZE", "\u0662"),  # an Arabic-Indic digit two
    ("RANK", "x"), ("RANK", "-1"), ("RANK", "1e3"), ("LOCAL_RANK", "gpu0"),
    ("LOCAL_RANK", "-3"), ("RANK", "99999999999999999999999999"),
])
def test_a_malformed_torchrun_variable_is_one_line_naming_it(variable, value, cli, tmp_path,
                                                             monkeypatch):
    monkeypatch.setenv(variable, value)
    out = tmp_path / "run"
    result = cli(*toy_run_args(out))
    assert_refused(result, f"environment variable {variable}=")
    assert not out.exists()


@pytest.mark.parametrize("rank, local_rank", [("2", "0"), ("0", "2"), ("7", "7")])
def test_ranks_beyond_the_world_size_are_refused(rank, local_rank, cli, tmp_path, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", rank)
    monkeypatch.setenv("LOCAL_RANK", local_rank)
    result = cli(*toy_run_args(tmp_path / "run"))
    assert_refused(result, "WORLD_SIZE is 2")


def test_a_world_without_its_rendezvous_is_one_line(cli, tmp_path, monkeypatch):
    for name in ("MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    result = cli(*toy_run_args(tmp_path / "run"))
    assert_refused(result, "cannot join the process group", "MASTER_ADDR")


@pytest.mark.parametrize("value", ["/nonexistent/plugins", "/etc/hostname", "/" + "x" * 5000,
                                   f"{FIXTURES}:/nonexistent"])
def test_a_malformed_plugins_dir_variable_is_one_line_naming_it(value, cli, monkeypatch):
    monkeypatch.setenv("GAN_ADAPT_PLUGINS_DIR", value)
    for args in (["validate", TOY_RECIPE], ["components"]):
        result = cli(*args)
        assert_refused(result, "GAN_ADAPT_PLUGINS_DIR")


def test_a_plugins_dir_variable_with_empty_entries_still_works(cli, monkeypatch):
    monkeypatch.setenv("GAN_ADAPT_PLUGINS_DIR", f":{FIXTURES}::")
    result = cli("validate", TOY_RECIPE)
    assert result.code == 0, result.err


def test_the_api_refuses_a_malformed_variable_too(monkeypatch, tmp_path):
    import gan_adapt
    from gan_adapt.errors import GanAdaptError

    monkeypatch.setenv("GAN_ADAPT_PLUGINS_DIR", "/nonexistent")
    with pytest.raises(GanAdaptError, match="GAN_ADAPT_PLUGINS_DIR"):
        gan_adapt.load_recipe(TOY_RECIPE, plugins_dir=[str(tmp_path)])  # not loaded before
