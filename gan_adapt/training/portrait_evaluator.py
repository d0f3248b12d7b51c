"""Train the benchmark's independent evaluator, ``portraits-evaluator``, from one command.

    python -m gan_adapt.training.portrait_evaluator --work runs/evaluator --export OUT

The quality benchmark must not score methods with an encoder that a recipe can train against
(the portraits CLIP is a recipe encoder). This instrument differs from it in every respect that
could make the two agree for the wrong reason:

* **architecture**: a small convolutional network (four stages of two 3x3 convolutions with
  group norm, 32 -> 4 px), not a ViT;
* **objective**: supervised cross-entropy on the portraits' recorded attributes (one head per
  attribute), not a contrastive image-text loss;
* **data**: portraits shown through a random family of low-level perturbations of its own
  (colour mixing, quantisation, edge maps, pixelation, blur, gratings, noise; see
  :func:`perturb`), never through a transform the benchmark registers, tune or test, so that its
  robustness to a style is not tuned on any benchmark case;
* **seed**: its own (``seed = 2027``).

What the benchmark reads from it (:mod:`gan_adapt.evaluation.evaluator`): an LPIPS-style
distance on its four stages' unit-normalised activations, and its attribute predictions. At the
end the script prints and writes held-out accuracies per attribute on clean portraits and on
every benchmark transform (figures on images no step saw). The work folder holds a resumable
state (every ``checkpoint_every`` steps); running the same command again continues exactly.
``--quick`` trains a tiny model a few steps (for the tests).
"""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gan_adapt.errors import GanAdaptError
from gan_adapt.io import atomic_files as files
from gan_adapt.synthetic_data.portraits import ATTRIBUTES, portraits_batch
from gan_adapt.training.script_args import (
    cosine_lr,
    parse_training_args,
    save_safetensors,
    ship_figures,
)

NAME = "portraits-evaluator"
STATE_FILE = "training-state.pt"


def _widths() -> list[int]:
    return [16, 32, 64, 128]


@dataclass
class EvaluatorTrainConfig:
    """Every setting of an evaluator training run (recorded in the exported config.json)."""

    widths: list[int] = field(default_factory=_widths)  # channels of the four stages
    resolution: int = 32
    batch: int = 128
    steps: int = 3000
    lr: float = 2e-3
    weight_decay: float = 0.05
    warmup: int = 100
    clean: float = 0.25  # probability that a portrait is shown unperturbed
    label_smoothing: float = 0.05
    seed: int = 2027
    data_seed: int = 31_337  # the portraits' stream (the CLIP and GAN used 0)
    heldout_seed: int = 2_000_003  # never trained on
    heldout: int = 600
    log_every: int = 50
    checkpoint_every: int = 250


def quick_config() -> EvaluatorTrainConfig:
    return EvaluatorTrainConfig(widths=[8, 8, 8, 8], resolution=16, batch=16, steps=4, warmup=1,
                                heldout=24, log_every=2, checkpoint_every=2)


class PortraitEvaluator(nn.Module):
    """A four-stage CNN with one linear head per attribute.

    ``stages(x)`` gives the activations the distance reads; ``forward(x)`` the logits per
    attribute. Input: images in [-1, 1] (no further normalisation).
    """

    def __init__(self, widths: list[int], heads: dict[str, int]) -> None:
        super().__init__()
        if len(widths) != 4:
            raise GanAdaptError(f"the evaluator has four stages; got widths {widths}")
        blocks, previous = [], 3
        for index, width in enumerate(widths):
            stride = 1 if index == 0 else 2
            blocks.append(nn.Sequential(
                nn.Conv2d(previous, width, 3, stride=stride, padding=1),
                nn.GroupNorm(min(8, width), width), nn.SiLU(),
                nn.Conv2d(width, width, 3, padding=1),
                nn.GroupNorm(min(8, width), width), nn.SiLU()))
            previous = width
        self.blocks = nn.ModuleList(blocks)
        self.heads = nn.ModuleDict({name: nn.Linear(previous, n) for name, n in heads.items()})

    def stages(self, images: Tensor) -> list[Tensor]:
        out, x = [], images
        for block in self.blocks:
            x = block(x)
            out.append(x)
        return out

    def forward(self, images: Tensor) -> dict[str, Tensor]:
        pooled = self.stages(images)[-1].mean(dim=(2, 3))
        return {name: head(pooled) for name, head in self.heads.items()}


