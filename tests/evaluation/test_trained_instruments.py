"""The shipped, trained instruments: loading by name with sha256 checks, the CLIP-feature
perceptual distance, zero-shot attributes, and eval's source and preservation metrics."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from gan_adapt.errors import CheckpointError, GanAdaptError
from gan_adapt.synthetic_data.portraits import CONTENT_ATTRIBUTES, portraits_batch
from gan_adapt.weights import shipped


@pytest.fixture(scope="module")
def clip():
    from gan_adapt.encoders.clip import build_clip

    return build_clip("portraits-clip", "gan-adapt")


@pytest.fixture(scope="module")
def source():
    from gan_adapt.generators import load

    return load("portraits-stylegan2-32").eval().requires_grad_(False)


def test_the_shipped_models_are_listed_with_pinned_files():
    assert {"portraits-stylegan2-32", "portraits-clip"} <= set(shipped.names())
    total = 0
    for name in ("portraits-stylegan2-32", "portraits-clip"):
        entry = shipped.lookup(name)
        assert entry["files"] and all(len(f["sha256"]) == 64 for f in entry["files"].values())
        total += sum(f["size"] for f in entry["files"].values())
        assert "python -m gan_adapt.training" in entry["command"]
    assert total < 25 * 2**20  # the budget for shipped weights


def test_generator_and_clip_load_by_name(source, clip):
    assert source.img_resolution == 32
    assert clip.name == "clip:portraits-clip" and clip.embed_dim == 128
    with torch.no_grad():
        x = source(torch.randn(2, source.z_dim))
    assert x.shape == (2, 3, 32, 32) and clip.embed_images(x).shape == (2, 128)


def test_a_tampered_or_missing_shipped_file_is_refused(tmp_path, monkeypatch):
    assets = tmp_path / "assets"
    shutil.copytree(shipped.ASSETS / "portraits-clip", assets / "portraits-clip")
    manifest = {"portraits-clip": shipped.lookup("portraits-clip")}
    (assets / "manifest.json").write_text(json.dumps(manifest))
    monkeypatch.setattr(shipped, "ASSETS", assets)
    monkeypatch.setattr(shipped, "MANIFEST", assets / "manifest.json")
    shipped._manifest.cache_clear()
    shipped._verified.cache_clear()
    try:
        assert shipped.path("portraits-clip") == assets / "portraits-clip"
        weights = assets / "portraits-clip" / "open_clip_model.safetensors"
        data = bytearray(weights.read_bytes())
        data[-1] ^= 0xFF  # same size, other bytes
        weights.write_bytes(bytes(data))
        with pytest.raises(CheckpointError, match="sha256"):
            shipped.path("portraits-clip")
        weights.write_bytes(bytes(data[:-10]))
        with pytest.raises(CheckpointError, match="bytes, expected"):
            shipped.path("portraits-clip")
        weights.unlink()
        with pytest.raises(CheckpointError, match="missing"):
            shipped.path("portraits-clip")
    finally:
        shipped._manifest.cache_clear()
        shipped._verified.cache_clear()


def test_the_shipped_tag_only_names_shipped_clips():
    from gan_adapt.encoders.clip import build_clip

    with pytest.raises(GanAdaptError, match="portraits-clip"):
        build_clip("ViT-B-32", "gan-adapt")
    with pytest.raises(GanAdaptError, match="own architecture"):
        build_clip("portraits-clip", "gan-adapt", model_cfg={"embed_dim": 8})


def test_clip_feature_distance_is_a_trained_perceptual_distance():
    from gan_adapt.encoders.perceptual import ClipFeatureDistance, perceptual_distance
    from gan_adapt.synthetic_data.known_transforms import TRANSFORMS

    distance = perceptual_distance("portraits-clip")
    assert isinstance(distance, ClipFeatureDistance)
    x = portraits_batch(16, 32, torch.Generator().manual_seed(5)).images
    y = portraits_batch(16, 32, torch.Generator().manual_seed(6)).images
    same = distance(x, x)
    assert same.shape == (16,) and float(same.abs().max()) < 1e-6
    assert torch.allclose(distance(x, y), distance(y, x), atol=1e-5)
    noisy = (x + 0.03 * torch.randn_like(x)).clamp(-1, 1)
    # A faint noise is nearer than a change of drawing style, which is nearer than another face.
    near, styled, other = distance(x, noisy), distance(x, TRANSFORMS["sketch"](x)), distance(x, y)
    assert float(near.mean()) < float(styled.mean())
    assert float(near.mean()) < float(other.mean())
    x.requires_grad_(True)
    distance(x, y).sum().backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0


def test_attribute_classifier_reads_portraits_in_every_domain(clip):
    from gan_adapt.evaluation.attributes import AttributeClassifier, can_classify
    from gan_adapt.synthetic_data.known_transforms import TRANSFORMS

    assert can_classify(clip)
    classifier = AttributeClassifier(clip)
    p = portraits_batch(96, 32, torch.Generator().manual_seed(11))
    for domain, images in [("photo", p.images), ("sketch", TRANSFORMS["sketch"](p.images))]:
        guess = classifier.classify(images)
        assert float((guess["domain"] == classifier.domains.index(domain)).float().mean()) > 0.9
        for name in CONTENT_ATTRIBUTES:  # three values each: chance is 1/3
            accuracy = float((guess[name] == p.attributes[name]).float().mean())
            assert accuracy > 0.6, (domain, name, accuracy)


def test_eval_reports_source_values_and_attribute_preservation(source, clip):
    from gan_adapt.encoders.perceptual import perceptual_distance
    from gan_adapt.evaluation.attributes import AttributeClassifier
    from gan_adapt.evaluation.evaluate import EvalSettings, Instruments, evaluate_generators
    from gan_adapt.plugin_host.context import TargetData
    from gan_adapt.synthetic_data.known_transforms import TRANSFORMS, TransformedGenerator

    instruments = Instruments(perceptual_distance("portraits-clip"), clip,
                              attributes=AttributeClassifier(clip))
    target = portraits_batch(1, 32, torch.Generator().manual_seed(3)).images
    data = TargetData(image=TRANSFORMS["sketch"](target), text="a pencil sketch of a face")
    settings = EvalSettings(n=24, batch=12)
    same = evaluate_generators(source, source, data, instruments, settings)
    assert same["attribute_preservation"] == 1.0
    assert same["target_clip_image"] == pytest.approx(same["target_clip_image_source"])
    assert same["target_clip_text"] == pytest.approx(same["target_clip_text_source"])
    ideal = evaluate_generators(source, TransformedGenerator(source, TRANSFORMS["sketch"]), data,
                                instruments, settings)
    # The ideal sketch generator moves towards the sketch target and keeps the content.
    assert ideal["target_clip_image"] > ideal["target_clip_image_source"] + 0.1
    assert ideal["target_clip_text"] > ideal["target_clip_text_source"] + 0.1
    assert ideal["attribute_preservation"] > 0.6
    assert set(ideal) >= {f"attribute_preservation_{n}" for n in CONTENT_ATTRIBUTES}
