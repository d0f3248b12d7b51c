"""How the demo's adaptation step runs with 1 or 2 threads and each OpenMP wait policy, on an
idle machine and beside CPU-burning processes.

    python benchmarks/threads.py [--steps 4] [--rounds 2] [--burners 0,2]

Each configuration (threads x ``OMP_WAIT_POLICY``) runs in a fresh process, because OpenMP reads
its wait policy once, when it starts. The process builds the demo recipe
(``recipes/oneshotclip-portraits.toml``, shipped weights, nothing to download) with the engine's
own ``build_components`` and times the engine's ``adapt_step`` over whole schedule periods
(1 reference + 3 random steps). Configurations alternate round by round, so a change in the
machine's other load spreads over all of them; the table gives the median seconds per step,
its ratio to the best configuration under the same load, and the load average seen while each
ran (a shared machine's other jobs are part of the figure).

``--burners N`` runs N ``while True: pass`` processes beside the measured one (0 = idle).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "recipes" / "oneshotclip-portraits.toml"
POLICIES = ("PASSIVE", "ACTIVE", "default")


def measure_in_this_process(threads: int, steps: int) -> dict[str, float]:
    """Build the demo and time ``steps`` adaptation steps (after one warm-up period)."""
    import torch

    torch.set_num_threads(threads)
    from gan_adapt.engine.build import build_components
    from gan_adapt.engine.loop import set_precision, setup_adaptation
    from gan_adapt.engine.run_state import RunState as Run
    from gan_adapt.engine.updates import adapt_step
    from gan_adapt.plugin_host.loading import load_plugins
    from gan_adapt.recipe.schedule import step_kind as _step_kind
    from gan_adapt.recipe.schema import read_and_validate as load

    plugin_set = load_plugins()
    plugin_set.collect()
    validated = load(RECIPE, plugin_set)
    device = torch.device("cpu")
    components = build_components(validated, plugin_set, device)
    state = Run(validated, None, components, plugin_set, device)
    G_s = components.generator
    state.w_ref = G_s.w_avg.detach().view(1, 1, -1).expand(1, G_s.num_ws, -1).contiguous()
    g_opt, d_opt, g_params, d_params = setup_adaptation(state)
    adapt = validated.recipe.adapt
    set_precision(state, "adapt", adapt.precision)

    def step(index: int) -> None:
        adapt_step(state, _step_kind(adapt.schedule, index), index, g_opt, d_opt, g_params,
                   d_params)

    for index in range(1, 5):  # warm-up: one schedule period
        step(index)
    times = []
    for index in range(5, 5 + steps):
        t0 = time.perf_counter()
        step(index)
        times.append(time.perf_counter() - t0)
    return {"seconds_per_step": sum(times) / len(times), "load": os.getloadavg()[0]}


def run_child(threads: int, policy: str, steps: int) -> dict[str, float]:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    env.pop("OMP_WAIT_POLICY", None)
    if policy != "default":
        env["OMP_WAIT_POLICY"] = policy
    out = subprocess.run([sys.executable, __file__, "--child", str(threads), "--steps",
                          str(steps)], env=env, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=4, help="timed steps per measurement")
    parser.add_argument("--rounds", type=int, default=2, help="measurements per configuration")
    parser.add_argument("--burners", default="0,2",
                        help="comma-separated numbers of CPU burners to run beside it")
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    parser.add_argument("--policies", default=",".join(POLICIES))
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        print(json.dumps(measure_in_this_process(args.child, args.steps)))
        return 0

    # A SIGTERM (a timeout) must still stop the burners: let it unwind through `finally`.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(143))
    configs = [(int(t), p) for t in args.threads.split(",") for p in args.policies.split(",")]
    print(f"{os.cpu_count()} logical cores; demo adaptation steps, {args.steps} per measurement,"
          f" {args.rounds} rounds", flush=True)
    for burners in (int(b) for b in args.burners.split(",")):
        procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
                 for _ in range(burners)]
        try:
            results: dict[tuple[int, str], list[dict[str, float]]] = {c: [] for c in configs}
            for _ in range(args.rounds):
                for config in configs:
                    results[config].append(run_child(*config, args.steps))
                    print(f"  burners={burners} threads={config[0]} policy={config[1]}: "
                          f"{results[config][-1]}", flush=True)
        finally:
            for proc in procs:
                proc.kill()
                proc.wait()
        medians = {c: statistics.median(r["seconds_per_step"] for r in results[c])
                   for c in configs}
        best = min(medians.values())
        print(f"\nburners={burners}")
        print("| threads | OMP_WAIT_POLICY | s/step | x best | load avg (1 min) |")
        print("|---|---|---|---|---|")
        for config in configs:
            loads = [r["load"] for r in results[config]]
            print(f"| {config[0]} | {config[1]} | {medians[config]:.2f} | "
                  f"{medians[config] / best:.2f} | {min(loads):.1f}-{max(loads):.1f} |",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
