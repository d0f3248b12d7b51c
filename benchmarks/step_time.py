"""Step-time benchmark of a OneShotCLIP adaptation: the engine's own step functions on random
weights at the real sizes.

It builds the paper's recipe (``recipes/oneshotclip-256.toml`` at 256 px,
``recipes/oneshotclip.toml`` at 1024 px) through the engine's normal ``build_components``, with
two substitutions that need no downloads and change no cost: the StyleGAN2 generator and
discriminator are the real architectures (config-f, channel multiplier 2) with random weights,
and CLIP ViT-B/32 and LPIPS (alex) have random weights. It then times the engine's own
``search_step`` and ``adapt_step`` (the same D-then-G update order as a run) for:

* ``search``: one latent-search step (CLIP on 8 augmented copies, LPIPS, MSE, latent L2);
* ``reference``: one fine-tuning step of the reference kind (batch 1, global D), without R1;
* ``reference_r1``: the same on a step where the lazy R1 penalty applies (every 16th);
* ``random``: one fine-tuning step of the random kind (batch 2, patch D, L_con, PatchNCE);
* ``cycle``: the four steps of one schedule period (1 reference + 3 random).

For each it prints the median seconds per step after warm-up, peak memory (resident set size on
CPU, ``torch.cuda.max_memory_allocated`` on GPU), the step's FLOPs (``torch.utils.flop_counter``)
and the achieved FLOP rate next to the machine's matrix-multiply rate measured in the same
process, and (``--profile``) a table of the top operators. ``--tensor-memory`` adds the peak
bytes of live tensors counted op by op (``benchmarks/tensor_memory.py``): on CPU, an estimate
of what ``max_memory_allocated`` would report on a GPU.

Configurations (``--config``, ``--compare A B``, ``--ablate``) are comma-separated tokens:

* ``auto`` / ``fp32`` / ``bf16``: the recipe's ``precision`` (the report's header says what
  ``auto`` picks on this machine, and the CPU's instruction sets);
* ``micro_batch=N``: PatchNCE's memory mode;
* ``clip_size=N``: CLIP sees N px images (the encoder's ``image_size`` memory mode);
* ``compile``: the recipe's ``compile = true`` (``torch.compile`` of G's synthesis networks and
  D; the first steps of each kind compile, so give it warm-up steps);
* waste items, which put back what a straightforward implementation does (and the reference
  implementation did) so that each optimisation can be measured: ``d_twice`` (the patch
  discriminator runs the whole D twice), ``clip_grads`` (CLIP weights keep requires_grad),
  ``source_graph`` (source-side embeddings keep an autograd graph), ``w_ref_trainable`` (the
  searched latent stays trainable, so reference D steps backpropagate into G), ``unbatched``
  (each term runs its own encoder forwards), ``grouped_modconv`` (per-sample weights in a grouped
  convolution), ``unfused_act`` (separate bias / leaky-ReLU / gain ops), ``nchw`` (no channels-last
  D), ``unshared_maps`` (each token term runs its own ViT forwards of G_s(w) and G_t(w):
  ``Step.share_feature_maps`` off); ``naive`` is all of them.

``--recipe best`` times ``benchmarks/recipes/best.toml`` instead, as it is (the shipped 32-px
portraits StyleGAN2 and CLIP, offline; its two token terms share one encoder): the figure of
issue 27 is ``--recipe best --compare unshared_maps fp32 --steps search,random``.

``--compare`` and ``--ablate`` alternate the configurations step by step in one process, so that
the ratios they print are measured under the same machine load: on a shared machine, quote
those ratios rather than absolute times.

Examples::

    python benchmarks/step_time.py                              # 256 px, fp32, every step kind
    python benchmarks/step_time.py --compare naive fp32 --steps random
    python benchmarks/step_time.py --config bf16 --steps random,reference
    python benchmarks/step_time.py --resolution 1024 --steps random --repeats 1 --warmup 0
    python benchmarks/step_time.py --tiny --repeats 1           # the smoke recipe: seconds
    python benchmarks/step_time.py --recipe best --compare unshared_maps fp32 --steps random
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import functools
import gc
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
for path in (REPO, REPO / "plugins" / "oneshotclip", REPO / "benchmarks"):  # a plain checkout
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import torch  # noqa: E402
from pydantic import BaseModel, ConfigDict, Field  # noqa: E402

from gan_adapt import hookimpl  # noqa: E402

#: Feature maps per resolution of the config-f StyleGAN2 (rosinality channel multiplier 2).
CONFIG_F = {4: 512, 8: 512, 16: 512, 32: 512, 64: 512, 128: 256, 256: 128, 512: 64, 1024: 32}
STEP_KINDS = ("search", "reference", "reference_r1", "random", "cycle")
WASTE = ("d_twice", "clip_grads", "source_graph", "w_ref_trainable", "unbatched",
         "grouped_modconv", "unfused_act", "nchw", "unshared_maps")
#: The reference implementation on the 2-core CPU machine (idle, 2 threads), from issue 8.
REFERENCE_CPU_256 = {"search": 5.9, "reference": 29.0, "reference_r1": 38.0, "random": 65.0}
REFERENCE_CPU_256_PEAK_GIB = 12.9


# ---------------------------------------------------------------------------------------------
# The networks: real architectures, random weights (a plugin, so the engine builds them).


class BenchParams(BaseModel):
    """Parameters of the ``bench_stylegan2`` components."""

    model_config = ConfigDict(extra="forbid")
    resolution: int = Field(256, description="Image side.")
    seed: int = Field(0, description="Seed of the random weights.")


class RandomStyleGAN2:
    """Registers ``bench_stylegan2`` generator and discriminator components."""

    @hookimpl
    def register_generators(self, register: Any) -> None:
        register("bench_stylegan2", _random_generator)

    @hookimpl
    def register_discriminators(self, register: Any) -> None:
        register("bench_stylegan2", _random_discriminator)


def _random_generator(params: Any, ctx: Any) -> Any:
    from gan_adapt.generators.networks import GeneratorConfig, StyleGAN2Generator

    resolution = params.resolution
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(params.seed)
        config = GeneratorConfig(img_resolution=resolution,
                                 channels={r: CONFIG_F[r] for r in CONFIG_F if r <= resolution})
        G = StyleGAN2Generator(config).to(ctx.device)
        G.w_avg = G.mean_latent(n=2000, seed=params.seed)
    return G.eval()


def _random_discriminator(params: Any, ctx: Any) -> Any:
    from gan_adapt.generators.networks import DiscriminatorConfig, StyleGAN2Discriminator

    resolution = params.resolution
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(params.seed + 1)
        config = DiscriminatorConfig(img_resolution=resolution,
                                     channels={r: CONFIG_F[r] for r in CONFIG_F if r <= resolution})
        return StyleGAN2Discriminator(config).to(ctx.device)


_random_generator.Params = BenchParams  # type: ignore[attr-defined]
_random_discriminator.Params = BenchParams  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------------------------
# Configurations


@dataclass(frozen=True)
class Config:
    """One configuration of our code: precision, PatchNCE micro-batch, re-introduced waste."""

    name: str
    precision: str = "fp32"
    micro_batch: int | None = None
    waste: frozenset[str] = frozenset()
    clip_size: int | None = None
    compile: bool = False


def parse_config(spec: str) -> Config:
    """``"bf16,micro_batch=4"`` -> Config; see the module doc for the tokens."""
    precision, micro_batch, clip_size, compiled, waste = "fp32", None, None, False, set()
    for token in filter(None, (t.strip() for t in spec.split(","))):
        if token in ("auto", "fp32", "bf16"):
            precision = token
        elif token.startswith(("micro_batch=", "mb=")):
            micro_batch = int(token.split("=", 1)[1])
        elif token.startswith("clip_size="):
            clip_size = int(token.split("=", 1)[1])
        elif token == "compile":
            compiled = True
        elif token == "naive":
            waste |= set(WASTE)
        elif token in WASTE:
            waste.add(token)
        elif token != "optimised":
            raise SystemExit(f"unknown configuration token {token!r}; use auto, fp32, bf16, "
                             f"micro_batch=N, clip_size=N, compile, naive, optimised or one "
                             f"of {', '.join(WASTE)}")
    return Config(spec, precision, micro_batch, frozenset(waste), clip_size, compiled)


# ---------------------------------------------------------------------------------------------
# The bench: a built run state and the engine's step functions


@dataclass
class Bench:
    """A run state as ``gan_adapt.engine.loop`` keeps it, ready to take steps."""

    state: Any
    g_opt: Any
    d_opt: Any
    g_params: list
    d_params: list
    search_w: torch.Tensor
    search_opt: Any
    counters: dict[str, int] = field(default_factory=dict)
    compiled: bool = False  # a ``compile`` configuration has compiled the networks


def build_bench(resolution: int, device: torch.device, tiny: bool,
                recipe: str | None = None) -> Bench:
    """Validate and build the recipe with the engine, then set up both phases like a run."""
    import gan_adapt_oneshotclip.plugin as oneshotclip_plugin

    from gan_adapt.engine.build import build_components
    from gan_adapt.engine.loop import setup_adaptation
    from gan_adapt.engine.run_state import RunState as Run
    from gan_adapt.plugin_host.loading import load_plugins
    from gan_adapt.recipe.schema import read_toml, validate

    extra: list[Any] = [oneshotclip_plugin, RandomStyleGAN2()]
    recipes = REPO / "recipes"
    if recipe == "best":  # as it is: shipped models, its plugins
        import gan_adapt_mtg.plugin as mtg_plugin
        import gan_adapt_tokens.plugin as tokens_plugin

        extra += [mtg_plugin, tokens_plugin]
        recipes = REPO / "benchmarks" / "recipes"
        data = read_toml(recipes / "best.toml")
    elif tiny:
        data = read_toml(recipes / "smoke.toml")
    else:
        name = {256: "oneshotclip-256.toml", 1024: "oneshotclip.toml"}.get(resolution)
        if name is None:
            raise SystemExit("--resolution must be 256 or 1024 (or use --tiny)")
        data = read_toml(recipes / name)
        bench = {"name": "bench_stylegan2", "params": {"resolution": resolution}}
        data["generator"], data["discriminator"] = dict(bench), dict(bench)
        data["encoders"]["clip"]["params"]["pretrained"] = "none"  # random ViT-B/32
        for term in [*data["search"]["objective"], *data["adapt"]["losses"]]:
            if term["name"] == "lpips":
                term.setdefault("params", {})["pretrained"] = False  # random alex
    plugin_set = load_plugins(entry_points=False, extra=extra)
    data.pop("requires", None)  # the plugins are loaded explicitly above
    data["device"] = device.type
    validated = validate(data, plugin_set, base_dir=recipes, source="benchmark")
    components = build_components(validated, plugin_set, device)
    state = Run(validated, None, components, plugin_set, device)
    G_s = components.generator
    state.w_ref = G_s.w_avg.detach().view(1, 1, -1).expand(1, G_s.num_ws, -1).contiguous()
    g_opt, d_opt, g_params, d_params = setup_adaptation(state)
    search = validated.recipe.search
    w = G_s.w_avg.detach().clone().unsqueeze(0).requires_grad_(True)
    search_opt = torch.optim.Adam([w], lr=search.lr, betas=search.betas)
    return Bench(state, g_opt, d_opt, g_params, d_params, w, search_opt)


def _next_index(bench: Bench, kind: str) -> int:
    """The next adapt step index of ``kind`` under the recipe's schedule (every 4th step is a
    reference step; R1 applies on multiples of 16)."""
    n = bench.counters.get(kind, 0)
    bench.counters[kind] = n + 1
    if kind == "search":
        return n
    if kind == "reference_r1":
        return 16 * (n + 1)
    if kind == "reference" or kind == "cycle":
        return 4 * (n + 1 + n // 3)  # 4 x (1, 2, 3, 5, 6, 7, 9, ...): never a multiple of 16
    return 4 * n + 1 + n % 3  # random: 1, 6, 11, 13, 18, ... (never a multiple of 4)


def take_step(bench: Bench, kind: str, config: Config) -> None:
    """One step of ``kind`` through the engine's step functions, in configuration ``config``."""
    from gan_adapt.engine.loop import set_precision
    from gan_adapt.engine.updates import adapt_step, search_step
    from gan_adapt.recipe.schedule import step_kind as _step_kind

    state = bench.state
    recipe = state.validated.recipe
    index = _next_index(bench, kind)
    with apply_config(bench, config):
        if kind == "search":
            set_precision(state, "search", config.precision)
            search_step(state, bench.search_w, bench.search_opt, index)
            return
        set_precision(state, "adapt", config.precision)
        indices = range(index, index + 4) if kind == "cycle" else [index]
        for i in indices:
            step_kind = _step_kind(recipe.adapt.schedule, i)
            adapt_step(state, step_kind, i, bench.g_opt, bench.d_opt, bench.g_params,
                       bench.d_params)


