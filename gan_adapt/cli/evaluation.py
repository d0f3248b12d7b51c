"""``gan-adapt eval``, ``gan-adapt compare`` and ``gan-adapt report`` (registered by
:mod:`gan_adapt.cli.plugin`).

torch is imported inside the commands, so listing commands stays fast.
"""

from __future__ import annotations

from typing import Any

import click

from gan_adapt.evaluation.metric_help import METRIC_HELP


def metrics_table(record: dict[str, Any], title: str) -> Any:
    """A rich table of an eval record's metrics."""
    from rich.table import Table

    table = Table("metric", "value", "meaning", title=title)
    for key, value in record["metrics"].items():
        shown = f"{value:d}" if isinstance(value, int) else f"{value:.4f}"
        table.add_row(key, shown, METRIC_HELP.get(key, ""))
    return table


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
              help="LPIPS: recipe (the recipe's lpips term), alex, vgg, squeeze, or "
                   "random-alex (test stand-in).")
@click.option("--clip", default="recipe", show_default=True,
              help="CLIP: recipe (the recipe's encoder), ARCH:TAG (e.g. ViT-B-32:openai), or "
                   "tiny (random test stand-in).")
@click.option("--fid-features", type=click.Choice(["inception", "clip"]), default="inception",
              show_default=True, help="Features of FID/KID: the standard Inception-v3, or the "
                                      "chosen CLIP's embeddings (FD_CLIP).")
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Where to write the JSON (default RUN_DIR/eval.json).")
@device_option
@plugins_dir_option
def eval_command(run_dir: str, target_dir: str | None, n: int, seed: int, batch: int,
                 truncation: float, lpips: str, clip: str, fid_features: str, out: str | None,
                 device: str, plugins_dir: tuple[str, ...]) -> None:
    """Measure a finished run: diversity, target similarity, content preservation (and
    FID/KID with --target-dir); writes eval.json and prints a table."""
    from rich.console import Console

    from gan_adapt.api import public as api
    from gan_adapt.cli.commands import get_run_plugins

    record = api.evaluate(run_dir, n=n, seed=seed, batch=batch, truncation=truncation,
                          target_dir=target_dir, lpips=lpips, clip=clip,
                          fid_features=fid_features, device=device, out=out,
                          plugins=get_run_plugins(run_dir, plugins_dir))
    console = Console()
    console.print(metrics_table(record, f"{record['recipe']}: {n} samples, seed {seed}"))
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
def compare_command(run_dirs: tuple[str, ...], n: int, seed: int, truncation: float, out: str,
                    interpolation: int, gif: bool, device: str,
                    plugins_dir: tuple[str, ...]) -> None:
    """One sheet: the same latents through the source and every run's adapted generator,
    labelled with each run's eval.json numbers."""
    from gan_adapt.cli.commands import get_run_plugins
    from gan_adapt.engine.build import resolve_device
    from gan_adapt.evaluation.compare import compare_runs

    written = compare_runs(list(run_dirs), get_run_plugins(run_dirs, plugins_dir), out=out, n=n, seed=seed,
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
