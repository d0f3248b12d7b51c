"""``gan-adapt eval``, ``gan-adapt compare`` and ``gan-adapt report`` (registered by
:mod:`gan_adapt.cli.plugin`).

torch is imported inside the commands, so listing commands stays fast.
"""

from __future__ import annotations

from typing import Any

import click

from gan_adapt.evaluation.metric_help import METRIC_HELP

#: What the source generator scores on metrics that compare G_t with G_s: G_s against itself.
_SOURCE_BY_DEFINITION = {"content_lpips": 0.0, "content_clip": 1.0}


def source_value(key: str, metrics: dict[str, Any]) -> float | None:
    """The source generator's value of metric ``key``: its ``_source`` twin, or what the metric
    gives by definition when G_t is G_s (no change: content kept, attributes preserved)."""
    if f"{key}_source" in metrics:
        return metrics[f"{key}_source"]
    if key in _SOURCE_BY_DEFINITION:
        return _SOURCE_BY_DEFINITION[key]
    if key.startswith("attribute_preservation"):
        return 1.0
    return None


def metrics_table(record: dict[str, Any], title: str) -> Any:
    """A rich table of an eval record's metrics: each with the source generator's value and,
    when the target's transform is known, the ideal adapted generator's (``record["ideal"]``);
    the ``_source`` twins are shown in the source column, not as rows of their own."""
    from rich.table import Table

    metrics = record["metrics"]
    ideal = (record.get("ideal") or {}).get("metrics", {})
    columns = ["metric", "value", "source"] + (["ideal"] if ideal else []) + ["meaning"]
    table = Table(*columns, title=title)
    for key, value in metrics.items():
        if key.endswith("_source") and key.removesuffix("_source") in metrics:
            continue
        row = [key, _shown(value), _shown(source_value(key, metrics))]
        if ideal:
            row.append(_shown(ideal.get(key)))
        table.add_row(*row, METRIC_HELP.get(key, ""))
    return table


def _shown(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:d}" if isinstance(value, int) else f"{value:.4f}"


def _instrument_lines(record: dict[str, Any]) -> list[str]:
    lines = []
    for name, info in record.get("instruments", {}).items():
        what = info.get("weights") or info.get("features", "")
        origin = info.get("from", "")
        lines.append(f"{name}: {what}" + (f" [{origin}]" if origin else ""))
    return lines


plugins_dir_option = click.option(
    "--plugins-dir", type=click.Path(file_okay=False), multiple=True,
    help="Also load every .py file of this folder as a plugin (repeatable).")
allow_changed_plugins_option = click.option(
    "--allow-changed-plugins", is_flag=True,
    help="Load the run's plugin folders even though their files changed since the run "
         "(otherwise refused, before any of their code runs).")
device_option = click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]),
                             default="auto", show_default=True, help="Where to run.")


@click.command("eval")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--target-dir", type=click.Path(file_okay=False), default=None,
              help="Folder of real target-domain images: adds FID and KID.")
@click.option("--n", "n", type=click.IntRange(2), default=1000, show_default=True,
              help="Number of samples.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the latents.")
@click.option("--batch", type=click.IntRange(1), default=16, show_default=True,
              help="Samples per forward pass.")
@click.option("--truncation", type=float, default=1.0, show_default=True,
              help="Truncation psi of the latents (1 = none).")
@click.option("--lpips", default="recipe", show_default=True,
              help="LPIPS: recipe (the recipe's lpips term; without one, alex if downloaded, "
                   "else the shipped portraits-clip distance), alex, vgg, squeeze, "
                   "portraits-clip (shipped, offline), or random-alex (test stand-in).")
@click.option("--clip", default="recipe", show_default=True,
              help="CLIP: recipe (the recipe's encoder), ARCH:TAG (e.g. ViT-B-32:openai), or "
                   "tiny (random test stand-in).")
@click.option("--transform", default="auto", show_default=True,
              help="The known transform that made the target (sketch, posterise, invert, "
                   "watercolour, hatch), for the ideal values and fidelity metrics; auto: "
                   "recognised for the shipped targets; none: unknown.")
