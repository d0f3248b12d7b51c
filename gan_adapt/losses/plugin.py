"""Default plugin: generic reconstruction, latent and adversarial terms."""

from __future__ import annotations

from typing import Any

from gan_adapt import hookimpl


@hookimpl
def register_search_objectives(register: Any) -> None:
    from gan_adapt.losses.latent import LatentL2
    from gan_adapt.losses.reconstruction import LPIPS, MSE

    register("mse", MSE)
    register("lpips", LPIPS)
    register("latent_l2", LatentL2)


@hookimpl
def register_losses(register: Any) -> None:
    from gan_adapt.losses.adversarial import Adversarial, PatchAdversarial
    from gan_adapt.losses.reconstruction import LPIPS, MSE

    register("mse", MSE)
    register("lpips", LPIPS)
    register("adversarial", Adversarial)
    register("patch_adversarial", PatchAdversarial)
