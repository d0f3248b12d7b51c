"""A minimal StyleGAN2 trainer and the procedural image set it is shown on.

This is not a replacement for the official training code: it exists so that the quality
benchmark (``benchmarks/quality.py``) has a *pretrained* source generator whose domain is known
exactly and can be regenerated anywhere, without downloading anything.

* :mod:`gan_adapt.synthetic_data.shapes`: seeded images of coloured shapes on colour gradients;
* :mod:`gan_adapt.training.trainer`: non-saturating GAN loss, lazy R1, style mixing, EMA.
"""
