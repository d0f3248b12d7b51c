"""Every encoder kind reports what its weights are (issue 28): the shipped model's name and
sha256, the download's name, a local file, or random initialisation; "random" is said only when
the weights really are random, for single encoders, ensembles and the metric instruments."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from gan_adapt.encoders.provenance import WeightsSource, describe, is_random, weights_of
from gan_adapt.weights import shipped

ROOT = Path(__file__).resolve().parents[2]
SHIPPED_SHA = shipped.lookup("portraits-clip")["files"]["open_clip_model.safetensors"]["sha256"]


def test_shipped_clip_names_itself_and_its_sha256():
    from gan_adapt.encoders.clip import build_clip

    encoder = build_clip("portraits-clip", shipped.CLIP_TAG)
    assert weights_of(encoder) == [WeightsSource("shipped", "portraits-clip", SHIPPED_SHA)]
    assert SHIPPED_SHA in describe(encoder) and "random" not in describe(encoder)


def test_random_clip_says_random():
    from gan_adapt.encoders import tiny_clip

    encoder = tiny_clip(seed=0)
    assert is_random(encoder) and describe(encoder).startswith("random")


def test_local_checkpoint_is_named(tmp_path):
    from safetensors.torch import save_file

    from gan_adapt.encoders import tiny_clip
    from gan_adapt.encoders.clip import build_clip, tiny_clip_config

    path = tmp_path / "mine.safetensors"
    save_file({k: v.contiguous() for k, v in tiny_clip(seed=1).model.state_dict().items()}, path)
    encoder = build_clip("tiny", None, checkpoint=path, model_cfg=tiny_clip_config())
    assert weights_of(encoder) == [WeightsSource("file", str(path))]
    assert not is_random(encoder)


def test_downloaded_dino_names_the_download(monkeypatch, tmp_path):
    """A pretrained DINO reports timm's download name; ``fetch`` is pointed at a local file
    (the test is offline), the name and pin come from the weights table as in a real run."""
    import timm
    from safetensors.torch import save_file

    from gan_adapt.encoders import dino
    from gan_adapt.encoders.weights import dino_weights

    model = "vit_small_patch16_224.dino"
    net = timm.create_model(model, pretrained=False, num_classes=0)
    path = tmp_path / "dino.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, path)
    monkeypatch.setattr(dino, "fetch", lambda known: path)
    encoder = dino.build_dino(model, pretrained=True)
    known = dino_weights(model)
    assert weights_of(encoder) == [WeightsSource("download", known.name, known.sha256)]
    assert describe(encoder).startswith(f"downloaded {known.name}")
    assert is_random(dino.build_dino(model, pretrained=False))


def test_ensemble_reports_each_member():
    from gan_adapt.encoders.clip import tiny_clip_config
    from gan_adapt.encoders.ensemble import build_clip_ensemble

    trained = {"model": "portraits-clip", "pretrained": shipped.CLIP_TAG}
    both = build_clip_ensemble([trained, trained])
    assert [s.kind for s in weights_of(both)] == ["shipped", "shipped"]
    assert not is_random(both) and "random" not in describe(both)
    assert describe(both).startswith("member 1: shipped portraits-clip")
    mixed = build_clip_ensemble([trained, {"model": "tiny", "pretrained": None,
                                           "model_cfg": tiny_clip_config()}])
    assert not is_random(mixed)  # one trained member: the ensemble is not "random"
    assert "member 2: random" in describe(mixed) and "member 1: shipped" in describe(mixed)


def test_plugin_encoder_without_a_record_is_undeclared_not_random():
    from gan_adapt.encoders.base import EncoderBase

    class Mine(EncoderBase):
        def __init__(self) -> None:
            super().__init__(input_size=8, embed_dim=4, mean=(0, 0, 0), std=(1, 1, 1))
            self.proj = torch.nn.Linear(3, 4)

        def encode(self, pixels):
            return self.proj(pixels.mean((2, 3)))

    encoder = Mine()
    assert weights_of(encoder) == [WeightsSource("undeclared", "Mine")]
    assert not is_random(encoder) and "random" not in describe(encoder)


@pytest.mark.parametrize("kind", ["clip", "clip_ensemble"])
def test_eval_instrument_record_of_a_trained_recipe_encoder(kind):
    """The metric instrument built from a recipe's encoder (single or ensemble, the members'
    ``pretrained`` kept under ``models``) is described by its real weights."""
    from gan_adapt.evaluation.metric_models import build_clip
    from gan_adapt.plugin_host.loading import load_plugins
    from gan_adapt.recipe.schema import read_and_validate as load

    plugin_set = load_plugins()
    member = '{model = "portraits-clip", pretrained = "gan-adapt"}'
    overrides = [] if kind == "clip" else [
        'encoders.clip.name="clip_ensemble"',
        f"encoders.clip.params={{models = [{member}, {member}]}}"]
    validated = load(ROOT / "recipes" / "oneshotclip-portraits.toml", plugin_set,
                     overrides=overrides)
    built = build_clip("recipe", validated, plugin_set, torch.device("cpu"))
    assert built.info["component"] == kind
    assert "random" not in built.info["weights"], built.info["weights"]
    assert SHIPPED_SHA in built.info["weights"]
    assert all(s["kind"] == "shipped" for s in built.info["sources"])
    assert len(built.info["sources"]) == (1 if kind == "clip" else 2)