def build_model(config: EvaluatorTrainConfig) -> PortraitEvaluator:
    return PortraitEvaluator(list(config.widths), {n: len(v) for n, v in ATTRIBUTES.items()})


# ---------------------------------------------------------------------------------------------
# The evaluator's own perturbations (none of them is a benchmark transform)


def _luma(x: Tensor) -> Tensor:
    return (0.3 * x[:, 0:1] + 0.59 * x[:, 1:2] + 0.11 * x[:, 2:3]).expand_as(x)


def _uniform(gen: torch.Generator, low: float, high: float, *shape: int) -> Tensor:
    return low + (high - low) * torch.rand(*shape, generator=gen)


def _colour_mix(x: Tensor, gen: torch.Generator) -> Tensor:
    """A random affine colour map (grades, greys, negatives, channel swaps), in [0, 1]."""
    n = x.shape[0]
    matrix = torch.eye(3).expand(n, 3, 3) + _uniform(gen, -0.8, 0.8, n, 3, 3)
    sign = torch.where(torch.rand(n, 1, 1, generator=gen) < 0.3, -1.0, 1.0)
    offset = _uniform(gen, -0.3, 0.3, n, 3, 1, 1) + (sign < 0).float()[..., None]
    y = torch.einsum("nij,njhw->nihw", matrix * sign, x) + offset
    return y


def _quantise(x: Tensor, gen: torch.Generator) -> Tensor:
    levels = int(torch.randint(2, 7, (1,), generator=gen))
    return torch.round(x.clamp(0, 1) * (levels - 1)) / (levels - 1)


def _edges(x: Tensor, gen: torch.Generator) -> Tensor:
    """A gradient-magnitude line drawing, dark lines on light or light on dark."""
    g = _luma(x)[:, :1]
    gx = F.pad(g[..., :, 1:] - g[..., :, :-1], (0, 1, 0, 0))
    gy = F.pad(g[..., 1:, :] - g[..., :-1, :], (0, 0, 0, 1))
    mag = (gx.square() + gy.square()).sqrt() * float(_uniform(gen, 2.0, 6.0, 1))
    lines = mag.clamp(0, 1).expand_as(x)
    return 1 - lines if float(torch.rand(1, generator=gen)) < 0.6 else lines


def _pixelate(x: Tensor, gen: torch.Generator) -> Tensor:
    factor = int(torch.randint(2, 5, (1,), generator=gen))
    size = x.shape[-1]
    small = F.interpolate(x, size=max(2, size // factor), mode="area")
    return F.interpolate(small, size=size, mode="nearest")


def _blur(x: Tensor, gen: torch.Generator) -> Tensor:
    passes = int(torch.randint(1, 3, (1,), generator=gen))
    kernel = torch.tensor([1.0, 2.0, 1.0])
    kernel = (kernel[:, None] * kernel[None] / 16).expand(3, 1, 3, 3)
    for _ in range(passes):
        x = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), kernel, groups=3)
    return x


def _grating(x: Tensor, gen: torch.Generator) -> Tensor:
    """Multiply by an oriented sine grating (paper, canvas, screen textures)."""
    n, _, h, w = x.shape
    angle = _uniform(gen, 0, math.pi, n, 1, 1, 1)
    period = _uniform(gen, 2.5, 8.0, n, 1, 1, 1)
    yy, xx = torch.meshgrid(torch.arange(h, dtype=torch.float32),
                            torch.arange(w, dtype=torch.float32), indexing="ij")
    phase = (xx * torch.cos(angle) + yy * torch.sin(angle)) * (2 * math.pi / period)
    depth = _uniform(gen, 0.1, 0.5, n, 1, 1, 1)
    return x * (1 - depth * (0.5 + 0.5 * torch.sin(phase)))


