"""The fully resolved recipe as TOML: what ``gan-adapt validate --show`` prints.

``extends`` merged, ``--set`` applied, every section's and every component's parameters with
their defaults filled in: what will actually run, in one file. The output is itself a valid
recipe that runs the same: relative paths (the target, local checkpoints) are printed absolute,
since the printed recipe may be saved anywhere; values TOML cannot spell (None) are left out,
which gives them their default again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import tomli_w

from gan_adapt.recipe.schema import ValidatedRecipe, _component_refs
from gan_adapt.recipe.key_paths import split_path


def resolved_recipe(validated: ValidatedRecipe) -> dict[str, Any]:
    """The recipe as a plain dict with every default filled in (see the module doc)."""
    data = validated.recipe.model_dump(mode="json", by_alias=True, exclude_none=True)
    for path, _kind, _ref in _component_refs(validated.recipe):
        params = validated.params[path].model_dump(mode="json", by_alias=True,
                                                   exclude_none=True)
        _node(data, path)["params"] = params
    base = validated.base_dir
    for key in ("image", "images"):
        if key in data["target"]:
            data["target"][key] = _absolute(data["target"][key], base, must_exist=False)
    for path, _kind, _ref in _component_refs(validated.recipe):
        params = _node(data, path)["params"]
        for name, value in params.items():
            if isinstance(value, str):
                params[name] = _absolute(value, base, must_exist=True)
    return _drop_none(data)


def resolved_toml(validated: ValidatedRecipe) -> str:
    """:func:`resolved_recipe` as TOML text, with a header saying where it came from."""
    header = (f"# {validated.source}, resolved by `gan-adapt validate --show`: extends merged, "
              "--set applied,\n# every default filled in, relative paths made absolute. This "
              "file is itself a recipe.\n")
    return header + tomli_w.dumps(resolved_recipe(validated), multiline_strings=False)


def _node(data: dict[str, Any], path: str) -> dict[str, Any]:
    node: Any = data
    for part in split_path(path):
        node = node[part]
    return node


def _absolute(value: str, base: Path, *, must_exist: bool) -> str:
    """``value`` made absolute against the recipe's folder, if it is a relative path there.

    A component's string parameter is a path only when that file exists (a checkpoint value is
    a local file first, a model-zoo name otherwise): others (names, modes) are left alone.
    """
    try:
        path = Path(value).expanduser()
        if path.is_absolute() or not value:
            return value
        candidate = base / path
        if must_exist and not candidate.exists():
            return value
        return str(candidate.resolve())
    except (OSError, ValueError, RuntimeError):
        return value


def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value]
    return value