@contextlib.contextmanager
def apply_config(bench: Bench, config: Config) -> Iterator[None]:
    """Set PatchNCE's micro-batch and CLIP's input size, and put back the chosen waste items;
    undo on exit."""
    from gan_adapt.engine import updates
    from gan_adapt.generators import ops
    from gan_adapt.plugin_host import context

    state = bench.state
    c = state.components
    undo: list[Callable[[], None]] = []
    for term in c.losses:
        params = getattr(term.impl, "params", None)
        if params is not None and hasattr(params, "micro_batch"):
            previous = params.micro_batch
            params.micro_batch = config.micro_batch
            undo.append(lambda p=params, v=previous: setattr(p, "micro_batch", v))
    if config.clip_size is not None:
        for enc in c.encoders.values():
            undo.append(_clip_at_size(enc, config.clip_size))
    if config.compile and not bench.compiled:
        from gan_adapt.generators.compiling import compile_networks

        # What setup_adaptation compiles for compile = true. Compiled once and kept: other
        # configurations run the same modules eagerly instead, since compiling them anew would
        # recompile every graph each time the configurations alternate.
        compile_networks([state.G_t.synthesis, c.generator.synthesis, c.discriminator])
        bench.compiled = True
    if bench.compiled and not config.compile:
        from gan_adapt.generators.compiling import eager

        eager_mode = eager()
        eager_mode.__enter__()
        undo.append(lambda: eager_mode.__exit__(None, None, None))
    waste = config.waste
    D = c.discriminator
    if "d_twice" in waste and D is not None:
        def features(img: torch.Tensor, name: str, _D: Any = D) -> torch.Tensor:
            _, maps = _D.forward(img, features=[name])  # every block, for one map
            again = _D.forward(img)  # ... and every block once more
            return maps[name] + 0 * again.sum()
        D.features = features
        undo.append(lambda: D.__dict__.pop("features", None))
    encoders = list(c.encoders.values())
    if "clip_grads" in waste:
        for enc in encoders:
            enc.requires_grad_(True)
        undo.append(lambda: [e.requires_grad_(False).zero_grad(set_to_none=True)
                             for e in encoders])
    if "source_graph" in waste:
        for enc in encoders:
            original = enc.embed_many
            enc.embed_many = lambda groups, grad, _f=original: _f(groups, [True] * len(groups))
            undo.append(lambda e=enc: e.__dict__.pop("embed_many", None))
    if "w_ref_trainable" in waste:
        w_ref = state.w_ref
        state.w_ref = w_ref.detach().clone().requires_grad_(True)
        original_fake = context.Step.__dict__["fake"]

        def fake(step: Any) -> torch.Tensor:
            if not step.for_discriminator:
                return step._synthesise(step.generator)
            # The reference's D step: G's weights frozen, but the latent trainable, so the
            # fake image keeps a graph back through G to the latent.
            flags = [p.requires_grad for p in step.generator.parameters()]
            step.generator.requires_grad_(False)
            try:
                return step._synthesise(step.generator)
            finally:
                for p, flag in zip(step.generator.parameters(), flags):
                    p.requires_grad_(flag)
        prop = functools.cached_property(fake)
        prop.__set_name__(context.Step, "fake")
        context.Step.fake = prop
        undo.append(lambda: setattr(context.Step, "fake", original_fake))
        undo.append(lambda: setattr(state, "w_ref", w_ref))
    if "unbatched" in waste:
        original_request = updates.request_embeddings
        updates.request_embeddings = lambda step, terms: None
        undo.append(lambda: setattr(updates, "request_embeddings", original_request))
    if "unshared_maps" in waste:
        context.Step.share_feature_maps = False
        undo.append(lambda: setattr(context.Step, "share_feature_maps", True))
    if "grouped_modconv" in waste:
        original_modconv = ops.modulated_conv2d
        ops.modulated_conv2d = functools.partial(original_modconv, grouped=True)
        undo.append(lambda: setattr(ops, "modulated_conv2d", original_modconv))
    if "unfused_act" in waste:
        original_act = ops.bias_act
        ops.bias_act = functools.partial(original_act, fused=False)
        undo.append(lambda: setattr(ops, "bias_act", original_act))
    if "nchw" in waste and D is not None:
        D.channels_last = False
        undo.append(lambda: setattr(D, "channels_last", True))
    try:
        yield
    finally:
        for action in reversed(undo):
            action()


