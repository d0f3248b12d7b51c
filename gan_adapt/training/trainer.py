"""A minimal StyleGAN2 trainer: enough to pretrain a small generator on a procedural data set.

What it does (the StyleGAN2 "config F" recipe, minus what small CPU runs do not need):

* non-saturating logistic loss for G and D;
* lazy R1 regularisation of D on real images every ``r1_every`` steps, with Adam's learning
  rate and betas adjusted for the lazy interval (Karras et al. 2020, appendix B);
* style mixing with probability ``mixing`` (two z, a random cut-off layer);
* random per-pixel noise during training;
* an exponential moving average of G (half-life ``ema_images`` images, ramped up over the
  first images as in StyleGAN2-ADA), which is the generator that gets saved;
* ``w_avg`` estimated from 10,000 latents at the end (for truncation and the latent search).

Long runs checkpoint their whole state (networks, optimisers, random generators, the data
stream's position, the log) to ``training-state.pt`` every ``checkpoint_every`` steps, and
``train(..., resume=True)`` continues from it exactly: the resumed run's weights equal those of
an uninterrupted one (same thread count; float sums depend on it).

Left out on purpose: path-length regularisation, adaptive augmentation, mixed precision,
multi-GPU. The result is a native gan-adapt checkpoint folder (EMA generator + discriminator).
"""

from __future__ import annotations

import copy
import json
import math
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import torch
import torch.nn.functional as F

from gan_adapt.errors import GanAdaptError
from gan_adapt.io import atomic_files as files


def _default_channels() -> dict[int, int]:
    # Narrow where the pixels are many: the 32-px layers dominate the cost on a CPU.
    return {4: 128, 8: 64, 16: 32, 32: 16}


@dataclass
class TrainConfig:
    """Every setting of a pretraining run (recorded in the checkpoint's metadata)."""

    resolution: int = 32
    channels: dict[int, int] = field(default_factory=_default_channels)  # width per resolution
    w_dim: int = 64  # also z_dim
    mapping_layers: int = 2
    batch: int = 32
    steps: int = 4000  # G/D update pairs (the run may stop earlier, see max_seconds)
    max_seconds: float | None = None  # wall-clock budget; the run stops and saves when spent
    lr: float = 0.0025
    betas: tuple[float, float] = (0.0, 0.99)
    r1_gamma: float = 0.02
    r1_every: int = 16
    mixing: float = 0.0  # StyleGAN2-ADA's small-resolution setting; 0.9 at 256 px and up
    ema_images: int = 5000  # EMA half-life, in images
    ema_rampup: float = 0.05  # half-life <= this fraction of the images seen so far
    data_seed: int = 0  # seed of the procedural data stream
    seed: int = 0  # seed of initialisation and latents
    sample_every: int = 500  # write samples/step-N.png this often (when an out folder is given)
    log_every: int = 50
    checkpoint_every: int = 250  # write training-state.pt this often (when an out folder is given)

    def check(self) -> None:
        """Raise GanAdaptError for settings the networks cannot be built with."""
        if self.resolution < 8 or self.resolution & (self.resolution - 1):
            raise GanAdaptError(f"resolution must be a power of two >= 8, got {self.resolution}")
        wanted = [2**i for i in range(2, self.resolution.bit_length())]
        missing = [r for r in wanted if r not in self.channels]
        if missing:
            raise GanAdaptError(f"channels needs a width for every resolution; missing {missing}")
        if self.batch < 2 or self.batch % 2:
            raise GanAdaptError("batch must be an even number >= 2 (minibatch-stddev groups)")


#: Settings a resumed run may change: when to stop and how often to report. Every other
#: setting must equal the checkpoint's, or the resumed run would not be the same training.
RESUMABLE = ("steps", "max_seconds", "sample_every", "log_every", "checkpoint_every")

STATE_FILE = "training-state.pt"


@runtime_checkable
class DataStream(Protocol):
    """A seeded image stream whose position can be saved, so that a run resumes exactly."""

    def images(self, n: int) -> torch.Tensor:
        """The next ``n`` images ``[n, 3, R, R]`` in [-1, 1]."""

    def state(self) -> Any:
        """The stream's position (tensors, numbers, lists and dicts only)."""

    def set_state(self, state: Any) -> None:
        """Go back to a position returned by :meth:`state`."""


@dataclass
class TrainResult:
    """What :func:`train` produced."""

    generator: torch.nn.Module  # the EMA generator
    discriminator: torch.nn.Module
    steps: int
    images_seen: int
    seconds: float  # wall clock
    cpu_seconds: float  # CPU time of this process (all its threads)
    log: list[dict[str, float]]


def build_networks(config: TrainConfig) -> tuple[torch.nn.Module, torch.nn.Module]:
    """Freshly initialised (G, D) for ``config`` (upstream initialisation)."""
    from gan_adapt.generators.networks import (
        DiscriminatorConfig,
        GeneratorConfig,
        StyleGAN2Discriminator,
        StyleGAN2Generator,
    )

    channels = {int(k): int(v) for k, v in config.channels.items()
                if int(k) <= config.resolution}
    G = StyleGAN2Generator(GeneratorConfig(
        img_resolution=config.resolution, channels=channels, z_dim=config.w_dim,
        w_dim=config.w_dim, mapping_layers=config.mapping_layers))
    D = StyleGAN2Discriminator(DiscriminatorConfig(img_resolution=config.resolution,
                                                   channels=channels))
    return G, D


