"""Terms on the spatial tokens of a ViT encoder (a CLIP's or DINO's vision tower).

Registered through the ``gan_adapt`` entry point by :mod:`.plugin`:

* search objective and loss ``self_similarity``: the distance between two images' *structure*,
  the matrices of cosine similarities between every pair of their token positions (Tumanyan,
  Bar-Tal, Bagon & Dekel, "Splicing ViT Features for Semantic Appearance Transfer", CVPR 2022).
  Appearance (colours, strokes, texture) changes a token but barely its similarity to the
  other tokens of the same image, so in the search it finds the source latent whose *content*
  is the target's even when the target's domain is far from the source's (an inverted or
  sketched face), and in the adaptation it keeps G_t(w)'s layout that of G_s(w);
* loss ``attentive_style``: every token of G_t(w) should become what the target image has where
  G_s(w_ref) has the most similar token to G_s(w)'s (Zhang, Yao, Wei, Ji, Bai & Zuo, "Towards
  Diverse and Faithful One-shot Adaption of Generative Adversarial Networks", NeurIPS 2022):
  the reference pair G_s(w_ref) -> target, read as a local analogy and applied to every sample.

:mod:`.token_maps` extracts the token maps from open_clip and timm vision transformers.
"""

__version__ = "0.1.0"