def _clip_at_size(encoder: Any, size: int) -> Callable[[], None]:
    """Make a CLIP encoder see ``size`` px images; returns the undo (the original position
    embeddings back, not a second resampling)."""
    from gan_adapt.encoders.clip import set_input_size

    visual = encoder.model.visual
    saved = (visual.positional_embedding, visual.image_size, visual.grid_size, encoder.input_size)
    set_input_size(encoder.model, size)
    encoder.input_size = size

    def undo() -> None:
        (visual.positional_embedding, visual.image_size, visual.grid_size,
         encoder.input_size) = saved
    return undo


# ---------------------------------------------------------------------------------------------
# Measurements


class PeakMemory:
    """Peak memory of what runs between ``reset()`` and ``read()``: the process's resident set
    (VmHWM, reset through /proc/self/clear_refs) on CPU, the CUDA allocator's peak on GPU."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self._libc = None
        if device.type == "cpu":
            with contextlib.suppress(OSError):
                self._libc = ctypes.CDLL("libc.so.6")

    def reset(self) -> None:
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.empty_cache()  # so that the reserved peak is this step's own
            torch.cuda.reset_peak_memory_stats()
            return
        if self._libc is not None:
            self._libc.malloc_trim(0)  # give freed blocks back, so the new peak starts low
        with contextlib.suppress(OSError):
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")

    def read(self) -> float:
        """GiB."""
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            return torch.cuda.max_memory_allocated() / 2**30
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 2**20
        return float("nan")

    def read_reserved(self) -> float:
        """GiB the CUDA caching allocator held at its peak (what the card must have free)."""
        if self.device.type == "cuda":
            return torch.cuda.max_memory_reserved() / 2**30
        return float("nan")


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def matmul_rate(device: torch.device, dtype: torch.dtype, n: int | None = None) -> float:
    """GFLOP/s of a large square matrix product: the machine's practical peak for ``dtype``."""
    n = n or (8192 if device.type == "cuda" else 2048)
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    a @ b
    synchronize(device)
    repeats = 10 if device.type == "cuda" else 3
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    synchronize(device)
    return 2 * n**3 * repeats / (time.perf_counter() - start) / 1e9


