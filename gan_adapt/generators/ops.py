"""The few tensor operations StyleGAN2 is built from, in plain PyTorch.

Both reference implementations ship custom CUDA kernels for these (``upfirdn2d``, ``bias_act``,
``fused_leaky_relu``) that must be compiled before first use. Each kernel has a pure-PyTorch
fallback that computes the same function; this module is written from those definitions only, so
it runs on any device without a compiler. Speed-ups (fused kernels, ``torch.compile``) may be
added later, but must equal these functions.

Conventions: images and feature maps are ``[N, C, H, W]``; the low-pass filter is the separable
binomial ``[1, 3, 3, 1]`` normalised to sum 1, as in every StyleGAN2 checkpoint.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

#: The 1-D taps of the resampling low-pass filter used by StyleGAN2 (both code bases).
FIR_TAPS: tuple[float, ...] = (1.0, 3.0, 3.0, 1.0)

#: Slope of the leaky ReLU and the gain that keeps activations at unit variance after it.
LRELU_SLOPE = 0.2
LRELU_GAIN = math.sqrt(2.0)


def fir_kernel(taps: tuple[float, ...] = FIR_TAPS, *, device=None,
               dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The 2-D separable filter ``outer(taps, taps)`` normalised to sum 1, shape ``[k, k]``."""
    t = torch.tensor(taps, dtype=torch.float64)
    k = torch.outer(t, t)
    return (k / k.sum()).to(device=device, dtype=dtype)


def fir_filter(x: torch.Tensor, kernel: torch.Tensor, pad: tuple[int, int],
               gain: float = 1.0) -> torch.Tensor:
    """Zero-pad each spatial side (``pad = (before, after)``) and convolve every channel with
    ``kernel * gain`` (a true convolution, i.e. the kernel is flipped; the binomial is symmetric).

    A linear map with a fixed kernel, so it runs as :class:`_FirFilter`, whose backward is again
    a filter: see there. (A kernel that needs gradients takes the plain depthwise convolution.)
    """
    if kernel.requires_grad or kernel.shape[0] != kernel.shape[1]:
        return _fir_filter_direct(x, kernel, pad, gain)
    return _FirFilter.apply(x, kernel, pad[0], pad[1], gain)


def _fir_filter_direct(x: torch.Tensor, kernel: torch.Tensor, pad: tuple[int, int],
                       gain: float) -> torch.Tensor:
    """:func:`fir_filter` as one depthwise convolution (the straightforward form)."""
    c = x.shape[1]
    x = F.pad(x, [pad[0], pad[1], pad[0], pad[1]])
    weight = (kernel.flip([0, 1]) * gain).to(x.dtype)
    return F.conv2d(x, weight.expand(c, 1, *kernel.shape), groups=c)


class _FirFilter(torch.autograd.Function):
    """:func:`fir_filter` with its adjoint as the backward.

    The adjoint of "pad by (p0, p1), correlate with w" is "pad by (k-1-p0, k-1-p1), correlate
    with w flipped", i.e. the same filter with the kernel flipped and the padding transposed
    (a negative pad crops). Written with this same Function, every derivative order is one
    depthwise filter. Autograd's own double backward of a depthwise convolution (needed by the
    R1 penalty, which differentiates D's input gradient) instead runs one small convolution per
    channel: measured on an H200, it made a 1024 px reference step with R1 30 times slower.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, kernel: torch.Tensor, pad0: int, pad1: int,
                gain: float) -> torch.Tensor:
        ctx.save_for_backward(kernel)
        ctx.pad, ctx.gain = (pad0, pad1), gain
        return _fir_filter_direct(x, kernel, (pad0, pad1), gain)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (kernel,) = ctx.saved_tensors
        k = kernel.shape[0]
        pad0, pad1 = ctx.pad
        grad_x = _FirFilter.apply(grad, kernel.flip([0, 1]), k - 1 - pad0, k - 1 - pad1, ctx.gain)
        return grad_x, None, None, None, None


def upsample2x(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Double the resolution: insert zeros between pixels, then low-pass filter.

    The gain of 4 restores the signal's magnitude (3 of every 4 samples are zeros). The padding
    (2, 1) centres the 4-tap filter so that the output is exactly twice the input size.
    """
    n, c, h, w = x.shape
    x = x.reshape(n, c, h, 1, w, 1)
    x = F.pad(x, [0, 1, 0, 0, 0, 1]).reshape(n, c, 2 * h, 2 * w)
    return fir_filter(x, kernel, pad=(2, 1), gain=4.0)


