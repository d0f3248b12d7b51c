"""Feature extractors for FID and KID.

* ``inception`` (the standard): the TensorFlow Inception-v3 of the original FID code, as
  ported by torch-fidelity (bit-compatible with the published FID/KID numbers). Its weights
  are a :class:`~gan_adapt.weights.download.KnownWeights` entry, so they share gan-adapt's cache
  and its offline message; torch-fidelity never downloads anything itself.
* ``encoder``: the L2-normalised embeddings of any gan-adapt image encoder (e.g. the run's
  CLIP: "FD_CLIP", Kynkäänniemi et al. 2023). Not comparable with published FIDs; it is what
  works offline with the tiny random encoders of the smoke recipe, and what the tests use.

Both take images ``[N, 3, H, W]`` in ``[-1, 1]`` and return float64 features ``[N, D]``.
"""

from __future__ import annotations

import io
from typing import Any, Protocol

import torch
from torch import Tensor

from gan_adapt.errors import GanAdaptError
from gan_adapt.weights.download import KnownWeights

#: torch-fidelity's conversion of the 2015-12-05 TF Inception graph used by the FID paper. The
#: release names the file with the first 8 hex digits of its sha256; the full sha256 is the one a
#: public project's README records for this exact release file (and it starts with those 8
#: digits). The size is not known here: recorded on first download, then checked.
INCEPTION_WEIGHTS = KnownWeights(
    name="fid-inception-v3",
    url="https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/"
        "weights-inception-2015-12-05-6726825d.pth",
    filename="weights-inception-2015-12-05-6726825d.pth",
    sha256="6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2",
    subdir="fid",
    format="torch-state-dict",
    description="TF Inception-v3 (2015-12-05) for FID/KID, torch-fidelity's port, ~95 MB; "
                "sha256 pinned, size recorded on first download",
)


class FeatureExtractor(Protocol):
    """``extractor(images) -> [N, D]`` float64 features; ``describe()`` goes into eval.json."""

    def __call__(self, images: Tensor) -> Tensor: ...

    def describe(self) -> dict[str, Any]: ...


class InceptionFeatures:
    """2048-d pool features of the FID Inception-v3 (torch-fidelity's implementation)."""

    def __init__(self, device: torch.device | str = "cpu", batch: int = 50) -> None:
        try:
            from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
        except ImportError as exc:
            raise GanAdaptError("FID/KID with Inception features needs the torch-fidelity "
                                f"package (pip install torch-fidelity): {exc}") from None
        from gan_adapt.encoders.weights import fetch, read_state_dict

        path = fetch(INCEPTION_WEIGHTS)  # offline and absent: WeightsUnavailableError
        # torch-fidelity unpickles its weights file with weights_only=False (and would hand a
        # TorchScript archive to torch.jit.load), so it never sees the file: it gets the
        # tensors our safe reader took from it, saved again in memory by us.
        buffer = io.BytesIO()
        torch.save(read_state_dict(path, what="FID Inception-v3"), buffer)
        buffer.seek(0)
        self.model = FeatureExtractorInceptionV3(
            "inception-v3-compat", ["2048"], feature_extractor_weights_path=buffer
        ).to(device)
        self.device, self.batch = torch.device(device), batch

    @torch.no_grad()
    def __call__(self, images: Tensor) -> Tensor:
        from gan_adapt.io.images import to_uint8

        outs = []
        for i in range(0, images.shape[0], self.batch):
            # The FID protocol feeds 8-bit images: quantise exactly as a saved PNG would be.
            chunk = to_uint8(images[i:i + self.batch].detach().cpu()).to(self.device)
            (features,) = self.model(chunk)
            outs.append(features.double().cpu())
        return torch.cat(outs)

    def describe(self) -> dict[str, Any]:
        return {"features": "inception", "weights": INCEPTION_WEIGHTS.name,
                "url": INCEPTION_WEIGHTS.url, "implementation": "torch-fidelity "
                "FeatureExtractorInceptionV3 (inception-v3-compat, 2048-d pool)"}


class EncoderFeatures:
    """Embeddings of an image encoder (``embed_images``) as FID/KID features."""

    def __init__(self, encoder: Any, description: dict[str, Any], batch: int = 64) -> None:
        self.encoder, self.description, self.batch = encoder, description, batch

    @torch.no_grad()
    def __call__(self, images: Tensor) -> Tensor:
        device = _device_of(self.encoder)
        outs = [self.encoder.embed_images(images[i:i + self.batch].to(device)).double().cpu()
                for i in range(0, images.shape[0], self.batch)]
        return torch.cat(outs)

    def describe(self) -> dict[str, Any]:
        return {"features": "encoder", **self.description}


def _device_of(module: Any) -> torch.device:
    try:
        return next(module.parameters()).device
    except (AttributeError, StopIteration):
        return torch.device("cpu")