@dataclass
class Measurement:
    times: list[float] = field(default_factory=list)
    peaks: list[float] = field(default_factory=list)
    reserved: list[float] = field(default_factory=list)
    flops: float | None = None
    tensor_peak: float | None = None  # GiB of live tensors at the peak (--tensor-memory)

    @property
    def median(self) -> float:
        return statistics.median(self.times) if self.times else float("nan")

    @property
    def peak(self) -> float:
        return max(self.peaks) if self.peaks else float("nan")


def timed_step(bench: Bench, kind: str, config: Config, memory: PeakMemory,
               result: Measurement) -> None:
    device = bench.state.device
    memory.reset()
    synchronize(device)
    start = time.perf_counter()
    take_step(bench, kind, config)
    synchronize(device)
    result.times.append(time.perf_counter() - start)
    result.peaks.append(memory.read())
    result.reserved.append(memory.read_reserved())


def count_flops(bench: Bench, kind: str, config: Config) -> float:
    """FLOPs of one step, counted per aten op with ``torch.utils.flop_counter``'s formulas.

    A plain dispatch mode rather than ``FlopCounterMode``, whose module hooks break the double
    backward of the R1 penalty.
    """
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils.flop_counter import flop_registry

    class Count(TorchDispatchMode):
        total = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001
            kwargs = kwargs or {}
            out = func(*args, **kwargs)
            formula = flop_registry.get(func._overloadpacket)
            if formula is not None:
                Count.total += formula(*args, **kwargs, out_val=out)
            return out

    with Count():
        take_step(bench, kind, config)
    return float(Count.total)


