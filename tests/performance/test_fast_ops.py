"""The optimised StyleGAN2 operations compute the same function as the straightforward ones:
values and gradients (and, for D, the R1 double backward) agree within float tolerance."""

from __future__ import annotations

import pytest
import torch

from gan_adapt.generators import ops, tiny
from gan_adapt.losses.adversarial import r1_penalty


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.detach().double(), b.detach().double()
    return float((a - b).norm() / b.norm().clamp_min(1e-30))


@pytest.mark.parametrize("up,demodulate", [(False, True), (True, True), (False, False)])
def test_batched_modulated_conv_equals_per_sample_weights(up, demodulate):
    torch.manual_seed(0)
    x = torch.randn(3, 5, 6, 6, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(4, 5, 3 if demodulate else 1, 3 if demodulate else 1,
                         dtype=torch.float64, requires_grad=True)
    styles = torch.randn(3, 5, dtype=torch.float64, requires_grad=True)
    kernel = ops.fir_kernel(dtype=torch.float64)
    fast = ops.modulated_conv2d(x, weight, styles, demodulate=demodulate, up=up, kernel=kernel)
    slow = ops.modulated_conv2d(x, weight, styles, demodulate=demodulate, up=up, kernel=kernel,
                                grouped=True)
    assert fast.shape == slow.shape == (3, 4, 12 if up else 6, 12 if up else 6)
    assert rel(fast, slow) < 1e-12
    g = torch.randn_like(fast)
    for a, b in zip(torch.autograd.grad(fast, (x, weight, styles), g),
                    torch.autograd.grad(slow, (x, weight, styles), g)):
        assert rel(a, b) < 1e-12


@pytest.mark.parametrize("clamp", [None, 0.7])
def test_fused_bias_leaky_relu_equals_separate_ops_to_second_order(clamp):
    torch.manual_seed(1)
    x = torch.randn(2, 3, 3, 3, dtype=torch.float64, requires_grad=True)
    b = torch.randn(3, dtype=torch.float64, requires_grad=True)
    fast = ops.bias_act(x, b, act="lrelu", gain=1.5, clamp=clamp)
    slow = ops.bias_act(x, b, act="lrelu", gain=1.5, clamp=clamp, fused=False)
    assert torch.equal(fast, slow)
    g = torch.randn_like(fast)
    first_fast = torch.autograd.grad(fast, (x, b), g, create_graph=True)
    first_slow = torch.autograd.grad(slow, (x, b), g, create_graph=True)
    for a, c in zip(first_fast, first_slow):
        assert rel(a, c) < 1e-14
    fn = lambda x, b: ops.bias_act(x, b, act="lrelu", gain=1.5, clamp=clamp)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x, b))
    assert torch.autograd.gradgradcheck(fn, (x, b))


def _d_outputs(D, img):
    """Logits, a patch map, and the gradients of their sum w.r.t. D's weights and the image,
    plus the R1 penalty's gradients (a double backward)."""
    img = img.clone().requires_grad_(True)
    logits, maps = D(img, features=["b16.conv1"])
    total = logits.sum() + maps["b16.conv1"].float().square().mean()  # the patch map: 8x8
    params = [p for p in D.parameters()]
    grads = torch.autograd.grad(total, [img, *params])
    r1 = r1_penalty(D, img.detach())
    r1_grads = torch.autograd.grad(r1, params, allow_unused=True)  # output biases: unused
    return [logits, maps["b16.conv1"], *grads, r1, *(g for g in r1_grads if g is not None)]


def test_channels_last_discriminator_equals_nchw():
    _, D = tiny(resolution=16, channels=8, seed=3)
    D.requires_grad_(True)
    img = torch.randn(4, 3, 16, 16)
    D.channels_last = True
    fast = _d_outputs(D, img)
    D.channels_last = False
    slow = _d_outputs(D, img)
    for a, b in zip(fast, slow):
        assert rel(a, b) < 1e-5


def test_patch_path_computes_each_layer_once_and_stops_at_its_map():
    _, D = tiny(resolution=32, channels=16, seed=4)
    calls: list[str] = []
    for name, module in D.named_modules():
        if name.count(".") == 1 and hasattr(module, "weight"):  # b32.conv0, b16.skip, b4.fc...
            module.register_forward_hook(lambda m, i, o, name=name: calls.append(name))
    img = torch.randn(2, 3, 32, 32)
    D.features(img, "b16.conv1")
    assert calls == ["b32.fromrgb", "b32.conv0", "b32.conv1", "b32.skip",
                     "b16.conv0", "b16.conv1"]  # nothing below the map, nothing twice
    calls.clear()
    logits, maps = D(img, features=["b16.conv1", "b8.conv0"])
    assert len(calls) == len(set(calls))  # one full pass for the logits and both maps
    assert torch.equal(maps["b16.conv1"], D.features(img, "b16.conv1"))


