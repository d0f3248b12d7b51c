"""The ``stylegan2`` components and the ``sample`` / ``convert`` commands, as the core sees them."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from click.testing import CliRunner
from PIL import Image
from pydantic import ValidationError

from gan_adapt.errors import CheckpointError
from gan_adapt.generators import write_tiny_checkpoint
from gan_adapt.generators.networks import StyleGAN2Discriminator, StyleGAN2Generator
from tests.generators.conftest import NV32C_PKL, ROS_CKPT


@pytest.fixture(scope="module")
def registry():
    from gan_adapt.plugin_host.loading import load_plugins

    return load_plugins(entry_points=False).registry


def _ctx(base_dir):
    return SimpleNamespace(device=torch.device("cpu"),
                           resolve_path=lambda p: (base_dir / p) if not str(p).startswith("/")
                           else __import__("pathlib").Path(p))


def test_components_are_registered(registry):
    assert "stylegan2" in registry.names("generator")
    assert "stylegan2" in registry.names("discriminator")


def test_generator_component_resolves_paths_relative_to_the_recipe(registry, tmp_path):
    write_tiny_checkpoint(tmp_path / "models" / "tiny.pt")
    component = registry.get("generator", "stylegan2")
    G = component.build({"checkpoint": "models/tiny.pt", "which": "g_ema"}, _ctx(tmp_path))
    assert isinstance(G, StyleGAN2Generator) and G.img_resolution == 16
    D = registry.get("discriminator", "stylegan2").build({"checkpoint": "models/tiny.pt"},
                                                         _ctx(tmp_path))
    assert isinstance(D, StyleGAN2Discriminator)


def test_component_params_are_strict(registry):
    model = registry.get("generator", "stylegan2").params_model
    with pytest.raises(ValidationError):
        model.model_validate({"checkpoint": "x.pt", "truncation": 0.7})
    with pytest.raises(ValidationError):
        model.model_validate({"checkpoint": "x.pt", "which": "ema2"})


def test_zoo_names_pass_through_the_component(registry, tmp_path):
    from gan_adapt.errors import WeightsUnavailableError

    component = registry.get("generator", "stylegan2")
    with pytest.raises(WeightsUnavailableError, match="ffhq.pkl"):  # offline in the tests
        component.build({"checkpoint": "ffhq-1024"}, _ctx(tmp_path))


def test_discriminator_component_explains_a_missing_d(registry, tmp_path):
    ckpt = torch.load(ROS_CKPT, weights_only=True)
    torch.save({"g_ema": ckpt["g_ema"]}, tmp_path / "g_only.pt")
    component = registry.get("discriminator", "stylegan2")
    with pytest.raises(CheckpointError, match="no discriminator; the recipe's \\[discriminator\\]"):
        component.build({"checkpoint": "g_only.pt"}, _ctx(tmp_path))


def test_sample_command_writes_a_grid(tmp_path):
    from gan_adapt.cli.commands import cli

    checkpoint = write_tiny_checkpoint(tmp_path / "tiny.pt")
    out = tmp_path / "grid.png"
    result = CliRunner().invoke(cli, ["sample", str(checkpoint), "--n", "16", "--seed", "0",
                                      "--truncation", "0.7", "--out", str(out), "--device",
                                      "cpu"])
    assert result.exit_code == 0, result.output
    with Image.open(out) as image:
        assert image.size == (4 * 18 + 2, 4 * 18 + 2)  # 4x4 tiles of 16 px, 2 px padding
    again = tmp_path / "again.png"
    CliRunner().invoke(cli, ["sample", str(checkpoint), "--n", "16", "--truncation", "0.7",
                             "--out", str(again), "--device", "cpu"])
    assert again.read_bytes() == out.read_bytes()  # seeded


def test_sample_conditional_and_errors(tmp_path, capsys):
    from gan_adapt.cli.commands import cli, main

    ok = CliRunner().invoke(cli, ["sample", str(NV32C_PKL), "--n", "3", "--class", "2", "--out",
                                  str(tmp_path / "c.png"), "--device", "cpu"])
    assert ok.exit_code == 0, ok.output
    for argv, message in [
        (["sample", str(NV32C_PKL), "--class", "3", "--device", "cpu"], "out of range"),
        (["sample", str(tmp_path / "none.pt"), "--device", "cpu"], "does not exist"),
        (["convert", str(NV32C_PKL), str(tmp_path / "c.pt")], "cannot be written in the "
                                                              "rosinality layout"),
    ]:
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 1
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err


def test_tiny_checkpoint_module_entry_point(tmp_path):
    from gan_adapt.generators import load, load_discriminator
    from gan_adapt.generators.tiny_models import main

    main([str(tmp_path / "t.pt"), "--resolution", "32", "--channels", "8", "--w-dim", "16"])
    G = load(tmp_path / "t.pt")
    assert (G.img_resolution, G.w_dim, G.config.channels[32]) == (32, 16, 8)
    assert load_discriminator(tmp_path / "t.pt").img_resolution == 32
    main([str(tmp_path / "folder"), "--seed", "2"])
    assert load(tmp_path / "folder").checkpoint_info["format"] == "native"