def count_tensor_memory(bench: Bench, kind: str, config: Config) -> tuple[float, float]:
    """GiB of live tensors before one step and at its peak (``benchmarks/tensor_memory.py``)."""
    from tensor_memory import TensorMemory

    with TensorMemory() as counter:
        take_step(bench, kind, config)
    return counter.start_bytes / 2**30, counter.peak_bytes / 2**30


def profile_table(bench: Bench, kind: str, config: Config, rows: int) -> str:
    from torch.profiler import ProfilerActivity, profile

    cuda = bench.state.device.type == "cuda"
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with profile(activities=activities) as prof:
        take_step(bench, kind, config)
        synchronize(bench.state.device)
    key = "self_cuda_time_total" if cuda else "self_cpu_time_total"
    return prof.key_averages().table(sort_by=key, row_limit=rows, max_name_column_width=48)


def measure(bench: Bench, kinds: list[str], configs: list[Config], args: argparse.Namespace,
            memory: PeakMemory) -> dict[tuple[str, str], Measurement]:
    """Warm up, then time every kind with the configurations alternating step by step."""
    results = {(k, c.name): Measurement() for k in kinds for c in configs}
    for kind in kinds:
        for _ in range(args.warmup if kind != "cycle" else 0):
            for config in configs:
                take_step(bench, kind, config)
        for _ in range(args.repeats):
            for config in configs:
                timed_step(bench, kind, config, memory, results[(kind, config.name)])
                log(f"  {kind:<13} {config.name:<28} "
                    f"{results[(kind, config.name)].times[-1]:8.3f} s")
        if args.flops:
            for config in configs:
                if kind == "cycle":
                    parts = [results.get((k, config.name)) for k in ("reference", "random")]
                    if all(p is not None and p.flops is not None for p in parts):
                        results[(kind, config.name)].flops = parts[0].flops + 3 * parts[1].flops
                    continue
                results[(kind, config.name)].flops = count_flops(bench, kind, config)
        if args.tensor_memory:
            for config in configs:
                m = results[(kind, config.name)]
                if kind == "cycle":
                    parts = [results.get((k, config.name)) for k in ("reference", "random")]
                    known = [p.tensor_peak for p in parts if p is not None and p.tensor_peak]
                    m.tensor_peak = max(known) if len(known) == 2 else None
                    continue
                before, m.tensor_peak = count_tensor_memory(bench, kind, config)
                log(f"  {kind:<13} {config.name:<28} live tensors {before:.2f} GiB before "
                    f"the step, {m.tensor_peak:.2f} GiB at its peak")
        if args.profile and kind != "cycle":
            for config in configs:
                print(f"\n== where the time goes: {kind}, {config.name} ==")
                print(profile_table(bench, kind, config, args.profile_rows))
    return results


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Report