def test_mixed_precision_discriminator_keeps_low_resolutions_float32():
    _, D = tiny(resolution=64, channels=8, seed=5)
    D.mixed_precision = torch.bfloat16
    img = torch.randn(2, 3, 64, 64)
    dtypes = {}
    for name, value in D._trunk(img):
        dtypes[name] = value.dtype
    # the four highest resolutions (64..8) in bf16; the head (and anything below 8) in fp32
    assert dtypes["b64.conv0"] == dtypes["b8.conv1"] == torch.bfloat16
    assert dtypes["b4.conv"] == dtypes["out"] == torch.float32
    assert not torch.is_autocast_enabled("cpu")  # no autocast scope leaks out of the trunk
    D.mixed_precision = None
    exact = D(img)
    D.mixed_precision = torch.bfloat16
    assert D(img).dtype == torch.float32
    assert rel(D(img), exact) < 0.1  # bf16 has 8 mantissa bits


@pytest.mark.parametrize("pad", [(2, 1), (1, 1), (2, 2)])
def test_fir_filter_adjoint_backward_equals_autograd_to_second_order(pad):
    kernel = torch.outer(torch.tensor([1.0, 2, 5, 1]), torch.tensor([3.0, 1, 2, 2])).double()
    x = torch.randn(2, 3, 6, 6, dtype=torch.float64, requires_grad=True)
    fast = lambda x: ops.fir_filter(x, kernel, pad, gain=3.0)  # noqa: E731
    assert torch.equal(fast(x), ops._fir_filter_direct(x, kernel, pad, 3.0))
    assert torch.autograd.gradcheck(fast, (x,))
    assert torch.autograd.gradgradcheck(fast, (x,))


def test_r1_double_backward_does_not_loop_over_channels():
    """Autograd's double backward of a depthwise convolution runs one convolution per channel;
    the filters' own adjoint keeps the count of convolutions independent of the width."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class CountConvolutions(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.count = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            if func._overloadpacket in (torch.ops.aten.convolution,
                                        torch.ops.aten.convolution_backward):
                self.count += 1
            return func(*args, **(kwargs or {}))

    counts = []
    for channels in (4, 8):
        _, D = tiny(resolution=16, channels=channels, seed=6)
        D.requires_grad_(True)
        with CountConvolutions() as counter:
            r1_penalty(D, torch.randn(2, 3, 16, 16)).backward()
        counts.append(counter.count)
    assert counts[0] == counts[1] < 100


def test_mixed_precision_encoder_casts_its_frozen_weights_once():
    from gan_adapt.encoders.clip import tiny_clip

    encoder = tiny_clip(seed=1)
    images = (torch.rand(3, 3, 32, 32) * 2 - 1).requires_grad_(True)
    exact = encoder.embed_images(images)
    (exact_grad,) = torch.autograd.grad(exact[:, 0].sum(), images)
    encoder.mixed_precision = torch.bfloat16
    low = encoder.embed_images(images)
    (low_grad,) = torch.autograd.grad(low[:, 0].sum(), images)  # backward through bf16 copies
    cache = dict(encoder._low_precision_cache)
    again = encoder.embed_images(images)
    assert low.dtype == torch.float32 and torch.equal(low, again)
    assert cache and all(encoder._low_precision_cache[k][1] is v[1] for k, v in cache.items())
    assert all(p.dtype == torch.float32 for p in encoder.parameters())  # the module untouched
    assert float((low * exact).sum(1).min().detach()) > 0.99  # cosine to the fp32 embedding
    assert rel(low_grad, exact_grad) < 0.1


def test_mixed_precision_lpips_leaves_its_shared_modules_float32():
    """lpips reaches each head under two names (``lin0`` and ``lins.0``)."""
    from gan_adapt.encoders.base import call_with_frozen_weights_in
    from gan_adapt.encoders.perceptual import LPIPSDistance

    distance = LPIPSDistance(pretrained=False, resize_to=32)
    x, y = torch.rand(2, 2, 3, 32, 32) * 2 - 1
    exact = distance(x, y)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = call_with_frozen_weights_in(distance, torch.bfloat16, x, y)
    assert all(p.dtype == torch.float32 for p in distance.parameters())
    assert torch.equal(distance(x, y), exact)
    assert rel(low, exact) < 0.05