def _mixed_ws(G: torch.nn.Module, batch: int, mixing: float) -> torch.Tensor:
    """Mapped latents; with probability ``mixing`` per sample, layers from a random cut-off
    on come from a second z."""
    z = torch.randn(batch, G.z_dim)
    ws = G.mapping(z)
    if mixing > 0:
        ws2 = G.mapping(torch.randn(batch, G.z_dim))
        cutoff = torch.randint(1, G.num_ws, (batch, 1))
        use_second = (torch.arange(G.num_ws)[None] >= cutoff)
        use_second &= (torch.rand(batch, 1) < mixing)
        ws = torch.where(use_second[:, :, None], ws2, ws)
    return ws


@torch.no_grad()
def _ema_update(ema: torch.nn.Module, model: torch.nn.Module, images_seen: int,
                config: TrainConfig) -> None:
    half_life = config.ema_images
    if config.ema_rampup:
        half_life = min(half_life, images_seen * config.ema_rampup)
    beta = 0.5 ** (config.batch / max(half_life, 1e-8))
    for p_ema, p in zip(ema.parameters(), model.parameters()):
        p_ema.lerp_(p, 1.0 - beta)
    for b_ema, b in zip(ema.buffers(), model.buffers()):
        b_ema.copy_(b)


def _config_record(config: TrainConfig) -> dict:
    return _jsonable(asdict(config))


