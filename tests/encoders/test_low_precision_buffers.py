"""Frozen encoders in bf16: buffers (BatchNorm's running statistics) are cast with the weights.

Found on a CPU with bf16 support, where precision "auto" picks bf16: a ResNet encoder's
eval-mode batch norm refused bf16 activations with float running statistics.
"""

from __future__ import annotations

import torch
from torch import nn

from gan_adapt.encoders.base import call_with_frozen_weights_in, freeze


def test_batch_norm_statistics_follow_the_weights_dtype():
    torch.manual_seed(0)
    net = freeze(nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU()))
    net[1].running_mean.uniform_(-0.5, 0.5)
    net[1].running_var.uniform_(0.5, 2.0)
    x = torch.randn(2, 3, 8, 8)
    reference = net(x)
    out = call_with_frozen_weights_in(net, torch.bfloat16, x.to(torch.bfloat16))
    assert out.dtype == torch.bfloat16
    assert torch.allclose(out.float(), reference, atol=0.1, rtol=0.05)
    # the module itself keeps its float weights and statistics
    assert net[1].running_mean.dtype == torch.float32 and net[0].weight.dtype == torch.float32
