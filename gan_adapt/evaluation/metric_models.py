"""Which LPIPS and CLIP the metrics use, and building them reproducibly.

By default the evaluation measures a run with the run's *own* instruments: the LPIPS settings
of the recipe's first ``lpips`` term and the recipe's CLIP encoder. On the smoke recipe these
are random-weight stand-ins, so everything works offline; on the paper recipes they are the
real LPIPS (alex) and CLIP ViT-B/32. Other choices are given as strings:

* LPIPS: ``recipe`` (a recipe without an lpips term: ``alex``, or, where that is not
  downloaded and cannot be, the shipped ``portraits-clip`` distance, recorded as a fallback) |
  ``alex`` | ``vgg`` | ``squeeze`` (pretrained, at 256 px) |
  ``portraits-clip`` (an LPIPS-style distance on the shipped, trained portraits CLIP; offline) |
  ``random-alex`` (random weights at the generator's resolution; a stand-in for tests);
* CLIP: ``recipe`` | ``ARCH:TAG`` (an open_clip pretrained pair, e.g. ``ViT-B-32:openai``) |
  a shipped CLIP's name (``portraits-clip``, trained by gan-adapt, offline) |
  ``tiny`` (gan-adapt's random tiny CLIP).

Random weights are drawn from a fixed seed inside :func:`torch.random.fork_rng`, so they are
the same on every evaluation and do not disturb the caller's RNG. What was used is described
in a JSON-able dict that goes into ``eval.json``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from gan_adapt.errors import GanAdaptError
from gan_adapt.plugin_host.context import BuildContext, TargetData
from gan_adapt.recipe.schema import ValidatedRecipe

#: Seed of every random-weight metric network (fixed: numbers must not depend on the run).
WEIGHTS_SEED = 0
DEFAULT_CLIP = "ViT-B-32:openai"
_LPIPS_NETS = ("alex", "vgg", "squeeze")


@dataclass
class MetricModel:
    """A built metric network and the record of what it is."""

    model: Any
    info: dict[str, Any]


def _seeded(build: Any) -> Any:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(WEIGHTS_SEED)
        return build()


def recipe_lpips_params(validated: ValidatedRecipe | None) -> tuple[dict[str, Any], str] | None:
    """The params of the recipe's first ``lpips`` term (adaptation first), and its TOML path."""
    if validated is None:
        return None
    recipe = validated.recipe
    places = [(f"adapt.losses[{i}]", t) for i, t in enumerate(recipe.adapt.losses)]
    if recipe.search is not None:
        places += [(f"search.objective[{i}]", t) for i, t in enumerate(recipe.search.objective)]
    for path, term in places:
        if term.name == "lpips":
            params = validated.params.get(path)
            data = params.model_dump() if hasattr(params, "model_dump") else dict(term.params)
            return data, path
    return None


def build_lpips(choice: str, validated: ValidatedRecipe | None, resolution: int,
                device: torch.device) -> MetricModel:
    """The LPIPS distance named by ``choice`` (see the module doc)."""
    from gan_adapt.encoders.perceptual import TRAINED_FEATURE_NETS

    if choice == "recipe":
        found = recipe_lpips_params(validated)
        if found is None:
            return _default_lpips(device)
        params, origin = found[0], f"recipe {found[1]}"
    elif choice in _LPIPS_NETS or choice in TRAINED_FEATURE_NETS:
        params, origin = {"net": choice, "pretrained": True, "resize_to": 256}, "--lpips"
    elif choice.startswith("random-") and choice[7:] in _LPIPS_NETS:
        params, origin = {"net": choice[7:], "pretrained": False, "resize_to": resolution}, \
            "--lpips"
    else:
        raise GanAdaptError(f"--lpips {choice!r}: use recipe, alex, vgg, squeeze, "
                            f"{', '.join(TRAINED_FEATURE_NETS)} or "
                            "random-alex/random-vgg/random-squeeze")
    return _lpips(params, origin, device)


def _default_lpips(device: torch.device) -> MetricModel:
    """A recipe without an lpips term is measured with LPIPS (alex) when its backbone is on
    disk; otherwise with the shipped, trained ``portraits-clip`` distance, offline and at once
    (a failing download can take a minute), and the record and a note say so."""
    import warnings

    from gan_adapt.encoders.perceptual import TRAINED_FEATURE_NETS
    from gan_adapt.encoders.weights import LPIPS_BACKBONES

    alex = LPIPS_BACKBONES["alex"]
    if alex.cache_path.is_file():
        return _lpips({"net": "alex", "pretrained": True, "resize_to": 256},
                      "default (the recipe has no lpips term)", device)
    shipped_net = TRAINED_FEATURE_NETS[0]
    warnings.warn(f"the recipe has no lpips term and LPIPS (alex) is not downloaded: measuring "
                  f"with the shipped {shipped_net} distance (--lpips alex downloads and uses "
                  "LPIPS)", stacklevel=1)
    return _lpips({"net": shipped_net, "pretrained": True, "resize_to": 256},
                  "fallback: the recipe has no lpips term and LPIPS (alex) is not downloaded; "
                  f"the shipped {shipped_net} distance", device)


