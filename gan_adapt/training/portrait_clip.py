"""Train the shipped tiny CLIP, ``portraits-clip``, from one command.

    python -m gan_adapt.training.portrait_clip --work runs/portrait-clip --export OUT

A CLIP built from open_clip's own classes (a ViT image tower and a transformer text tower, the
symmetric contrastive loss with a learned temperature) trained on procedural portraits
(:mod:`gan_adapt.synthetic_data.portraits`) shown in every known domain: the photo and each
transform of :mod:`gan_adapt.synthetic_data.known_transforms`. Each image is paired with a
procedural caption naming its domain and (a random subset of) its attributes, "a pencil sketch of a
smiling face with short red hair and glasses".

At the end it prints and writes (``--export``/``heldout.json``) held-out figures on images no
step saw: image -> caption retrieval, zero-shot domain accuracy and zero-shot accuracy per
attribute, and exports fp16 weights (``open_clip_model.safetensors``) with the architecture in
``config.json``: the layout :func:`gan_adapt.encoders.clip.build_clip` loads by name. The work
folder holds a resumable training state (every ``checkpoint_every`` steps); running the same
command again continues exactly. ``--quick`` trains a tiny model a few steps (for the tests).
"""

from __future__ import annotations

import json
import math
import random
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from gan_adapt.errors import GanAdaptError
from gan_adapt.io import atomic_files as files
from gan_adapt.synthetic_data.portraits import (
    ATTRIBUTES,
    DOMAINS,
    attribute_prompts,
    caption,
    domain_prompts,
    portraits_batch,
)
from gan_adapt.training.script_args import (
    cosine_lr,
    parse_training_args,
    save_safetensors,
    ship_figures,
)

NAME = "portraits-clip"
STATE_FILE = "training-state.pt"
#: open_clip's (and OpenAI's) input normalisation, which ClipEncoder applies to every image.
MEAN = (0.48145466, 0.4578275, 0.40821073)
STD = (0.26862954, 0.26130258, 0.27577711)


def _model_cfg() -> dict:
    return {"embed_dim": 128,
            "vision_cfg": {"image_size": 32, "patch_size": 4, "width": 128, "layers": 4,
                           "head_width": 32, "mlp_ratio": 2.0},
            "text_cfg": {"context_length": 32, "vocab_size": 49408, "width": 64, "heads": 2,
                         "layers": 3, "mlp_ratio": 2.0}}


@dataclass
class ClipTrainConfig:
    """Every setting of a CLIP training run (recorded in the exported config.json)."""

    model_cfg: dict = field(default_factory=_model_cfg)
    resolution: int = 32
    batch: int = 128  # image-caption pairs per step
    steps: int = 2500
    lr: float = 1e-3
    weight_decay: float = 0.1
    warmup: int = 100
    keep: float = 0.7  # probability that a caption mentions each attribute
    crop: float = 0.3  # probability of a random crop (scale 0.5-1), resized back
    blur: float = 0.3  # probability of a slight blur (generated images are softer)
    seed: int = 0
    heldout_seed: int = 1_000_003  # the evaluation images' seed; never trained on
    heldout: int = 1200
    log_every: int = 50
    checkpoint_every: int = 250


def quick_config() -> ClipTrainConfig:
    cfg = {"embed_dim": 16,
           "vision_cfg": {"image_size": 16, "patch_size": 8, "width": 16, "layers": 1,
                          "head_width": 8},
           "text_cfg": {"context_length": 32, "vocab_size": 49408, "width": 16, "heads": 2,
                        "layers": 1}}
    return ClipTrainConfig(model_cfg=cfg, resolution=16, batch=12, steps=4, warmup=1,
                           heldout=24, log_every=2, checkpoint_every=2)


def build_model(config: ClipTrainConfig) -> torch.nn.Module:
    from open_clip import CLIP

    return CLIP(**config.model_cfg)


def normalise(images: Tensor) -> Tensor:
    """Images in [-1, 1] -> CLIP's normalised input (what ClipEncoder does before the tower)."""
    mean = torch.tensor(MEAN).reshape(1, 3, 1, 1)
    std = torch.tensor(STD).reshape(1, 3, 1, 1)
    return ((images + 1) / 2 - mean) / std


def domain_images(images: Tensor, domains: list[str]) -> Tensor:
    """Each image shown in its domain (``photo`` = unchanged)."""
    from gan_adapt.synthetic_data.known_transforms import TRANSFORMS

    out = images.clone()
    for name in set(domains) - {"photo"}:
        index = torch.tensor([i for i, d in enumerate(domains) if d == name])
        out[index] = TRANSFORMS[name](images[index])
    return out


