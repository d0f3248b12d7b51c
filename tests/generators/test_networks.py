"""The generator/discriminator interface that recipes rely on."""

from __future__ import annotations

import copy

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gan_adapt.errors import GanAdaptError
from gan_adapt.generators import freeze, load, load_discriminator, ops, tiny
from tests.generators.conftest import NV32C_PKL, ROS_CKPT


@pytest.fixture
def pair(tiny_pair):
    return copy.deepcopy(tiny_pair[0]), copy.deepcopy(tiny_pair[1])


def test_attributes(pair):
    G, D = pair
    assert (G.z_dim, G.w_dim, G.c_dim, G.num_ws, G.img_resolution) == (16, 16, 0, 6, 16)
    assert G.w_avg.shape == (16,) and G.num_noise_layers == 5
    assert D.img_resolution == 16


def test_generator_groups_partition_parameters(pair):
    G, _ = pair
    groups = G.parameter_groups()
    assert list(groups) == ["mapping", "const", "b4.conv", "b4.torgb", "b8.conv", "b8.torgb",
                            "b16.conv", "b16.torgb"]
    names = [n for members in groups.values() for n in members]
    assert sorted(names) == sorted(n for n, _ in G.named_parameters())
    assert groups["const"] == ["synthesis.b4.const"]
    assert "synthesis.b8.conv0.affine.weight" in groups["b8.conv"]
    assert "synthesis.b8.conv1.noise_strength" in groups["b8.conv"]
    assert all(n.startswith("synthesis.b16.torgb.") for n in groups["b16.torgb"])


def test_discriminator_groups_partition_parameters():
    D = load_discriminator(NV32C_PKL)
    groups = D.parameter_groups()
    assert set(groups) == {"b32", "b16", "b8", "b4", "mapping"}
    names = sorted(n for members in groups.values() for n in members)
    assert names == sorted(n for n, _ in D.named_parameters())


def test_freeze_oneshotclip_groups(pair):
    G, _ = pair
    frozen = freeze(G, ["mapping", "*.torgb"])
    trainable = {n for n, p in G.named_parameters() if p.requires_grad}
    assert set(frozen).isdisjoint(trainable)
    assert all(n.startswith("mapping.") or ".torgb." in n for n in frozen)
    assert "synthesis.b4.const" in trainable and "synthesis.b16.conv1.weight" in trainable
    assert not any(n.startswith("mapping.") for n in trainable)


def test_freeze_typo_is_an_error(pair):
    G, _ = pair
    with pytest.raises(GanAdaptError, match="'torgb' matches no parameter group.*b4.torgb"):
        freeze(G, ["torgb"])


def test_deepcopy_and_shared_noise(pair):
    """G_t = deepcopy(G_s) computes the same function, also with shared random noise."""
    G_s, _ = pair
    G_t = copy.deepcopy(G_s)
    ws = G_s.mapping(torch.randn(3, G_s.z_dim))
    noise = G_s.make_noise(3, generator=torch.Generator().manual_seed(1))
    assert [n.shape for n in noise] == [(3, 1, 4, 4), (3, 1, 8, 8), (3, 1, 8, 8),
                                        (3, 1, 16, 16), (3, 1, 16, 16)]
    with torch.no_grad():
        assert torch.equal(G_s.synthesis(ws, noise=noise), G_t.synthesis(ws, noise=noise))
        assert torch.equal(G_s.synthesis(ws), G_t.synthesis(ws))  # const buffers are copied
        a = G_s.synthesis(ws, noise_mode="random")
        b = G_s.synthesis(ws, noise_mode="random")
    assert not torch.equal(a, b)
    assert torch.equal(noise[0], G_s.make_noise(3, generator=torch.Generator().manual_seed(1))[0])


def test_ws_shapes_and_validation(pair):
    G, _ = pair
    w = G.mapping(torch.randn(2, G.z_dim))
    with torch.no_grad():
        assert torch.equal(G.synthesis(w[:, 0]), G.synthesis(w))
        with pytest.raises(ValueError, match=r"ws must be \[N, 16\] or \[N, 6, 16\]"):
            G.synthesis(w[:, :3])
        with pytest.raises(ValueError, match="noise must hold 5 tensors"):
            G.synthesis(w, noise=G.make_noise(2)[:4])
        with pytest.raises(ValueError, match=r"noise\[0\] must end in 4x4"):
            G.synthesis(w, noise=list(reversed(G.make_noise(2))))
        with pytest.raises(ValueError, match="noise_mode must be one of"):
            G.synthesis(w, noise_mode="fixed")
        with pytest.raises(ValueError, match=r"z must have shape \[N, 16\]"):
            G.mapping(torch.randn(2, 5))


def test_truncation_cutoff(pair):
    G, _ = pair
    z = torch.randn(2, G.z_dim)
    full, cut = G.mapping(z), G.mapping(z, truncation_psi=0.0, truncation_cutoff=2)
    assert torch.allclose(cut[:, :2], G.w_avg.expand(2, 2, -1))
    assert torch.equal(cut[:, 2:], full[:, 2:])


