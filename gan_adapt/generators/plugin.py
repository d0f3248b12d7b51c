"""The default plugin that registers the StyleGAN2 generator and discriminator components (their
``sample`` / ``convert`` commands are in :mod:`gan_adapt.cli.generators`).

Importing it is cheap (pydantic, no torch): networks are only loaded when a recipe builds them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from gan_adapt.plugin_host.markers import hookimpl
from gan_adapt.recipe.parameter_groups import STYLEGAN2_GROUPS


def _checkpoint(value: str, ctx: Any) -> str | Path:
    """A recipe's checkpoint value: a shipped model's or model-zoo name (exactly), else a path
    relative to the recipe (see :func:`gan_adapt.generators.checkpoints.resolve`)."""
    from gan_adapt.generators.checkpoints import model_name_kind, warn_if_shadowed

    if model_name_kind(value) is not None:
        warn_if_shadowed(value, ctx.resolve_path(value))  # beside the recipe: not used
        return value
    return ctx.resolve_path(value)


class StyleGAN2GeneratorParams(BaseModel):
    """Parameters of the ``stylegan2`` generator component."""

    model_config = ConfigDict(extra="forbid")

    checkpoint: str = Field(description="checkpoint path (relative to the recipe), shipped "
                                        "model or model-zoo name, e.g. "
                                        "'portraits-stylegan2-32' or 'ffhq-1024'")
    which: Literal["g_ema", "g", "G_ema", "G"] = Field(
        "g_ema", description="the EMA generator (g_ema) or the training one (g)")


def stylegan2_generator(params: StyleGAN2GeneratorParams, ctx: Any) -> Any:
    """StyleGAN2 / StyleGAN2-ADA generator from a rosinality, NVlabs or gan-adapt checkpoint."""
    from gan_adapt.generators import load

    return load(_checkpoint(params.checkpoint, ctx), which=params.which, device=ctx.device)


def _zoo_weights(checkpoint: str, ctx: Any) -> list:
    """The model-zoo download a checkpoint value stands for (none for a local file)."""
    from gan_adapt.generators.checkpoints import model_name_kind
    from gan_adapt.weights import zoo

    entry = zoo.lookup(checkpoint)
    return [entry] if entry is not None and model_name_kind(checkpoint) == "zoo" else []


stylegan2_generator.Params = StyleGAN2GeneratorParams  # type: ignore[attr-defined]
# Every group a StyleGAN2 can have: lets `validate` catch a freeze typo before any build.
stylegan2_generator.parameter_group_names = STYLEGAN2_GROUPS  # type: ignore[attr-defined]
stylegan2_generator.required_weights = (  # type: ignore[attr-defined]
    lambda params, ctx: _zoo_weights(params.checkpoint, ctx))


class StyleGAN2DiscriminatorParams(BaseModel):
    """Parameters of the ``stylegan2`` discriminator component."""

    model_config = ConfigDict(extra="forbid")

    checkpoint: str = Field(description="checkpoint path (relative to the recipe), shipped "
                                        "model or model-zoo "
                                        "name; it must contain a discriminator")


def stylegan2_discriminator(params: StyleGAN2DiscriminatorParams, ctx: Any) -> Any:
    """StyleGAN2 discriminator (with named feature maps) from a full checkpoint."""
    from gan_adapt.generators import load_discriminator

    return load_discriminator(
        _checkpoint(params.checkpoint, ctx), device=ctx.device,
        reason="the recipe's [discriminator] section needs it for adversarial fine-tuning")


stylegan2_discriminator.required_weights = (  # type: ignore[attr-defined]
    lambda params, ctx: _zoo_weights(params.checkpoint, ctx))
stylegan2_discriminator.Params = StyleGAN2DiscriminatorParams  # type: ignore[attr-defined]


@hookimpl
def register_generators(register: Any) -> None:
    register("stylegan2", stylegan2_generator)


@hookimpl
def register_discriminators(register: Any) -> None:
    register("stylegan2", stylegan2_discriminator)