def _noise(x: Tensor, gen: torch.Generator) -> Tensor:
    return x + float(_uniform(gen, 0.02, 0.12, 1)) * torch.randn(x.shape, generator=gen)


PERTURBATIONS = (_colour_mix, _quantise, _edges, _pixelate, _blur, _grating, _noise)


def perturb(images: Tensor, gen: torch.Generator, clean: float = 0.0) -> Tensor:
    """Each image through 1-3 random perturbations of :data:`PERTURBATIONS` (or unchanged with
    probability ``clean``); [-1, 1] in and out."""
    out = images.clone()
    for i in range(images.shape[0]):
        if float(torch.rand(1, generator=gen)) < clean:
            continue
        x = (images[i:i + 1] + 1) / 2
        count = int(torch.randint(1, 4, (1,), generator=gen))
        for index in torch.randperm(len(PERTURBATIONS), generator=gen)[:count].tolist():
            x = PERTURBATIONS[index](x, gen).clamp(0, 1)
        out[i:i + 1] = x * 2 - 1
    return out


# ---------------------------------------------------------------------------------------------
# Training


def _loss(model: PortraitEvaluator, images: Tensor, labels: dict[str, Tensor],
          smoothing: float) -> Tensor:
    logits = model(images)
    losses = []
    for name, values in labels.items():
        keep = torch.ones_like(values, dtype=torch.bool)
        if name == "hair_colour":  # invisible on a bald head
            keep = labels["hair_style"] != ATTRIBUTES["hair_style"].index("bald")
        losses.append(F.cross_entropy(logits[name][keep], values[keep],
                                      label_smoothing=smoothing))
    return torch.stack(losses).mean()


def train(config: EvaluatorTrainConfig, work: Path,
          report=print) -> tuple[PortraitEvaluator, list[dict]]:
    """Train (resuming from ``work``'s state when present); the model and the log."""
    torch.manual_seed(config.seed)
    model = build_model(config)
    optimiser = torch.optim.AdamW(model.parameters(), lr=config.lr,
                                  weight_decay=config.weight_decay)
    data_gen = torch.Generator().manual_seed(config.data_seed)
    aug_gen = torch.Generator().manual_seed(config.seed)
    work.mkdir(parents=True, exist_ok=True)
    state_path = work / STATE_FILE
    log: list[dict] = []
    first, seconds_before = 1, 0.0
    settings = asdict(config)
    if state_path.exists():
        try:
            state = torch.load(state_path, map_location="cpu", weights_only=True)
        except Exception as exc:  # a truncated or foreign file
            raise GanAdaptError(f"cannot read the training state {state_path}: {exc}. Delete "
                                "it to start again from step 0.") from None
        changed = sorted(k for k in settings if k not in ("steps", "log_every",
                                                          "checkpoint_every")
                         and state["config"].get(k) != settings[k])
        if changed:
            raise GanAdaptError(f"{state_path} was written with other settings ({changed}); "
                                "use the original settings or another work folder")
        model.load_state_dict(state["model"])
        optimiser.load_state_dict(state["optimiser"])
        data_gen.set_state(state["data_gen"])
        aug_gen.set_state(state["aug_gen"])
        log, first, seconds_before = state["log"], state["step"] + 1, state["seconds"]
    start = time.time() - seconds_before
    model.train()
    for step in range(first, config.steps + 1):
        for group in optimiser.param_groups:
            group["lr"] = cosine_lr(config.lr, config.warmup, config.steps, step)
        portraits = portraits_batch(config.batch, config.resolution, data_gen)
        images = perturb(portraits.images, aug_gen, config.clean)
        loss = _loss(model, images, portraits.attributes, config.label_smoothing)
        if not math.isfinite(float(loss.detach())):
            raise GanAdaptError(f"evaluator training diverged at step {step}; lower the lr")
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        if step % config.log_every == 0 or step == 1:
            record = {"step": step, "loss": round(float(loss.detach()), 4),
                      "seconds": round(time.time() - start, 1)}
            log.append(record)
            report(json.dumps(record))
        if step % config.checkpoint_every == 0 or step == config.steps:
            files.torch_save({"config": settings, "step": step, "model": model.state_dict(),
                              "optimiser": optimiser.state_dict(),
                              "data_gen": data_gen.get_state(), "aug_gen": aug_gen.get_state(),
                              "log": log, "seconds": time.time() - start}, state_path)
    model.eval()
    return model, log


