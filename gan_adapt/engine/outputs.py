"""Final outputs of a run: the adapted generator and the loss-curve plot."""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

import torch

from gan_adapt.errors import GanAdaptError
from gan_adapt.io import atomic_files as files


def save_adapted_generator(G: Any, out_dir: Path, w_ref: torch.Tensor | None = None
                           ) -> dict[str, str]:
    """Write the adapted generator into ``out_dir`` atomically (a temp folder, then a rename).

    StyleGAN2 generators are saved in gan-adapt's own format plus a rosinality-compatible
    ``.pt`` export; any other generator as a plain state dict. Returns the written files,
    relative to the run folder.
    """
    out_dir = Path(out_dir)
    tmp = Path(tempfile.mkdtemp(prefix=".generator-", dir=out_dir.parent))
    try:
        written = _write_generator(G, tmp, w_ref)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {key: f"{out_dir.name}/{name}" for key, name in written.items()}


def _write_generator(G: Any, folder: Path, w_ref: torch.Tensor | None) -> dict[str, str]:
    try:
        from gan_adapt.generators import StyleGAN2Generator, export_rosinality, save
    except ImportError:  # the generators plugin is not available: save a plain state dict
        StyleGAN2Generator = None
    written: dict[str, str] = {}
    if StyleGAN2Generator is not None and isinstance(G, StyleGAN2Generator):
        save(G, folder / "native")
        written["generator"] = "native"
        try:  # the rosinality layout cannot hold every generator (conditional, z_dim != w_dim)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # conv_clamp dropped: noted in the docs
                export_rosinality(G, folder / "rosinality.pt")
            written["generator_rosinality"] = "rosinality.pt"
        except GanAdaptError as exc:
            files.write_text(folder / "rosinality-export-skipped.txt", f"{exc}\n")
    else:
        files.torch_save(G.state_dict(), folder / "state_dict.pt")
        written["generator"] = "state_dict.pt"
    if w_ref is not None:
        files.torch_save(w_ref.detach().cpu(), folder / "w_ref.pt")
        written["w_ref"] = "w_ref.pt"
    return written


def plot_loss_curves(records: list[dict[str, Any]], path: Path) -> bool:
    """One panel per phase, one line per logged term. Returns False when nothing was logged."""
    series: dict[str, dict[str, tuple[list[int], list[float]]]] = {}
    for record in records:
        phase = record.get("phase", "?")
        for key, value in record.items():
            if key in ("phase", "step", "kind", "time") or not isinstance(value, (int, float)):
                continue
            xs, ys = series.setdefault(phase, {}).setdefault(key, ([], []))
            xs.append(int(record["step"]))
            ys.append(float(value))
    if not series:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(series), figsize=(6 * len(series), 4), squeeze=False)
    for ax, (phase, terms) in zip(axes[0], series.items()):
        for key, (xs, ys) in sorted(terms.items()):
            ax.plot(xs, ys, label=key, linewidth=1)
        ax.set_title(f"{phase} phase")
        ax.set_xlabel("step")
        ax.set_yscale("symlog", linthresh=1e-3)
        # Beside the panel, never over the curves (a legend inside hid the adaptation's).
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    fig.tight_layout()

    def write(handle: Any) -> None:
        fig.savefig(handle, format="png", dpi=100, bbox_inches="tight")

    files.atomic_write(path, write)
    plt.close(fig)
    return True
