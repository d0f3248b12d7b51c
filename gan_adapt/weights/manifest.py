"""Trust on first use: the sha256 and size of every unpinned weights file, recorded once.

Some publishers give no checksum for their files (NVIDIA's and rosinality's generators among
them), so gan-adapt cannot pin those in its catalog. Instead, the first time such a file enters
the cache (downloaded, or placed there by hand) its sha256 and size are written to
``$GAN_ADAPT_HOME/manifest.json``; every later load checks the file against that record, so a
file that changes afterwards (a truncated copy, a different network under the same name) is
refused. The record proves only that the file has not changed since it was first seen, not that
the first copy was the right one: pin the hash in the catalog when a trusted one is known.

The manifest is a small JSON object keyed by the file's path inside the cache
(``generators/ffhq-1024-config-f.pkl``), written atomically.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gan_adapt.errors import GanAdaptError

MANIFEST_NAME = "manifest.json"


@dataclass(frozen=True)
class Record:
    """What was seen the first time a file entered the cache."""

    sha256: str
    size: int
    recorded_at: str  # ISO 8601, UTC
    url: str = ""


def manifest_path(cache_root: Path) -> Path:
    """Where the manifest of the cache at ``cache_root`` lives."""
    return cache_root / MANIFEST_NAME


def _key(cache_root: Path, path: Path) -> str:
    return path.relative_to(cache_root).as_posix()


def _read(cache_root: Path) -> dict[str, Any]:
    from gan_adapt.io.json_files import read_json

    path = manifest_path(cache_root)
    recover = ("Delete it: the hashes of unpinned files are then recorded afresh on their next "
               "use.")
    try:
        data = read_json(path, required=False, what="weights manifest")
    except GanAdaptError as exc:
        raise GanAdaptError(f"The weights manifest {exc}. {recover}") from None
    if data is None:
        return {}
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise GanAdaptError(
            f"The weights manifest {path} is damaged (not a JSON object of records). {recover}")
    return data


def lookup(cache_root: Path, path: Path) -> Record | None:
    """The first-use record of the cached file ``path``, or None."""
    entry = _read(cache_root).get(_key(cache_root, path))
    if entry is None:
        return None
    sha, size = entry.get("sha256"), entry.get("size")
    if not (isinstance(sha, str) and len(sha) == 64 and isinstance(size, int)):
        raise GanAdaptError(f"The weights manifest {manifest_path(cache_root)} has a damaged "
                            f"record for {_key(cache_root, path)}; delete that record (or the "
                            "whole file) to record the file afresh.")
    return Record(sha256=sha, size=size, recorded_at=str(entry.get("recorded_at", "")),
                  url=str(entry.get("url", "")))


def record(cache_root: Path, path: Path, *, sha256: str, size: int, url: str = "") -> Record:
    """Record ``path``'s hash and size (first use); returns the record written."""
    from gan_adapt.io.atomic_files import write_json

    now = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    entry = Record(sha256=sha256, size=size, recorded_at=now, url=url)
    data = _read(cache_root)
    data[_key(cache_root, path)] = {"sha256": sha256, "size": size, "recorded_at": now,
                                    "url": url}
    write_json(manifest_path(cache_root), dict(sorted(data.items())))
    return entry


def forget(cache_root: Path, path: Path) -> None:
    """Drop the record of ``path`` (its file was deleted on purpose)."""
    from gan_adapt.io.atomic_files import write_json

    data = _read(cache_root)
    if data.pop(_key(cache_root, path), None) is not None:
        write_json(manifest_path(cache_root), data)