@torch.no_grad()
def evaluate(model: PortraitEvaluator, config: EvaluatorTrainConfig) -> dict:
    """Held-out attribute accuracy on ``heldout`` new portraits: clean, through the evaluator's
    own perturbations, and through every built-in benchmark transform, tune and test splits
    (none trained on)."""
    from gan_adapt.synthetic_data.known_transforms import TRANSFORMS
    from gan_adapt.synthetic_data.test_split_transforms import TEST_TRANSFORMS

    model.eval()
    gen = torch.Generator().manual_seed(config.heldout_seed)
    portraits = portraits_batch(config.heldout, config.resolution, gen)
    views = {"clean": portraits.images,
             "perturbed": perturb(portraits.images, torch.Generator().manual_seed(1))}
    views.update({name: fn(portraits.images)
                  for name, fn in {**TRANSFORMS, **TEST_TRANSFORMS}.items()})
    figures: dict[str, dict[str, float]] = {}
    bald = portraits.attributes["hair_style"] == ATTRIBUTES["hair_style"].index("bald")
    for view, images in views.items():
        logits = model(images)
        figures[view] = {}
        for name, values in portraits.attributes.items():
            correct = (logits[name].argmax(dim=1) == values).float()
            if name == "hair_colour":
                correct = correct[~bald]
            figures[view][name] = round(float(correct.mean()), 3)
    return {"images": config.heldout, "seed": config.heldout_seed, "accuracy": figures,
            "chance": {n: round(1 / len(v), 3) for n, v in ATTRIBUTES.items()}}


def export(model: PortraitEvaluator, config: EvaluatorTrainConfig, folder: Path, heldout: dict,
           log: list) -> Path:
    """fp32 safetensors weights + config.json (architecture, training settings, figures)."""
    folder.mkdir(parents=True, exist_ok=True)
    save_safetensors(model.state_dict(), folder / "model.safetensors")
    files.write_json(folder / "config.json", {
        "name": NAME, "widths": list(config.widths), "resolution": config.resolution,
        "heads": {n: len(v) for n, v in ATTRIBUTES.items()},
        "trainer": "gan_adapt.training.portrait_evaluator", "training": asdict(config),
        "steps": log[-1]["step"] if log else 0, "heldout": heldout})
    return folder


def main(argv: list[str] | None = None) -> int:
    args = parse_training_args(__doc__.split("\n\n")[0], argv)
    config = quick_config() if args.quick else EvaluatorTrainConfig()
    if args.steps is not None:
        config.steps = args.steps
    model, log = train(config, args.work, report=lambda line: print(line, flush=True))
    heldout = evaluate(model, config)
    print(json.dumps(heldout, indent=1), flush=True)
    files.write_json(args.work / "heldout.json", heldout)
    if args.export is not None:
        export(model, config, args.export, heldout, log)
        print(f"exported {args.export}", flush=True)
        if args.ship:
            ship(args.export, heldout, log)
    return 0


def ship(folder: Path, heldout: dict, log: list[dict]) -> None:
    """Install ``folder`` as the shipped ``portraits-evaluator``; figures and log into docs."""
    from gan_adapt.weights import shipped

    target = shipped.record(
        NAME, "evaluator", folder,
        description="small CNN (4 stages, 32 px) trained with attribute cross-entropy on "
                    "portraits under its own random perturbations; the benchmark's evaluator",
        command="python -m gan_adapt.training.portrait_evaluator --work WORK --threads 1 "
                "--export OUT --ship",
        extra={"heldout_clean": heldout["accuracy"]["clean"]})
    ship_figures(NAME, heldout, log)
    print(f"shipped {target}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
