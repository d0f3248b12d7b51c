"""gan_adapt.losses.similarity, the helpers shared by the relational losses (L_con, CDC)."""

from __future__ import annotations

import torch

from gan_adapt.losses.similarity import off_diagonal


def test_off_diagonal_keeps_row_order():
    assert off_diagonal(torch.arange(9.0).view(3, 3)).tolist() == [[1, 2], [3, 5], [6, 7]]
    assert off_diagonal(torch.tensor([[1.0, 2.0], [3.0, 4.0]])).tolist() == [[2.0], [3.0]]
