"""Old module paths that released plugins and scripts may import, mapped to their new homes.

``import gan_adapt.registry`` (or ``from gan_adapt.engine.context import Step``) still works: a
finder on :data:`sys.meta_path` imports the new module under the old name and warns with a
:class:`DeprecationWarning` naming the new path. Plugins should import from
:mod:`gan_adapt.plugin`, their one front door.

(rewrite-imports: skip-file: the old paths below are meant.)
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import warnings
from types import ModuleType

#: Old module path -> the module that holds its code now.
MOVED = {
    "gan_adapt.augment": "gan_adapt.encoders.augment",
    "gan_adapt.display": "gan_adapt.api.display",
    "gan_adapt.engine.compiling": "gan_adapt.generators.compiling",
    "gan_adapt.engine.context": "gan_adapt.plugin_host.context",
    "gan_adapt.engine.contracts": "gan_adapt.plugin_host.contracts",
    "gan_adapt.evaluation.commands": "gan_adapt.cli.evaluation",
    "gan_adapt.evaluation.known_transforms": "gan_adapt.synthetic_data.known_transforms",
    "gan_adapt.evaluation.test_split_transforms": "gan_adapt.synthetic_data.test_split_transforms",
    "gan_adapt.files": "gan_adapt.io.atomic_files",
    "gan_adapt.generators.cli": "gan_adapt.cli.generators",
    "gan_adapt.generators.safe_pickle": "gan_adapt.weights.safe_pickle",
    "gan_adapt.generators.zoo": "gan_adapt.weights.zoo",
    "gan_adapt.hookspecs": "gan_adapt.plugin_host.hookspecs",
    "gan_adapt.hub": "gan_adapt.weights.download",
    "gan_adapt.images": "gan_adapt.io.images",
    "gan_adapt.inversion": "gan_adapt.api.inversion",
    "gan_adapt.parameter_groups": "gan_adapt.recipe.parameter_groups",
    "gan_adapt.perceptual": "gan_adapt.encoders.perceptual",
    "gan_adapt.plugins": "gan_adapt.plugin_host.loading",
    "gan_adapt.precision": "gan_adapt.engine.precision",
    "gan_adapt.progress": "gan_adapt.engine.progress",
    "gan_adapt.recipe_limits": "gan_adapt.recipe.limits",
    "gan_adapt.recipe_show": "gan_adapt.recipe.show",
    "gan_adapt.recipe_warnings": "gan_adapt.recipe.warnings",
    "gan_adapt.reference_doc": "gan_adapt.recipe.reference_doc",
    "gan_adapt.registry": "gan_adapt.plugin_host.registry",
    "gan_adapt.run_plugins": "gan_adapt.plugin_host.provenance",
    "gan_adapt.safe_paths": "gan_adapt.io.safe_paths",
    "gan_adapt.sampling": "gan_adapt.engine.grid_latents",
    "gan_adapt.scaffold": "gan_adapt.cli.scaffold",
    "gan_adapt.schedule": "gan_adapt.recipe.schedule",
    "gan_adapt.shipped": "gan_adapt.weights.shipped",
    "gan_adapt.targets": "gan_adapt.recipe.targets",
    "gan_adapt.tracing": "gan_adapt.plugin_host.hook_tracing",
    "gan_adapt.training.portraits": "gan_adapt.synthetic_data.portraits",
    "gan_adapt.training.shapes": "gan_adapt.synthetic_data.shapes",
    "gan_adapt.weights_catalog": "gan_adapt.cli.weights_catalog",
    "gan_adapt.weights_manifest": "gan_adapt.weights.manifest",
}


class _Alias(importlib.abc.Loader):
    """Loads an old path as the new module itself (same objects, one module)."""

    def __init__(self, new: str) -> None:
        self.new = new

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return None

    def exec_module(self, module: ModuleType) -> None:
        name = module.__name__
        warnings.warn(f"{name} moved to {self.new}; import it from there (plugins: from "
                      f"gan_adapt.plugin)", DeprecationWarning, stacklevel=2)
        # The import system returns what sys.modules holds under the name once this returns.
        sys.modules[name] = importlib.import_module(self.new)


class _OldPaths(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path: object = None,
                  target: object = None) -> importlib.machinery.ModuleSpec | None:
        new = MOVED.get(fullname)
        if new is None:
            return None
        return importlib.machinery.ModuleSpec(fullname, _Alias(new))


def install() -> None:
    """Put the finder first on :data:`sys.meta_path` (once)."""
    if not any(isinstance(finder, _OldPaths) for finder in sys.meta_path):
        sys.meta_path.insert(0, _OldPaths())