@click.option("--fid-features", type=click.Choice(["inception", "clip"]), default="inception",
              show_default=True, help="Features of FID/KID: the standard Inception-v3, or the "
                                      "chosen CLIP's embeddings (FD_CLIP).")
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Where to write the JSON (default RUN_DIR/eval.json).")
@device_option
@plugins_dir_option
@allow_changed_plugins_option
@click.option("--threads", default="auto", show_default=True, metavar="N|auto",
              help="CPU threads (auto: OMP_NUM_THREADS if set, 1 on machines with at most 2 "
                   "cores, else the idle cores; see docs/performance.md).")
def eval_command(run_dir: str, target_dir: str | None, n: int, seed: int, batch: int,
                 truncation: float, lpips: str, clip: str, transform: str, fid_features: str,
                 out: str | None, device: str, plugins_dir: tuple[str, ...],
                 allow_changed_plugins: bool, threads: str) -> None:
    """Measure a finished run: diversity, target similarity, content preservation (and
    FID/KID with --target-dir); writes eval.json and prints a table."""
    from gan_adapt.io.run_status import require_finished

    require_finished(run_dir)  # before torch, plugins and models load: told at once
    from gan_adapt.api import public as api
    from gan_adapt.cli.commands import get_run_plugins, table_console
    from gan_adapt.recipe.threads import apply_threads

    apply_threads(threads)
    record = api.evaluate(run_dir, n=n, seed=seed, batch=batch, truncation=truncation,
                          target_dir=target_dir, lpips=lpips, clip=clip,
                          fid_features=fid_features, device=device, out=out,
                          transform=transform,
                          plugins=get_run_plugins(run_dir, plugins_dir,
                                                  allow_changed=allow_changed_plugins))
    console = table_console()
    title = f"{record['recipe']}: {n} samples, seed {seed}"
    if record.get("ideal"):
        title += f"; ideal = {record['ideal']['transform']}(G_s(z))"
    console.print(metrics_table(record, title))
    for line in _instrument_lines(record):
        console.print(f"  {line}")
    click.echo(f"wrote {out or (run_dir.rstrip('/') + '/eval.json')}")


@click.command("compare")
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(file_okay=False))
@click.option("--n", "n", type=click.IntRange(1, 64), default=6, show_default=True,
              help="Latents (columns) in the sheet.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the latents.")
@click.option("--truncation", type=float, default=0.7, show_default=True,
              help="Truncation psi of the latents.")
@click.option("--out", type=click.Path(dir_okay=False), default="compare.png", show_default=True,
              help="Output PNG of the sheet.")
@click.option("--interpolation", type=click.IntRange(0, 64), default=0, show_default=True,
              help="Also write an interpolation strip with this many steps between two "
                   "latents (OUT with -interp.png); 0: none.")
@click.option("--gif", is_flag=True, help="With --interpolation, also write an animated GIF.")
@device_option
@plugins_dir_option
@allow_changed_plugins_option
def compare_command(run_dirs: tuple[str, ...], n: int, seed: int, truncation: float, out: str,
                    interpolation: int, gif: bool, device: str,
                    plugins_dir: tuple[str, ...], allow_changed_plugins: bool) -> None:
    """One sheet: the same latents through the source and every run's adapted generator,
    labelled with each run's eval.json numbers."""
    from gan_adapt.cli.commands import get_run_plugins
    from gan_adapt.engine.build import resolve_device
    from gan_adapt.evaluation.compare import compare_runs

    plugin_set = get_run_plugins(run_dirs, plugins_dir, allow_changed=allow_changed_plugins)
    written = compare_runs(list(run_dirs), plugin_set, out=out, n=n, seed=seed,
                           truncation=truncation, interpolation=interpolation, gif=gif,
                           device=resolve_device(device))
    for path in written:
        click.echo(f"wrote {path}")


@click.command("report")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Output HTML (default RUN_DIR/report.html).")
@click.option("--max-grids", type=click.IntRange(1), default=8, show_default=True,
              help="At most this many sample grids over training (evenly spaced).")
def report_command(run_dir: str, out: str | None, max_grids: int) -> None:
    """Write one self-contained HTML page about a run: target, reference found, samples over
    training, loss curves, eval numbers, recipe."""
    from gan_adapt.evaluation.report import write_report

    click.echo(f"wrote {write_report(run_dir, out=out, max_grids=max_grids)}")


COMMANDS = (eval_command, compare_command, report_command)
