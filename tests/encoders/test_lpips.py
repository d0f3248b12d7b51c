"""LPIPS and MSE per sample, with consistent resizing."""

from __future__ import annotations

import pytest
import torch
import torchvision

from gan_adapt.encoders.perceptual import LPIPSDistance, match_size, mse
from gan_adapt.errors import CheckpointError


@pytest.fixture(scope="module")
def lpips_random():
    torch.manual_seed(0)
    return LPIPSDistance("alex", pretrained=False, resize_to=None)


def _images(n=3, size=64, seed=0):
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_identical_images_are_at_distance_zero(lpips_random):
    x = _images()
    d = lpips_random(x, x)
    assert d.shape == (3,)
    torch.testing.assert_close(d, torch.zeros(3), atol=1e-7, rtol=0)


def test_different_images_are_at_positive_distance(lpips_random):
    d = lpips_random(_images(seed=0), _images(seed=1))
    assert (d > 0).all()


def test_gradients_reach_both_inputs_not_the_weights(lpips_random):
    x = _images().requires_grad_(True)
    y = _images(seed=1).requires_grad_(True)
    lpips_random(x, y).sum().backward()
    assert x.grad.abs().sum() > 0 and y.grad.abs().sum() > 0
    assert all(not p.requires_grad and p.grad is None for p in lpips_random.parameters())


def test_resizing_is_the_same_for_both_inputs():
    torch.manual_seed(0)
    distance = LPIPSDistance("alex", pretrained=False, resize_to=32)
    x, y = _images(size=96), _images(size=96, seed=1)
    small_x, small_y = match_size(x, y, 32)
    assert small_x.shape[-1] == 32
    torch.testing.assert_close(distance(x, y), distance(small_x, small_y))
    # An image and its own (identically resized) copy at another resolution are at distance 0.
    torch.testing.assert_close(distance(x, small_x), torch.zeros(3), atol=1e-6, rtol=0)


def test_match_size_keeps_the_smaller_size_by_default():
    x, y = _images(size=64), _images(size=32)
    a, b = match_size(x, y)
    assert a.shape[-2:] == b.shape[-2:] == (32, 32) and b is y
    torch.testing.assert_close(mse(x, a), torch.zeros(3))


def test_mse_is_per_sample():
    x = torch.zeros(2, 3, 8, 8)
    y = torch.stack([torch.full((3, 8, 8), 0.1), torch.full((3, 8, 8), 0.5)])
    torch.testing.assert_close(mse(x, y), torch.tensor([0.01, 0.25]))


@pytest.mark.parametrize("net, factory", [("alex", torchvision.models.alexnet),
                                          ("squeeze", torchvision.models.squeezenet1_1)])
def test_backbone_loads_from_a_torchvision_state_dict(tmp_path, net, factory):
    torch.manual_seed(0)
    backbone = factory(weights=None)
    path = tmp_path / f"{net}.pth"
    torch.save(backbone.state_dict(), path)
    distance = LPIPSDistance(net, pretrained=True, checkpoint=path)
    features = dict(backbone.features.named_parameters())
    for key, value in distance.lpips.net.state_dict().items():
        assert torch.equal(value, features[key.split(".", 1)[1]])
    # The calibrated heads come from the lpips package: non-negative, not random.
    assert all((lin.model[-1].weight >= 0).all() for lin in distance.lpips.lins)


def test_backbone_file_of_the_wrong_network(tmp_path):
    path = tmp_path / "vgg.pth"
    torch.save(torchvision.models.squeezenet1_1(weights=None).state_dict(), path)
    with pytest.raises(CheckpointError, match="vgg.pth"):
        LPIPSDistance("alex", pretrained=True, checkpoint=path)


def test_stays_in_eval_mode(lpips_random):
    lpips_random.train()
    assert not any(m.training for m in lpips_random.modules())
