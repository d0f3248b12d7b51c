"""CLIP through open_clip: text, determinism, checkpoints, precision, ensembles."""

from __future__ import annotations

import pickle

import pytest
import torch
from safetensors.torch import save_file

from gan_adapt.encoders import (
    ClipEnsemble,
    build_clip,
    read_state_dict,
    tiny_clip,
    tiny_clip_config,
)
from gan_adapt.errors import CheckpointError, GanAdaptError, UnsafeFileError


def test_text_embeddings(clip_encoder):
    z = clip_encoder.embed_text(["a pencil sketch of a face", "an oil painting", "a photo"])
    assert z.shape == (3, clip_encoder.embed_dim) and z.grad_fn is None
    torch.testing.assert_close(z.norm(dim=-1), torch.ones(3))
    assert not torch.allclose(z[0], z[1])
    torch.testing.assert_close(clip_encoder.embed_text("an oil painting")[0], z[1])


def test_encoders_without_text_tower_say_so(dino_encoder):
    with pytest.raises(GanAdaptError, match="no text tower"):
        dino_encoder.embed_text(["a sketch"])


def test_tiny_clip_is_seeded_and_leaves_the_global_rng_alone(images):
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a, b, c = tiny_clip(seed=0), tiny_clip(seed=0), tiny_clip(seed=1)
    assert torch.equal(torch.rand(1), before)
    torch.testing.assert_close(a.embed_images(images), b.embed_images(images))
    assert not torch.allclose(a.embed_images(images), c.embed_images(images))


@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_checkpoint_round_trip_gives_identical_embeddings(clip_encoder, images, tmp_path, suffix):
    path = tmp_path / f"tiny{suffix}"
    state = {k: v.contiguous() for k, v in clip_encoder.model.state_dict().items()}
    save_file(state, str(path)) if suffix == ".safetensors" else torch.save(state, path)
    loaded = build_clip("tiny", pretrained=None, checkpoint=path, model_cfg=tiny_clip_config())
    assert torch.equal(loaded.embed_images(images), clip_encoder.embed_images(images))
    assert torch.equal(loaded.embed_text(["x"]), clip_encoder.embed_text(["x"]))


def test_checkpoint_wrapped_in_state_dict_with_module_prefix(clip_encoder, images, tmp_path):
    path = tmp_path / "wrapped.pth"
    wrapped = {f"module.{k}": v for k, v in clip_encoder.model.state_dict().items()}
    torch.save({"state_dict": wrapped, "epoch": 3}, path)
    loaded = build_clip("tiny", pretrained=None, checkpoint=path, model_cfg=tiny_clip_config())
    assert torch.equal(loaded.embed_images(images), clip_encoder.embed_images(images))


@pytest.mark.filterwarnings("ignore:`torch.jit")
def test_torchscript_archive_is_read(clip_encoder, tmp_path):
    """OpenAI's original release is a TorchScript archive: its tensors are read, no code runs."""
    scripted = torch.jit.trace(clip_encoder.model.visual, torch.zeros(1, 3, 32, 32))
    path = tmp_path / "visual.pt"
    scripted.save(str(path))
    state = read_state_dict(path)
    expected = clip_encoder.model.visual.state_dict()
    assert state.keys() == expected.keys()
    assert all(torch.equal(state[k], v) for k, v in expected.items())


def test_corrupt_checkpoint_is_a_clear_error(tmp_path):
    path = tmp_path / "broken.pt"
    path.write_bytes(b"\x00not a checkpoint at all" * 10)
    with pytest.raises(CheckpointError, match="broken.pt"):
        build_clip("tiny", pretrained=None, checkpoint=path, model_cfg=tiny_clip_config())


