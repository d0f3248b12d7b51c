"""Pretrained weights: known names -> URL + sha256 + size -> local cache -> path.

Every component that needs pretrained weights (generators, CLIP, DINO, LPIPS backbones) resolves
them here, so that all of them share one cache, one download routine and one offline message.

* ``$GAN_ADAPT_HOME`` (default ``~/.cache/gan-adapt``) holds the cache, one sub-folder per kind.
* A download goes to ``<file>.part``, is hashed while it streams, and is renamed into place only
  when its sha256 and size match: an interrupted or corrupt download never leaves a file that
  looks valid.
* What a file is checked against, in order: the sha256/size pinned in its catalog entry; else
  the sha256 prefix its published name carries (torchvision's convention) plus the first-use
  record; else only the first-use record (trust on first use, :mod:`gan_adapt.weights.manifest`).
  An unpinned file's hash and size are recorded the first time it enters the cache and checked on
  every later load. A file that does not match is refused with both hashes and sizes.
* ``GAN_ADAPT_OFFLINE=1`` forbids downloads (tests set it); a missing file then raises
  :class:`~gan_adapt.errors.WeightsUnavailableError` naming the URL, the path to place it at and
  the hash it will be checked against.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from gan_adapt.errors import WeightsMismatchError, WeightsUnavailableError
from gan_adapt.weights import manifest as weights_manifest

_CHUNK = 1 << 20
#: ``alexnet-owt-7be5be79.pth``: a release whose file name carries its sha256's first hex digits.
_HASH_IN_NAME = re.compile(r"-([0-9a-f]{8,64})\.[A-Za-z0-9]+$")
#: Said of a file whose hash cannot be known before it is downloaded.
UNKNOWN_HERE = "unknown here: recorded on first download"


@dataclass(frozen=True)
class KnownWeights:
    """One downloadable file of pretrained weights.

    ``sha256``/``size`` pin the file when the publisher (or another public record, cited where
    the entry is defined) gives them; None means "unknown here": the file is then trusted on
    first use and checked against that record afterwards.
    """

    name: str  # the short name users type, e.g. "ffhq-1024"
    url: str
    filename: str  # file name inside the cache folder
    sha256: str | None = None  # None: not pinned (recorded on first download, then checked)
    subdir: str = "weights"  # cache sub-folder, e.g. "generators", "clip"
    format: str = ""  # free-form hint for the loader, e.g. "nvlabs-pkl", "rosinality-pt"
    description: str = ""
    size: int | None = None  # bytes; None: not pinned (recorded on first download)

    @property
    def cache_path(self) -> Path:
        """Where this file lives once downloaded."""
        return cache_dir() / self.subdir / self.filename

    @property
    def sha256_prefix(self) -> str | None:
        """The sha256 prefix the published file name carries, if any."""
        match = _HASH_IN_NAME.search(self.url.split("?")[0].rsplit("/", 1)[-1])
        return match.group(1) if match else None

    def expected(self) -> Expectation:
        """What the cached file must match: the pin, else the first-use record, else nothing."""
        record = None
        if self.sha256 is None or self.size is None:
            record = weights_manifest.lookup(cache_dir(), self.cache_path)
        return Expectation(
            sha256=self.sha256 or (record.sha256 if record else None),
            size=self.size if self.size is not None else (record.size if record else None),
            prefix=None if self.sha256 else self.sha256_prefix,
            source="pinned" if self.sha256 else ("recorded on first use "
                                                 f"{record.recorded_at}" if record else ""),
        )


@dataclass(frozen=True)
class Expectation:
    """The hash and size a file is checked against, and where they come from."""

    sha256: str | None
    size: int | None
    prefix: str | None  # sha256 prefix from the published file name
    source: str  # "pinned", "recorded on first use <date>", or "" (nothing known yet)

    def describe(self) -> str:
        """``sha256: <64 hex>, size: N bytes`` or ``sha256: unknown here: recorded on ...``."""
        if self.sha256:
            text = f"sha256: {self.sha256}"
        elif self.prefix:
            text = f"sha256: starting {self.prefix} (from the file name; the full hash is " \
                   "recorded on first download)"
        else:
            text = f"sha256: {UNKNOWN_HERE}"
        size = (f"size: {self.size:,} bytes" if self.size is not None
                else "size: recorded on first download")
        origin = f" ({self.source})" if self.sha256 and self.source != "pinned" else ""
        return f"{text}, {size}{origin}"


def cache_dir() -> Path:
    """The root of the weights cache: ``$GAN_ADAPT_HOME`` or ``~/.cache/gan-adapt``."""
    home = os.environ.get("GAN_ADAPT_HOME")
    if home:
        return _usable_home(home)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "gan-adapt"


def _usable_home(value: str) -> Path:
    """``$GAN_ADAPT_HOME`` as a folder path: refused when it (or a folder above it) is a file."""
    from gan_adapt.errors import InputError

    try:
        path = Path(value).expanduser()
        existing = path
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        usable = existing.is_dir()
    except (OSError, ValueError, RuntimeError) as exc:  # a NUL byte, too long, ~unknown-user
        raise InputError(f"GAN_ADAPT_HOME={value[:200]!r} cannot be used as a folder "
                         f"({exc})") from None
    if not usable:
        where = "is a file" if existing == path else f"is inside {existing}, which is a file"
        raise InputError(f"GAN_ADAPT_HOME={value} {where}, not a folder; point it at a "
                         "folder (it holds downloaded weights)")
    return path


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

    Raises WeightsUnavailableError when the file is absent and cannot be fetched, and
    WeightsMismatchError when the file (cached or downloaded) is not the expected one. A cached
    file that does not match is reported, never silently replaced.
    """
    path = weights.cache_path
    if path.is_file():
        verify(weights, path)
        return path
    if offline():
        raise WeightsUnavailableError(weights.name, weights.url, path, reason="offline mode",
                                      expected=weights.expected().describe())
    download(weights.url, path, weights=weights, progress=progress)
    return path


