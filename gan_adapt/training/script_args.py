"""The command line both training scripts share (portrait_gan, portrait_clip)."""

from __future__ import annotations

import argparse
from pathlib import Path


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
