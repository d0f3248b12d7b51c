"""The comparison table of a sweep: one row per run, its grid point, training and eval metrics."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path
from typing import Any

from gan_adapt.io import atomic_files as files
from gan_adapt.sweep.backends import Outcome
from gan_adapt.sweep.spec import EvalSettings, RunSpec


def _read_json(path: Path) -> dict[str, Any]:
    """A run's JSON object record for the table; {} when it is missing, damaged, or not a
    regular file of the run's folder (a link out of it, a FIFO): its row shows no values."""
    from gan_adapt.io.json_files import read_object_or_none
    from gan_adapt.io.safe_paths import regular_inside

    if not regular_inside(path.parent, path):
        return {}
    return read_object_or_none(path) or {}


def evaluate(folder: Path, settings: EvalSettings, log: Path) -> str:
    """``gan-adapt eval`` on one finished run (skipped when eval.json exists); returns a note."""
    if (folder / "eval.json").exists():
        return ""
    args = ["eval", str(folder), "--n", str(settings.n), "--seed", str(settings.seed)]
    if settings.target_dir:
        args += ["--target-dir", settings.target_dir]
    with open(log, "a", encoding="utf-8") as handle:
        handle.write(f"$ gan-adapt {' '.join(args)}\n")
        handle.flush()
        code = subprocess.call([sys.executable, "-m", "gan_adapt.cli", *args], stdout=handle,
                               stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    return "" if code == 0 else f"eval failed (exit {code}, see {log})"


def rows(jobs: list[tuple[RunSpec, str]], outcomes: list[Outcome]) -> list[dict[str, Any]]:
    """One flat row per run: id, status, base (the recipe's stem, when the sweep lists several
    bases), target, seed, grid values, train/* and eval/*."""
    table = []
    for (run, folder), outcome in zip(jobs, outcomes):
        row: dict[str, Any] = {"run_id": run.run_id, "status": outcome.status
                               if outcome.status != "skipped" else "done"}
        if "base" in run.values:  # a list of bases: which mix of terms the row ran, up front
            row["base"] = run.values["base"]
        row.update({"target": run.target or "", "seed": "" if run.seed is None else run.seed})
        row.update({key: value for key, value in run.values.items()})
        row.update({f"train/{k}": v for k, v in
                    _read_json(Path(folder) / "metrics.json").items()})
        evaluation = _read_json(Path(folder) / "eval.json")
        metrics = evaluation.get("metrics", evaluation)
        metrics = metrics if isinstance(metrics, dict) else {}
        row.update({f"eval/{k}": v for k, v in metrics.items() if isinstance(v, (int, float))})
        row["error"] = outcome.error
        table.append(row)
    return table


#: What a spreadsheet reads as the start of a formula (or, for tab and CR, can be made to).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """A CSV cell that a spreadsheet shows as the text it is, never runs as a formula (CSV
    injection): text starting with = + - @ tab or CR (after any spaces) gets a leading
    apostrophe. Numbers stay
    numbers (a negative loss is not a formula)."""
    if isinstance(value, str) and (value.startswith(FORMULA_STARTS)
                                   or value.lstrip(" ").startswith(FORMULA_STARTS)):
        return "'" + value
    return value


def write_table(table: list[dict[str, Any]], path: Path) -> Path:
    """CSV with the union of all columns (atomically); text cells made formula-safe."""
    columns: list[str] = []
    for row in table:
        columns += [key for key in row if key not in columns]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([safe_cell(column) for column in columns])
    writer.writerows([safe_cell(row.get(column, "")) for column in columns] for row in table)
    return files.write_text(path, buffer.getvalue())