def report(results: dict[tuple[str, str], Measurement], kinds: list[str], configs: list[Config],
           peaks: dict[str, float], args: argparse.Namespace, device: torch.device) -> dict:
    memory_label = "peak RSS GiB" if device.type == "cpu" else "peak alloc GiB (reserved)"
    tensors = args.tensor_memory
    header = (f"| step | config | s/step (median of {args.repeats}) | {memory_label} "
              + ("| live tensors at peak GiB " if tensors else "")
              + "| GFLOP/step | GFLOP/s | % of fp32 matmul | % of bf16 matmul |")
    lines = [header, "|" + "---|" * (9 if tensors else 8)]
    table = []
    for kind in kinds:
        for config in configs:
            m = results[(kind, config.name)]
            rate = m.flops / m.median / 1e9 if m.flops else float("nan")
            reserved = max(m.reserved) if m.reserved else float("nan")
            row = {"step": kind, "config": config.name, "seconds": m.median,
                   "times": m.times, "peak_gib": m.peak, "reserved_gib": reserved,
                   "gflop": m.flops / 1e9 if m.flops else None, "gflops_per_s": rate,
                   "tensor_peak_gib": m.tensor_peak}
            table.append(row)
            memory_text = f"{m.peak:.2f}" + (f" ({reserved:.2f})" if reserved == reserved else "")
            tensor_text = f"{_fmt(m.tensor_peak, '.2f')} | " if tensors else ""
            lines.append(f"| {kind} | {config.name} | {m.median:.3f} | {memory_text} | "
                         f"{tensor_text}{_fmt(row['gflop'], '.0f')} | {_fmt(rate, '.1f')} | "
                         f"{_pct(rate, peaks['fp32'])} | {_pct(rate, peaks['bf16'])} |")
    bf16_peak = f"{peaks['bf16']:.0f} GFLOP/s" if peaks["bf16"] else "not measured"
    print(f"\n{describe(device)}; matmul peak measured here: fp32 {peaks['fp32']:.0f} GFLOP/s, "
          f"bf16 {bf16_peak}")
    print("\n".join(lines))
    ratios = []
    if len(configs) > 1:
        base = configs[0]
        print(f"\nRatios against {base.name!r} (same process, steps alternated; "
              "above 1x the speed: faster):")
        for kind in kinds:
            for config in configs[1:]:
                a, b = results[(kind, base.name)], results[(kind, config.name)]
                speed, mem = a.median / b.median, b.peak / a.peak
                ratios.append({"step": kind, "config": config.name, "speedup": speed,
                               "memory_ratio": mem})
                print(f"  {kind:<13} {config.name:<28} {speed:5.2f}x the speed "
                      f"({1 / speed:.2f}x the time), peak memory x{mem:.2f}")
    needed = ("search", "reference", "reference_r1", "random")
    if all(k in kinds for k in needed):
        print("\nEstimated OneShotCLIP run, 1000 search + 2000 fine-tuning steps (375 reference, "
              "125 reference with R1, 1500 random; from the medians above):")
        for config in configs:
            t = {k: results[(k, config.name)].median for k in needed}
            total = 1000 * t["search"] + 375 * t["reference"] + 125 * t["reference_r1"] \
                + 1500 * t["random"]
            print(f"  {config.name:<28} {total / 60:7.1f} min")
    if device.type == "cpu" and not (args.tiny or args.recipe) and args.resolution == 256:
        print("\nAgainst the reference implementation's figures (idle 2-core machine; valid only "
              "when this machine is idle too):")
        for kind in kinds:
            if kind in REFERENCE_CPU_256:
                for config in configs:
                    m = results[(kind, config.name)]
                    print(f"  {kind:<13} {config.name:<28} "
                          f"{REFERENCE_CPU_256[kind] / m.median:5.2f}x faster, peak "
                          f"{m.peak:.2f} GiB vs {REFERENCE_CPU_256_PEAK_GIB} GiB")
    return {"device": describe(device), "peaks_gflops": peaks, "rows": table, "ratios": ratios,
            "args": {k: v for k, v in vars(args).items() if not callable(v)}}


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None or value != value else format(value, spec)