def verify(weights: KnownWeights, path: Path) -> None:
    """Check the cached ``path`` against what ``weights`` expects; record it when nothing is
    known yet (trust on first use). Raises WeightsMismatchError naming both hashes and sizes."""
    _check(weights, path, record_as=path, what=f"the cached file {path}",
           fix="delete it to download again")


def _check(weights: KnownWeights, file: Path, *, record_as: Path, what: str, fix: str) -> None:
    expected = weights.expected()
    with open(file, "rb") as handle:
        head = handle.read(64).lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")):
        raise WeightsUnavailableError(
            weights.name, weights.url, record_as,
            reason=f"{what} is a web page instead of the file (the site wants a confirmation "
                   f"click); {fix}, in a browser")
    actual, size = sha256_of(file), file.stat().st_size
    if ((expected.sha256 is not None and actual != expected.sha256)
            or (expected.size is not None and size != expected.size)
            or (expected.prefix is not None and not actual.startswith(expected.prefix))):
        want = expected.sha256 or (f"{expected.prefix}..." if expected.prefix else "not known")
        want_size = f"{expected.size:,} bytes" if expected.size is not None else "not known"
        origin = f" ({expected.source})" if expected.source else ""
        if expected.source.startswith("recorded"):
            fix += (f" (if the publisher replaced the file, also delete its record in "
                    f"{weights_manifest.manifest_path(cache_dir())})")
        raise WeightsMismatchError(
            weights.name, weights.url, record_as,
            reason=f"{what} is not the expected file: expected sha256 {want}, size "
                   f"{want_size}{origin}; found sha256 {actual}, size {size:,} bytes. It was not "
                   f"used; {fix}")
    if expected.sha256 is None or expected.size is None:
        weights_manifest.record(cache_dir(), record_as, sha256=actual, size=size,
                                url=weights.url)


def download(url: str, dest: Path, *, sha256: str | None = None, what: str = "",
             progress: bool = True, timeout: float = 30.0,
             weights: KnownWeights | None = None) -> Path:
    """Download ``url`` to ``dest`` atomically.

    With ``weights``, the file is checked (and, when unpinned, recorded) by :func:`verify`
    before it is renamed into place; otherwise only ``sha256`` is checked when given.
    """
    dest = Path(dest)
    what = what or (weights.name if weights else dest.name)
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".part")
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(partial, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            with _progress_bar(what, total, progress) as advance:
                for chunk in iter(lambda: response.read(_CHUNK), b""):
                    out.write(chunk)
                    digest.update(chunk)
                    advance(len(chunk))
    except (urllib.error.URLError, OSError, ValueError) as exc:
        partial.unlink(missing_ok=True)
        raise WeightsUnavailableError(what, url, dest, reason=f"download failed: {exc}") from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    if sha256 and digest.hexdigest() != sha256:
        partial.unlink(missing_ok=True)
        raise WeightsMismatchError(
            what, url, dest,
            reason=(f"the downloaded file's sha256 {digest.hexdigest()} is not the expected "
                    f"{sha256}"),
        )
    if weights is not None:
        try:
            _check(weights, partial, record_as=dest, what="the downloaded file",
                   fix="nothing was kept; download it by hand")
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
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
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TransferSpeedColumn,
        )

        self._progress = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                                  TransferSpeedColumn(), transient=True)
        self._progress.__enter__()
        task = self._progress.add_task(f"downloading {self.label}", total=self.total)
        return lambda n: self._progress.advance(task, n)

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)


def copy_into_cache(source: Path, weights: KnownWeights) -> Path:
    """Place a file the user downloaded by hand into the cache (checked, or recorded)."""
    dest = weights.cache_path
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".part")
    shutil.copyfile(source, partial)
    try:
        _check(weights, partial, record_as=dest, what=str(source),
               fix="check that it is the file the URL serves")
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, dest)
    return dest
