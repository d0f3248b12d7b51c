"""Known pretrained StyleGAN2 checkpoints, loadable by name: ``load("ffhq-1024-config-f")``.

Each name maps to an official download: NVlabs network pickles (which include the discriminator
and both generators), and rosinality's PyTorch conversions of the StyleGAN2 config-f FFHQ
network. The first use downloads the file into ``$GAN_ADAPT_HOME/generators`` (see
:mod:`gan_adapt.weights.download`); later uses read the cached copy. Offline, the error names
the URL, the exact path to place the file at and the hash it will be checked against.

Hashes: NVIDIA, rosinality and the OneShotCLIP authors publish no checksum or exact size for
these files, and none could be found in public material, so every entry says so ("unknown here").
The hub then records the sha256 and size of each file the first time it enters the cache and
refuses any later file that differs (trust on first use, :mod:`gan_adapt.weights.manifest`).
Pin an entry (``sha256`` and ``size``) once a trusted value is known; the loaders never run code
from a file either way.
"""

from __future__ import annotations

from pathlib import Path

from gan_adapt.weights.download import UNKNOWN_HERE, KnownWeights, ensure

_ADA = "https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained"
#: NVIDIA's StyleGAN2 networks for the ADA-PyTorch / StyleGAN3 code (NGC model "stylegan2").
_NGC_STYLEGAN2 = "https://api.ngc.nvidia.com/v2/models/nvidia/research/stylegan2/versions/1/files"
_DRIVE = "https://drive.usercontent.google.com/download?id={}&export=download&confirm=t"
_SUBDIR = "generators"


def _ada(name: str, path: str, description: str) -> KnownWeights:
    return KnownWeights(name=name, url=f"{_ADA}/{path}", filename=f"{name}.pkl",
                        sha256=None, subdir=_SUBDIR, format="nvlabs-pkl",
                        description=f"{description}; sha256 and size {UNKNOWN_HERE}")


#: Name -> downloadable checkpoint. Resolutions are in the names.
CATALOG: dict[str, KnownWeights] = {w.name: w for w in [
    # The paper's generator (OneShotCLIP, NADA, MTG and CDC all adapt StyleGAN2 config-f FFHQ).
    KnownWeights(
        name="ffhq-1024-config-f", url=f"{_NGC_STYLEGAN2}/stylegan2-ffhq-1024x1024.pkl",
        filename="ffhq-1024-config-f.pkl", subdir=_SUBDIR, format="nvlabs-pkl",
        description="FFHQ 1024x1024, StyleGAN2 config-f (the network of the StyleGAN2 paper that "
                    "OneShotCLIP adapts), NVIDIA's pickle for the ADA-PyTorch code with G, D "
                    f"and G_ema; sha256 and size {UNKNOWN_HERE}"),
    KnownWeights(
        name="ffhq-1024-config-f-rosinality",
        url=_DRIVE.format("1nS5fqO5XLwB4-VjR0Ma059dgrKB9eyjb"),
        filename="ffhq-1024-config-f-rosinality.pt", subdir=_SUBDIR, format="rosinality-pt",
        description="FFHQ 1024x1024 StyleGAN2 config-f converted to rosinality's format: the file "
                    "OneShotCLIP's README links (Google Drive), whose training script reads its "
                    f"g, g_ema and d entries; sha256 and size {UNKNOWN_HERE}"),
    _ada("ffhq-1024", "ffhq.pkl", "FFHQ faces 1024x1024 trained with StyleGAN2-ADA (config-f "
         "architecture, but not the StyleGAN2 paper's weights)"),
    _ada("ffhq-512", "transfer-learning-source-nets/ffhq-res512-mirror-stylegan2-noaug.pkl",
         "FFHQ faces 512x512 (StyleGAN2, x-flips, no ADA)"),
    _ada("ffhq-256", "transfer-learning-source-nets/ffhq-res256-mirror-paper256-noaug.pkl",
         "FFHQ faces 256x256 (paper256 config, x-flips, no ADA)"),
    _ada("metfaces-1024", "metfaces.pkl", "MetFaces art portraits 1024x1024 (ADA, from FFHQ)"),
    _ada("afhq-cat-512", "afhqcat.pkl", "AFHQ cats 512x512 (ADA)"),
    _ada("afhq-dog-512", "afhqdog.pkl", "AFHQ dogs 512x512 (ADA)"),
    _ada("afhq-wild-512", "afhqwild.pkl", "AFHQ wildlife 512x512 (ADA)"),
    _ada("brecahad-512", "brecahad.pkl", "BreCaHAD histology 512x512 (ADA)"),
    _ada("cifar10-32", "cifar10.pkl", "CIFAR-10 32x32, class-conditional (c_dim=10, ADA)"),
    _ada("celebahq-256", "transfer-learning-source-nets/"
         "celebahq-res256-mirror-paper256-kimg100000-ada-target0.5.pkl",
         "CelebA-HQ faces 256x256 (paper256 config, ADA)"),
    _ada("lsundog-256", "transfer-learning-source-nets/"
         "lsundog-res256-paper256-kimg100000-noaug.pkl", "LSUN dogs 256x256 (paper256 config)"),
    KnownWeights(
        name="ffhq-1024-rosinality", url=_DRIVE.format("1EM87UquaoQmk17Q8d5kYIAHqu0dkYqdT"),
        filename="ffhq-1024-rosinality.pt", subdir=_SUBDIR, format="rosinality-pt",
        description="FFHQ 1024x1024 config-f converted by rosinality (stylegan2-pytorch), the "
                    "copy e4e/pSp/StyleCLIP link (Google Drive); used for its g_ema, whether it "
                    f"holds g and d is not known here; sha256 and size {UNKNOWN_HERE}"),
]}

#: Older spellings users type, mapped to catalog names.
ALIASES = {"ffhq": "ffhq-1024", "metfaces": "metfaces-1024", "afhqcat": "afhq-cat-512",
           "afhqdog": "afhq-dog-512", "afhqwild": "afhq-wild-512", "afhq-cat": "afhq-cat-512",
           "afhq-dog": "afhq-dog-512", "afhq-wild": "afhq-wild-512", "cifar10": "cifar10-32",
           "stylegan2-ffhq-config-f": "ffhq-1024-config-f-rosinality",
           "stylegan2-ffhq-1024x1024": "ffhq-1024-config-f"}


def lookup(name: str) -> KnownWeights | None:
    """The catalog entry for ``name`` (or an alias), or None."""
    return CATALOG.get(ALIASES.get(name, name))


def names() -> list[str]:
    """All catalog names."""
    return sorted(CATALOG)


def fetch(name: str, *, progress: bool = True) -> Path:
    """Path of the cached checkpoint ``name``, downloading it on first use.

    Raises WeightsUnavailableError (offline, download failed, or the server sent a web page
    instead of the file, as Google Drive does when it wants a confirmation click) and
    WeightsMismatchError (the file differs from its pinned or first-use sha256/size).
    """
    weights = lookup(name)
    if weights is None:
        raise KeyError(name)
    return ensure(weights, progress=progress)
