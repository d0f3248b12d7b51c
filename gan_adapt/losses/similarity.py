"""Helpers of relational losses, which compare how samples relate to each other (their pairwise
similarities) rather than the samples themselves: OneShotCLIP's L_con, CDC's distance
consistency."""

from __future__ import annotations

import torch


def off_diagonal(matrix: torch.Tensor) -> torch.Tensor:
    """The ``[N, N-1]`` entries of a square ``[N, N]`` matrix without its diagonal, row by row:
    row i holds sample i's relation to every other sample, in their order."""
    n = matrix.shape[0]
    keep = ~torch.eye(n, dtype=torch.bool, device=matrix.device)
    return matrix[keep].view(n, n - 1)
