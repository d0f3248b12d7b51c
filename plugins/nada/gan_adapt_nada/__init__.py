"""StyleGAN-NADA for gan-adapt (Gal et al., "StyleGAN-NADA: CLIP-Guided Domain Adaptation of
Image Generators", SIGGRAPH 2022).

Registered through the ``gan_adapt`` entry point by :mod:`.plugin`:

* loss ``clip_directional``: 1 - cos(E(G_t(w)) - E(G_s(w)), d), with the domain direction ``d``
  taken from two texts, from target images against source samples, or from the target image
  against G_s(w_ref) (Mind the Gap's across-domain term); averaged over the members of a CLIP
  ensemble; optionally training only the k layers chosen by NADA's adaptive layer selection.

:mod:`.clip_space` holds the CLIP-space helpers other plugins build on (Mind the Gap's
within-domain term uses them).
"""

__version__ = "0.1.0"