def bias_act(x: torch.Tensor, bias: torch.Tensor | None = None, *, act: str = "linear",
             gain: float = 1.0, clamp: float | None = None, fused: bool = True) -> torch.Tensor:
    """``clamp(act(x + bias) * gain)``: the fused bias/activation step of every layer.

    ``act`` is ``"lrelu"`` (leaky ReLU, slope 0.2, which also multiplies by sqrt(2)) or
    ``"linear"``. ``clamp`` bounds the result to ``[-clamp, clamp]`` (NVlabs ``conv_clamp``).

    The leaky ReLU runs as one autograd node (:class:`_BiasLeakyReLU`) that works in place and
    keeps only its output for the backward pass (the sign of the output tells the slope), as
    NVlabs' ``bias_act`` kernel does: one full-size tensor instead of three in the forward pass.
    ``fused=False`` composes the separate ops (the reference the tests compare with).
    """
    if act not in ("lrelu", "linear"):
        raise ValueError(f"unsupported activation {act!r}")
    if act == "lrelu" and fused:
        b = None if bias is None else bias.to(x.dtype).reshape([1, -1] + [1] * (x.ndim - 2))
        return _BiasLeakyReLU.apply(x, b, gain * LRELU_GAIN, clamp)
    if bias is not None:
        x = x + bias.to(x.dtype).reshape([1, -1] + [1] * (x.ndim - 2))
    if act == "lrelu":
        x = F.leaky_relu(x, LRELU_SLOPE)
        gain = gain * LRELU_GAIN
    if gain != 1.0:
        x = x * gain
    if clamp is not None:
        x = x.clamp(-clamp, clamp)
    return x


class _BiasLeakyReLU(torch.autograd.Function):
    """``y = clamp(leaky_relu(x + b) * gain)`` saving only ``y``.

    With ``gain > 0``, ``y > 0`` exactly where ``x + b > 0``, so the slope is read off ``y``; a
    clamped output (``|y| == clamp``) gets no gradient. The backward is written in autograd ops
    on the saved output, so it is itself differentiable (the R1 penalty differentiates D's input
    gradient once more).
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, bias: torch.Tensor | None, gain: float,
                clamp: float | None) -> torch.Tensor:
        y = x + bias if bias is not None else x.clone()
        F.leaky_relu_(y, LRELU_SLOPE)
        y.mul_(gain)
        if clamp is not None:
            y.clamp_(-clamp, clamp)
        ctx.save_for_backward(y)
        ctx.gain, ctx.clamp = gain, clamp
        ctx.bias_shape = None if bias is None else bias.shape
        return y

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (y,) = ctx.saved_tensors
        grad_x = torch.where(y > 0, grad, grad * LRELU_SLOPE) * ctx.gain
        if ctx.clamp is not None:
            grad_x = grad_x * (y.abs() < ctx.clamp)
        grad_bias = None
        if ctx.bias_shape is not None and ctx.needs_input_grad[1]:
            dims = [d for d in range(grad_x.ndim) if ctx.bias_shape[d] == 1]
            grad_bias = grad_x.sum(dim=dims, keepdim=True)
        return grad_x, grad_bias, None, None


def normalize_2nd_moment(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Scale each row to unit root-mean-square (StyleGAN's "pixel norm" of z)."""
    return x * (x.square().mean(dim=1, keepdim=True) + eps).rsqrt()


