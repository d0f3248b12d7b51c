"""Executing a sweep's runs: each run is one ``gan-adapt run`` process.

A process per run isolates failures (a crash or NaN ends that run only) and lets either
backend place runs anywhere: ``local`` runs them one after another (or, with several visible
GPUs, one per GPU at a time); ``ray`` turns each into a Ray task that reserves its CPUs/GPUs on a
local Ray instance or an existing cluster. Both call the same :func:`run_one`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gan_adapt.sweep.spec import RunSpec


@dataclass
class Outcome:
    """How one run of a sweep ended."""

    run_id: str
    folder: str
    status: str  # "done", "skipped" (already done), "failed"
    action: str  # "started", "resumed" or "none"
    seconds: float
    error: str = ""


def _status(folder: Path) -> str | None:
    from gan_adapt.io.json_files import read_object_or_none
    from gan_adapt.io.safe_paths import regular_inside

    path = folder / "run.json"
    if not regular_inside(folder, path):  # no link out of the folder, no FIFO
        return None
    return (read_object_or_none(path) or {}).get("status")


def run_one(run: RunSpec, folder: str, plugins_dirs: list[str], threads: int | None,
            log_dir: str, gpu: str | None = None) -> Outcome:
    """Start (from the run's own base recipe), resume or skip one run, in a child process;
    never raises for a failed run."""
    folder_path = Path(folder)
    status = _status(folder_path)
    if status == "done":
        return Outcome(run.run_id, folder, "skipped", "none", 0.0)
    if status is not None:
        args, action = ["run", "--resume", folder], "resumed"
    else:
        if folder_path.exists() and any(folder_path.iterdir()):
            # a folder without run.json never got past creation: keep it aside, start afresh
            folder_path.rename(folder_path.with_name(f"{folder_path.name}.broken-{int(time.time())}"))
        args, action = ["run", *run.cli_args(), "--out", folder], "started"
    for plugins_dir in plugins_dirs:
        args += ["--plugins-dir", plugins_dir]
    env = dict(os.environ)
    if threads is not None:  # a fixed thread count makes results identical across backends
        env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    if gpu is not None:
        env["CUDA_VISIBLE_DEVICES"] = gpu
    log = Path(log_dir) / f"{run.run_id}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with open(log, "a", encoding="utf-8") as handle:
        handle.write(f"$ gan-adapt {' '.join(args)}\n")
        handle.flush()
        code = subprocess.call([sys.executable, "-m", "gan_adapt.cli", *args], stdout=handle,
                               stderr=subprocess.STDOUT, env=env, stdin=subprocess.DEVNULL)
    seconds = time.perf_counter() - started
    if code == 0 and _status(folder_path) == "done":
        return Outcome(run.run_id, folder, "done", action, seconds)
    tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-8:]
    return Outcome(run.run_id, folder, "failed", action, seconds,
                   f"exit code {code}: " + " | ".join(tail))


def _visible_gpus() -> list[str]:
    try:
        import torch

        return [str(i) for i in range(torch.cuda.device_count())]
    except Exception:
        return []


def run_local(jobs: list[tuple[RunSpec, str]], *, plugins_dirs: list[str],
              threads: int | None, log_dir: str, use_gpus: bool, report: Any) -> list[Outcome]:
    """One run after another; with several visible GPUs, one run per GPU at a time."""
    gpus = _visible_gpus() if use_gpus else []
    if len(gpus) <= 1:
        outcomes = []
        for run, folder in jobs:
            outcome = run_one(run, folder, plugins_dirs, threads, log_dir)
            report(outcome)
            outcomes.append(outcome)
        return outcomes
    free = list(gpus)

    def on_gpu(job: tuple[RunSpec, str]) -> Outcome:
        gpu = free.pop()
        try:
            outcome = run_one(job[0], job[1], plugins_dirs, threads, log_dir, gpu)
        finally:
            free.append(gpu)
        report(outcome)
        return outcome

    with ThreadPoolExecutor(max_workers=len(gpus)) as pool:
        return list(pool.map(on_gpu, jobs))


def run_ray(jobs: list[tuple[RunSpec, str]], *, plugins_dirs: list[str],
            threads: int | None, log_dir: str, settings: Any, report: Any) -> list[Outcome]:
    """Each run as a Ray task reserving ``cpus_per_run``/``gpus_per_run``."""
    from gan_adapt.errors import GanAdaptError

    try:
        import ray
    except ImportError:
        raise GanAdaptError("backend = \"ray\" needs Ray: pip install 'ray>=2.9'") from None
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    started_here = False
    if not ray.is_initialized():
        if settings.address:
            ray.init(address=settings.address, log_to_driver=False)
        else:  # a private instance on loopback only
            ray.init(address="local", num_cpus=settings.num_cpus, include_dashboard=False,
                     _node_ip_address="127.0.0.1", log_to_driver=False)
        started_here = True
    try:
        task = ray.remote(num_cpus=settings.cpus_per_run, num_gpus=settings.gpus_per_run,
                          max_retries=0)(run_one)
        pending = {task.remote(run, folder, plugins_dirs, threads, log_dir): i
                   for i, (run, folder) in enumerate(jobs)}
        outcomes: list[Outcome | None] = [None] * len(jobs)
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            index = pending.pop(done[0])
            outcomes[index] = ray.get(done[0])
            report(outcomes[index])
        return outcomes  # type: ignore[return-value]
    finally:
        if started_here:
            ray.shutdown()
