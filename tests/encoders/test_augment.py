"""CLIP augmentations: per-sample, reproducible, differentiable, and geometrically right."""

from __future__ import annotations

import pytest
import torch

from gan_adapt.encoders.augment import CLIPAugment, affine_matrix, homography, warp

OFF = dict(affine_degrees=0, translate=0, shear=0, perspective=0, jitter=0, erase_p=0)


def _image(n=1, size=32, seed=0):
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


def _dot(size=16, row=4, col=4):
    img = torch.zeros(1, 3, size, size)
    img[..., row, col] = 1.0
    return img


def _where(img):
    return tuple((img[0, 0] == img[0, 0].max()).nonzero()[0].tolist())


def test_everything_off_is_the_identity():
    x = _image(2)
    torch.testing.assert_close(CLIPAugment(**OFF)(x), x)


@pytest.mark.parametrize("size", [(32, 32), (40, 56)])
def test_identity_warp_reproduces_the_image(size):
    x = torch.rand(2, 3, *size)
    torch.testing.assert_close(warp(x, torch.eye(3).expand(2, 3, 3)), x, atol=1e-5, rtol=0)


def test_copies_differ_from_each_other():
    copies = CLIPAugment().repeat(_image(), 8, torch.Generator().manual_seed(0))
    assert copies.shape == (8, 3, 32, 32)
    flat = copies.flatten(1)
    for i in range(8):
        for j in range(i + 1, 8):
            assert not torch.allclose(flat[i], flat[j])


@pytest.mark.parametrize("only", [dict(affine_degrees=15), dict(perspective=0.7),
                                  dict(jitter=0.1), dict(erase_p=1.0)])
def test_each_step_draws_per_sample(only):
    x = _image().expand(6, -1, -1, -1)
    out = CLIPAugment(**{**OFF, **only})(x, torch.Generator().manual_seed(1))
    assert all(not torch.allclose(out[0], out[i]) for i in range(1, 6))


def test_reproducible_with_a_generator_and_with_the_global_seed():
    aug, x = CLIPAugment(), _image(4)
    a = aug(x, torch.Generator().manual_seed(7))
    b = aug(x, torch.Generator().manual_seed(7))
    c = aug(x, torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and not torch.allclose(a, c)
    torch.manual_seed(3)
    d = aug(x)
    torch.manual_seed(3)
    assert torch.equal(d, aug(x))


def test_differentiable_with_respect_to_the_input():
    x = _image(2).requires_grad_(True)
    CLIPAugment().repeat(x, 4, torch.Generator().manual_seed(0)).sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_warp_passes_gradcheck():
    x = torch.rand(1, 3, 6, 6, dtype=torch.float64, requires_grad=True)
    matrix = affine_matrix(torch.tensor([10.0]), torch.tensor([0.1]), torch.tensor([-0.05]),
                           torch.tensor([3.0])).double()
    assert torch.autograd.gradcheck(lambda t: warp(t, matrix), (x,))


def test_translation_moves_content_right_and_down():
    zero = torch.zeros(1)
    forward = affine_matrix(zero, torch.tensor([0.25]), torch.tensor([0.5]), zero)  # 2 px, 4 px
    assert _where(warp(_dot(), torch.linalg.inv(forward))) == (8, 6)


def test_positive_angles_rotate_counter_clockwise():
    zero = torch.zeros(1)
    forward = affine_matrix(torch.tensor([90.0]), zero, zero, zero)
    assert _where(warp(_dot(), torch.linalg.inv(forward))) == (11, 4)  # top-left -> bottom-left


def test_homography_maps_the_points():
    src = torch.tensor([[[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]]])
    dst = torch.tensor([[[-0.8, -0.9], [0.7, -1.0], [1.0, 0.6], [-0.9, 0.8]]])
    h = homography(src, dst)
    points = torch.cat([src, torch.ones(1, 4, 1)], -1) @ h.transpose(1, 2)
    torch.testing.assert_close(points[..., :2] / points[..., 2:], dst)


def test_jitter_keeps_images_in_range():
    out = CLIPAugment(**{**OFF, "jitter": 0.5})(_image(8), torch.Generator().manual_seed(0))
    assert out.min() >= 0 and out.max() <= 1


def test_erasing_blanks_one_rectangle_of_the_requested_area():
    x = torch.ones(64, 3, 40, 40)
    out = CLIPAugment(**{**OFF, "erase_p": 1.0})(x, torch.Generator().manual_seed(0))
    erased = (out == 0).all(dim=1)  # [N, H, W]
    fraction = erased.flatten(1).float().mean(1)
    assert (fraction > 0.05).all() and (fraction < 0.5).all()
    rows, cols = erased.any(2), erased.any(1)  # a rectangle: its bounding box is fully erased
    assert torch.equal(erased.sum((1, 2)), rows.sum(1) * cols.sum(1))
    assert torch.equal(CLIPAugment(**OFF)(x), x)


def test_erasing_probability():
    x = torch.ones(400, 3, 8, 8)
    out = CLIPAugment(**{**OFF, "erase_p": 0.7})(x, torch.Generator().manual_seed(0))
    rate = (out == 0).flatten(1).any(1).float().mean()
    assert 0.6 < rate < 0.8


@pytest.mark.parametrize("bad", [dict(affine_degrees=-1), dict(erase_p=1.5),
                                 dict(erase_scale=(0.5, 0.1)), dict(perspective=2.0)])
def test_invalid_settings_are_refused(bad):
    with pytest.raises(ValueError):
        CLIPAugment(**bad)


def test_rejects_non_image_input():
    with pytest.raises(ValueError, match=r"\[N, 3, H, W\]"):
        CLIPAugment()(torch.rand(3, 32, 32))
