"""Wrong, damaged or foreign files give specific, actionable errors; odd-but-valid ones load."""

from __future__ import annotations

import argparse
import pickle
import sys
import types
from collections import OrderedDict

import pytest
import torch

from gan_adapt.errors import CheckpointError, GanAdaptError
from gan_adapt.generators import load, load_discriminator, save
from gan_adapt.generators.checkpoints import read_checkpoint
from gan_adapt.weights.safe_pickle import load_pickle
from tests.generators.conftest import NV32_PKL, ROS_CKPT, max_diff


def _ros_ckpt() -> dict:
    return torch.load(ROS_CKPT, weights_only=True)


def test_missing_path_lists_zoo_names(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist.*ffhq-1024"):
        load(tmp_path / "nope.pt")


def test_empty_file(tmp_path):
    path = tmp_path / "empty.pt"
    path.write_bytes(b"")
    with pytest.raises(CheckpointError, match="is empty"):
        load(path)


@pytest.mark.parametrize("source", [ROS_CKPT, NV32_PKL], ids=["pt", "pkl"])
def test_truncated_file(source, tmp_path):
    path = tmp_path / source.name
    path.write_bytes(source.read_bytes()[: source.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load(path)


def test_random_bytes(tmp_path):
    path = tmp_path / "noise.pt"
    path.write_bytes(bytes(range(7, 256)) * 4)
    with pytest.raises(CheckpointError, match="not a checkpoint gan-adapt can read"):
        load(path)


def test_html_error_page(tmp_path):
    path = tmp_path / "ffhq.pkl"
    path.write_bytes(b"<!DOCTYPE html><html><body>Sign in</body></html>")
    with pytest.raises(CheckpointError, match="web page"):
        load(path)


def test_bare_safetensors_file(tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "weights.safetensors"
    save_file({"a": torch.zeros(2)}, str(path))
    with pytest.raises(CheckpointError, match="config.json next to model.safetensors"):
        load(path)


def test_folder_without_config(tmp_path):
    with pytest.raises(CheckpointError, match="folder without a gan-adapt config.json"):
        load(tmp_path)


@pytest.mark.parametrize("state, what", [
    ({"layer1.0.conv1.weight": torch.zeros(2), "fc.weight": torch.zeros(2)}, "ResNet"),
    ({"visual.conv1.weight": torch.zeros(2), "positional_embedding": torch.zeros(2)}, "CLIP"),
    ({"synthesis.input.affine.weight": torch.zeros(2), "mapping.fc0.weight": torch.zeros(2)},
     "StyleGAN3"),
    ({"foo": torch.zeros(2)}, "another kind"),
])
def test_state_dict_of_another_model(state, what, tmp_path):
    path = tmp_path / "other.pt"
    torch.save(state, path)
    with pytest.raises(CheckpointError, match=f"looks like .*{what}.*not a StyleGAN2 generator"
                                              ".*Expected a rosinality"):
        load(path)


def test_generator_where_a_discriminator_should_be(tmp_path):
    ckpt = _ros_ckpt()
    path = tmp_path / "swapped.pt"
    torch.save({"g_ema": ckpt["g_ema"], "d": ckpt["g_ema"]}, path)
    with pytest.raises(CheckpointError, match=r"\[d\].*not a StyleGAN2"):
        load(path)


def test_incomplete_rosinality_state(tmp_path):
    ckpt = _ros_ckpt()
    del ckpt["g_ema"]["convs.3.noise.weight"]
    path = tmp_path / "incomplete.pt"
    torch.save(ckpt, path)
    with pytest.raises(CheckpointError, match="lacks 1 expected key.*convs.3.noise.weight"):
        load(path)


def test_unexpected_generator_key(tmp_path):
    ckpt = _ros_ckpt()
    ckpt["g_ema"]["extra.weight"] = torch.zeros(1)
    path = tmp_path / "extra.pt"
    torch.save(ckpt, path)
    with pytest.raises(CheckpointError, match="unexpected key.*extra.weight"):
        load(path)


def test_wrong_shape(tmp_path):
    ckpt = _ros_ckpt()
    ckpt["g_ema"]["convs.1.activate.bias"] = torch.zeros(7)
    path = tmp_path / "shape.pt"
    torch.save(ckpt, path)
    with pytest.raises(CheckpointError, match="wrong shape.*synthesis.b8.conv1.bias"):
        load(path)


def test_nonstandard_blur_kernel(tmp_path):
    ckpt = _ros_ckpt()
    ckpt["g_ema"]["convs.0.conv.blur.kernel"] = torch.ones(4, 4)
    path = tmp_path / "blur.pt"
    torch.save(ckpt, path)
    with pytest.raises(CheckpointError, match="standard \\[1, 3, 3, 1\\] blur kernel"):
        load(path)


def test_bad_which():
    with pytest.raises(CheckpointError, match="which='gema'.*'g_ema'"):
        load(ROS_CKPT, which="gema")


def test_which_absent_from_file(tmp_path):
    path = tmp_path / "ema_only.pt"
    torch.save({"g_ema": _ros_ckpt()["g_ema"]}, path)
    with pytest.raises(CheckpointError, match="no 'g' generator.*holds: g_ema"):
        load(path, which="g")


def test_which_aliases_across_formats():
    assert torch.equal(load(NV32_PKL, which="g_ema").synthesis.b4.const,
                       load(NV32_PKL, which="G_ema").synthesis.b4.const)
    assert torch.equal(load(ROS_CKPT, which="G").synthesis.b4.const,
                       load(ROS_CKPT, which="g").synthesis.b4.const)


def test_missing_discriminator_rosinality(tmp_path):
    ckpt = _ros_ckpt()
    path = tmp_path / "no_d.pt"
    torch.save({"g_ema": ckpt["g_ema"], "latent_avg": ckpt["latent_avg"]}, path)
    with pytest.raises(CheckpointError, match="has no discriminator; the patch head needs it"):
        load_discriminator(path, reason="the patch head needs it")
    with pytest.raises(CheckpointError, match="has no discriminator; gan-adapt needs"):
        load_discriminator(path)


def _plain(value):
    """EasyDict stand-ins -> plain dicts (the re-pickled file must not name gan-adapt)."""
    if isinstance(value, dict) and type(value) is not OrderedDict:
        return {k: _plain(v) for k, v in value.items()}
    return value


def _repickle(snapshot: dict, monkeypatch) -> bytes:
    """Write records back in the NVlabs layout (a stand-in ``torch_utils.persistence`` module
    exists only while pickling)."""
    module = types.ModuleType("torch_utils.persistence")

    def _reconstruct_persistent_obj(meta):
        return meta

    _reconstruct_persistent_obj.__module__ = module.__name__
    _reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"
    module._reconstruct_persistent_obj = _reconstruct_persistent_obj

    class Record:
        def __init__(self, record):
            self.record = record

        def __reduce__(self):
            state = {k: _plain(v) for k, v in self.record.state.items()}
            state["_modules"] = {k: (Record(v) if v is not None else None)
                                 for k, v in (state.get("_modules") or {}).items()}
            meta = {"type": "class", "version": 6, "module_src": "# omitted",
                    "class_name": self.record.class_name, "state": state}
            return _reconstruct_persistent_obj, (meta,)

    with monkeypatch.context() as patch:
        patch.setitem(sys.modules, "torch_utils", types.ModuleType("torch_utils"))
        patch.setitem(sys.modules, "torch_utils.persistence", module)
        return pickle.dumps({k: Record(v) if hasattr(v, "class_name") else v
                             for k, v in snapshot.items()}, protocol=2)


def test_missing_discriminator_nvlabs(tmp_path, monkeypatch):
    snapshot = load_pickle(NV32_PKL)
    del snapshot["D"]
    path = tmp_path / "no_d.pkl"
    path.write_bytes(_repickle(snapshot, monkeypatch))
    assert load(path).img_resolution == 32  # a protocol-2 re-pickle loads too
    with pytest.raises(CheckpointError, match="has no discriminator"):
        load_discriminator(path)


def test_missing_discriminator_native(tmp_path, tiny_pair):
    folder = save(tiny_pair[0], tmp_path / "g_only")
    with pytest.raises(CheckpointError, match="has no discriminator"):
        load_discriminator(folder)


def test_missing_latent_avg_is_estimated(tmp_path):
    ckpt = _ros_ckpt()
    path = tmp_path / "no_avg.pt"
    torch.save({"g_ema": ckpt["g_ema"]}, path)
    G = load(path)
    assert G.checkpoint_info["w_avg_estimated"] is True
    assert max_diff(G.w_avg, ckpt["latent_avg"]) < 0.1  # 10k samples: error ~0.03 here
    assert load(ROS_CKPT).checkpoint_info["w_avg_estimated"] is False


def test_training_checkpoint_with_argparse_namespace_and_module_prefix(tmp_path):
    """rosinality training checkpoints store args (a Namespace) and optimiser states; DDP
    wrappers prefix every key with 'module.'. Both load."""
    ckpt = _ros_ckpt()
    g_ema = OrderedDict((f"module.{k}", v) for k, v in ckpt["g_ema"].items())
    path = tmp_path / "010000.pt"
    torch.save({"g": ckpt["g"], "d": ckpt["d"], "g_ema": g_ema, "args": argparse.Namespace(
        size=64, n_mlp=2), "g_optim": {"state": {}, "param_groups": []},
        "ada_aug_p": 0.1}, path)
    G = load(path)
    assert torch.equal(G.synthesis.b4.const, ckpt["g_ema"]["input.input"][0])
    assert load_discriminator(path).img_resolution == 64


def test_bare_state_dicts(tmp_path):
    ckpt = _ros_ckpt()
    torch.save(ckpt["g_ema"], tmp_path / "g.pt")
    torch.save(ckpt["d"], tmp_path / "d.pt")
    assert load(tmp_path / "g.pt").img_resolution == 64
    assert load_discriminator(tmp_path / "d.pt").img_resolution == 64
    with pytest.raises(CheckpointError, match="no discriminator"):
        load_discriminator(tmp_path / "g.pt")


def test_nvlabs_state_dicts_in_a_torch_file(tmp_path, nv_cases):
    """`torch.save({"G_ema": G.state_dict(), "D": D.state_dict()})` of NVlabs networks loads."""
    G = load(NV32_PKL)
    D = load_discriminator(NV32_PKL)
    path = tmp_path / "nv_state.pt"
    torch.save({"G_ema": G.state_dict(), "D": D.state_dict()}, path)
    contents = read_checkpoint(path)
    assert contents.format == "nvlabs-state-dict"
    G2, D2 = load(path), load_discriminator(path)
    outputs = nv_cases["nv32"]["outputs"]
    with torch.no_grad():
        assert torch.equal(G2.synthesis(outputs["ws"]), G.synthesis(outputs["ws"]))
        assert torch.equal(D2(outputs["img_const"]), D(outputs["img_const"]))


def test_native_config_of_another_format(tmp_path):
    (tmp_path / "config.json").write_text('{"format": "something-else"}')
    with pytest.raises(CheckpointError, match="not a gan-adapt StyleGAN2 config"):
        load(tmp_path)


def test_native_newer_version(tmp_path, tiny_pair):
    import json

    folder = save(tiny_pair[0], tmp_path / "g")
    config = json.loads((folder / "config.json").read_text())
    config["format_version"] = 99
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="newer gan-adapt"):
        load(folder)


def test_native_truncated_weights(tmp_path, tiny_pair):
    folder = save(tiny_pair[0], tmp_path / "g")
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load(folder)


def test_errors_are_user_errors():
    assert issubclass(CheckpointError, GanAdaptError)
