"""What each metric of ``eval.json`` means, for the printed table and the report."""

from __future__ import annotations

#: What each metric means, for the printed table and the report (higher/lower is better).
METRIC_HELP: dict[str, str] = {
    "diversity_lpips": "mean LPIPS between adapted samples (higher: more diverse)",
    "diversity_lpips_source": "the same for the source generator (reference)",
    "target_clip_image": "CLIP cosine, adapted samples vs target image(s) (higher: closer)",
    "target_clip_text": "CLIP cosine, adapted samples vs target text (higher: closer)",
    "target_clip_image_source": "the same for the source samples: the value before adaptation",
    "target_clip_text_source": "the same for the source samples: the value before adaptation",
    "attribute_preservation": "fraction of samples keeping hair style, expression and eyewear "
                              "(mean of the three; higher: content kept)",
    "attribute_preservation_hair_style": "fraction keeping the source sample's hair style",
    "attribute_preservation_expression": "fraction keeping the source sample's expression",
    "attribute_preservation_eyewear": "fraction keeping the source sample's eyewear",
    "content_lpips": "LPIPS between G_s(z) and G_t(z) (lower: content kept)",
    "content_clip": "CLIP cosine between G_s(z) and G_t(z) (higher: content kept)",
    "fidelity_lpips": "LPIPS between G_t(z) and the ideal T(G_s(z)) (lower: better)",
    "fidelity_l1": "L1 between G_t(z) and the ideal T(G_s(z)) (lower: better)",
    "fidelity_lpips_source": "the same for the source samples: the value before adaptation",
    "fidelity_l1_source": "the same for the source samples: the value before adaptation",
    "fid": "Frechet distance to the real target images (lower: better)",
    "kid": "kernel distance (MMD^2) to the real target images (lower: better)",
    "kid_std": "standard deviation of KID over subsets",
    "n_real": "number of real target images",
}
