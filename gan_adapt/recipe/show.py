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
from pydantic import BaseModel

from gan_adapt.recipe.key_paths import split_path
from gan_adapt.recipe.schema import ValidatedRecipe, _component_refs


def resolved_recipe(validated: ValidatedRecipe) -> dict[str, Any]:
    """The recipe as a plain dict with every default filled in (see the module doc)."""
    data = _dump(validated.recipe, validated.raw)
    for path, _kind, ref in _component_refs(validated.recipe):
        _node(data, path)["params"] = _dump(validated.params[path], ref.params)
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


def _dump(model: BaseModel, raw: Any) -> dict[str, Any]:
    """``model`` as plain data, None values left out; ``raw`` is the data it was validated from.

    TOML has no None. A field whose default is None gets it back when left out; a field that
    validated to None although its default is not (``pretrained = "none"``) would take its
    default instead (``"openai"``), so it keeps the value the recipe wrote, which validates to
    None again. Nested models (lists and tables of them) are treated alike.
    """
    data = model.model_dump(mode="json", by_alias=True, exclude_none=True)
    raw = raw if isinstance(raw, dict) else {}
    for name, field in type(model).model_fields.items():
        key, value = field.alias or name, getattr(model, name)
        written = raw.get(key)
        if value is None:
            if key in raw and field.get_default(call_default_factory=True) is not None:
                data[key] = written
        elif isinstance(value, BaseModel):
            data[key] = _dump(value, written)
        elif isinstance(value, (list, tuple)) and any(isinstance(v, BaseModel) for v in value):
            items = written if isinstance(written, list) else []
            data[key] = [_dump(v, items[i] if i < len(items) else None)
                         if isinstance(v, BaseModel) else data[key][i]
                         for i, v in enumerate(value)]
        elif isinstance(value, dict) and any(isinstance(v, BaseModel) for v in value.values()):
            tables = written if isinstance(written, dict) else {}
            data[key] = {k: _dump(v, tables.get(k)) if isinstance(v, BaseModel) else data[key][k]
                         for k, v in value.items() if v is not None}
    return data


def _one_line(text: str) -> str:
    """``text`` with every character that is not printable (a newline, a control character,
    a line separator) escaped, so that it cannot start a new line of the header."""
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in str(text))


def resolved_toml(validated: ValidatedRecipe) -> str:
    """:func:`resolved_recipe` as TOML text, with a header saying where it came from."""
    header = (f"# {_one_line(validated.source)}, resolved by `gan-adapt validate --show`: "
              "extends merged, "
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
