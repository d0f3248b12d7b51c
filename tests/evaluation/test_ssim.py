"""SSIM on hand-made images: identity, constant images (a closed form), symmetry, ordering."""

from __future__ import annotations

import pytest
import torch

from gan_adapt.evaluation.ssim import K1, gaussian_window, ssim


def _constant(value: float, size: int = 32) -> torch.Tensor:
    """An image of one grey level, given in [0, 1], as the [-1, 1] image SSIM takes."""
    return torch.full((1, 3, size, size), value * 2 - 1)


def test_ssim_of_an_image_with_itself_is_one():
    x = torch.rand(4, 3, 32, 32) * 2 - 1
    assert torch.allclose(ssim(x, x), torch.ones(4), atol=1e-6)


@pytest.mark.parametrize("a, b", [(0.2, 0.6), (0.5, 0.5), (0.0, 1.0), (0.9, 0.3)])
def test_constant_images_follow_the_closed_form(a, b):
    # No variance and no covariance: the contrast-structure factor is c2 / c2 = 1, and the
    # luminance factor is (2ab + c1) / (a^2 + b^2 + c1) at every position.
    expected = (2 * a * b + K1 ** 2) / (a * a + b * b + K1 ** 2)
    assert float(ssim(_constant(a), _constant(b))) == pytest.approx(expected, rel=1e-5)


def test_black_against_white_is_nearly_zero_and_equal_greys_are_one():
    assert float(ssim(_constant(0.0), _constant(1.0))) == pytest.approx(1e-4 / (1 + 1e-4),
                                                                         rel=1e-4)
    assert float(ssim(_constant(0.3), _constant(0.3))) == pytest.approx(1.0)


def test_ssim_is_symmetric_and_falls_with_more_noise():
    torch.manual_seed(0)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    y = (x + 0.3 * torch.randn_like(x)).clamp(-1, 1)
    assert torch.allclose(ssim(x, y), ssim(y, x), atol=1e-7)
    z = (x + 0.8 * torch.randn_like(x)).clamp(-1, 1)
    assert (ssim(x, z) < ssim(x, y)).all() and (ssim(x, y) < 1).all()


def test_a_negated_pattern_has_negative_structure():
    # Zero-mean stripes and their negative: same luminance and contrast, correlation -1.
    stripes = torch.zeros(1, 1, 16, 16)
    stripes[..., ::2, :] = 0.5
    stripes[..., 1::2, :] = -0.5
    assert float(ssim(stripes, -stripes)) < -0.9


def test_the_window_is_a_normalised_symmetric_gaussian():
    window = gaussian_window(7, 1.5)
    assert window.shape == (7, 7) and float(window.sum()) == pytest.approx(1.0)
    assert torch.equal(window, window.T) and torch.equal(window, window.flip(0))
    assert window[3, 3] == window.max()


def test_images_smaller_than_the_window_and_wrong_shapes():
    x = torch.rand(1, 3, 4, 4) * 2 - 1
    assert float(ssim(x, x)) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="one shape"):
        ssim(x, torch.zeros(1, 3, 5, 5))
