"""Terms on the tokens of a ViT encoder (a CLIP's or DINO's vision tower).

Registered through the ``gan_adapt`` entry point by :mod:`.plugin`. Two terms are the papers'
own; two adapt their ideas to other features and say where they depart:

* ``key_self_similarity`` (search objective and loss; :mod:`.key_self_similarity`): Splice's
  structure descriptor (Tumanyan, Bar-Tal, Bagon & Dekel, "Splicing ViT Features for Semantic
  Appearance Transfer", CVPR 2022): the cosine self-similarity of the last block's attention
  keys, class token included, heads concatenated; the loss is the mean squared difference of
  two such matrices. Splice uses DINO ViT-B/8 at 224 px; on the shipped portraits CLIP the keys
  of its last block are the analogue. In the search it compares G_s(w) with the target image,
  in the adaptation G_t(w) with G_s(w).
* ``difa_attentive_style`` (loss; :mod:`.difa_style`): DiFa's attentive style loss (Zhang, Yao,
  Wei, Ji, Bai & Zuo, "Towards Diverse and Faithful One-shot Adaption of Generative Adversarial
  Networks", NeurIPS 2022): a relaxed earth-mover's distance (cost 1 - cos, nearest match in
  both directions, the larger mean) between G_t(w)'s tokens after block 4 and the target's,
  class token dropped; no temperature, no G_s(w), no G_s(w_ref), no positions.
* ``token_self_similarity`` (search objective and loss; old name ``self_similarity``;
  :mod:`.self_similarity`): the same structure distance on token maps, by default the patch
  embedding and the residual stream after block 2, without the class token - Splice's idea on
  other features, not its descriptor.
* ``token_analogy`` (loss; old name ``attentive_style``; :mod:`.token_analogy`): the searched
  pair G_s(w_ref) -> target applied token by token: each token of G_s(w) attends (softmax over
  cosines / temperature) over G_s(w_ref)'s, and G_t(w)'s token is pulled to the same mixture of
  the target's tokens. Not DiFa's loss, though first shipped under its name.

:mod:`.token_maps` extracts token maps and :mod:`.attention_keys` attention keys from open_clip
and timm vision transformers; :mod:`.structure` is the structure distance both self-similarity
terms share.
"""

__version__ = "0.1.0"