def _augment(images: Tensor, config: ClipTrainConfig, gen: torch.Generator) -> Tensor:
    n, _, size, _ = images.shape
    out = images.clone()
    for i in range(n):
        if float(torch.rand(1, generator=gen)) < config.crop:
            side = int(size * (0.5 + 0.5 * float(torch.rand(1, generator=gen))))
            top = int(torch.randint(0, size - side + 1, (1,), generator=gen))
            left = int(torch.randint(0, size - side + 1, (1,), generator=gen))
            crop = images[i:i + 1, :, top:top + side, left:left + side]
            out[i:i + 1] = F.interpolate(crop, size=(size, size), mode="bilinear",
                                         antialias=True, align_corners=False)
        if float(torch.rand(1, generator=gen)) < config.blur:
            kernel = torch.tensor([1.0, 2.0, 1.0])
            kernel = (kernel[:, None] * kernel[None] / 16).expand(3, 1, 3, 3)
            out[i:i + 1] = F.conv2d(F.pad(out[i:i + 1], (1, 1, 1, 1), mode="replicate"),
                                    kernel, groups=3)
    return out


def training_batch(config: ClipTrainConfig, gen: torch.Generator,
                   rng: random.Random) -> tuple[Tensor, list[str]]:
    """``batch`` images (each portrait in a random domain, augmented) and their captions."""
    portraits = portraits_batch(config.batch, config.resolution, gen)
    domains = [rng.choice(list(DOMAINS)) for _ in range(config.batch)]
    images = _augment(domain_images(portraits.images, domains), config, gen)
    texts = [caption(portraits.record(i), domains[i], rng=rng, keep=config.keep)
             for i in range(config.batch)]
    return images, texts


def contrastive_loss(model: torch.nn.Module, images: Tensor, tokens: Tensor) -> Tensor:
    """CLIP's symmetric cross-entropy over the batch's image-text similarities."""
    image_features = F.normalize(model.encode_image(normalise(images)), dim=-1)
    text_features = F.normalize(model.encode_text(tokens), dim=-1)
    logits = model.logit_scale.exp() * image_features @ text_features.T
    labels = torch.arange(len(images))
    return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2


@torch.no_grad()
def evaluate(model: torch.nn.Module, config: ClipTrainConfig, tokenizer) -> dict:
    """Held-out figures on ``heldout`` portraits from ``heldout_seed`` (each in every domain,
    in turn): retrieval, zero-shot domain and per-attribute accuracy (with chance levels)."""
    model.eval()
    gen = torch.Generator().manual_seed(config.heldout_seed)
    portraits = portraits_batch(config.heldout, config.resolution, gen)
    names = list(DOMAINS)
    domains = [names[i % len(names)] for i in range(config.heldout)]
    images = domain_images(portraits.images, domains)
    features = torch.cat([F.normalize(model.encode_image(normalise(chunk)), dim=-1)
                          for chunk in images.split(200)])

    def embed(texts: list[str]) -> Tensor:
        return torch.cat([F.normalize(model.encode_text(tokenizer(texts[i:i + 200])), dim=-1)
                          for i in range(0, len(texts), 200)])

    # Retrieval: each image's full caption among 100 candidates (its own and 99 others').
    captions = [caption(portraits.record(i), domains[i]) for i in range(config.heldout)]
    text_features = embed(captions)
    hits = []
    for start in range(0, config.heldout, 100):
        block = slice(start, min(start + 100, config.heldout))
        sims = features[block] @ text_features[block].T
        hits.append((sims.argmax(dim=1) == torch.arange(sims.shape[0])).float())
    retrieval = float(torch.cat(hits).mean())

    prompts = domain_prompts()
    predicted = (features @ embed([prompts[d] for d in names]).T).argmax(dim=1)
    truth = torch.tensor([names.index(d) for d in domains])
    domain_accuracy = float((predicted == truth).float().mean())

    attributes = {}
    for name, values in ATTRIBUTES.items():
        correct = torch.zeros(config.heldout)
        for domain in names:  # prompts in each image's own domain
            index = torch.tensor([i for i, d in enumerate(domains) if d == domain])
            options = embed(attribute_prompts(domain)[name])
            guess = (features[index] @ options.T).argmax(dim=1)
            correct[index] = (guess == portraits.attributes[name][index]).float()
        valid = torch.ones(config.heldout, dtype=torch.bool)
        if name == "hair_colour":  # no hair to see on a bald head
            valid = portraits.attributes["hair_style"] != ATTRIBUTES["hair_style"].index("bald")
        per_domain = {d: round(float(correct[[i for i, dd in enumerate(domains)
                                              if dd == d and valid[i]]].mean()), 3)
                      for d in names}
        attributes[name] = {"accuracy": round(float(correct[valid].mean()), 3),
                            "chance": round(1 / len(values), 3), "per_domain": per_domain}
    model.train()
    return {"images": config.heldout, "seed": config.heldout_seed,
            "retrieval_top1_of_100": round(retrieval, 3),
            "domain_accuracy": round(domain_accuracy, 3), "domain_chance": round(1 / len(names), 3),
            "attributes": attributes}


