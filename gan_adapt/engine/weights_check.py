"""Before anything is built: are all the pretrained weights a recipe needs on disk?

A component factory may declare ``required_weights(params, ctx) -> list[KnownWeights]``. The
engine asks every component of a recipe, then makes sure each file is in the cache: online it
downloads the missing ones; offline (or when downloads fail) it raises ONE error that lists every
missing file with its URL, the exact path to place it at and the sha256 it will be checked against
(or "recorded on first download" where no hash is known here), instead of stopping at the first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gan_adapt.errors import GanAdaptError, WeightsUnavailableError
from gan_adapt.recipe.schema import ValidatedRecipe, _component_refs
from gan_adapt.weights.download import KnownWeights, ensure, offline


class MissingWeightsError(GanAdaptError):
    """Several pretrained weight files are missing; the message lists each one."""

    def __init__(self, missing: list[tuple[str, KnownWeights, str]]) -> None:
        self.missing = missing
        lines = [f"{len(missing)} pretrained weight file(s) are missing"
                 f"{' (offline mode)' if offline() else ''}. Download each and place it at "
                 "the path shown (or point the recipe at local files):"]
        for where, weights, reason in missing:
            lines.append(f"  - {weights.name} (needed by {where})\n"
                         f"      from: {weights.url}\n      to:   {weights.cache_path}\n"
                         f"      {weights.expected().describe()}"
                         + (f"\n      ({reason})" if reason else ""))
        super().__init__("\n".join(lines))


class _PathContext:
    """The part of BuildContext that ``required_weights`` may use."""

    def __init__(self, base_dir: Path) -> None:
        self.base_dir = base_dir

    def resolve_path(self, path: str | Path) -> Path:
        path = Path(path).expanduser()
        return path if path.is_absolute() else self.base_dir / path


def required_weights(validated: ValidatedRecipe, plugin_set: Any
                     ) -> list[tuple[str, KnownWeights]]:
    """(TOML path, weights) for every file the recipe's components declare, once per file."""
    ctx = _PathContext(validated.base_dir)
    seen: set[Path] = set()
    needed = []
    for path, kind, ref in _component_refs(validated.recipe):
        component = plugin_set.registry.get(kind, ref.name)
        declare = getattr(component.factory, "required_weights", None)
        if declare is None:
            continue
        for weights in declare(validated.params[path], ctx):
            if weights.cache_path not in seen:
                seen.add(weights.cache_path)
                needed.append((path, weights))
    return needed


def ensure_weights(validated: ValidatedRecipe, plugin_set: Any) -> None:
    """Download what is missing (online); raise MissingWeightsError listing every failure."""
    missing = []
    for where, weights in required_weights(validated, plugin_set):
        if weights.cache_path.is_file():
            continue
        if offline():
            missing.append((where, weights, ""))
            continue
        try:
            ensure(weights)
        except WeightsUnavailableError as exc:
            missing.append((where, weights, exc.reason))
    if missing:
        raise MissingWeightsError(missing)
