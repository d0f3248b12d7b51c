"""Parity with the reference implementations on the shared vectors (tests/data/generators).

Every case runs on the CPU and, where one is present, on CUDA (TF32 off: with TF32 on, cuDNN
convolutions round inputs to 10-bit mantissas and differ from float32 by ~1e-3).
"""

from __future__ import annotations

import pytest
import torch

from gan_adapt.generators import load, load_discriminator
from gan_adapt.weights.safe_pickle import load_pickle
from tests.generators.conftest import PICKLES, ROS_CKPT, TOL_IMAGE, TOL_VECTOR, max_diff

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(scope="module", params=DEVICES)
def device(request):
    if request.param == "cuda":
        saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
        yield request.param
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved
    else:
        yield request.param


def _to(obj, device):
    """Tensors (also inside dicts and lists) moved to ``device``."""
    if isinstance(obj, torch.Tensor):
        return obj.to(device)
    if isinstance(obj, dict):
        return {k: _to(v, device) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_to(v, device) for v in obj]
    return obj


# --------------------------------------------------------------------------------------------
# rosinality


@pytest.fixture(scope="module")
def ros(device):
    return (load(ROS_CKPT, device=device), load(ROS_CKPT, which="g", device=device),
            load_discriminator(ROS_CKPT, device=device))


def _ros_output(name: str, G, Gt, D, inputs, outputs, config) -> torch.Tensor:
    w, w2, z = outputs["w"], outputs["w2"], inputs["z"]
    cases = {
        "w": lambda: G.mapping(z)[:, 0],
        "w2": lambda: G.mapping(inputs["z2"])[:, 0],
        "img_w": lambda: G.synthesis(w, noise_mode="const"),
        "img_trunc": lambda: G.synthesis(
            G.w_avg.lerp(w, config["truncation"])),
        "img_z": lambda: G(z),
        "img_z_trunc": lambda: G(z, truncation_psi=config["truncation_z_case"]),
        "img_mix": lambda: G.synthesis(_mix(w, w2, config["inject_index"], G.num_ws)),
        "latent_mix": lambda: _mix(w, w2, config["inject_index"], G.num_ws),
        "img_noise": lambda: G.synthesis(w, noise=inputs["noise"]),
        "img_wplus": lambda: G.synthesis(outputs["wplus"]),
        "img_g_train": lambda: Gt.synthesis(Gt.mapping(z)),
        "d_logits4": lambda: D(inputs["d_in4"]),
        "d_logits8": lambda: D(inputs["d_in8"]),
        "d_logits2": lambda: D(inputs["d_in2"]),
        "d_trunk32": lambda: D.features(inputs["d_in4"], f"b{G.img_resolution}"),
    }
    return cases[name]()


def _mix(w, w2, index, num_ws):
    return torch.cat([w.unsqueeze(1).repeat(1, index, 1),
                      w2.unsqueeze(1).repeat(1, num_ws - index, 1)], dim=1)


ROS_CASES = ["w", "w2", "img_w", "img_trunc", "img_z", "img_z_trunc", "img_mix", "latent_mix",
             "img_noise", "img_wplus", "img_g_train", "d_logits4", "d_logits8", "d_logits2",
             "d_trunk32"]


@pytest.mark.parametrize("name", ROS_CASES)
def test_rosinality_output(name, ros, ros_cases, device):
    G, Gt, D = ros
    with torch.no_grad():
        got = _ros_output(name, G, Gt, D, _to(ros_cases["inputs"], device),
                          _to(ros_cases["outputs"], device), ros_cases["config"]).cpu()
    tol = TOL_IMAGE if name.startswith(("img", "d_trunk")) else TOL_VECTOR
    assert max_diff(got, ros_cases["outputs"][name]) <= tol


def test_rosinality_truncation_uses_latent_avg(ros, ros_cases, device):
    """img_trunc in the references truncates towards the file's latent_avg."""
    G = ros[0]
    ckpt = torch.load(ROS_CKPT, weights_only=True)
    assert torch.equal(G.w_avg.cpu(), ckpt["latent_avg"])
    with torch.no_grad():
        ws = G.mapping(ros_cases["inputs"]["z"].to(device),
                       truncation_psi=ros_cases["config"]["truncation"])
        got = G.synthesis(ws).cpu()
    assert max_diff(got, ros_cases["outputs"]["img_trunc"]) <= TOL_IMAGE


def test_rosinality_patch_features(ros, ros_cases, device):
    """OneshotCLIP's patch-discriminator maps, computed in one pass and one by one."""
    D = ros[2]
    names = {"convs.1.conv2": "b64.conv1", "convs.2.conv1": "b32.conv0",
             "convs.2.conv2": "b32.conv1", "convs.3.conv1": "b16.conv0"}
    x = ros_cases["inputs"]["d_in4"].to(device)
    refs = ros_cases["outputs"]["d_patch_feats"]
    ours = [names[n] for n in ros_cases["config"]["d_patch_feat_names"]]
    with torch.no_grad():
        logits, maps = D(x, features=ours)
        assert max_diff(logits.cpu(), ros_cases["outputs"]["d_logits4"]) <= TOL_VECTOR
        for name, ref in zip(ours, refs):
            assert max_diff(maps[name].cpu(), ref) <= TOL_IMAGE, name
            assert max_diff(D.features(x, name).cpu(), ref) <= TOL_IMAGE, name