def _lpips(params: dict[str, Any], origin: str, device: torch.device) -> MetricModel:
    """Build the distance ``params`` describe; a missing download names the offline choice."""
    from gan_adapt.encoders.perceptual import TRAINED_FEATURE_NETS, perceptual_distance
    from gan_adapt.errors import WeightsMismatchError, WeightsUnavailableError

    net, pretrained = params.get("net", "alex"), bool(params.get("pretrained", True))
    resize_to = params.get("resize_to", 256)
    try:
        model = _seeded(lambda: perceptual_distance(net=net, pretrained=pretrained,
                                                    resize_to=resize_to))
    except WeightsMismatchError:
        raise
    except WeightsUnavailableError as exc:
        exc.add_note(f"  Offline: --lpips {TRAINED_FEATURE_NETS[0]} measures with the shipped, "
                     "trained distance (no download; trained on portraits).")
        raise
    if net in TRAINED_FEATURE_NETS:
        weights = (f"LPIPS-style distance on the vision features of the shipped, trained {net} "
                   "(uniform channel weights)" if pretrained
                   else f"random (seed {WEIGHTS_SEED}); a stand-in, not a perceptual distance")
    else:
        weights = ("LPIPS v0.1 heads + torchvision ImageNet backbone" if pretrained
                   else f"random (seed {WEIGHTS_SEED}); a stand-in, not a perceptual distance")
    info = {"net": net, "pretrained": pretrained, "resize_to": resize_to, "from": origin,
            "weights": weights}
    return MetricModel(model.to(device), info)


def _recipe_clip_key(validated: ValidatedRecipe | None) -> str | None:
    if validated is None:
        return None
    encoders = validated.recipe.encoders
    if "clip" in encoders and encoders["clip"].name in ("clip", "clip_ensemble"):
        return "clip"
    for key, ref in encoders.items():
        if ref.name in ("clip", "clip_ensemble"):
            return key
    return None


def _native_size(params: Any) -> Any:
    """The encoder params with ``image_size`` (a training memory mode) unset: metrics always
    embed at the model's own resolution, so that runs with and without it compare."""
    if getattr(params, "image_size", None) is not None:
        params = params.model_copy(update={"image_size": None})
    members = getattr(params, "models", None)
    if members:
        params = params.model_copy(update={"models": [_native_size(m) for m in members]})
    return params


def build_clip(choice: str, validated: ValidatedRecipe | None, plugin_set: Any,
               device: torch.device) -> MetricModel:
    """The CLIP encoder named by ``choice`` (see the module doc)."""
    origin = "--clip"
    if choice == "recipe":
        key = _recipe_clip_key(validated)
        if key is None:
            choice, origin = DEFAULT_CLIP, "default (the recipe has no CLIP encoder)"
        else:
            ref = validated.recipe.encoders[key]
            params = _native_size(validated.params[f"encoders.{key}"])
            component = plugin_set.registry.get("encoder", ref.name)
            ctx = BuildContext(device=device, base_dir=validated.base_dir, target=TargetData())
            model = _seeded(lambda: component.build(params, ctx))
            dumped = params.model_dump() if hasattr(params, "model_dump") else dict(ref.params)
            info = {"from": f"recipe encoders.{key}", "component": ref.name, "params": dumped,
                    **clip_weights_record(model)}
            return MetricModel(model, info)
    if choice == "tiny":
        from gan_adapt.encoders import tiny_clip

        model = tiny_clip(seed=WEIGHTS_SEED, device=device)
        return MetricModel(model, {"from": "--clip tiny", "component": "clip", "model": "tiny",
                                   **clip_weights_record(model)})
    from gan_adapt.weights import shipped

    if choice in shipped.names("clip"):
        choice = f"{choice}:{shipped.CLIP_TAG}"
    if ":" not in choice:
        raise GanAdaptError(f"--clip {choice!r}: use recipe, tiny, or ARCH:TAG such as "
                            f"{DEFAULT_CLIP}")
    from gan_adapt.encoders.clip import build_clip as build

    arch, tag = choice.split(":", 1)
    model = build(arch, tag, device=device)
    return MetricModel(model, {"from": origin, "component": "clip", "model": arch,
                               "pretrained": tag, **clip_weights_record(model)})


def clip_weights_record(encoder: Any) -> dict[str, Any]:
    """What the encoder's weights are, as the encoder's builder recorded them (see
    :mod:`gan_adapt.encoders.provenance`): ``weights`` (one line; the word "random" only when
    every weight is a random initialisation, drawn here from the fixed seed) and ``sources``
    (one entry per network: kind, name, sha256)."""
    from dataclasses import asdict

    from gan_adapt.encoders.provenance import describe, is_random, weights_of

    if is_random(encoder):
        weights = f"random (seed {WEIGHTS_SEED}); a stand-in, not CLIP's semantics"
    else:
        weights = describe(encoder)
    return {"weights": weights, "sources": [asdict(s) for s in weights_of(encoder)]}
