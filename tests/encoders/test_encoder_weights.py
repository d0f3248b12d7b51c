"""Real-weights paths: the right file is asked for, and offline failure is one clear message."""

from __future__ import annotations

import pytest
import torch

from gan_adapt.encoders import CLIP_WEIGHTS, DINO_WEIGHTS, LPIPS_BACKBONES, build_clip, build_dino
from gan_adapt.encoders.weights import clip_weights, dino_weights, fetch, read_state_dict
from gan_adapt.errors import WeightsUnavailableError
from gan_adapt.weights.download import KnownWeights


def _assert_names_url_and_path(error: WeightsUnavailableError, url: str, path) -> None:
    message = str(error)
    assert url in message and str(path) in message and "offline" in message
    assert "Traceback" not in message and not path.exists()


def test_clip_openai_offline(offline):
    with pytest.raises(WeightsUnavailableError) as caught:
        build_clip("ViT-B-32", "openai")
    expected = offline / "clip" / "ViT-B-32-openai.safetensors"
    _assert_names_url_and_path(
        caught.value, "https://huggingface.co/timm/vit_base_patch32_clip_224.openai/resolve/"
        "a6f597a30f7b82c51704746581f9a4e41421e878/open_clip_model.safetensors", expected)


def test_dino_offline(offline):
    with pytest.raises(WeightsUnavailableError) as caught:
        build_dino("vit_small_patch16_224.dino")
    _assert_names_url_and_path(
        caught.value,
        "https://huggingface.co/timm/vit_small_patch16_224.dino/resolve/main/model.safetensors",
        offline / "dino" / "vit_small_patch16_224.dino.safetensors")


def test_lpips_alex_offline(offline):
    from gan_adapt.encoders.perceptual import LPIPSDistance

    with pytest.raises(WeightsUnavailableError) as caught:
        LPIPSDistance("alex", pretrained=True)
    _assert_names_url_and_path(caught.value,
                               "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
                               offline / "lpips" / "alexnet-owt-7be5be79.pth")


def test_quickgelu_alias_and_tag_spelling_share_the_pinned_file():
    pinned = CLIP_WEIGHTS[("ViT-B-32", "openai")]
    assert clip_weights("ViT-B-32-quickgelu", "openai") is pinned
    assert clip_weights("ViT-B-32", "OpenAI") is pinned
    assert pinned.sha256 and len(pinned.sha256) == 64


def test_uncatalogued_clip_tags_are_derived_from_open_clip():
    weights = clip_weights("ViT-B-16", "laion400m_e32")
    repo = "https://huggingface.co/timm/vit_base_patch16_clip_224.laion400m_e32/"
    assert weights.url.startswith(repo)
    assert weights.url.endswith("/open_clip_model.safetensors")
    assert weights.filename == "ViT-B-16-laion400m_e32.safetensors" and weights.sha256 is None


def test_dino_names_resolve_timm_default_tags():
    pinned = DINO_WEIGHTS["vit_small_patch14_dinov2.lvd142m"]
    assert dino_weights("vit_small_patch14_dinov2") is pinned and pinned.sha256
    derived = dino_weights("vit_large_patch14_reg4_dinov2.lvd142m")
    assert derived.url.endswith(
        "timm/vit_large_patch14_reg4_dinov2.lvd142m/resolve/main/model.safetensors")


def test_every_catalog_entry_is_well_formed():
    entries = [*CLIP_WEIGHTS.values(), *DINO_WEIGHTS.values(), *LPIPS_BACKBONES.values()]
    assert len({w.filename for w in entries}) == len(entries)
    for weights in entries:
        assert weights.url.startswith("https://") and weights.subdir in {"clip", "dino", "lpips"}
        assert weights.sha256 is None or len(weights.sha256) == 64


def test_sha256_prefix_in_the_file_name_is_checked(offline):
    bad = LPIPS_BACKBONES["alex"]
    bad.cache_path.parent.mkdir(parents=True)
    bad.cache_path.write_bytes(b"not alexnet")
    with pytest.raises(WeightsUnavailableError, match="7be5be79"):
        fetch(bad)


def test_a_cached_file_is_used_without_any_download(offline, clip_encoder, images):
    """The cache path is all that matters: a file placed there is loaded as is."""
    from gan_adapt.encoders.clip import _instantiate, _load_weights, tiny_clip_config

    weights = KnownWeights(name="tiny", url="https://example.invalid/tiny.pt",
                           filename="tiny.pt", subdir="clip")
    weights.cache_path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(clip_encoder.model.state_dict(), weights.cache_path)
    network = _instantiate(tiny_clip_config())
    path = fetch(weights)
    _load_weights(network, read_state_dict(path), path, label="tiny")
    for key, value in clip_encoder.model.state_dict().items():
        assert torch.equal(network.state_dict()[key], value)