def test_missing_checkpoint_names_the_path(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        build_clip("tiny", pretrained=None, checkpoint=tmp_path / "nope.safetensors",
                   model_cfg=tiny_clip_config())


def test_checkpoint_of_another_architecture(clip_encoder, tmp_path):
    path = tmp_path / "tiny.pt"
    torch.save(clip_encoder.model.state_dict(), path)
    other = tiny_clip_config()
    other["vision_cfg"]["width"] = 64
    with pytest.raises(CheckpointError, match="does not fit"):
        build_clip("other", pretrained=None, checkpoint=path, model_cfg=other)


class _Evil:
    def __reduce__(self):
        return (print, ("this must never run",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_pickle_that_runs_code_is_refused(tmp_path):
    path = tmp_path / "evil.pt"
    with open(path, "wb") as handle:
        pickle.dump({"weight": _Evil()}, handle)
    with pytest.raises(UnsafeFileError):
        build_clip("tiny", pretrained=None, checkpoint=path, model_cfg=tiny_clip_config())


def test_custom_config_cannot_download_a_tag():
    with pytest.raises(GanAdaptError, match="pretrained = none"):
        build_clip("tiny", pretrained="openai", model_cfg=tiny_clip_config())


def test_unknown_architecture_suggests_close_names():
    with pytest.raises(GanAdaptError, match="ViT-B-32"):
        build_clip("ViT-B-33", pretrained=None)


def test_unknown_tag_lists_the_known_ones():
    with pytest.raises(GanAdaptError, match="laion2b_s34b_b79k"):
        build_clip("ViT-B-32", pretrained="no-such-tag")


def test_bf16_weights_still_give_float32_unit_embeddings(clip_encoder, images):
    low = build_clip("tiny", pretrained=None, model_cfg=tiny_clip_config(), precision="bf16")
    low.model.load_state_dict(clip_encoder.model.state_dict())
    z = low.embed_images(images)
    assert z.dtype == torch.float32 and low.mean.dtype == torch.float32
    torch.testing.assert_close(z, clip_encoder.embed_images(images), atol=0.05, rtol=0)


# -- ensembles -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ensemble():
    return ClipEnsemble([tiny_clip(seed=0), tiny_clip(seed=1)], weights=[1.0, 3.0])


def test_ensemble_embeddings_are_unit_vectors(ensemble, images):
    z = ensemble.embed_images(images)
    assert z.shape == (2, 64) and ensemble.embed_dim == 64
    torch.testing.assert_close(z.norm(dim=-1), torch.ones(2))


def test_ensemble_cosine_is_the_weighted_average_of_member_cosines(ensemble, images):
    z = ensemble.embed_images(images)
    text = ensemble.embed_text(["a sketch"])
    members = [(m.embed_images(images), m.embed_text(["a sketch"])) for m in ensemble.members]
    expected_pair = sum(w * (e[0] @ e[1]) for w, (e, _) in zip(ensemble.weights, members))
    expected_text = sum(w * (e @ t.t()) for w, (e, t) in zip(ensemble.weights, members))
    torch.testing.assert_close(z[0] @ z[1], expected_pair, atol=1e-6, rtol=0)
    torch.testing.assert_close(z @ text.t(), expected_text, atol=1e-6, rtol=0)
    assert ensemble.weights == (0.25, 0.75)


def test_ensemble_batching_and_patches(ensemble, images):
    target = images.flip(0).requires_grad_(True)
    src, tgt = ensemble.embed_pair(images, target)
    assert src.grad_fn is None and tgt.grad_fn is not None
    torch.testing.assert_close(tgt, ensemble.embed_images(target), atol=1e-5, rtol=0)
    boxes = torch.tensor([[0, 0, 16, 16], [20, 20, 16, 16]])
    patches = ensemble.embed_patches(images, boxes)
    assert patches.shape == (2, 2, 64)
    one = ensemble.embed_images(images[1:, :, 20:36, 20:36])[0]
    torch.testing.assert_close(patches[1, 1], one, atol=1e-5, rtol=0)


def test_ensemble_rejects_bad_weights():
    with pytest.raises(ValueError):
        ClipEnsemble([tiny_clip()], weights=[0.0])
    with pytest.raises(ValueError):
        ClipEnsemble([])


class _Captured(Exception):
    pass


@pytest.mark.parametrize("tag, quick_gelu", [("openai", True), ("laion2b_s34b_b79k", False)])
def test_activation_follows_the_pretrained_tag(monkeypatch, clip_encoder, tmp_path, tag,
                                               quick_gelu):
    """OpenAI's weights need QuickGELU although the plain ViT-B-32 config does not say so."""
    import gan_adapt.encoders.clip as clip_module

    seen = {}

    def capture(cfg):
        seen.update(cfg)
        raise _Captured  # stop before building a full-size model

    monkeypatch.setattr(clip_module, "_instantiate", capture)
    path = tmp_path / "weights.pt"
    torch.save(clip_encoder.model.state_dict(), path)
    with pytest.raises(_Captured):
        build_clip("ViT-B-32", tag, checkpoint=path)
    assert seen["quick_gelu"] is quick_gelu and seen["vision_cfg"]["patch_size"] == 32
    with pytest.raises(_Captured):
        build_clip("ViT-B-32", tag, checkpoint=path, quick_gelu=not quick_gelu)
    assert seen["quick_gelu"] is (not quick_gelu)


# -- image_size: CLIP at a lower input resolution (a memory mode) ----------------------------------

def _tiny_at(size, **kwargs):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return build_clip("tiny", pretrained=None, model_cfg=tiny_clip_config(),
                          image_size=size, **kwargs)


def test_image_size_of_the_model_itself_changes_nothing(clip_encoder, images):
    same = _tiny_at(32)
    assert same.input_size == 32
    assert torch.equal(same.embed_images(images), clip_encoder.embed_images(images))


def test_lower_image_size_resamples_the_position_grid_like_a_checkpoint_load(
        clip_encoder, images, tmp_path):
    small = _tiny_at(16)
    original = clip_encoder.model.visual.positional_embedding
    resampled = small.model.visual.positional_embedding
    assert small.input_size == 16 and small.model.visual.grid_size == (2, 2)
    assert resampled.shape == (2 * 2 + 1, original.shape[1]) and not resampled.requires_grad
    assert torch.equal(resampled[0], original[0])  # the class token's embedding is kept
    # The same numbers as open_clip's loader gives 32 px weights read into a 16 px model.
    path = tmp_path / "tiny.pt"
    torch.save(clip_encoder.model.state_dict(), path)
    config = tiny_clip_config()
    config["vision_cfg"]["image_size"] = 16
    loaded = build_clip("tiny", pretrained=None, checkpoint=path, model_cfg=config)
    assert torch.equal(loaded.model.visual.positional_embedding, resampled)

    x = images.clone().requires_grad_(True)
    z = small.embed_images(x)
    torch.testing.assert_close(z.norm(dim=-1), torch.ones(len(images)))
    assert not torch.allclose(z, clip_encoder.embed_images(images))  # another network now
    z.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    boxes = torch.tensor([[0, 0, 12, 12], [4, 4, 12, 12]])
    assert small.embed_patches(images, boxes).shape == (len(images), 2, small.embed_dim)


def test_image_size_must_be_a_multiple_of_the_patch():
    with pytest.raises(GanAdaptError, match=r"multiple of its 8 px patch \(e.g. 16\)"):
        _tiny_at(20)
    with pytest.raises(GanAdaptError, match="multiple of its 8 px patch"):
        _tiny_at(4)


def test_image_size_needs_a_vit_tower():
    config = tiny_clip_config()
    config["vision_cfg"] = {"image_size": 32, "layers": [1, 1, 1, 1], "width": 8}
    with pytest.raises(GanAdaptError, match="needs a ViT vision tower.*ModifiedResNet"):
        build_clip("tiny-rn", pretrained=None, model_cfg=config, image_size=16)


def test_metrics_embed_at_the_models_own_size():
    from gan_adapt.encoders.params import ClipEnsembleParams, ClipParams
    from gan_adapt.evaluation.metric_models import _native_size

    assert _native_size(ClipParams(image_size=160)).image_size is None
    ensemble = ClipEnsembleParams(models=[{"model": "ViT-B-32", "image_size": 160},
                                          {"model": "ViT-B-16"}])
    assert [m.image_size for m in _native_size(ensemble).models] == [None, None]
    assert ensemble.models[0].image_size == 160  # the recipe's own params are left alone
