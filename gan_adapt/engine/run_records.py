"""Reading a run folder's own files, checked: one place, one kind of message.

A run folder may have been copied, edited by hand, cut by a full disk or come from someone
else. Every command that reads one (``report``, ``compare``, ``eval``, ``run --resume``) reads
its records through this module, which checks each file's size, encoding, JSON syntax, nesting
and fields before anyone uses a value, and refuses a damaged file with one line naming the file
and what is wrong::

    runs/x/eval.json is damaged: metrics.fid: Input should be a valid number (got 'low')

The fields each file must have are the :class:`pydantic.BaseModel` classes below; fields they
do not name are kept as they are (a newer gan-adapt may write more).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gan_adapt.errors import CheckpointError, InputError

#: A record is a few kilobytes; anything far larger is not one (and is not read into memory).
MAX_RECORD_BYTES = 16 * 2 ** 20


class _Record(BaseModel):
    model_config = ConfigDict(extra="allow")


class RunMeta(_Record):
    """``run.json``: the values that readers build paths and devices from (the others, such
    as ``status``, are only compared or shown)."""

    base_dir: str | None = None
    device: str | None = None


class ResultRecord(_Record):
    """``result.json`` of a finished run: its outputs, relative to the run folder."""

    outputs: dict[str, str]


class EvalRecord(_Record):
    """``eval.json``: metric values, how they were measured, with what."""

    metrics: dict[str, float | int | None]
    settings: dict[str, Any] = Field(default_factory=dict)
    instruments: dict[str, dict[str, Any]] = Field(default_factory=dict)


def damaged(path: Path, what: str) -> InputError:
    """The one-line error of a damaged run-folder file."""
    from gan_adapt.io.json_files import damaged as damaged_file

    return damaged_file(path, what)  # type: ignore[return-value]


def read_json(path: str | Path, *, required: bool = True, expect: type | None = None) -> Any:
    """The JSON value in ``path`` (of type ``expect``), read by the one bounded reader (see
    :mod:`gan_adapt.io.json_files`: regular files only, opened without blocking); None when absent
    and optional. A link that leads out of the record's folder is refused, never read."""
    from gan_adapt.io.json_files import read_json as read_bounded
    from gan_adapt.io.safe_paths import is_within

    path = Path(path)
    if path.is_symlink() and not is_within(path.parent, path):
        raise InputError(f"{path} is a link that leads outside its folder; it is not read")
    return read_bounded(path, required=required, expect=expect, what="record of a run",
                        max_bytes=MAX_RECORD_BYTES)


def read_record(path: str | Path, model: type[BaseModel], *,
                required: bool = True) -> dict[str, Any] | None:
    """``path`` checked against ``model``: the whole JSON object (unknown keys kept)."""
    from gan_adapt.recipe.schema import pydantic_problems

    path = Path(path)
    data = read_json(path, required=required, expect=dict)
    if data is None and not required:
        return None
    try:
        model.model_validate(data)
    except ValidationError as exc:
        raise damaged(path, "; ".join(pydantic_problems(exc, model)[:3])) from None
    return data


def read_json_object(path: str | Path) -> dict[str, Any] | None:
    """An optional record holding one JSON object, whatever its values; None when absent."""
    path = Path(path)
    return read_json(path, required=False, expect=dict)


def read_mapping(path: str | Path, *, numbers: bool = False) -> dict[str, Any] | None:
    """An optional file holding one JSON object (``metrics.json``, ``environment.json``);
    with ``numbers`` its values must be numbers (or null)."""
    path = Path(path)
    data = read_json(path, required=False, expect=dict)
    if data is None:
        return None
    if numbers:
        for key, value in data.items():
            if value is not None and (isinstance(value, bool)
                                      or not isinstance(value, (int, float))):
                raise damaged(path, f"{key}: expected a number, found {value!r:.40}")
    return data


def read_meta(root: Path) -> dict[str, Any]:
    """``run.json`` of the run folder ``root``."""
    meta = root / "run.json"
    if not meta.exists() and not meta.is_symlink():
        raise InputError(f"{root} is not a gan-adapt run folder (no run.json)")
    return read_record(meta, RunMeta)  # type: ignore[return-value]


def read_outputs(root: Path) -> dict[str, str]:
    """The ``outputs`` of ``result.json``; each must be a path inside the run folder."""
    path = root / "result.json"
    outputs = read_record(path, ResultRecord)["outputs"]  # type: ignore[index]
    from gan_adapt.io.safe_paths import record_path

    for key, relative in outputs.items():
        if record_path(root, relative) is None:  # absolute, escaping, linked out, a NUL byte
            raise damaged(path, f"outputs.{key}: {relative!r} is outside the run folder (or "
                                "not a plain relative path)")
    return outputs


def read_eval(root: Path) -> dict[str, Any] | None:
    """``eval.json`` of the run folder, or None when the run was not evaluated."""
    return read_record(root / "eval.json", EvalRecord, required=False)


# ---------------------------------------------------------------------------------------------
# The latent search's result


def check_w_ref(w_ref: Any, generator: Any, path: Path) -> None:
    """``w_ref`` must be a finite ``[1, num_ws, w_dim]`` float tensor of ``generator``."""
    import torch

    if not isinstance(w_ref, torch.Tensor) or not w_ref.is_floating_point():
        raise CheckpointError(f"{path} is damaged: w_ref is not a float tensor")
    expected = (1, int(generator.num_ws), int(generator.w_dim))
    if tuple(w_ref.shape) != expected:
        raise CheckpointError(f"{path} is damaged: w_ref has shape {list(w_ref.shape)}, but this "
                              f"run's generator needs {list(expected)}")
    if not bool(torch.isfinite(w_ref).all()):
        raise CheckpointError(f"{path} is damaged: w_ref holds NaN or infinite values")


def check_rng_state(rng: Any, path: Path) -> None:
    """The random-number-generator record a run writes (torch and Python states)."""
    import torch

    ok = (isinstance(rng, dict) and isinstance(rng.get("torch"), torch.Tensor)
          and rng["torch"].dtype == torch.uint8
          and rng["torch"].shape == torch.get_rng_state().shape
          and isinstance(rng.get("python"), (tuple, list)) and len(rng["python"]) == 3)
    if ok:
        version, internal, gauss = rng["python"]
        ok = isinstance(version, int) and isinstance(internal, (tuple, list)) and \
            len(internal) == 625 and all(isinstance(v, int) for v in internal)
    if not ok:
        raise CheckpointError(f"{path} is damaged: its random-number-generator state is not "
                              "the one a run writes")


def check_search_state(saved: Any, generator: Any, path: Path) -> None:
    """``search/w_ref.pt`` as read: the searched latent (checked against the generator) and
    the RNG state."""
    if not isinstance(saved, dict) or "w_ref" not in saved or "rng" not in saved:
        raise CheckpointError(f"{path} is damaged: expected the w_ref and rng entries a run "
                              "writes")
    check_w_ref(saved["w_ref"], generator, path)
    check_rng_state(saved["rng"], path)
