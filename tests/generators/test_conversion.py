"""Saving and converting: every round trip reloads to identical outputs."""

from __future__ import annotations

import warnings

import pytest
import torch
from click.testing import CliRunner

from gan_adapt.cli.generators import convert as convert_command
from gan_adapt.errors import GanAdaptError
from gan_adapt.generators import (
    convert,
    export_rosinality,
    load,
    load_discriminator,
    read_checkpoint,
    save,
)
from gan_adapt.generators.rosinality import rosinality_channel_multiplier
from tests.generators.conftest import NV32_PKL, NV32C_PKL, ROS_CKPT, TOL_IMAGE, max_diff


def _outputs(G, D, seed: int = 0) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(4, G.z_dim, generator=gen)
    c = (torch.nn.functional.one_hot(torch.arange(4) % G.c_dim, G.c_dim).float()
         if G.c_dim else None)
    noise = G.make_noise(4, generator=gen)
    with torch.no_grad():
        out = [G.mapping(z, c, truncation_psi=0.7), G(z, c, noise_mode="const"),
               G.synthesis(G.mapping(z, c), noise=noise), G.w_avg.clone()]
        if D is not None:
            out += [D(out[1], c), D.features(out[1], D.feature_names[2])]
    return out


def _assert_same(a: list[torch.Tensor], b: list[torch.Tensor], tol: float = 0.0) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert max_diff(x, y) <= tol


def test_rosinality_to_native_and_back(tmp_path):
    G, D = load(ROS_CKPT), load_discriminator(ROS_CKPT)
    folder = convert(ROS_CKPT, tmp_path / "native")
    assert (folder / "config.json").is_file() and (folder / "model.safetensors").is_file()
    G2, D2 = load(folder), load_discriminator(folder)
    assert G2.config == G.config and D2.config == D.config
    _assert_same(_outputs(G, D), _outputs(G2, D2))
    assert read_checkpoint(folder).metadata["source_format"] == "rosinality"


def test_rosinality_export_reproduces_the_original_file_exactly(tmp_path):
    """Exported keys, order, shapes and values equal upstream's own checkpoint."""
    original = torch.load(ROS_CKPT, weights_only=True)
    out = export_rosinality(load(ROS_CKPT), tmp_path / "ros.pt", load_discriminator(ROS_CKPT))
    exported = torch.load(out, weights_only=True)
    assert set(exported) == {"g_ema", "d", "latent_avg"}
    for key in ("g_ema", "d"):
        assert list(exported[key]) == list(original[key])
        for name, tensor in original[key].items():
            assert exported[key][name].shape == tensor.shape, name
            assert torch.equal(exported[key][name], tensor), name
    assert torch.equal(exported["latent_avg"], original["latent_avg"])


def test_nvlabs_to_native_to_rosinality_and_back(tmp_path):
    G, D = load(NV32_PKL), load_discriminator(NV32_PKL)
    folder = convert(NV32_PKL, tmp_path / "native")
    pt = convert(folder, tmp_path / "exported.pt")
    assert pt.suffix == ".pt"
    G2, D2 = load(pt), load_discriminator(pt)
    assert read_checkpoint(pt).format == "rosinality"
    # Same tensors: identical outputs (the mapping rescale for lr 0.01 is x1.0).
    _assert_same(_outputs(G, D), _outputs(G2, D2))


def test_conditional_clamped_network_round_trips_through_native(tmp_path):
    G, D = load(NV32C_PKL), load_discriminator(NV32C_PKL)
    folder = convert(NV32C_PKL, tmp_path / "native")
    G2, D2 = load(folder), load_discriminator(folder)
    assert G2.config.conv_clamp == 1.5 and G2.c_dim == 3
    _assert_same(_outputs(G, D), _outputs(G2, D2))


def test_conditional_network_cannot_become_rosinality(tmp_path):
    with pytest.raises(GanAdaptError, match="conditional.*native format"):
        convert(NV32C_PKL, tmp_path / "c.pt")
    assert not (tmp_path / "c.pt").exists()


def test_mapping_lr_is_folded_into_exported_weights(tmp_path, tiny_pair):
    import copy

    G = copy.deepcopy(tiny_pair[0])
    G.config.mapping_lr = 0.05
    for module in G.mapping.modules():
        if hasattr(module, "weight_gain") and hasattr(module, "bias_gain"):
            module.weight_gain *= 5
            module.bias_gain = 0.05
    G2 = load(export_rosinality(G, tmp_path / "lr.pt"))
    assert G2.config.mapping_lr == 0.01
    _assert_same(_outputs(G, None), _outputs(G2, None), tol=TOL_IMAGE)


def test_conv_clamp_export_warns(tmp_path, tiny_pair):
    import copy

    G = copy.deepcopy(tiny_pair[0])
    G.config.conv_clamp = 256.0
    with pytest.warns(UserWarning, match="drops the clamp"):
        export_rosinality(G, tmp_path / "clamp.pt")


def test_training_generator_can_be_converted(tmp_path):
    Gt = load(ROS_CKPT, which="g")
    folder = convert(ROS_CKPT, tmp_path / "g_train", which="g", discriminator=False)
    assert read_checkpoint(folder).discriminator is None
    _assert_same(_outputs(Gt, None), _outputs(load(folder), None))


def test_pickle_output_is_refused(tmp_path):
    with pytest.raises(GanAdaptError, match="writing NVlabs network pickles is not supported"):
        convert(ROS_CKPT, tmp_path / "out.pkl")


def test_d_with_other_mbstd_group_cannot_become_rosinality(tmp_path):
    import copy

    G, D = load(NV32_PKL), load_discriminator(NV32_PKL)
    D2 = copy.deepcopy(D)
    D2.config.mbstd_group_size = 8
    with pytest.raises(GanAdaptError, match="--no-discriminator"):
        export_rosinality(G, tmp_path / "x.pt", D2)


def test_save_records_metadata_and_is_loadable_by_zoo_free_path(tmp_path, tiny_pair):
    G, D = tiny_pair
    folder = save(G, tmp_path / "tiny", D, metadata={"recipe": "oneshotclip"})
    contents = read_checkpoint(folder / "config.json")  # either file of the folder works
    assert contents.metadata == {"recipe": "oneshotclip"}
    _assert_same(_outputs(G, D), _outputs(load(folder / "model.safetensors"),
                                          load_discriminator(folder)))


def test_channel_multiplier_for_peer_tools():
    assert rosinality_channel_multiplier({4: 512, 8: 512, 16: 512, 32: 512, 64: 512, 128: 256,
                                          256: 128, 512: 64, 1024: 32}) == 2
    assert rosinality_channel_multiplier({4: 512, 8: 512, 16: 512, 32: 512, 64: 256,
                                          128: 128, 256: 64}) == 1
    assert rosinality_channel_multiplier({4: 16, 8: 16}) is None


def test_convert_command(tmp_path):
    runner = CliRunner()
    result = runner.invoke(convert_command, [str(NV32_PKL), str(tmp_path / "nv.pt")])
    assert result.exit_code == 0, result.output
    assert "wrote rosinality checkpoint" in result.output
    result = runner.invoke(convert_command, [str(tmp_path / "nv.pt"), str(tmp_path / "folder"),
                                             "--no-discriminator"])
    assert result.exit_code == 0, result.output
    assert read_checkpoint(tmp_path / "folder").discriminator is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an unclamped network exports without warnings
        convert(NV32_PKL, tmp_path / "again.pt")