def test_rosinality_noise_order_matches_buffers(ros, device):
    """noise_mode='const' equals passing the checkpoint's noise buffers explicitly."""
    G = ros[0]
    ckpt = torch.load(ROS_CKPT, weights_only=True)["g_ema"]
    noise = [ckpt[f"noises.noise_{i}"].to(device) for i in range(G.num_noise_layers)]
    w = torch.randn(2, G.w_dim, generator=torch.Generator().manual_seed(0)).to(device)
    with torch.no_grad():
        assert torch.equal(G.synthesis(w, noise=noise), G.synthesis(w, noise_mode="const"))


# --------------------------------------------------------------------------------------------
# NVlabs


@pytest.fixture(scope="module")
def nv(device):
    return {tag: (load(path, device=device), load(path, which="G", device=device),
                  load_discriminator(path, device=device))
            for tag, path in PICKLES.items()}


NV_CASES = ["ws", "ws_psi07", "ws_psi05_cutoff", "img_const", "img_none", "img_psi07_const",
            "img_full_psi07_const", "ws2", "img_mix_const", "img_G_const", "d_logits4",
            "d_logits8", "d_logits2"]


def _nv_output(name, G, Gt, D, inputs, outputs, config):
    c = inputs["c"] if G.c_dim else None
    z = inputs["z"]
    cases = {
        "ws": lambda: G.mapping(z, c),
        "ws_psi07": lambda: G.mapping(z, c, truncation_psi=0.7),
        "ws_psi05_cutoff": lambda: G.mapping(z, c, truncation_psi=0.5,
                                             truncation_cutoff=config["truncation_cutoff"]),
        "img_const": lambda: G.synthesis(outputs["ws"], noise_mode="const"),
        "img_none": lambda: G.synthesis(outputs["ws"], noise_mode="none"),
        "img_psi07_const": lambda: G.synthesis(outputs["ws_psi07"], noise_mode="const"),
        "img_full_psi07_const": lambda: G(z, c, truncation_psi=0.7, noise_mode="const"),
        "ws2": lambda: G.mapping(inputs["z2"], inputs["c2"] if G.c_dim else None),
        "img_mix_const": lambda: G.synthesis(torch.cat(
            [outputs["ws"][:, :config["mix_at"]], outputs["ws2"][:, config["mix_at"]:]], 1)),
        "img_G_const": lambda: Gt.synthesis(Gt.mapping(z, c)),
        "d_logits4": lambda: D(outputs["img_const"], c),
        "d_logits8": lambda: D(inputs["d_in8"], inputs["c8"] if G.c_dim else None),
        "d_logits2": lambda: D(inputs["d_in2"], inputs["c2d"] if G.c_dim else None),
    }
    return cases[name]()


@pytest.mark.parametrize("tag", sorted(PICKLES))
@pytest.mark.parametrize("name", NV_CASES)
def test_nvlabs_output(tag, name, nv, nv_cases, device):
    G, Gt, D = nv[tag]
    cases = nv_cases[tag]
    with torch.no_grad():
        got = _nv_output(name, G, Gt, D, _to(cases["inputs"], device),
                         _to(cases["outputs"], device), cases["config"]).cpu()
    tol = TOL_IMAGE if name.startswith("img") else TOL_VECTOR
    assert max_diff(got, cases["outputs"][name]) <= tol


@pytest.mark.parametrize("tag", sorted(PICKLES))
def test_nvlabs_architecture_is_read_from_the_pickle(tag, nv_cases):
    G, D = load(PICKLES[tag]), load_discriminator(PICKLES[tag])
    config = nv_cases[tag]["config"]
    assert (G.z_dim, G.w_dim, G.c_dim, G.num_ws, G.img_resolution) == (
        config["z_dim"], config["w_dim"], config["c_dim"], config["num_ws"],
        config["img_resolution"])
    assert G.config.channels == config["synthesis_channels"]
    assert G.config.conv_clamp == config["conv_clamp"]
    assert D.config.mbstd_group_size == config["mbstd_group_size"]
    assert D.config.conv_clamp == config["conv_clamp"]


@pytest.mark.parametrize("tag", sorted(PICKLES))
def test_nvlabs_state_matches_reference_checksums(tag, nv_cases):
    """The restricted unpickler rebuilds exactly the reference state_dict (names, order, values)."""
    snapshot = load_pickle(PICKLES[tag])
    for net, checksums in nv_cases[tag]["state_checksums"].items():
        tensors = snapshot[net].tensors()
        assert list(tensors) == list(checksums)
        for name, (total, total_abs) in checksums.items():
            t = tensors[name].double()
            assert t.sum().item() == pytest.approx(total, rel=1e-9, abs=1e-9), name
            assert t.abs().sum().item() == pytest.approx(total_abs, rel=1e-9), name


def test_nvlabs_g_and_g_ema_share_buffers_but_not_weights():
    G, Gt = load(PICKLES["nv32"]), load(PICKLES["nv32"], which="G")
    assert torch.equal(G.w_avg, Gt.w_avg)
    assert torch.equal(G.synthesis.b8.conv0.noise_const, Gt.synthesis.b8.conv0.noise_const)
    assert not torch.equal(G.synthesis.b8.conv0.weight, Gt.synthesis.b8.conv0.weight)


def test_conv_clamp_is_applied(nv_cases):
    """Without the clamp, nv32c's image differs by about 3.5 (the vectors catch a missing clamp)."""
    unclamped = load(PICKLES["nv32c"])
    for module in unclamped.modules():
        if hasattr(module, "conv_clamp"):
            module.conv_clamp = None
    ws = nv_cases["nv32c"]["outputs"]["ws"]
    with torch.no_grad():
        assert max_diff(unclamped.synthesis(ws), nv_cases["nv32c"]["outputs"]["img_const"]) > 1.0
