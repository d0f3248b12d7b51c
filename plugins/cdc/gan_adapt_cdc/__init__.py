"""Few-shot cross-domain correspondence for gan-adapt (Ojha, Li, Lu, Efros, Lee, Shechtman &
Zhang, "Few-shot Image Generation via Cross-domain Correspondence", CVPR 2021).

Registered through the ``gan_adapt`` entry point by :mod:`.plugin`:

* loss ``cdc_consistency``: the KL divergence between the softmaxed pairwise similarities of
  intermediate generator features, source against adapted, for a batch of shared latents.

The method's other half needs no code of its own: the image-level ``adversarial`` loss on
latents drawn near a few fixed anchors (a step kind with ``latents = "anchors"``) and the
``patch_adversarial`` loss on every other latent (see ``recipes/cdc-10shot.toml``).
"""

__version__ = "0.1.0"
