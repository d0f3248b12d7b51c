"""Sample-grid latents the way OneShotCLIP's official ``test_sample.py`` draws them.

The official script truncates each sample's w towards the mean w (psi 0.7, as gan-adapt's
``output.truncation``) and then, for the adapted generator only, replaces the w of every layer
from index 11 on by the mean w: the coarse and middle styles come from the sample, the finest
ones from the average face. Pictures drawn that way look different from plain truncation
(smoother, more uniform fine texture), so a user comparing grids with the paper's figures needs
the same rule: ``output.mean_w_from_layer = 11``. It changes the grids only, never training.
"""

from __future__ import annotations

import torch


def with_mean_layers(ws: torch.Tensor, w_avg: torch.Tensor,
                     from_layer: int | None) -> torch.Tensor:
    """``ws`` (``[N, num_ws, w_dim]``) with layers ``from_layer`` onwards set to ``w_avg``.

    ``None`` returns ``ws`` unchanged; an index past the last layer changes nothing.
    """
    if from_layer is None:
        return ws
    out = ws.clone()
    out[:, from_layer:] = w_avg.to(ws)
    return out
