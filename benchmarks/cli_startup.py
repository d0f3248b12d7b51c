"""How long the ``gan-adapt`` command line takes to start, against the interpreter's own start.

    python benchmarks/cli_startup.py [--repeat N]

Each command runs N times in a fresh process (the shipped plugins installed or on PYTHONPATH);
the script prints the median and the fastest wall time of each, its ratio to a bare
``python -c pass`` measured in the same session, and the machine's load average, so that figures
from a busy machine can be told apart. ``import torch`` is shown for comparison: the CLI stays
fast because ``--help`` and ``validate`` never import it (plugins register their terms lazily,
see ``gan_adapt.plugin_host.registry.lazy``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

COMMANDS = {
    "python -c pass (baseline)": [sys.executable, "-c", "pass"],
    "import torch (comparison)": [sys.executable, "-c", "import torch"],
    "gan-adapt --help": [sys.executable, "-m", "gan_adapt", "--help"],
    "gan-adapt validate smoke.toml": [sys.executable, "-m", "gan_adapt", "validate",
                                      "recipes/smoke.toml"],
    "gan-adapt validate (5 recipes)": [sys.executable, "-m", "gan_adapt", "validate",
                                       "recipes/smoke.toml", "recipes/mtg.toml",
                                       "recipes/nada.toml", "recipes/cdc-10shot.toml",
                                       "recipes/oneshotclip-text.toml"],
}


def wall_times(command: list[str], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="runs per command (default 7)")
    args = parser.parse_args()
    load_before = os.getloadavg()
    wall_times(COMMANDS["gan-adapt --help"], 1)  # warm the file cache
    results = {name: wall_times(command, args.repeat) for name, command in COMMANDS.items()}
    baseline = statistics.median(results["python -c pass (baseline)"])
    print(f"load average before: {load_before[0]:.2f} / after: {os.getloadavg()[0]:.2f} "
          f"({os.cpu_count()} CPUs), {args.repeat} runs each")
    print(f"{'command':34s} {'median s':>9s} {'fastest s':>10s} {'x baseline':>11s}")
    for name, times in results.items():
        median = statistics.median(times)
        print(f"{name:34s} {median:9.3f} {min(times):10.3f} {median / baseline:11.1f}")


if __name__ == "__main__":
    main()
