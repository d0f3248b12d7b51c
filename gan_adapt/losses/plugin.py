"""Default plugin: generic reconstruction, latent and adversarial terms.

Registered lazily (:func:`gan_adapt.plugin_host.registry.lazy`): validating a recipe imports only
the torch-free params models of :mod:`gan_adapt.losses.params`; a term's module is imported when a
run builds it.
"""

from __future__ import annotations

from typing import Any

from gan_adapt.losses import params as p
from gan_adapt.plugin_host.markers import hookimpl
from gan_adapt.plugin_host.registry import lazy

_MSE = "gan_adapt.losses.reconstruction:MSE"
_LPIPS = "gan_adapt.losses.reconstruction:LPIPS"


@hookimpl
def register_search_objectives(register: Any) -> None:
    register("mse", lazy(_MSE, p.MSEParams))
    register("lpips", lazy(_LPIPS, p.LPIPSParams))
    register("latent_l2", lazy("gan_adapt.losses.latent:LatentL2", p.LatentL2Params))


@hookimpl
def register_losses(register: Any) -> None:
    register("mse", lazy(_MSE, p.MSEParams))
    register("lpips", lazy(_LPIPS, p.LPIPSParams))
    register("adversarial", lazy("gan_adapt.losses.adversarial:Adversarial",
                                 p.AdversarialParams, needs_discriminator=True))
    register("patch_adversarial", lazy("gan_adapt.losses.adversarial:PatchAdversarial",
                                       p.PatchAdversarialParams, needs_discriminator=True))
