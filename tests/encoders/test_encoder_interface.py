"""The ImageEncoder contract, checked on the tiny CLIP and the tiny DINO."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from gan_adapt.encoders import ImageEncoder, crop_patches, random_boxes
from gan_adapt.errors import GanAdaptError


def test_satisfies_the_protocol(encoder):
    assert isinstance(encoder, ImageEncoder)


@pytest.mark.parametrize("size", [(48, 48), (40, 56), (32, 32), (97, 13)])
def test_embeddings_have_the_right_shape_and_unit_norm(encoder, size):
    x = torch.rand(3, 3, *size) * 2 - 1
    z = encoder.embed_images(x)
    assert z.shape == (3, encoder.embed_dim)
    assert z.dtype == torch.float32
    torch.testing.assert_close(z.norm(dim=-1), torch.ones(3))


def test_gradient_reaches_the_input_and_not_the_weights(encoder, images):
    x = images.clone().requires_grad_(True)
    encoder.embed_images(x)[:, 0].sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    assert all(not p.requires_grad and p.grad is None for p in encoder.parameters())


def test_batched_equals_separate_calls(encoder, images):
    together = encoder.embed_images(images)
    apart = torch.cat([encoder.embed_images(images[i:i + 1]) for i in range(len(images))])
    torch.testing.assert_close(together, apart, atol=1e-5, rtol=0)


def test_non_square_images_are_centre_cropped(encoder):
    x = torch.rand(1, 3, 40, 64) * 2 - 1
    torch.testing.assert_close(encoder.embed_images(x), encoder.embed_images(x[..., 12:52]),
                               atol=1e-6, rtol=0)


def test_preprocessing_maps_generator_range_with_own_mean_and_std(encoder):
    grey = torch.zeros(1, 3, encoder.input_size, encoder.input_size)  # 0 in [-1, 1] is 0.5
    expected = (0.5 - encoder.mean) / encoder.std
    torch.testing.assert_close(encoder.preprocess(grey), expected.expand_as(grey))


@pytest.mark.parametrize("shared", [False, True])
def test_patch_embedding_equals_crop_then_embed_one_by_one(encoder, shared):
    x = torch.rand(2, 3, 40, 40) * 2 - 1
    generator = torch.Generator().manual_seed(3)
    boxes = random_boxes(1 if shared else 2, 5, 16, 40, generator=generator)
    boxes = boxes[0] if shared else boxes
    got = encoder.embed_patches(x, boxes)
    assert got.shape == (2, 5, encoder.embed_dim)
    per_image = boxes.expand(2, -1, -1) if shared else boxes
    for n in range(2):
        for p, (x0, y0, w, h) in enumerate(per_image[n].tolist()):
            one = encoder.embed_images(x[n:n + 1, :, y0:y0 + h, x0:x0 + w])[0]
            torch.testing.assert_close(got[n, p], one, atol=1e-5, rtol=0)


def test_patch_embedding_is_differentiable(encoder, images):
    x = images.clone().requires_grad_(True)
    boxes = torch.tensor([[0, 0, 16, 16], [30, 8, 16, 16]])
    encoder.embed_patches(x, boxes)[..., 0].sum().backward()
    # Only pixels inside some box receive gradient.
    assert x.grad[..., :16, :16].abs().sum() > 0
    assert x.grad[..., 30:, :8].abs().sum() == 0


def test_embed_many_matches_separate_calls_and_keeps_the_source_graph_free(encoder):
    src = torch.rand(2, 3, 48, 48) * 2 - 1
    tgt = (torch.rand(2, 3, 48, 48) * 2 - 1).requires_grad_(True)
    src_patches = torch.rand(6, 3, 16, 16) * 2 - 1
    tgt_patches = (torch.rand(6, 3, 16, 16) * 2 - 1).requires_grad_(True)
    out = encoder.embed_many([src, tgt, src_patches, tgt_patches], [False, True, False, True])
    for got, x in zip(out, [src, tgt, src_patches, tgt_patches]):
        torch.testing.assert_close(got, encoder.embed_images(x), atol=1e-5, rtol=0)
    assert out[0].grad_fn is None and out[2].grad_fn is None
    assert out[1].grad_fn is not None and out[3].grad_fn is not None
    # One component, not the sum: a LayerNorm-ed CLS token (DINO) sums to zero by construction.
    (out[1][:, 0].sum() + out[3][:, 0].sum()).backward()
    assert tgt.grad.abs().sum() > 0 and tgt_patches.grad.abs().sum() > 0


def test_embed_many_never_builds_a_graph_for_no_grad_groups(encoder):
    src = (torch.rand(2, 3, 48, 48) * 2 - 1).requires_grad_(True)  # even if the input wants one
    (out,) = encoder.embed_many([src], [False])
    assert out.grad_fn is None and not out.requires_grad


def test_embed_many_rejects_mismatched_flags(encoder, images):
    with pytest.raises(ValueError, match="grad flags"):
        encoder.embed_many([images], [True, False])


def test_embed_pair(encoder, images):
    target = images.flip(0).requires_grad_(True)
    src, tgt = encoder.embed_pair(images, target)
    assert src.grad_fn is None and tgt.grad_fn is not None
    torch.testing.assert_close(tgt, encoder.embed_images(target), atol=1e-5, rtol=0)


def test_stays_frozen_in_train_mode(encoder):
    encoder.train()
    assert not encoder.training and not any(m.training for m in encoder.modules())


def test_crop_patches_gathers_exact_pixels():
    x = torch.arange(2 * 3 * 8 * 10, dtype=torch.float32).view(2, 3, 8, 10)
    boxes = torch.tensor([[[1, 2, 3, 4], [6, 0, 3, 4]], [[0, 4, 3, 4], [7, 4, 3, 4]]])
    crops = crop_patches(x, boxes)
    assert crops.shape == (2, 2, 3, 4, 3)
    torch.testing.assert_close(crops[0, 0], x[0, :, 2:6, 1:4])
    torch.testing.assert_close(crops[1, 1], x[1, :, 4:8, 7:10])


def test_crop_patches_rejects_bad_boxes():
    x = torch.zeros(1, 3, 16, 16)
    with pytest.raises(GanAdaptError, match="does not fit"):
        crop_patches(x, torch.tensor([[10, 0, 8, 8]]))
    with pytest.raises(ValueError, match="same width and height"):
        crop_patches(x, torch.tensor([[0, 0, 8, 8], [0, 0, 4, 4]]))
    with pytest.raises(ValueError, match="integer"):
        crop_patches(x, torch.tensor([[0.0, 0.0, 8.0, 8.0]]))


def test_random_boxes_stay_inside_the_image():
    boxes = random_boxes(4, 50, 12, 20, 30, generator=torch.Generator().manual_seed(0))
    assert boxes.shape == (4, 50, 4)
    assert (boxes[..., 0] >= 0).all() and (boxes[..., 0] + 12 <= 30).all()
    assert (boxes[..., 1] >= 0).all() and (boxes[..., 1] + 12 <= 20).all()
    with pytest.raises(GanAdaptError):
        random_boxes(1, 1, 40, 20)


def test_normalised_embeddings_give_cosine_by_dot_product(encoder, images):
    z = encoder.embed_images(images)
    raw = encoder.encode(encoder.preprocess(images)).float()
    torch.testing.assert_close(z[0] @ z[1], F.cosine_similarity(raw[0], raw[1], dim=0),
                               atol=1e-5, rtol=0)


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_crop_patches_equals_slicing(data):
    n = data.draw(st.integers(1, 3))
    h, w = data.draw(st.integers(1, 24)), data.draw(st.integers(1, 24))
    ph, pw = data.draw(st.integers(1, h)), data.draw(st.integers(1, w))
    p = data.draw(st.integers(1, 4))
    x0 = data.draw(st.lists(st.integers(0, w - pw), min_size=n * p, max_size=n * p))
    y0 = data.draw(st.lists(st.integers(0, h - ph), min_size=n * p, max_size=n * p))
    x = torch.randn(n, 3, h, w)
    boxes = torch.tensor([[x, y, pw, ph] for x, y in zip(x0, y0)]).view(n, p, 4)
    crops = crop_patches(x, boxes)
    for i in range(n):
        for j in range(p):
            left, top = int(boxes[i, j, 0]), int(boxes[i, j, 1])
            assert torch.equal(crops[i, j], x[i, :, top:top + ph, left:left + pw])
