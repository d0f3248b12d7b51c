"""Known pretrained StyleGAN2 checkpoints, loadable by name: ``load("ffhq-1024")``.

Each name maps to an official download (NVlabs ``stylegan2-ada-pytorch`` network pickles, which
include the discriminator, and rosinality's converted FFHQ config-f). The first use downloads
the file into ``$GAN_ADAPT_HOME/generators`` (see :mod:`gan_adapt.hub`); later uses read the
cached copy. Offline, the error names the URL and the exact path to place the file at.

The publishers give no checksums for these files and none could be obtained here, so every
``sha256`` is None: the hub then skips the hash check. Pin them (``sha256sum`` of a trusted
download) when you can; the loaders never run code from a file either way.
"""

from __future__ import annotations

from pathlib import Path

from gan_adapt.errors import WeightsUnavailableError
from gan_adapt.hub import KnownWeights, ensure

_ADA = "https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained"
_SUBDIR = "generators"


def _ada(name: str, path: str, description: str) -> KnownWeights:
    return KnownWeights(name=name, url=f"{_ADA}/{path}", filename=f"{name}.pkl",
                        sha256=None, subdir=_SUBDIR, format="nvlabs-pkl",
                        description=description)


#: Name -> downloadable checkpoint. Resolutions are in the names.
CATALOG: dict[str, KnownWeights] = {w.name: w for w in [
    _ada("ffhq-1024", "ffhq.pkl", "FFHQ faces 1024x1024 (StyleGAN2 config-f, official)"),
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
        name="ffhq-1024-rosinality",
        url="https://drive.usercontent.google.com/download?id=1EM87UquaoQmk17Q8d5kYIAHqu0dkYqdT"
            "&export=download&confirm=t",
        filename="ffhq-1024-rosinality.pt", sha256=None, subdir=_SUBDIR,
        format="rosinality-pt",
        description="FFHQ 1024x1024 config-f converted by rosinality (stylegan2-pytorch); "
                    "hosted on Google Drive"),
]}

#: Older spellings users type, mapped to catalog names.
ALIASES = {"ffhq": "ffhq-1024", "metfaces": "metfaces-1024", "afhqcat": "afhq-cat-512",
           "afhqdog": "afhq-dog-512", "afhqwild": "afhq-wild-512", "afhq-cat": "afhq-cat-512",
           "afhq-dog": "afhq-dog-512", "afhq-wild": "afhq-wild-512", "cifar10": "cifar10-32",
           "stylegan2-ffhq-config-f": "ffhq-1024-rosinality"}


def lookup(name: str) -> KnownWeights | None:
    """The catalog entry for ``name`` (or an alias), or None."""
    return CATALOG.get(ALIASES.get(name, name))


def names() -> list[str]:
    """All catalog names."""
    return sorted(CATALOG)


def fetch(name: str, *, progress: bool = True) -> Path:
    """Path of the cached checkpoint ``name``, downloading it on first use.

    Raises WeightsUnavailableError (offline, download failed, or the server sent a web page
    instead of the file, as Google Drive does when it wants a confirmation click).
    """
    weights = lookup(name)
    if weights is None:
        raise KeyError(name)
    path = ensure(weights, progress=progress)
    with open(path, "rb") as handle:
        head = handle.read(64).lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")):
        path.unlink()
        raise WeightsUnavailableError(
            weights.name, weights.url, path,
            reason="the server returned a web page instead of the file; download it in a "
                   "browser")
    return path
