"""Mind the Gap for gan-adapt (Zhu, Abdal, Qin, Femiani & Wonka, "Mind the Gap: Domain Gap
Control for Single Shot Domain Adaptation for Generative Adversarial Networks", ICLR 2022).

Registered through the ``gan_adapt`` entry point by :mod:`.plugin`:

* search objective ``pnorm_l2``: II2S's prior on W+ codes (squared norm in the PCA-whitened P
  space); with ``mse`` and ``lpips`` it makes the search a pixel-space inversion of the target;
* loss ``clip_within_domain``: each sample keeps, in the target domain, its CLIP offset from the
  reference that it had in the source domain;
* losses ``reference_clip``, ``reference_l2``, ``reference_lpips``: G_t(w_ref) must reproduce the
  target image (CLIP cosine, squared error and LPIPS).

The across-domain term is the NADA plugin's ``clip_directional`` with ``direction = "reference"``.
"""

__version__ = "0.1.0"