def test_conditional_generator_requires_labels():
    G = load(NV32C_PKL)
    with pytest.raises(ValueError, match=r"conditional: pass labels c of shape \[N, 3\]"):
        G(torch.randn(1, G.z_dim))


def test_gradients_reach_trainable_parameters(pair):
    G, D = pair
    freeze(G, ["mapping", "*.torgb"])
    ws = G.mapping(torch.randn(2, G.z_dim)).detach()
    logits = D(G.synthesis(ws, noise=G.make_noise(2)))
    logits.sum().backward()
    assert G.synthesis.b8.conv0.weight.grad is not None
    assert G.synthesis.b4.const.grad is not None
    assert G.synthesis.b8.torgb.weight.grad is None
    assert D.b16.fromrgb.weight.grad is not None


def test_discriminator_features(pair):
    _, D = pair
    x = torch.randn(2, 3, 16, 16)
    assert D.feature_names == ["b16.fromrgb", "b16.conv0", "b16.conv1", "b16", "b8.conv0",
                               "b8.conv1", "b8", "b4.conv", "b4.fc"]
    with torch.no_grad():
        logits, maps = D(x, features=D.feature_names)
        assert torch.equal(logits, D(x))
        for name in D.feature_names:
            assert torch.equal(D.features(x, name), maps[name]), name
    assert maps["b16.conv0"].shape == (2, 8, 16, 16) and maps["b16.conv1"].shape == (2, 8, 8, 8)
    with pytest.raises(ValueError, match="unknown feature map"):
        D.features(x, "convs.1.conv1")
    with pytest.raises(ValueError, match=r"D expects images \[N, 3, 16, 16\]"):
        D(torch.randn(2, 3, 32, 32))


def test_features_stop_early(pair, monkeypatch):
    """features() runs only the layers up to the requested map (the patch discriminator
    must not pay for the whole trunk)."""
    _, D = pair
    calls = []
    monkeypatch.setattr(D.b8.conv1, "forward", lambda *a: calls.append("b8.conv1"))
    D.features(torch.randn(2, 3, 16, 16), "b8.conv0")
    assert calls == []


def test_mean_latent_is_deterministic_and_close_to_the_mean(pair):
    G, _ = pair
    a, b = G.mean_latent(n=3000, seed=5), G.mean_latent(n=3000, seed=5)
    assert torch.equal(a, b)
    ws = G.mapping(torch.randn(3000, G.z_dim))[:, 0]
    assert (a - ws.mean(0)).abs().max() < 0.2 * ws.std(0).max()


def test_tiny_is_deterministic():
    G1, D1 = tiny(resolution=16, channels=8, w_dim=16, seed=7)
    G2, D2 = tiny(resolution=16, channels=8, w_dim=16, seed=7)
    z = torch.randn(2, 16)
    with torch.no_grad():
        assert torch.equal(G1(z), G2(z))
        assert torch.equal(D1(G1(z)), D2(G2(z)))
    G3, _ = tiny(resolution=16, channels=8, w_dim=16, seed=8)
    with torch.no_grad():
        assert not torch.equal(G1(z), G3(z))


def test_generator_config_is_json_ready():
    import json

    G = load(ROS_CKPT)
    again = type(G.config).from_dict(json.loads(json.dumps(G.config.to_dict())))
    assert again == G.config
    with pytest.raises(ValueError, match="unknown GeneratorConfig fields"):
        type(G.config).from_dict({**G.config.to_dict(), "blur": [1, 3, 3, 1]})


def test_load_to_device_argument():
    G = load(ROS_CKPT, device=torch.device("cpu"))
    assert G.w_avg.device.type == "cpu"
    assert G.checkpoint_info["format"] == "rosinality" and G.checkpoint_info["which"] == "g_ema"


# --------------------------------------------------------------------------------------------
# The minibatch-stddev layer against its definition (strided groups).


@settings(max_examples=25, deadline=None)
@given(groups=st.sampled_from([1, 2, 4]), per_group=st.integers(1, 3),
       group_size=st.sampled_from([2, 4, None]), channels=st.sampled_from([2, 4]))
def test_minibatch_stddev_matches_definition(groups, per_group, group_size, channels):
    n = groups * per_group
    if group_size is not None and n % min(group_size, n):
        return
    x = torch.randn(n, channels, 3, 3, generator=torch.Generator().manual_seed(n))
    out = ops.minibatch_stddev(x, group_size, 1)
    g = min(group_size, n) if group_size is not None else n
    for i in range(n):
        members = [j for j in range(n) if j % (n // g) == i % (n // g)]  # strided grouping
        expected = (x[members].var(0, unbiased=False) + 1e-8).sqrt().mean()
        assert torch.allclose(out[i, -1], expected.expand(3, 3), atol=1e-6)
    assert torch.equal(out[:, :channels], x)