def train(config: ClipTrainConfig, work: Path, report=print) -> tuple[torch.nn.Module, list]:
    """Train (resuming from ``work``'s state when present); the model and the log."""
    import open_clip

    tokenizer = open_clip.SimpleTokenizer(
        context_length=config.model_cfg["text_cfg"]["context_length"])
    torch.manual_seed(config.seed)
    model = build_model(config)
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "embedding" not in n]
    other = [p for n, p in model.named_parameters() if not (p.ndim >= 2
                                                            and "embedding" not in n)]
    optimiser = torch.optim.AdamW([{"params": decay, "weight_decay": config.weight_decay},
                                   {"params": other, "weight_decay": 0.0}],
                                  lr=config.lr, betas=(0.9, 0.98), eps=1e-6)
    gen = torch.Generator().manual_seed(config.seed)
    rng = random.Random(config.seed)
    work.mkdir(parents=True, exist_ok=True)
    state_path = work / STATE_FILE
    log: list[dict] = []
    first, seconds_before = 1, 0.0
    settings = asdict(config)
    if state_path.exists():
        state = torch.load(state_path, map_location="cpu", weights_only=True)
        changed = sorted(k for k in settings if k not in ("steps", "log_every",
                                                          "checkpoint_every")
                         and state["config"].get(k) != settings[k])
        if changed:
            raise GanAdaptError(f"{state_path} was written with other settings ({changed}); "
                                "use the original settings or another work folder")
        model.load_state_dict(state["model"])
        optimiser.load_state_dict(state["optimiser"])
        gen.set_state(state["gen"])
        rng.setstate(_python_state(state["rng"]))
        torch.set_rng_state(state["torch_rng"])
        log, first, seconds_before = state["log"], state["step"] + 1, state["seconds"]
    start = time.time() - seconds_before
    model.train()
    for step in range(first, config.steps + 1):
        for group in optimiser.param_groups:
            group["lr"] = cosine_lr(config.lr, config.warmup, config.steps, step)
        images, texts = training_batch(config, gen, rng)
        loss = contrastive_loss(model, images, tokenizer(texts))
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        with torch.no_grad():  # as CLIP: the temperature may not exceed 100
            model.logit_scale.clamp_(0, math.log(100))
        if not math.isfinite(float(loss.detach())):
            raise GanAdaptError(f"CLIP training diverged at step {step}; lower --lr")
        if step % config.log_every == 0 or step == 1:
            record = {"step": step, "loss": round(float(loss.detach()), 4),
                      "logit_scale": round(float(model.logit_scale.exp()), 2),
                      "seconds": round(time.time() - start, 1)}
            log.append(record)
            report(json.dumps(record))
        if step % config.checkpoint_every == 0 or step == config.steps:
            files.torch_save({"config": settings, "step": step, "model": model.state_dict(),
                              "optimiser": optimiser.state_dict(), "gen": gen.get_state(),
                              "rng": _python_state_record(rng.getstate()),
                              "torch_rng": torch.get_rng_state(), "log": log,
                              "seconds": time.time() - start}, state_path)
    return model, log


def _python_state_record(state: tuple) -> list:
    """random.Random's state as lists (what ``torch.load(weights_only=True)`` accepts)."""
    version, internal, gauss = state
    return [version, list(internal), gauss]


def _python_state(record: list) -> tuple:
    version, internal, gauss = record
    return (version, tuple(internal), gauss)


def export(model: torch.nn.Module, config: ClipTrainConfig, folder: Path, heldout: dict,
           log: list) -> Path:
    """fp16 safetensors weights + config.json (architecture, normalisation, figures)."""
    folder.mkdir(parents=True, exist_ok=True)
    save_safetensors({k: v.to(torch.float16) for k, v in model.state_dict().items()},
                     folder / "open_clip_model.safetensors")
    files.write_json(folder / "config.json", {
        "name": NAME, "model_cfg": config.model_cfg, "mean": MEAN, "std": STD,
        "trainer": "gan_adapt.training.portrait_clip", "training": asdict(config),
        "steps": log[-1]["step"] if log else 0, "heldout": heldout})
    return folder


def main(argv: list[str] | None = None) -> int:
    args = parse_training_args(__doc__.split("\n\n")[0], argv)
    config = quick_config() if args.quick else ClipTrainConfig()
    if args.steps is not None:
        config.steps = args.steps
    model, log = train(config, args.work, report=lambda line: print(line, flush=True))
    import open_clip

    tokenizer = open_clip.SimpleTokenizer(
        context_length=config.model_cfg["text_cfg"]["context_length"])
    heldout = evaluate(model, config, tokenizer)
    print(json.dumps(heldout, indent=1), flush=True)
    files.write_json(args.work / "heldout.json", heldout)
    if args.export is not None:
        export(model, config, args.export, heldout, log)
        print(f"exported {args.export}", flush=True)
        if args.ship:
            ship(args.export, heldout, log)
    return 0


def ship(folder: Path, heldout: dict, log: list[dict]) -> None:
    """Install ``folder`` as the shipped ``portraits-clip``; figures and log into the docs."""
    from gan_adapt.weights import shipped

    target = shipped.record(
        NAME, "clip", folder,
        description="tiny open_clip CLIP (ViT 32 px / patch 4, 128-d) trained on portraits in "
                    "every known domain with procedural captions",
        command="python -m gan_adapt.training.portrait_clip --work WORK --threads 1 "
                "--export OUT --ship",
        extra={"heldout": {k: heldout[k] for k in ("retrieval_top1_of_100",
                                                   "domain_accuracy")}})
    ship_figures(NAME, heldout, log)
    print(f"shipped {target}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
