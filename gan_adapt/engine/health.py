"""Divergence checks on the weights of a run.

The loop checks every loss value for NaN/Inf at every step (the value is computed anyway). The
weights can still become non-finite while every loss value is finite: an overflowing gradient
(a square root or a norm at zero, a division by a vanishing quantity) turns Adam's update into
NaN, and the next loss shows it only if those weights take part in it. So before every checkpoint
is written, every floating tensor of the trained networks is checked, with one device sync per
device. A diverged run therefore never overwrites its last good checkpoint, and the check costs
nothing between checkpoints.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from gan_adapt.errors import TrainingDiverged


def non_finite_tensors(modules: dict[str, Any]) -> list[str]:
    """Names (``"G_t.conv8.weight"``) of the floating tensors that hold a NaN or an Inf.

    ``modules`` maps a display name to an ``nn.Module`` (or None, skipped); parameters and
    buffers are both checked.
    """
    named: list[tuple[str, torch.Tensor]] = []
    for prefix, module in modules.items():
        if module is None:
            continue
        for name, tensor in module.state_dict(keep_vars=True).items():
            if torch.is_tensor(tensor) and tensor.is_floating_point():
                named.append((f"{prefix}.{name}", tensor.detach()))
    by_device: dict[torch.device, list[int]] = {}
    for i, (_, tensor) in enumerate(named):
        by_device.setdefault(tensor.device, []).append(i)
    bad: list[int] = []
    for indices in by_device.values():
        flags = torch.stack([torch.isfinite(named[i][1]).all() for i in indices]).cpu()
        bad += [i for i, ok in zip(indices, flags.tolist()) if not ok]
    return [named[i][0] for i in sorted(bad)]


def check_weights(modules: dict[str, Any], first_step: int, last_step: int,
                  terms_applied: Callable[[], list[str]]) -> None:
    """Raise :class:`TrainingDiverged` if a tensor of ``modules`` is not finite.

    ``first_step``..``last_step`` (0-based, inclusive) are the adapt steps since the last good
    checkpoint; ``terms_applied()`` lists the terms used in them (called only on failure).
    """
    bad = non_finite_tensors(modules)
    if not bad:
        return
    shown = ", ".join(bad[:4]) + (f" and {len(bad) - 4} more" if len(bad) > 4 else "")
    span = (f"adapt step {last_step}" if first_step == last_step
            else f"adapt steps {first_step}-{last_step}")
    raise TrainingDiverged(
        f"{span}: the weights became non-finite ({shown}) although every loss value stayed "
        f"finite: a gradient overflowed. Terms applied in those steps: "
        f"{', '.join(terms_applied()) or 'none'}. This checkpoint was not written. Lower the "
        "learning rate or the weight of the term whose gradient can overflow.")
