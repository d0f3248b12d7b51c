"""Round 3's minor classes: `new-plugin` names and half-written packages; the tokens plugin's
layers that coincide once negative indices resolve, and temperatures float32 cannot divide by.
"""

from __future__ import annotations

import errno
import os

import pytest
from pydantic import ValidationError

from gan_adapt.cli import scaffold
from gan_adapt.errors import GanAdaptError, InputError

from .conftest import FIXTURES, TOY_RECIPE, assert_refused

# ---------------------------------------------------------------------------------------------
# new-plugin


@pytest.mark.parametrize("name", ["sketch\n", "sketch\r\n", "\nsketch", "ske\ntch", "sketch\t",
                                  "sketch\x00", "sketch\x1b", "sketch\u2028", "sk\u00e9tch",
                                  "sketch ", " sketch", "", "-", "a--b", "x" * 65, "sketch.py",
                                  "sketch/loss", "..", "Sketch", "1st"])
def test_new_plugin_refuses_names_that_are_not_plain_identifiers(name, tmp_path, cli):
    with pytest.raises(InputError, match="a plugin name is lower-case"):
        scaffold.names(name)
    result = cli("new-plugin", name, "--out", tmp_path / "out")
    assert_refused(result, "a plugin name is lower-case")
    assert not (tmp_path / "out").exists()


def test_the_longest_allowed_name_is_accepted():
    assert scaffold.names("x" * scaffold.MAX_NAME_LENGTH)["snake"] == "x" * scaffold.MAX_NAME_LENGTH


@pytest.mark.parametrize("failure", [OSError(errno.ENOSPC, "No space left on device"),
                                     KeyboardInterrupt(), RuntimeError("a bug")])
@pytest.mark.parametrize("out_exists", [True, False])
def test_a_failure_half_way_leaves_nothing_behind(failure, out_exists, tmp_path, monkeypatch):
    def fail_after_some_files(folder):
        folder.mkdir(parents=True)
        (folder / "half-written.pt").write_bytes(b"\0" * 100)
        raise failure

    out = tmp_path / "plugins" if out_exists else tmp_path / "new" / "deeper"
    if out_exists:
        out.mkdir()
        (out / "someone-elses-file").write_text("keep me")
    monkeypatch.setattr(scaffold, "_write_assets", fail_after_some_files)
    expected = InputError if isinstance(failure, OSError) else type(failure)
    with pytest.raises(expected) as caught:
        scaffold.create("half", out)
    if isinstance(failure, OSError):
        assert "No space left" in str(caught.value) and "Nothing was left" in str(caught.value)
    if out_exists:
        assert sorted(os.listdir(out)) == ["someone-elses-file"]
    else:
        assert os.listdir(tmp_path) == []  # the folders it made for the package are gone too


def test_the_package_appears_whole_with_normal_permissions(tmp_path):
    root = scaffold.create("whole", tmp_path)
    assert root == tmp_path / "gan-adapt-whole" and (root / "pyproject.toml").is_file()
    assert (root / "recipes" / "assets" / "tiny-stylegan2-32.pt").is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["gan-adapt-whole"]  # no staging folder
    mask = os.umask(0)
    os.umask(mask)
    assert (root.stat().st_mode & 0o777) == 0o777 & ~mask
    with pytest.raises(InputError, match="already exists"):
        scaffold.create("whole", tmp_path)


def test_an_unwritable_destination_is_one_line(tmp_path, cli):
    (tmp_path / "file").write_text("x")
    result = cli("new-plugin", "fine", "--out", tmp_path / "file" / "sub")
    assert_refused(result, "cannot write")
    assert sorted(os.listdir(tmp_path)) == ["file"]


# ---------------------------------------------------------------------------------------------
# The tokens plugin


def _see_through(depth: int):
    from tests.methods.test_tokens_terms import SeeThroughEncoder, SeeThroughTower

    encoder = SeeThroughEncoder()
    encoder.model.visual = SeeThroughTower(depth)
    return encoder


@pytest.mark.parametrize("depth, layers", [(2, [2, -1]), (2, [1, -2]), (4, [0, 4, -1]),
                                           (4, [3, 1, -2]), (3, [-3, 1])])
def test_layers_that_resolve_to_the_same_map_are_refused(depth, layers):
    from gan_adapt_tokens.token_maps import TokenMaps

    with pytest.raises(GanAdaptError, match=r"t: layers .* name map \d twice"):
        TokenMaps(_see_through(depth), layers, "t")


@pytest.mark.parametrize("depth, layers", [(2, [2, -2]), (4, [0, 4, -2, 1]), (3, [-1, -2, -3])])
def test_distinct_resolved_layers_are_kept(depth, layers):
    from gan_adapt_tokens.token_maps import TokenMaps

    maps = TokenMaps(_see_through(depth), layers, "t")
    assert len(set(maps.layers)) == len(layers)


@pytest.mark.parametrize("temperature", [1e-40, 1e-39, 1e-45, 5e-324, 2.0 ** -127, 1e38, 1e300])
def test_a_temperature_float32_cannot_divide_by_is_refused(temperature):
    from gan_adapt_tokens.params import AttentiveStyleParams

    with pytest.raises(ValidationError, match="overflow or underflow float32"):
        AttentiveStyleParams(temperature=temperature)


@pytest.mark.parametrize("temperature", [2.0 ** -126, 1e-30, 0.1, 1.0, 1e30, 2.0 ** 126])
def test_temperatures_within_float32_are_accepted_and_divide_finitely(temperature):
    import torch
    from gan_adapt_tokens.params import AttentiveStyleParams

    assert AttentiveStyleParams(temperature=temperature).temperature == temperature
    inverse = torch.tensor(1.0, dtype=torch.float32) / torch.tensor(temperature,
                                                                    dtype=torch.float32)
    assert bool(torch.isfinite(inverse)) and float(inverse) > 0


def test_validate_refuses_the_temperature(cli, tmp_path):
    recipe = tmp_path / "r.toml"
    smoke = FIXTURES.parents[1] / "recipes" / "smoke.toml"
    recipe.write_text(
        f'extends = "{smoke}"\n'
        '[[adapt.losses]]\nname = "attentive_style"\non = ["random"]\n'
        'params = { encoder = "clip", layers = [0, 1], temperature = 1e-40 }\n')
    result = cli("validate", recipe, plugins="tokens,oneshotclip")
    assert_refused(result, "temperature", "overflow or underflow float32")
    assert TOY_RECIPE.exists()
