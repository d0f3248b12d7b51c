"""The peer-method recipes: each validates, each paper recipe stops offline with the preflight
list, and each smoke twin runs end to end on the tiny models (in this process, few steps)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from gan_adapt.engine.launch import start
from gan_adapt.engine.weights_check import MissingWeightsError
from gan_adapt.recipe.schema import read_and_validate, read_toml

ROOT = Path(__file__).resolve().parents[2]
RECIPES = ROOT / "recipes"
PAPER = {  # recipe -> files the offline preflight must list
    "oneshotclip-text": ["generators/ffhq-1024-config-f.pkl", "clip/ViT-B-32-openai.safetensors"],
    "nada": ["generators/ffhq-1024-config-f.pkl", "clip/ViT-B-32-openai.safetensors",
             "clip/ViT-B-16-openai.safetensors"],
    "mtg": ["generators/ffhq-1024-config-f.pkl", "clip/ViT-B-32-openai.safetensors",
            "clip/ViT-B-16-openai.safetensors", "lpips/vgg16-397923af.pth"],
    "cdc-10shot": ["generators/ffhq-256.pkl"],
    "oneshotclip+cdc": ["generators/ffhq-1024-config-f.pkl", "clip/ViT-B-32-openai.safetensors",
                        "lpips/alexnet-owt-7be5be79.pth"],
}
SHORT = ["adapt.steps=2", "output.sample_every=2", "output.checkpoint_every=2"]


@pytest.fixture(scope="module")
def plugin_set():
    from gan_adapt.plugin_host.loading import load_plugins

    plugins = load_plugins()
    assert not plugins.failures, plugins.failures
    return plugins


@pytest.mark.parametrize("name", sorted(PAPER) + [f"{n}-smoke" for n in sorted(PAPER)])
def test_recipe_validates_with_its_plugins(name, plugin_set):
    validated = read_and_validate(RECIPES / f"{name}.toml", plugin_set)
    assert validated.recipe.requires and all(plugin_set.has_plugin(r)
                                             for r in validated.recipe.requires)


@pytest.mark.parametrize("name", sorted(PAPER))
def test_paper_recipe_offline_lists_missing_weights_and_writes_nothing(name, plugin_set,
                                                                       tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("GAN_ADAPT_HOME", str(home))
    out = tmp_path / "run"
    with pytest.raises(MissingWeightsError) as caught:
        start(RECIPES / f"{name}.toml", plugin_set, out=out, progress_live=False)
    message = str(caught.value)
    assert f"{len(PAPER[name])} pretrained weight file(s) are missing" in message
    for file in PAPER[name]:
        assert str(home / file) in message, file
    assert not out.exists()


def _metrics(result) -> dict[str, float]:
    assert result.status == "done"
    return json.loads((result.folder / "metrics.json").read_text())


def _run(name, plugin_set, out, extra=()):
    path = RECIPES / f"{name}.toml"
    search = ["search.steps=2"] if "search" in read_toml(path) else []
    return start(path, plugin_set, out=out, overrides=[*SHORT, *search, *extra],
                 progress_live=False)


EXPECTED_TERMS = {
    "oneshotclip-text-smoke": ["clip_directional", "clip_consistency", "patch_nce"],
    "nada-smoke": ["clip_directional"],
    "mtg-smoke": ["clip_directional", "clip_within_domain", "reference_clip", "reference_l2",
                  "reference_lpips"],
    "cdc-10shot-smoke": ["adversarial", "D/adversarial", "patch_adversarial",
                         "D/patch_adversarial", "cdc_consistency"],
    "oneshotclip+cdc-smoke": ["adversarial", "lpips", "mse", "patch_adversarial",
                              "clip_consistency", "patch_nce", "cdc_consistency"],
}


SMALLER = {  # smaller batches keep the suite fast; both step kinds still run
    "cdc-10shot-smoke": ["adapt.schedule[0].batch=2", "adapt.schedule[1].batch=2",
                         "adapt.losses[2].params.batch=3"],
    "oneshotclip+cdc-smoke": ["adapt.losses[6].params.batch=3"],
}


@pytest.mark.parametrize("name", sorted(EXPECTED_TERMS))
def test_smoke_twin_runs_end_to_end(name, plugin_set, tmp_path):
    result = _run(name, plugin_set, tmp_path / "run", SMALLER.get(name, []))
    metrics = _metrics(result)
    for term in EXPECTED_TERMS[name]:
        assert term in metrics and torch.isfinite(torch.tensor(metrics[term])), term
    assert (result.folder / "generator" / "native").exists()
    log = [json.loads(line) for line in (result.folder / "log.jsonl").read_text().splitlines()]
    kinds = {r["kind"] for r in log if r["phase"] == "adapt"}
    if name == "cdc-10shot-smoke":
        assert kinds == {"anchor", "random"}  # anchor-region steps and random steps both ran
    if name in ("oneshotclip-text-smoke", "mtg-smoke"):
        search = [r for r in log if r["phase"] == "search"]
        assert search and ("clip_text_distance" in search[0] or "pnorm_l2" in search[0])


def test_adaptive_layers_train_only_the_chosen_layer(plugin_set, tmp_path):
    """One NADA step with k = 1 and no EMA: exactly one styled conv changes, nothing else."""
    from gan_adapt.generators import load as load_generator

    result = _run("nada-smoke", plugin_set, tmp_path / "run",
                  ["adapt.steps=1", "adapt.losses[0].params.adaptive_layers.k=1"])
    _metrics(result)
    source = load_generator(RECIPES / "assets" / "tiny-stylegan2-32.pt")
    adapted = load_generator(result.folder / "generator" / "native")
    changed = {name for (name, a), b in zip(source.named_parameters(), adapted.parameters())
               if not torch.equal(a, b)}
    layers = {".".join(name.split(".")[:3]) for name in changed}
    assert len(layers) == 1 and next(iter(layers)).startswith("synthesis.b"), changed
