"""What the training scripts share (portrait_gan, portrait_clip, portrait_evaluator): the
command line, the warm-up + cosine learning rate, the atomic weights export and the figures
that ``--ship`` copies into docs/assets."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

#: Where ``--ship`` writes a shipped model's held-out figures and training log.
DOCS_ASSETS = Path(__file__).resolve().parents[2] / "docs" / "assets"


def parse_training_args(description: str, argv: list[str] | None) -> argparse.Namespace:
    """``--work --export --steps --threads --quick --ship``, checked; applies ``--threads``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--work", type=Path, required=True,
                        help="work folder: training state, log (resumed when present)")
    parser.add_argument("--export", type=Path, default=None, help="write the model here")
    parser.add_argument("--steps", type=int, default=None, help="override the step count")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (keep it the same across resumes)")
    parser.add_argument("--quick", action="store_true", help="tiny settings, a few steps")
    parser.add_argument("--ship", action="store_true",
                        help="also install the export as the shipped model (gan_adapt/assets, "
                             "sha256 in its manifest) and its log and figures in docs/assets")
    args = parser.parse_args(argv)
    if args.ship and (args.export is None or args.quick):
        parser.error("--ship needs --export and the full settings (not --quick)")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    return args


def cosine_lr(lr: float, warmup: int, steps: int, step: int) -> float:
    """Linear warm-up over ``warmup`` steps, then cosine decay to 0 at ``steps``."""
    if step <= warmup:
        return lr * step / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return lr * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


def save_safetensors(state: dict[str, Any], path: Path) -> Path:
    """``state`` as safetensors at ``path``, written to a temporary file first (atomic)."""
    from safetensors.torch import save_file

    tmp = path.with_name(path.name + ".tmp")
    save_file({k: v.detach().contiguous() for k, v in state.items()}, str(tmp))
    tmp.replace(path)
    return path


def ship_figures(name: str, heldout: dict, log: list[dict]) -> None:
    """docs/assets/<name>-heldout.json and <name>-log.jsonl of a shipped model."""
    from gan_adapt.io import atomic_files as files

    DOCS_ASSETS.mkdir(parents=True, exist_ok=True)
    files.write_json(DOCS_ASSETS / f"{name}-heldout.json", heldout)
    files.write_text(DOCS_ASSETS / f"{name}-log.jsonl", "".join(json.dumps(r) + "\n" for r in log))
