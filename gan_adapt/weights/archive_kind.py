"""Is a weights file a TorchScript archive? The check, without reading any of its code.

A TorchScript archive is a zip whose entries include ``*/constants.pkl`` or ``*/code/``; given
to ``torch.load`` it is handed on to ``torch.jit.load``, which runs the archive's code. Plain
checkpoint readers refuse such files with :func:`refuse_script_archive`; the encoders' reader
(:mod:`gan_adapt.weights.script_archive`) reads their tensors as data instead.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from gan_adapt.errors import UnsafeFileError


def is_script_archive(path: str | Path) -> bool:
    """True when ``path`` is a zip holding a TorchScript archive (``*/constants.pkl`` or
    ``*/code/`` entries)."""
    try:
        if not zipfile.is_zipfile(path):
            return False
        with zipfile.ZipFile(path) as archive:
            return any(name.endswith("/constants.pkl") or "/code/__torch__" in name
                       for name in archive.namelist())
    except (OSError, zipfile.BadZipFile, ValueError):
        return False


def refuse_script_archive(path: str | Path, what: str) -> None:
    """Raise UnsafeFileError when ``path`` is a TorchScript archive given where a plain
    checkpoint belongs (``torch.load`` would hand it to ``torch.jit.load``)."""
    if is_script_archive(path):
        raise UnsafeFileError(
            f"Refused to load {what}: it is a TorchScript archive, which holds code that "
            "torch.jit.load would run. gan-adapt never runs code from weights files, and "
            "nothing from this file was executed. Save the network's state_dict with "
            "torch.save (or as .safetensors) and load that.")
