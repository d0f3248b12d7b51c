"""Attribute preservation: does G_t(z) keep the content attributes of G_s(z)?

Where the instruments include a CLIP trained on the procedural portraits (the shipped
``portraits-clip``), attributes can be read off any image zero-shot, in any known domain: first the
image's domain (the best of :func:`~gan_adapt.synthetic_data.portraits.domain_prompts`), then each
attribute with prompts in that domain's words ("a pencil sketch of a smiling face"). An adapted
sample *preserves* an attribute when the value read from it equals the value read from its source
sample (same z), so classifier errors that hit both alike do not count.

``attribute_preservation`` is the mean over the content attributes (hair style, expression,
eyewear: what a change of drawing style must keep); colours are left out because a sketch, a
negative or a posterised print legitimately changes them. Each content attribute's own fraction
is reported beside it.
"""

from __future__ import annotations

import torch
from torch import Tensor

from gan_adapt.synthetic_data.portraits import (
    ATTRIBUTES,
    CONTENT_ATTRIBUTES,
    DOMAINS,
    attribute_prompts,
    domain_prompts,
)

#: Shipped CLIP models trained on the portraits' captions (their prompts are meaningful).
PORTRAIT_CLIPS = ("portraits-clip",)


def can_classify(encoder: object) -> bool:
    """True when ``encoder`` is a CLIP trained on the portraits' captions."""
    name = str(getattr(encoder, "name", ""))
    return name.removeprefix("clip:") in PORTRAIT_CLIPS


class AttributeClassifier:
    """Zero-shot domain and attribute classification of portraits with a trained CLIP."""

    def __init__(self, encoder: object) -> None:
        self.encoder = encoder
        self.domains = list(DOMAINS)
        with torch.no_grad():
            prompts = domain_prompts()
            self.domain_text = self._text([prompts[d] for d in self.domains])
            self.attribute_text = {
                domain: {name: self._text(options)
                         for name, options in attribute_prompts(domain).items()}
                for domain in self.domains}

    def _text(self, texts: list[str]) -> Tensor:
        return self.encoder.embed_text(texts).float().cpu()

    @torch.no_grad()
    def classify(self, images: Tensor) -> dict[str, Tensor]:
        """``{"domain": [N], attribute: [N], ...}`` predicted indices for images in [-1, 1]."""
        features = self.encoder.embed_images(images).float().cpu()
        domain = (features @ self.domain_text.T).argmax(dim=1)
        out = {"domain": domain}
        for name in ATTRIBUTES:
            guess = torch.empty(len(images), dtype=torch.long)
            for index, name_of_domain in enumerate(self.domains):
                rows = domain == index
                if rows.any():
                    options = self.attribute_text[name_of_domain][name]
                    guess[rows] = (features[rows] @ options.T).argmax(dim=1)
            out[name] = guess
        return out


class PreservationCounter:
    """Streaming fraction of (source, adapted) pairs whose content attributes agree."""

    def __init__(self, classifier: AttributeClassifier) -> None:
        self.classifier = classifier
        self.kept = {name: 0 for name in CONTENT_ATTRIBUTES}
        self.count = 0

    def add(self, source: Tensor, adapted: Tensor) -> None:
        a, b = self.classifier.classify(source), self.classifier.classify(adapted)
        for name in CONTENT_ATTRIBUTES:
            self.kept[name] += int((a[name] == b[name]).sum())
        self.count += len(source)

    def metrics(self) -> dict[str, float]:
        per = {f"attribute_preservation_{n}": k / self.count for n, k in self.kept.items()}
        return {"attribute_preservation": sum(per.values()) / len(per), **per}