def modulated_conv2d(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, *,
                     demodulate: bool = True, up: bool = False,
                     kernel: torch.Tensor | None = None, grouped: bool = False) -> torch.Tensor:
    """StyleGAN2's style-modulated convolution.

    ``weight`` is ``[out, in, k, k]`` and ``styles`` ``[N, in]``. Per sample n the convolution
    uses the weight ``w'[o, i] = weight[o, i] * styles[n, i]``, and, when ``demodulate``, each
    output filter rescaled to unit norm, ``w'' = w' / sqrt(sum_{i,k} w'^2 + 1e-8)`` (which
    replaces StyleGAN1's instance normalisation). ``up`` doubles the resolution with a stride-2
    transposed convolution followed by the low-pass ``kernel`` (the NVlabs and rosinality
    "fused" upsampling; padding 0 then a (1, 1)-padded filter gives exactly 2x).

    Two evaluations of the same function (the two paths of NVlabs' ``modulated_conv2d``):

    * default: scale the *input* channels by the styles, convolve the whole batch with the one
      shared weight, scale the output channels by the demodulation coefficients. Convolution is
      linear, so this equals the per-sample weights; it is an ordinary batched convolution, which
      every backend runs much faster than a grouped one (on CPU the grouped transposed conv even
      copies its weight), and whose weight gradient is one reduction over the batch.
    * ``grouped=True``: build the per-sample weights and run one grouped convolution with the
      batch folded into the channels (the straightforward form; kept as the reference the tests
      compare with).
    """
    n, in_ch, h, w = x.shape
    out_ch, _, kh, kw = weight.shape
    if up and kernel is None:
        raise ValueError("up-sampling needs the low-pass kernel")
    if grouped:
        return _modulated_conv2d_grouped(x, weight, styles, demodulate=demodulate, up=up,
                                         kernel=kernel)
    x = x * styles.reshape(n, in_ch, 1, 1).to(x.dtype)
    if up:
        # conv_transpose2d wants [in, out, k, k].
        x = F.conv_transpose2d(x, weight.transpose(0, 1).to(x.dtype), stride=2)
        x = fir_filter(x, kernel, pad=(1, 1), gain=4.0)
    else:
        x = F.conv2d(x, weight.to(x.dtype), padding=kh // 2)
    if demodulate:
        # sum_{i,k} (weight[o,i,k] * s[n,i])^2 = sum_i s[n,i]^2 * sum_k weight[o,i,k]^2
        coefficients = (styles.square() @ weight.square().sum(dim=[2, 3]).t() + 1e-8).rsqrt()
        x = x * coefficients.reshape(n, out_ch, 1, 1).to(x.dtype)
    return x


def _modulated_conv2d_grouped(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, *,
                              demodulate: bool, up: bool,
                              kernel: torch.Tensor | None) -> torch.Tensor:
    """:func:`modulated_conv2d` with per-sample weights in one grouped convolution."""
    n, in_ch, h, w = x.shape
    out_ch, _, kh, kw = weight.shape
    wgt = weight.unsqueeze(0) * styles.reshape(n, 1, in_ch, 1, 1)  # [N, out, in, k, k]
    if demodulate:
        wgt = wgt * (wgt.square().sum(dim=[2, 3, 4], keepdim=True) + 1e-8).rsqrt()
    x = x.reshape(1, n * in_ch, h, w)
    if up:
        # conv_transpose2d wants [in, out/groups, k, k] per group.
        wgt = wgt.transpose(1, 2).reshape(n * in_ch, out_ch, kh, kw)
        x = F.conv_transpose2d(x, wgt.to(x.dtype), stride=2, groups=n)
        x = x.reshape(n, out_ch, *x.shape[2:])
        return fir_filter(x, kernel, pad=(1, 1), gain=4.0)
    wgt = wgt.reshape(n * out_ch, in_ch, kh, kw)
    x = F.conv2d(x, wgt.to(x.dtype), padding=kh // 2, groups=n)
    return x.reshape(n, out_ch, *x.shape[2:])


def conv2d_down2x(x: torch.Tensor, weight: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Low-pass filter, then a stride-2 convolution: the discriminator's down-sampling conv.

    The filter padding depends on the conv size so that the output is exactly half the input:
    (2, 2) for a 3x3 conv, (1, 1) for the 1x1 skip connection.
    """
    k = weight.shape[-1]
    p = (len(FIR_TAPS) - 2 + (k - 1) + 1) // 2, (len(FIR_TAPS) - 2 + (k - 1)) // 2
    x = fir_filter(x, kernel, pad=p)
    return F.conv2d(x, weight.to(x.dtype), stride=2)


def minibatch_stddev(x: torch.Tensor, group_size: int | None, num_channels: int = 1
                     ) -> torch.Tensor:
    """Append the minibatch standard deviation as ``num_channels`` extra feature maps.

    Samples are grouped STRIDED, as in both references: the batch is viewed as
    ``[group, N / group, ...]``, so with N = 8 and groups of 4 the groups are {0, 2, 4, 6} and
    {1, 3, 5, 7}. Within a group, the biased standard deviation of each feature is averaged over
    its channels and pixels, and broadcast back to every member of the group.
    """
    n, c, h, w = x.shape
    g = min(group_size, n) if group_size is not None else n
    if n % g:
        raise ValueError(f"the minibatch-stddev layer needs a batch divisible by {g}, got {n}")
    f = num_channels
    y = x.reshape(g, -1, f, c // f, h, w)
    y = (y - y.mean(dim=0)).square().mean(dim=0)
    y = (y + 1e-8).sqrt().mean(dim=[2, 3, 4])  # [N / g, F]
    y = y.reshape(-1, f, 1, 1).repeat(g, 1, h, w)
    return torch.cat([x, y], dim=1)