def _pct(rate: float, peak: float) -> str:
    return "-" if rate != rate or not peak else f"{100 * rate / peak:.0f}%"


def describe(device: torch.device) -> str:
    """The machine, its instruction sets, and what ``precision = "auto"`` picks on it."""
    from gan_adapt.engine.precision import bf16_support, describe_cpu, resolve_precision

    support = bf16_support(str(device))
    auto = (f'precision = "auto" picks {resolve_precision("auto", str(device))} here '
            f"({support.reason})")
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)}, torch {torch.__version__}; {auto}"
    return (f"CPU ({os.cpu_count()} logical cores, {torch.get_num_threads()} threads; "
            f"instruction sets: {describe_cpu()}), torch {torch.__version__}; {auto}")


# ---------------------------------------------------------------------------------------------
# Command line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Seconds per step, peak memory, FLOP rate and top operators of the "
                    "OneShotCLIP search and fine-tuning steps, on random weights at the real "
                    "sizes (StyleGAN2 config-f, CLIP ViT-B/32, LPIPS alex).",
        epilog="Configuration tokens: fp32, bf16, micro_batch=N, clip_size=N, compile, naive, "
               "optimised, "
               + ", ".join(WASTE) + ". See the module docstring.")
    parser.add_argument("--resolution", type=int, default=256, choices=(256, 1024))
    parser.add_argument("--tiny", action="store_true",
                        help="the smoke recipe's tiny networks instead (a quick check)")
    parser.add_argument("--recipe", choices=("best",), default=None,
                        help="time benchmarks/recipes/best.toml as it is instead (shipped "
                             "32-px models)")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--steps", default="search,reference,reference_r1,random,cycle",
                        help=f"comma-separated step kinds among {', '.join(STEP_KINDS)}")
    parser.add_argument("--config", default="fp32", help="one configuration (see below)")
    parser.add_argument("--compare", nargs=2, metavar=("A", "B"),
                        help="two configurations, alternated; prints B's speed-up over A")
    parser.add_argument("--ablate", action="store_true",
                        help="the configuration, then it plus each waste item alone")
    parser.add_argument("--repeats", type=int, default=3, help="timed steps per kind (median)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps per kind first")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--flops", action=argparse.BooleanOptionalAction, default=True,
                        help="count FLOPs (one extra step per kind)")
    parser.add_argument("--profile", action=argparse.BooleanOptionalAction, default=True,
                        help="print the top operators (one extra step per kind)")
    parser.add_argument("--profile-rows", type=int, default=12)
    parser.add_argument("--tensor-memory", action="store_true",
                        help="also count the peak bytes of live tensors op by op (one extra "
                             "step per kind): on CPU, an estimate of a GPU's "
                             "max_memory_allocated")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--memory-limit-gib", type=float, default=None,
                        help="GPU: cap this process's CUDA memory (a smaller card's size)")
    args = parser.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device == "auto":
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        device = torch.device(args.device)
    if args.memory_limit_gib and device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        total = torch.cuda.get_device_properties(index).total_memory / 2**30
        torch.cuda.set_per_process_memory_fraction(min(1.0, args.memory_limit_gib / total), index)
        log(f"CUDA memory capped at {args.memory_limit_gib} GiB of {total:.0f} GiB")
    kinds = [k.strip() for k in args.steps.split(",") if k.strip()]
    unknown = [k for k in kinds if k not in STEP_KINDS]
    if unknown:
        parser.error(f"unknown step kind(s) {unknown}; choose among {STEP_KINDS}")
    from gan_adapt.engine.precision import bf16_support

    if args.compare:
        configs = [parse_config(s) for s in args.compare]
    else:
        configs = [parse_config(args.config)]
        if args.ablate:
            base = configs[0]
            configs += [Config(f"{base.name}+{w}", base.precision, base.micro_batch,
                               base.waste | {w}, base.clip_size, base.compile)
                        for w in WASTE if w not in base.waste]
    if len({c.name for c in configs}) != len(configs):
        parser.error("the configurations must differ")

    torch.manual_seed(0)
    size = 256 if args.tiny else None  # the tiny check only needs the table to work
    peaks = {"fp32": matmul_rate(device, torch.float32, size), "bf16": 0.0}
    uses_bf16 = any(c.precision == "bf16" for c in configs)
    if bf16_support(str(device)).fast or uses_bf16:
        peaks["bf16"] = matmul_rate(device, torch.bfloat16, size)
    else:  # emulated bf16: a 2048-square product alone takes minutes on an AVX2-only CPU
        log("bf16 matmul peak not measured: this device has no fast bf16 and no configuration "
            "uses it")
    what = args.recipe or ("tiny" if args.tiny else f"{args.resolution} px")
    log(f"{describe(device)}: building the {what} bench")
    start = time.perf_counter()
    bench = build_bench(args.resolution, device, args.tiny, args.recipe)
    log(f"built in {time.perf_counter() - start:.1f} s")
    memory = PeakMemory(device)
    results = measure(bench, kinds, configs, args, memory)
    summary = report(results, kinds, configs, peaks, args, device)
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
