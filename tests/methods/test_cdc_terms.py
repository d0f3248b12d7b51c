"""Ojha et al.'s cross-domain distance consistency against hand-computed values."""

from __future__ import annotations

import copy
import math
from types import SimpleNamespace

import pytest
import torch
from gan_adapt_cdc.consistency import (
    CrossDomainConsistency,
    distance_consistency,
    pairwise_cosine,
    row_similarities,
)

from gan_adapt.errors import GanAdaptError


def test_pairwise_cosine_and_rows_by_hand():
    a = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    b = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 2.0]])
    r = 1 / math.sqrt(2)
    assert pairwise_cosine(a).flatten().tolist() == pytest.approx([1, 0, r, 0, 1, r, r, r, 1])
    # rows 0 and 2 at layer 0 (a), row 1 at layer 1 (b): b's row 1 is (1, 0) against (1, 0), (0, 2)
    rows = row_similarities([a.view(3, 2, 1), b.view(3, 1, 2)], [0, 1, 0])
    assert rows.flatten().tolist() == pytest.approx([0, r, 1, 0, r, r])


def test_distance_consistency_is_the_elementwise_mean_kl():
    source = torch.tensor([[0.0, 1.0], [0.5, 0.5], [1.0, -1.0]])
    adapted = torch.tensor([[1.0, 0.0], [0.5, 0.5], [0.0, 0.0]])
    total = 0.0
    for s_row, t_row in zip(source.tolist(), adapted.tolist()):
        zs, zt = sum(math.exp(x) for x in s_row), sum(math.exp(x) for x in t_row)
        for s, t in zip(s_row, t_row):
            p, q = math.exp(s) / zs, math.exp(t) / zt
            total += p * math.log(p / q)
    expected = total / 6  # N (N - 1) elements, as PyTorch's KLDivLoss default
    assert distance_consistency(source, adapted).item() == pytest.approx(expected, rel=1e-5)
    assert distance_consistency(source, source).item() == pytest.approx(0.0, abs=1e-7)


def _ctx(G):
    return SimpleNamespace(generator=G, device=torch.device("cpu"))


def _step(G_s, G_t, batch=2):
    ws = G_s.mapping(torch.randn(batch, G_s.z_dim))
    return SimpleNamespace(source_generator=G_s, generator=G_t, ws=ws, kind="random",
                           noise=G_s.make_noise(batch))


def test_term_is_zero_for_identical_generators_and_trains_g_t(tiny_generator):
    G_s = tiny_generator
    term = CrossDomainConsistency(CrossDomainConsistency.Params(batch=3), _ctx(G_s))
    assert term.layers == list(range(1, len(G_s.synthesis.noise_layers())))
    torch.manual_seed(0)
    assert term(_step(G_s, G_s)).item() == pytest.approx(0.0, abs=1e-7)
    G_t = copy.deepcopy(G_s).requires_grad_(True)
    with torch.no_grad():
        for p in G_t.synthesis.parameters():
            p.add_(0.3 * torch.randn_like(p))
    loss = term(_step(G_s, G_t))
    loss.backward()
    assert loss.item() > 0
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in G_t.synthesis.parameters())


def test_step_latents_need_three_and_layers_must_exist(tiny_generator):
    term = CrossDomainConsistency(CrossDomainConsistency.Params(batch=None), _ctx(tiny_generator))
    with pytest.raises(GanAdaptError, match="3 or more latents"):
        term(_step(tiny_generator, tiny_generator, batch=2))
    assert term(_step(tiny_generator, tiny_generator, batch=3)).item() == pytest.approx(
        0.0, abs=1e-7)
    with pytest.raises(GanAdaptError, match="do not exist"):
        CrossDomainConsistency(CrossDomainConsistency.Params(layers=[0, 99]),
                               _ctx(tiny_generator))
