"""The procedural shapes data and the minimal StyleGAN2 trainer (tiny settings)."""

from __future__ import annotations

import json

import pytest
import torch

from gan_adapt.errors import GanAdaptError
from gan_adapt.synthetic_data.shapes import ShapesStream, shapes_batch
from gan_adapt.training.trainer import TrainConfig, save_pretrained, train


def test_shapes_are_seeded_and_in_range():
    a = shapes_batch(6, 16, torch.Generator().manual_seed(1))
    b = shapes_batch(6, 16, torch.Generator().manual_seed(1))
    c = shapes_batch(6, 16, torch.Generator().manual_seed(2))
    assert a.shape == (6, 3, 16, 16)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.min() >= -1 and a.max() <= 1
    stream = ShapesStream(16, seed=1)
    first, second = stream.next_batch(6), stream.next_batch(6)
    assert torch.equal(first, a) and not torch.equal(first, second)


def test_a_shape_stands_out_from_its_background():
    # Shapes are saturated colours, backgrounds muted ones: each image has saturated pixels.
    x = (shapes_batch(16, 32, torch.Generator().manual_seed(0)) + 1) / 2
    saturation = x.amax(dim=1) - x.amin(dim=1)  # [N, H, W]
    assert bool((saturation.flatten(1).amax(dim=1) > 0.6).all())


def tiny_config(**changes) -> TrainConfig:
    settings = dict(resolution=8, channels={4: 8, 8: 8}, w_dim=8, batch=4, steps=4,
                    r1_every=2, mixing=0.5, sample_every=2, log_every=2, ema_images=16)
    settings.update(changes)
    return TrainConfig(**settings)


def test_training_runs_and_saves_a_loadable_checkpoint(tmp_path):
    from gan_adapt.generators import load, load_discriminator

    config = tiny_config()
    stream = ShapesStream(8, seed=0)
    records = []
    result = train(config, stream.next_batch, out=tmp_path / "work", report=records.append)
    assert result.steps == 4 and result.images_seen == 16
    assert [r["step"] for r in records] == [1, 2, 4]
    assert all(torch.isfinite(torch.tensor([r["g_loss"], r["d_loss"]])).all() for r in records)
    assert records[1]["r1"] > 0  # lazy R1 ran on step 2
    assert (tmp_path / "work" / "samples" / "step-000004.png").exists()
    assert len((tmp_path / "work" / "log.jsonl").read_text().splitlines()) == 3
    # The EMA generator moved away from its initialisation, and the training G is not returned.
    folder = save_pretrained(result, config, tmp_path / "ckpt", extra={"note": "test"})
    G = load(folder)
    D = load_discriminator(folder)
    z = torch.randn(3, 8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.allclose(G(z), result.generator(z), atol=1e-6)
        assert D(G(z)).shape == (3, 1)
    assert torch.allclose(G.w_avg, result.generator.w_avg)
    metadata = json.loads((folder / "config.json").read_text())["metadata"]
    assert metadata["steps"] == 4 and metadata["note"] == "test"
    assert metadata["config"]["channels"] == {"4": 8, "8": 8}


def test_training_is_reproducible():
    outs = []
    for _ in range(2):
        result = train(tiny_config(steps=2), ShapesStream(8, seed=0).next_batch)
        with torch.no_grad():
            outs.append(result.generator(torch.ones(1, 8)))
    assert torch.equal(outs[0], outs[1])


def test_time_budget_stops_training():
    result = train(tiny_config(steps=1000, max_seconds=0.0), ShapesStream(8).next_batch)
    assert result.steps == 1


@pytest.mark.parametrize("changes, message", [
    ({"resolution": 12}, "power of two"),
    ({"channels": {4: 8}}, "missing \\[8\\]"),
    ({"batch": 3}, "even"),
])
def test_bad_settings_are_user_errors(changes, message):
    with pytest.raises(GanAdaptError, match=message):
        train(tiny_config(**changes), ShapesStream(8).next_batch)


def _weights(module: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in module.parameters()])


def test_an_interrupted_training_resumes_exactly(tmp_path):
    config = tiny_config(steps=6, checkpoint_every=3, sample_every=100)
    whole = train(config, ShapesStream(8, seed=0), out=tmp_path / "whole")
    train(tiny_config(steps=3, checkpoint_every=3, sample_every=100), ShapesStream(8, seed=0),
          out=tmp_path / "parts")
    assert (tmp_path / "parts" / "training-state.pt").exists()
    # A fresh process would rebuild the stream from scratch: resume restores its position.
    resumed = train(config, ShapesStream(8, seed=0), out=tmp_path / "parts", resume=True)
    assert resumed.steps == 6 and resumed.images_seen == whole.images_seen
    assert torch.equal(_weights(resumed.generator), _weights(whole.generator))
    assert torch.equal(_weights(resumed.discriminator), _weights(whole.discriminator))
    assert [r["step"] for r in resumed.log] == [r["step"] for r in whole.log]


def test_resuming_with_other_settings_is_refused(tmp_path):
    train(tiny_config(steps=2, checkpoint_every=2), ShapesStream(8), out=tmp_path)
    with pytest.raises(GanAdaptError, match="lr"):
        train(tiny_config(steps=4, lr=0.01), ShapesStream(8), out=tmp_path, resume=True)
    (tmp_path / "training-state.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(GanAdaptError, match="cannot read the training state"):
        train(tiny_config(steps=4), ShapesStream(8), out=tmp_path, resume=True)


def test_portrait_gan_script_quick(tmp_path):
    from gan_adapt.generators import load
    from gan_adapt.training import portrait_gan

    export = tmp_path / "export" / "g"
    assert portrait_gan.main(["--work", str(tmp_path / "work"), "--quick",
                              "--export", str(export)]) == 0
    G = load(export)
    assert G.img_resolution == 8
    assert (tmp_path / "export" / "g-samples.png").exists()
    log = (tmp_path / "export" / "g-log.jsonl").read_text().splitlines()
    assert json.loads(log[-1])["step"] == 6
    # Run again: the state says it is done, so nothing more is trained.
    assert portrait_gan.main(["--work", str(tmp_path / "work"), "--quick"]) == 0


def test_portrait_clip_script_quick(tmp_path):
    from gan_adapt.encoders.clip import build_clip
    from gan_adapt.training import portrait_clip

    export = tmp_path / "clip"
    assert portrait_clip.main(["--work", str(tmp_path / "work"), "--quick",
                               "--export", str(export)]) == 0
    info = json.loads((export / "config.json").read_text())
    figures = info["heldout"]
    assert 0 <= figures["domain_accuracy"] <= 1 and figures["domain_chance"] == round(1 / 6, 3)
    assert set(figures["attributes"]) == {"skin", "hair_colour", "hair_style", "expression",
                                          "eyewear", "background"}
    encoder = build_clip("quick", None, model_cfg=info["model_cfg"],
                         checkpoint=export / "open_clip_model.safetensors")
    assert encoder.embed_images(torch.zeros(2, 3, 16, 16)).shape == (2, 16)
    # Resuming the finished training trains nothing and gives the same figures.
    assert portrait_clip.main(["--work", str(tmp_path / "work"), "--quick"]) == 0
    again = json.loads((tmp_path / "work" / "heldout.json").read_text())
    assert again == figures
