"""DINO / DINOv2 through timm (tested on timm's tiny ``test_vit``)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from gan_adapt.encoders import build_dino
from gan_adapt.errors import CheckpointError, GanAdaptError


def test_cls_embedding_is_the_normalised_class_token(dino_encoder, images):
    tokens = dino_encoder.model.forward_features(dino_encoder.preprocess(images))
    expected = F.normalize(tokens[:, 0], dim=-1)
    torch.testing.assert_close(dino_encoder.embed_images(images), expected)


def test_patch_tokens(dino_encoder, images):
    x = images.clone().requires_grad_(True)
    tokens = dino_encoder.embed_tokens(x)
    grid = dino_encoder.input_size // dino_encoder.model.patch_embed.patch_size[0]
    assert tokens.shape == (2, grid * grid, dino_encoder.embed_dim)
    torch.testing.assert_close(tokens.norm(dim=-1), torch.ones(2, grid * grid))
    tokens[..., 0].sum().backward()  # a component: normed tokens sum to zero
    assert x.grad.abs().sum() > 0


def test_checkpoint_round_trip_and_resampled_input_size(dino_encoder, images, tmp_path):
    path = tmp_path / "dino.pth"
    torch.save(dino_encoder.model.state_dict(), path)
    same = build_dino("test_vit", pretrained=False, checkpoint=path, image_size=32)
    assert torch.equal(same.embed_images(images), dino_encoder.embed_images(images))
    larger = build_dino("test_vit", pretrained=False, checkpoint=path, image_size=64)
    assert larger.input_size == 64  # timm resamples the position embeddings on load
    assert larger.embed_tokens(images).shape[1] == 16


def test_corrupt_and_mismatched_checkpoints(dino_encoder, tmp_path):
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="broken.safetensors"):
        build_dino("test_vit", pretrained=False, checkpoint=broken, image_size=32)
    other = tmp_path / "other.pth"
    torch.save({"blocks.0.attn.qkv.weight": torch.zeros(3, 3)}, other)
    with pytest.raises(CheckpointError, match="does not fit"):
        build_dino("test_vit", pretrained=False, checkpoint=other, image_size=32)


def test_unknown_model_suggests_close_names():
    with pytest.raises(GanAdaptError, match="vit_small_patch16_224"):
        build_dino("vit_smal_patch16_224.dino")


def test_non_vit_models_are_refused():
    with pytest.raises(GanAdaptError, match="vision transformer"):
        build_dino("test_resnet", pretrained=False)
