"""The default encoder plugin: cheap to import, registers documented factories that build."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pluggy
import pytest
import torch
from pydantic import ValidationError

from gan_adapt.encoders import ClipEncoder, ClipEnsemble, DinoEncoder, tiny_clip, tiny_clip_config
from gan_adapt.plugin_host import hookspecs


def _registered() -> dict:
    from gan_adapt.encoders import plugin

    manager = pluggy.PluginManager("gan_adapt")
    manager.add_hookspecs(hookspecs)
    manager.register(plugin)
    found: dict = {}
    manager.hook.register_encoders(register=lambda name, factory: found.setdefault(name, factory))
    return found


def test_importing_the_plugin_imports_no_heavy_library():
    code = ("import sys, gan_adapt.encoders.plugin, gan_adapt.encoders; "
            "print(sorted(m for m in ('torch', 'open_clip', 'timm', 'lpips', 'kornia') "
            "if m in sys.modules))")
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=root)
    assert out.stdout.strip() == "[]"


def test_registers_clip_ensemble_and_dino_with_documented_params():
    found = _registered()
    assert set(found) == {"clip", "clip_ensemble", "dino"}
    for factory in found.values():
        assert factory.__doc__
        assert factory.Params.model_config.get("extra") == "forbid"
        assert all(f.description for f in factory.Params.model_fields.values())


def test_params_refuse_unknown_keys():
    with pytest.raises(ValidationError):
        _registered()["clip"].Params(modle="ViT-B-32")


def test_clip_factory_builds_from_a_recipe_relative_checkpoint(ctx, tmp_path, images):
    reference = tiny_clip(seed=4)
    torch.save(reference.model.state_dict(), tmp_path / "tiny.pt")
    factory = _registered()["clip"]
    params = factory.Params(model="tiny", pretrained=None, checkpoint="tiny.pt",
                            model_cfg=tiny_clip_config())
    encoder = factory(params, ctx)
    assert isinstance(encoder, ClipEncoder)
    assert torch.equal(encoder.embed_images(images), reference.embed_images(images))


def test_ensemble_factory(ctx, images):
    factory = _registered()["clip_ensemble"]
    member = {"model": "tiny", "pretrained": None, "model_cfg": tiny_clip_config()}
    params = factory.Params(models=[{**member, "weight": 2.0}, member])
    encoder = factory(params, ctx)
    assert isinstance(encoder, ClipEnsemble) and encoder.weights == pytest.approx((2 / 3, 1 / 3))
    assert encoder.embed_images(images).shape == (2, 64)


def test_ensemble_defaults_to_the_nada_pair():
    models = _registered()["clip_ensemble"].Params().models
    assert [(m.model, m.pretrained) for m in models] == [("ViT-B-32", "openai"),
                                                         ("ViT-B-16", "openai")]


def test_dino_factory(ctx, images):
    factory = _registered()["dino"]
    encoder = factory(factory.Params(model="test_vit", pretrained=False, image_size=32), ctx)
    assert isinstance(encoder, DinoEncoder) and encoder.embed_images(images).shape == (2, 64)