def _load_state(path: Path, config: TrainConfig) -> dict:
    """The checkpointed state at ``path``, after checking it belongs to this training."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a truncated or foreign file
        raise GanAdaptError(f"cannot read the training state {path}: {exc}. Delete it to start "
                            "the training again from step 0.") from None
    if not isinstance(state, dict) or "config" not in state:
        raise GanAdaptError(f"{path} is not a gan-adapt training state; delete it to start again")
    saved, wanted = state["config"], _config_record(config)
    changed = sorted(k for k in wanted if k not in RESUMABLE and saved.get(k) != wanted[k])
    if changed:
        details = ", ".join(f"{k}: {saved.get(k)!r} -> {wanted[k]!r}" for k in changed)
        raise GanAdaptError(f"the training state {path} was written with other settings "
                            f"({details}); only {', '.join(RESUMABLE)} may change on resume. "
                            "Use the original settings, or another work folder.")
    return state


def train(config: TrainConfig, data: DataStream | Callable[[int], torch.Tensor],
          out: str | Path | None = None,
          report: Callable[[dict[str, float]], None] | None = None,
          resume: bool = False) -> TrainResult:
    """Train (G, D) on images from ``data`` (a :class:`DataStream`, or a function ``n -> images
    [n, 3, R, R]`` in [-1, 1], which cannot be resumed).

    With ``out``, writes sample grids, a JSON log and (for a :class:`DataStream`) the training
    state there while training. ``resume=True`` continues from ``out``'s training state when
    there is one. ``report`` receives each logged record.
    """
    from gan_adapt.io.images import save_grid

    config.check()
    stream = data if isinstance(data, DataStream) else None
    next_images = stream.images if stream is not None else data
    if resume and (out is None or stream is None):
        raise GanAdaptError("resuming needs an out folder and a DataStream (images, state, "
                            "set_state) whose position can be restored")
    torch.manual_seed(config.seed)
    random.seed(config.seed)
    G, D = build_networks(config)
    G.train()
    D.train()
    G_ema = copy.deepcopy(G).eval().requires_grad_(False)
    # Lazy regularisation: scale lr and betas so that the regularised optimiser matches the
    # unregularised one on average (StyleGAN2 appendix B). G has no lazy term here.
    ratio = config.r1_every / (config.r1_every + 1)
    g_opt = torch.optim.Adam(G.parameters(), lr=config.lr, betas=tuple(map(float, config.betas)))
    d_opt = torch.optim.Adam(D.parameters(), lr=config.lr * ratio,
                             betas=tuple(float(b) ** ratio for b in config.betas))
    sample_z = torch.randn(32, G.z_dim, generator=torch.Generator().manual_seed(config.seed + 1))
    out_dir = Path(out) if out is not None else None
    if out_dir is not None:
        (out_dir / "samples").mkdir(parents=True, exist_ok=True)
    log: list[dict[str, float]] = []
    images_seen, first_step = 0, 1
    seconds_before, cpu_before = 0.0, 0.0  # time spent before a resume
    state_path = out_dir / STATE_FILE if out_dir is not None else None
    if resume and state_path is not None and state_path.exists():
        state = _load_state(state_path, config)
        for module, key in ((G, "G"), (D, "D"), (G_ema, "G_ema"), (g_opt, "g_opt"),
                            (d_opt, "d_opt")):
            module.load_state_dict(state[key])
        torch.set_rng_state(state["torch_rng"])
        stream.set_state(state["data"])
        sample_z = state["sample_z"]
        log, images_seen = state["log"], state["images_seen"]
        first_step = state["step"] + 1
        seconds_before, cpu_before = state["seconds"], state["cpu_seconds"]
        files.write_text(out_dir / "log.jsonl", "".join(json.dumps(r) + "\n" for r in log))
    start = time.time() - seconds_before
    cpu_start = time.process_time() - cpu_before
    step = first_step - 1
    for step in range(first_step, config.steps + 1):
        # ---- D: logistic loss on real and fake (+ lazy R1 on real) ----
        G.requires_grad_(False)
        D.requires_grad_(True)
        real = next_images(config.batch)
        with torch.no_grad():
            fake = G.synthesis(_mixed_ws(G, config.batch, config.mixing),
                               noise=G.make_noise(config.batch))
        d_loss = F.softplus(D(fake)).mean() + F.softplus(-D(real)).mean()
        r1 = torch.zeros([])
        if config.r1_gamma > 0 and step % config.r1_every == 0:
            real_r1 = real.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(D(real_r1).sum(), real_r1, create_graph=True)
            r1 = grad.square().sum(dim=[1, 2, 3]).mean()
            d_loss = d_loss + r1 * (config.r1_gamma / 2) * config.r1_every
        d_opt.zero_grad(set_to_none=True)
        d_loss.backward()
        d_opt.step()

        # ---- G: non-saturating loss ----
        G.requires_grad_(True)
        D.requires_grad_(False)
        ws = _mixed_ws(G, config.batch, config.mixing)
        fake = G.synthesis(ws, noise=G.make_noise(config.batch))
        g_loss = F.softplus(-D(fake)).mean()
        g_opt.zero_grad(set_to_none=True)
        g_loss.backward()
        g_opt.step()

        images_seen += config.batch
        _ema_update(G_ema, G, images_seen, config)
        elapsed = time.time() - start
        if step % config.log_every == 0 and not (math.isfinite(float(g_loss.detach()))
                                                 and math.isfinite(float(d_loss.detach()))):
            raise GanAdaptError(f"pretraining diverged at step {step} (non-finite loss); "
                                "lower the learning rate")
        if step % config.log_every == 0 or step == 1:
            record = {"step": step, "images": images_seen, "seconds": round(elapsed, 1),
                      "cpu_seconds": round(time.process_time() - cpu_start, 1),
                      "g_loss": float(g_loss.detach()), "d_loss": float(d_loss.detach()),
                      "r1": float(r1.detach())}
            log.append(record)
            if report is not None:
                report(record)
            if out_dir is not None:
                with open(out_dir / "log.jsonl", "a", encoding="utf-8") as handle:
                    handle.write(json.dumps(record) + "\n")
        if out_dir is not None and step % config.sample_every == 0:
            with torch.no_grad():
                save_grid(G_ema(sample_z), out_dir / "samples" / f"step-{step:06d}.png", nrow=8)
        last = step == config.steps or (config.max_seconds is not None
                                         and elapsed >= config.max_seconds)
        if state_path is not None and stream is not None and (
                step % config.checkpoint_every == 0 or last):
            files.torch_save({
                "config": _config_record(config), "step": step, "images_seen": images_seen,
                "G": G.state_dict(), "D": D.state_dict(), "G_ema": G_ema.state_dict(),
                "g_opt": g_opt.state_dict(), "d_opt": d_opt.state_dict(),
                "torch_rng": torch.get_rng_state(), "data": stream.state(),
                "sample_z": sample_z, "log": log, "seconds": time.time() - start,
                "cpu_seconds": time.process_time() - cpu_start}, state_path)
        if last:
            break
    G_ema.w_avg = G_ema.mean_latent(n=10000, seed=config.seed)
    result = TrainResult(G_ema, D.eval().requires_grad_(False), step, images_seen,
                         time.time() - start, time.process_time() - cpu_start, log)
    if out_dir is not None:
        with torch.no_grad():
            save_grid(G_ema(sample_z), out_dir / "samples" / "final.png", nrow=8)
    return result


def save_pretrained(result: TrainResult, config: TrainConfig, path: str | Path,
                    extra: dict | None = None) -> Path:
    """Write the EMA generator and the discriminator as a native checkpoint folder, with the
    training settings and statistics in its metadata."""
    from gan_adapt.generators import save

    metadata = {"trainer": "gan_adapt.training", "config": _jsonable(asdict(config)),
                "steps": result.steps, "images_seen": result.images_seen,
                "seconds": round(result.seconds, 1), "cpu_seconds": round(result.cpu_seconds, 1),
                **(extra or {})}
    return save(result.generator, path, discriminator=result.discriminator, metadata=metadata)


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def write_log(log: list[dict[str, float]], path: str | Path) -> Path:
    """The training log as JSON lines (atomic)."""
    return files.write_text(path, "".join(json.dumps(r) + "\n" for r in log))
