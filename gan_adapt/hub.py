"""Pretrained weights: known names -> URL + sha256 -> local cache -> path.

Every component that needs pretrained weights (generators, CLIP, DINO, LPIPS backbones) resolves
them here, so that all of them share one cache, one download routine and one offline message.

* ``$GAN_ADAPT_HOME`` (default ``~/.cache/gan-adapt``) holds the cache, one sub-folder per kind.
* A download goes to ``<file>.part``, is hashed while it streams, and is renamed into place only
  when the sha256 matches: an interrupted or corrupt download never leaves a file that looks valid.
* ``GAN_ADAPT_OFFLINE=1`` forbids downloads (tests set it); a missing file then raises
  :class:`~gan_adapt.errors.WeightsUnavailableError` naming the URL and the path to place it at.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from gan_adapt.errors import WeightsUnavailableError

_CHUNK = 1 << 20


@dataclass(frozen=True)
class KnownWeights:
    """One downloadable file of pretrained weights."""

    name: str  # the short name users type, e.g. "ffhq-1024"
    url: str
    filename: str  # file name inside the cache folder
    sha256: str | None = None  # None: not pinned (the hash is then not checked)
    subdir: str = "weights"  # cache sub-folder, e.g. "generators", "clip"
    format: str = ""  # free-form hint for the loader, e.g. "nvlabs-pkl", "rosinality-pt"
    description: str = ""

    @property
    def cache_path(self) -> Path:
        """Where this file lives once downloaded."""
        return cache_dir() / self.subdir / self.filename


def cache_dir() -> Path:
    """The root of the weights cache: ``$GAN_ADAPT_HOME`` or ``~/.cache/gan-adapt``."""
    home = os.environ.get("GAN_ADAPT_HOME")
    if home:
        return Path(home).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "gan-adapt"


def offline() -> bool:
    """True when downloads are forbidden (``GAN_ADAPT_OFFLINE`` set to anything but 0/empty)."""
    return os.environ.get("GAN_ADAPT_OFFLINE", "") not in ("", "0", "false", "False")


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def ensure(weights: KnownWeights, *, progress: bool = True) -> Path:
    """Return the cached file of ``weights``, downloading it first if needed.

    Raises WeightsUnavailableError when the file is absent and cannot be fetched.
    A cached file whose hash does not match is reported, never silently replaced.
    """
    path = weights.cache_path
    if path.is_file():
        if weights.sha256 and sha256_of(path) != weights.sha256:
            raise WeightsUnavailableError(
                weights.name, weights.url, path,
                reason=f"the cached file {path} has the wrong sha256 (corrupt or a different "
                       "file); delete it to download again",
            )
        return path
    if offline():
        raise WeightsUnavailableError(weights.name, weights.url, path, reason="offline mode")
    download(weights.url, path, sha256=weights.sha256, what=weights.name, progress=progress)
    return path


def download(url: str, dest: Path, *, sha256: str | None = None, what: str = "",
             progress: bool = True, timeout: float = 30.0) -> Path:
    """Download ``url`` to ``dest`` atomically, checking ``sha256`` when given."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".part")
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(partial, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            with _progress_bar(what or dest.name, total, progress) as advance:
                for chunk in iter(lambda: response.read(_CHUNK), b""):
                    out.write(chunk)
                    digest.update(chunk)
                    advance(len(chunk))
    except (urllib.error.URLError, OSError, ValueError) as exc:
        partial.unlink(missing_ok=True)
        raise WeightsUnavailableError(what or dest.name, url, dest,
                                      reason=f"download failed: {exc}") from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    if sha256 and digest.hexdigest() != sha256:
        partial.unlink(missing_ok=True)
        raise WeightsUnavailableError(
            what or dest.name, url, dest,
            reason=f"the downloaded file's sha256 {digest.hexdigest()} is not the expected {sha256}",
        )
    os.replace(partial, dest)
    return dest


class _progress_bar:
    """A rich progress bar when asked for and attached to a terminal; otherwise silent."""

    def __init__(self, label: str, total: int | None, enabled: bool) -> None:
        self.label, self.total, self.enabled = label, total, enabled
        self._progress = None

    def __enter__(self):
        import sys

        if not (self.enabled and sys.stderr.isatty()):
            return lambda n: None
        from rich.progress import (BarColumn, DownloadColumn, Progress, TextColumn,
                                   TransferSpeedColumn)

        self._progress = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                                  TransferSpeedColumn(), transient=True)
        self._progress.__enter__()
        task = self._progress.add_task(f"downloading {self.label}", total=self.total)
        return lambda n: self._progress.advance(task, n)

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)


def copy_into_cache(source: Path, weights: KnownWeights) -> Path:
    """Place a file the user downloaded by hand into the cache (checked against the hash)."""
    if weights.sha256 and sha256_of(source) != weights.sha256:
        raise WeightsUnavailableError(weights.name, weights.url, weights.cache_path,
                                      reason=f"{source} does not have the expected sha256")
    dest = weights.cache_path
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".part")
    shutil.copyfile(source, partial)
    os.replace(partial, dest)
    return dest
