"""A sweep from start to end: expand, run (skipping finished runs, resuming interrupted ones),
evaluate, tabulate. The ``gan-adapt sweep`` command (:mod:`gan_adapt.cli.sweep`) calls it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from gan_adapt.errors import GanAdaptError
from gan_adapt.io import atomic_files as files
from gan_adapt.io.safe_paths import folder_name
from gan_adapt.sweep import backends, table
from gan_adapt.sweep.spec import base_path, expand, read_sweep


def run_sweep(sweep_file: str | Path, out: str | Path | None = None,
              backend: str | None = None, echo: Any = click.echo,
              plugins_dirs: list[str] | tuple[str, ...] = (), threads: int | None = None,
              has_command: Callable[[str], bool] = lambda name: True) -> Path:
    """Run a sweep to the end; return its folder. Failed runs are reported, never fatal.

    ``threads`` (the command line's ``--threads``) replaces the sweep file's ``threads_per_run``.

    ``plugins_dirs`` (the command line's ``--plugins-dir``) are passed to every run; a sweep
    file itself cannot name plugin folders. ``has_command(name)`` says whether the ``gan-adapt``
    command ``eval`` or ``compare`` exists (the command line passes its own lookup).
    """
    sweep_file = Path(sweep_file)
    sweep = read_sweep(sweep_file)
    backend = backend or sweep.backend
    folder = sweep_folder(sweep.name, out)
    runs = expand(sweep, sweep_file)
    several = sweep.several_bases
    bases = [base_path(sweep_file, base) for base in sweep.bases]
    # A single base is recorded as a string, as always, so older sweep folders still resume;
    # several as a list, and then each run records its own.
    plan = {"name": sweep.name, "base": bases if several else bases[0],
            "runs": [{"id": r.run_id, **({"base": r.base} if several else {}),
                      "target": r.target, "overrides": r.overrides, "seed": r.seed}
                     for r in runs]}
    claim_folder(folder, plan)
    files.write_json(folder / "sweep.json", plan)
    files.write_bytes(folder / "sweep.toml", sweep_file.read_bytes())
    jobs = [(run, str((folder / "runs" / run.run_id).resolve())) for run in runs]
    plugins_dirs = [str(Path(d).resolve()) for d in plugins_dirs]
    log_dir = str((folder / "logs").resolve())
    echo(f"Sweep {sweep.name!r}: {len(jobs)} run(s), backend {backend}, folder {folder}")

    def report(outcome: backends.Outcome) -> None:
        note = f" ({outcome.error})" if outcome.error else ""
        echo(f"  {outcome.status:8s} {outcome.run_id} [{outcome.action}, "
             f"{outcome.seconds:.1f}s]{note}")

    common = dict(plugins_dirs=plugins_dirs,
                  threads=threads or sweep.threads_per_run, log_dir=log_dir, report=report)
    if backend == "ray":
        outcomes = backends.run_ray(jobs, settings=sweep.ray, **common)
    else:
        outcomes = backends.run_local(jobs, use_gpus=sweep.gpus == "auto", **common)

    finished = [Path(f) for (_, f), o in zip(jobs, outcomes) if o.status in ("done", "skipped")]
    if sweep.eval.enabled and finished:
        if has_command("eval"):
            for run_folder in finished:
                note = table.evaluate(run_folder, sweep.eval, Path(log_dir) / "eval.log")
                if note:
                    echo(f"  warning: {run_folder.name}: {note}")
        else:
            echo("  note: no `eval` command is installed; the table has training metrics only")
    rows = table.rows(jobs, outcomes)
    csv_path = table.write_table(rows, folder / "results.csv")
    if len(finished) >= 1 and has_command("compare"):
        compare_sheet(finished, folder / "compare.png", Path(log_dir) / "compare.log", echo)
    failed = [o for o in outcomes if o.status == "failed"]
    echo(f"Results: {csv_path} ({len(outcomes) - len(failed)} finished, {len(failed)} failed)")
    return folder


def sweep_folder(name: str, out: str | Path | None = None) -> Path:
    """``--out``, else ``sweeps/<name>`` with the name made one harmless path component (a
    sweep named ``"../../x"`` stays under ``sweeps/``)."""
    return Path(out) if out else Path("sweeps") / folder_name(name, "sweep")


def claim_folder(folder: Path, plan: dict[str, Any]) -> None:
    """Make ``folder`` this sweep's folder, or refuse: an existing folder is accepted only
    when it is empty or holds this same sweep (same name, base recipe(s) and runs: it resumes).
    Nothing in a folder of other files is overwritten."""
    if folder.exists() and not folder.is_dir():
        raise GanAdaptError(f"sweep folder {folder} exists and is a file; choose another --out")
    if folder.is_dir() and any(folder.iterdir()):
        manifest = folder / "sweep.json"
        previous = files_json(manifest) if manifest.is_file() else None
        if previous is None:
            raise GanAdaptError(f"sweep folder {folder} exists and holds other files (it has no "
                                "readable sweep.json, so it is not a sweep's folder); choose "
                                "another --out. Nothing was written.")
        same = (previous.get("name") == plan["name"] and previous.get("base") == plan["base"]
                and [r.get("id") for r in previous.get("runs", []) if isinstance(r, dict)]
                == [r["id"] for r in plan["runs"]])
        if not same:
            raise GanAdaptError(f"sweep folder {folder} holds a different sweep (its name, base "
                                "recipe or runs differ from this file's); use another --out. "
                                "Nothing was written.")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise GanAdaptError(f"cannot create sweep folder {folder}: {exc.strerror or exc}"
                            ) from None


def compare_sheet(run_folders: list[Path], out: Path, log: Path, echo: Any) -> None:
    """The evaluation issue's comparison sheet over the finished runs."""
    import subprocess
    import sys

    args = ["compare", *map(str, run_folders), "--out", str(out)]
    with open(log, "a", encoding="utf-8") as handle:
        code = subprocess.call([sys.executable, "-m", "gan_adapt.cli", *args], stdout=handle,
                               stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    if code != 0:
        echo(f"  warning: the comparison sheet failed (see {log})")


def files_json(path: Path) -> dict[str, Any] | None:
    """A JSON object file's content; None if it is unreadable or not an object."""
    from gan_adapt.io.json_files import read_object_or_none
    from gan_adapt.io.safe_paths import regular_inside

    if not regular_inside(path.parent, path):  # no link out of its folder, no FIFO
        return None
    return read_object_or_none(path)
