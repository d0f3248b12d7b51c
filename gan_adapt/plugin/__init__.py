"""The one front door for plugin authors: everything a plugin imports from gan-adapt.

::

    from gan_adapt.plugin import BuildContext, GanAdaptError, Step, hookimpl, lazy

    @hookimpl
    def register_losses(register):
        register("my_loss", lazy("my_plugin.loss:MyLoss"))

and, in the plugin's tests, the contracts the engine enforces::

    from gan_adapt.plugin import check_term, make_context, make_step

The names are imported on first use (so a plugin module that imports ``hookimpl`` stays cheap,
without torch); they are the same objects as in the modules listed in :data:`EXPORTS`. See
docs/plugins.md.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

#: Name -> the module that defines it.
EXPORTS: dict[str, str] = {
    # Registering components and commands
    "hookimpl": "gan_adapt.plugin_host.markers",
    "lazy": "gan_adapt.plugin_host.registry",
    # What a component receives: the build context (``Term(params, ctx)``) and the step
    "BuildContext": "gan_adapt.plugin_host.context",
    "Step": "gan_adapt.plugin_host.context",
    "TargetData": "gan_adapt.plugin_host.context",
    # Errors: raise one of these for a user's mistake (one line, no traceback)
    "GanAdaptError": "gan_adapt.errors",
    "RecipeError": "gan_adapt.errors",
    "PluginError": "gan_adapt.errors",
    "InputError": "gan_adapt.errors",
    "DamagedRecordError": "gan_adapt.errors",
    "CheckpointError": "gan_adapt.errors",
    "UnsafeFileError": "gan_adapt.errors",
    "OutOfMemory": "gan_adapt.errors",
    "WeightsUnavailableError": "gan_adapt.errors",
    "WeightsMismatchError": "gan_adapt.errors",
    "TrainingDiverged": "gan_adapt.errors",
    # The contracts to test against (the plugin author's test kit, gan_adapt.testing)
    "check_term": "gan_adapt.testing",
    "check_encoder": "gan_adapt.testing",
    "make_context": "gan_adapt.testing",
    "make_step": "gan_adapt.testing",
    "tiny_generator": "gan_adapt.testing",
    "tiny_discriminator": "gan_adapt.testing",
    "tiny_encoder": "gan_adapt.testing",
    "target_image": "gan_adapt.testing",
    "run_recipe": "gan_adapt.testing",
    "load_plugins": "gan_adapt.plugin_host.loading",
    # Encoders: the interface, a base class and the helpers of the built-in ones
    "ImageEncoder": "gan_adapt.encoders.base",
    "EncoderBase": "gan_adapt.encoders.base",
    "crop_patches": "gan_adapt.encoders.base",
    "random_boxes": "gan_adapt.encoders.base",
    "freeze_module": "gan_adapt.encoders.base:freeze",
    "PromptTemplates": "gan_adapt.encoders.templates",
    "mean_prompt_embedding": "gan_adapt.encoders.prompts",
    "prompt_direction": "gan_adapt.encoders.prompts",
    "CLIPAugment": "gan_adapt.encoders.augment",
    "LPIPSDistance": "gan_adapt.encoders.perceptual",
    "perceptual_distance": "gan_adapt.encoders.perceptual",
    # Losses to build on
    "LPIPS": "gan_adapt.losses.reconstruction",
    "LPIPSParams": "gan_adapt.losses.params",
    "off_diagonal": "gan_adapt.losses.similarity",
    # For a plugin's own commands: generators, images, recipes and run folders
    "load_generator": "gan_adapt.generators.checkpoints:load",
    "load_image": "gan_adapt.io.images",
    "save_grid": "gan_adapt.io.images",
    "read_toml": "gan_adapt.recipe.schema",
    "validate": "gan_adapt.recipe.schema",
    "require_run_folder": "gan_adapt.engine.run_folder",
    "resolve_device": "gan_adapt.engine.build",
    "get_run_plugins": "gan_adapt.cli.commands",
    "load_run": "gan_adapt.api.public",  # a finished run folder (the public API's Run)
    "write_json": "gan_adapt.io.atomic_files",
    "write_text": "gan_adapt.io.atomic_files",
    "write_bytes": "gan_adapt.io.atomic_files",
    # Pretrained weights a component needs: declared (the preflight fetches them), then found
    "KnownWeights": "gan_adapt.weights.download",
    "ensure_weights": "gan_adapt.weights.download:ensure",
}

__all__ = sorted(EXPORTS)

if TYPE_CHECKING:  # the same names, for type checkers and import contracts
    from gan_adapt.cli.commands import get_run_plugins
    from gan_adapt.encoders.augment import CLIPAugment
    from gan_adapt.encoders.base import EncoderBase, ImageEncoder, crop_patches, random_boxes
    from gan_adapt.encoders.base import freeze as freeze_module
    from gan_adapt.encoders.perceptual import LPIPSDistance, perceptual_distance
    from gan_adapt.encoders.prompts import mean_prompt_embedding, prompt_direction
    from gan_adapt.encoders.templates import PromptTemplates
    from gan_adapt.engine.build import resolve_device
    from gan_adapt.engine.run_folder import require_run_folder
    from gan_adapt.errors import (
        CheckpointError,
        DamagedRecordError,
        GanAdaptError,
        InputError,
        OutOfMemory,
        PluginError,
        RecipeError,
        TrainingDiverged,
        UnsafeFileError,
        WeightsMismatchError,
        WeightsUnavailableError,
    )
    from gan_adapt.generators.checkpoints import load as load_generator
    from gan_adapt.io.atomic_files import write_bytes, write_json, write_text
    from gan_adapt.io.images import load_image, save_grid
    from gan_adapt.losses.params import LPIPSParams
    from gan_adapt.losses.reconstruction import LPIPS
    from gan_adapt.losses.similarity import off_diagonal
    from gan_adapt.plugin_host.context import BuildContext, Step, TargetData
    from gan_adapt.plugin_host.loading import load_plugins
    from gan_adapt.plugin_host.markers import hookimpl
    from gan_adapt.plugin_host.registry import lazy
    from gan_adapt.recipe.schema import read_toml, validate
    from gan_adapt.testing import (
        check_encoder,
        check_term,
        make_context,
        make_step,
        run_recipe,
        target_image,
        tiny_discriminator,
        tiny_encoder,
        tiny_generator,
    )
    from gan_adapt.weights.download import KnownWeights
    from gan_adapt.weights.download import ensure as ensure_weights


def __getattr__(name: str) -> Any:
    """Re-export ``name`` from the module :data:`EXPORTS` names, imported on first use."""
    where = EXPORTS.get(name)
    if where is None:
        raise AttributeError(f"module 'gan_adapt.plugin' has no attribute {name!r}")
    module, _, attribute = where.partition(":")
    value = getattr(importlib.import_module(module), attribute or name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(EXPORTS))
