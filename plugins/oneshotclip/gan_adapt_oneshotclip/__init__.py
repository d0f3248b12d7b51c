"""OneShotCLIP for gan-adapt (Kwon & Ye, "One-Shot Adaptation of GAN in Just One CLIP").

The method's terms, registered through the ``gan_adapt`` entry point by :mod:`.plugin`:

* search objective ``clip_image_distance``: 1 - cos(E(target), E(aug(G_s(w)))) over K copies;
* search objective ``clip_text_distance``: 1 - cos(T(text), E(aug(G_s(w)))), the text mode;
* loss ``clip_consistency``: sample-wise similarity consistency L_con between G_s and G_t;
* loss ``patch_nce``: patch-wise CLIP InfoNCE L_patch;
* loss ``patch_adversarial``: the patch discriminator head on an intermediate D feature map.
"""

__version__ = "0.1.0"
