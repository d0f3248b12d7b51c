"""OneShotCLIP's terms against values computed by hand on small tensors."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from gan_adapt_oneshotclip.consistency import ClipConsistency, consistency_kl, consistency_l2
from gan_adapt_oneshotclip.patch_nce import patch_nce

from gan_adapt.losses.adversarial import (
    Adversarial,
    AdversarialParams,
    PatchHead,
    r1_penalty,
    real_batch,
)
from gan_adapt.plugin_host.context import Step, TargetData


def unit(*rows):
    return F.normalize(torch.tensor(rows, dtype=torch.float64), dim=1)


def test_consistency_l2_by_hand():
    source = unit([1, 0], [0, 1], [1, 1])
    adapted = unit([1, 0], [1, 0], [0, 1])
    # pairwise cosines: source (0,1)=0, (0,2)=1/sqrt2, (1,2)=1/sqrt2;
    # adapted (0,1)=1, (0,2)=0, (1,2)=0
    r = 1 / math.sqrt(2)
    diffs = [0 - 1, r - 0, r - 0]
    expected = sum(d * d for d in diffs) * 2 / 6  # ordered pairs i != j: each twice
    assert consistency_l2(source, adapted).item() == pytest.approx(expected, abs=1e-12)
    assert consistency_l2(source, source).item() == 0.0


def test_consistency_kl_by_hand_and_batch_of_two_is_zero():
    source = unit([1, 0], [0, 1], [1, 1])
    adapted = unit([1, 0], [1, 0], [0, 1])
    ss, st = source @ source.T, adapted @ adapted.T
    expected = 0.0
    for i in range(3):
        others = [j for j in range(3) if j != i]
        p = torch.softmax(ss[i, others], 0)
        q = torch.softmax(st[i, others], 0)
        expected += float((p * (p.log() - q.log())).sum())
    assert consistency_kl(source, adapted).item() == pytest.approx(expected / 3, abs=1e-12)
    two = unit([1, 0], [0, 1])
    assert consistency_kl(two, unit([1, 0], [1, 0])).item() == pytest.approx(0.0, abs=1e-12)


def test_clip_consistency_term_uses_same_latents_and_needs_pairs():
    class FakeEncoder:
        def embed_many(self, groups, grad):
            def flat(x):
                return F.normalize(x.flatten(1), dim=1)

            out = []
            for images, wants_grad in zip(groups, grad):
                with torch.set_grad_enabled(wants_grad):
                    out.append(flat(images))
            return out

    def step_of(source, fake):  # a real Step (its batched embedding API) with given images
        step = Step(phase="adapt", index=0, kind="random", ws=torch.zeros(source.shape[0], 1, 1),
                    target=TargetData(), generator=None, source_generator=None)
        step.source, step.fake = source, fake
        return step

    ctx = SimpleNamespace(encoder=lambda name: FakeEncoder())
    term = ClipConsistency(ClipConsistency.Params(), ctx)
    images = torch.randn(3, 3, 4, 4)
    assert term(step_of(images, images)).item() == pytest.approx(0.0, abs=1e-6)
    fake = torch.randn(3, 3, 4, 4, requires_grad=True)
    loss = term(step_of(images, fake))
    loss.backward()
    assert loss.item() > 0 and fake.grad.abs().sum() > 0
    from gan_adapt.errors import GanAdaptError

    with pytest.raises(GanAdaptError, match="batch of at least 2"):
        term(step_of(images[:1], fake[:1]))


def test_patch_nce_by_hand_positive_excluded_from_negatives():
    q = unit([1, 0], [0, 1], [1, 1]).unsqueeze(0)  # [1, P=3, D]
    k = unit([1, 0], [1, 1], [0, 1]).unsqueeze(0)
    tau = 0.5
    expected = 0.0
    for p in range(3):
        logits = [float(q[0, p] @ k[0, j]) / tau for j in range(3)]
        # the positive appears once, in the numerator and the denominator
        expected += -(logits[p] - math.log(sum(math.exp(x) for x in logits)))
    assert patch_nce(q, k, tau).item() == pytest.approx(expected / 3, abs=1e-12)


def test_patch_nce_is_lowest_when_patches_match():
    keys = F.normalize(torch.randn(2, 8, 16), dim=-1)
    matched = patch_nce(keys, keys, 0.1)
    shuffled = patch_nce(keys[:, torch.randperm(8)], keys, 0.1)
    assert matched < shuffled


def test_logistic_losses_and_lazy_r1_by_hand():
    a = torch.tensor([0.5, -1.0, 2.0])

    def D(x):  # linear "discriminator": logits = sum_c a_c * mean_hw x_c
        return (x.mean((2, 3)) * a).sum(1, keepdim=True)

    target = torch.ones(1, 3, 2, 2) * 0.5
    ctx = SimpleNamespace(discriminator=D)
    term = Adversarial(AdversarialParams(r1_gamma=10.0, r1_every=16), ctx)
    fake = torch.zeros(2, 3, 2, 2)
    fake[1] = -0.5
    step = SimpleNamespace(fake=fake, batch_size=2, index=1,
                           target=TargetData(image=target, images=target))
    d_fake = [0.0, -0.5 * float(a.sum())]
    d_real = 0.5 * float(a.sum())
    def softplus(x):
        return math.log1p(math.exp(x))

    expected_d = sum(softplus(v) for v in d_fake) / 2 + softplus(-d_real)
    assert term.discriminator_loss(step).item() == pytest.approx(expected_d, rel=1e-6)
    expected_g = sum(softplus(-v) for v in d_fake) / 2
    assert term(step).item() == pytest.approx(expected_g, rel=1e-6)
    # R1: grad of D w.r.t. each pixel is a_c / (H*W), so |grad|^2 = sum_c a_c^2 / (H*W)
    r1 = float((a ** 2).sum()) / 4
    assert r1_penalty(D, target).item() == pytest.approx(r1, rel=1e-6)
    step.index = 16  # lazy: R1 on multiples of r1_every, scaled by gamma / 2 * r1_every
    assert term.discriminator_loss(step).item() == pytest.approx(
        expected_d + 10.0 / 2 * r1 * 16, rel=1e-6)


def test_real_batch_repeats_one_target_draws_among_several_and_flips():
    images = torch.arange(2 * 3 * 2 * 2, dtype=torch.float32).view(2, 3, 2, 2)
    one = SimpleNamespace(target=TargetData(image=images[:1], images=images[:1]))
    assert all(torch.equal(r, images[0]) for r in real_batch(one, 5, flip=False))
    torch.manual_seed(0)
    step = SimpleNamespace(target=TargetData(image=images[:1], images=images))
    step.per_sample = lambda draw: draw(64)  # a single process: the whole batch
    real = real_batch(step, 64, flip=False)
    first = sum(torch.equal(r, images[0]) for r in real)
    assert first + sum(torch.equal(r, images[1]) for r in real) == 64
    assert 10 < first < 54  # few-shot: every target image is drawn, not only the first ones
    flipped = real_batch(step, 64, flip=True)
    mirrored = sum(any(torch.equal(r, x.flip(-1)) for x in images) for r in flipped)
    assert 10 < mirrored < 54  # about half the reals are mirrored


def test_patch_head_shape_and_equalised_scale():
    head = PatchHead(8)
    out = head(torch.randn(2, 8, 5, 5))
    assert out.shape == (2, 1, 5, 5)
    assert head.scale == pytest.approx(1 / math.sqrt(72))
