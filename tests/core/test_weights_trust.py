"""Hash-pinned and trust-on-first-use weights: records, mismatches, the offline list, `weights`."""

from __future__ import annotations

import json

import pytest

from gan_adapt.errors import GanAdaptError, WeightsMismatchError, WeightsUnavailableError
from gan_adapt.weights import manifest as weights_manifest
from gan_adapt.weights.download import KnownWeights, cache_dir, copy_into_cache, ensure, sha256_of

from .helpers import run_cli


def _entry(source, **pins) -> KnownWeights:
    return KnownWeights(name="tiny-test", url=source.as_uri(), filename="tiny.bin",
                        subdir="generators", **pins)


@pytest.fixture
def online(monkeypatch):
    monkeypatch.setenv("GAN_ADAPT_OFFLINE", "0")


@pytest.fixture
def source(tmp_path):
    path = tmp_path / "published.bin"
    path.write_bytes(b"weights " * 1000)
    return path


def test_unpinned_download_is_recorded_then_checked_on_every_load(online, source):
    entry = _entry(source)
    path = ensure(entry)
    record = weights_manifest.lookup(cache_dir(), path)
    assert record.sha256 == sha256_of(source) and record.size == source.stat().st_size
    assert ensure(entry) == path  # same file: accepted
    path.write_bytes(b"weights " * 999 + b"changed!")  # same size, other content
    with pytest.raises(WeightsMismatchError) as info:
        ensure(entry)
    message = str(info.value)
    assert f"expected sha256 {record.sha256}, size 8,000 bytes" in message
    assert f"found sha256 {sha256_of(path)}, size 8,000 bytes" in message
    assert "recorded on first use" in message and "manifest.json" in message


def test_a_file_placed_by_hand_is_recorded_on_first_use(source):
    entry = _entry(source)
    entry.cache_path.parent.mkdir(parents=True)
    entry.cache_path.write_bytes(source.read_bytes())
    assert weights_manifest.lookup(cache_dir(), entry.cache_path) is None
    ensure(entry)  # offline: the cached file is used, and recorded
    assert weights_manifest.lookup(cache_dir(), entry.cache_path).sha256 == sha256_of(source)


def test_pinned_size_or_hash_mismatch_is_refused_and_nothing_is_kept(online, source):
    wrong_size = _entry(source, sha256=sha256_of(source), size=source.stat().st_size + 1)
    with pytest.raises(WeightsMismatchError, match=r"size 8,001 bytes.*size 8,000 bytes"):
        ensure(wrong_size)
    assert not wrong_size.cache_path.exists()
    assert not list(wrong_size.cache_path.parent.glob("*.part"))
    wrong_hash = _entry(source, sha256="0" * 64, size=8000)
    with pytest.raises(WeightsMismatchError, match=f"expected sha256 {'0' * 64}"):
        copy_into_cache(source, wrong_hash)
    assert not wrong_hash.cache_path.exists()


def test_offline_message_states_the_hash_it_will_check(source):
    pinned = _entry(source, sha256=sha256_of(source), size=8000)
    with pytest.raises(WeightsUnavailableError) as info:
        ensure(pinned)
    assert f"sha256: {sha256_of(source)}, size: 8,000 bytes" in str(info.value)
    with pytest.raises(WeightsUnavailableError, match="sha256: unknown here: recorded on first "
                                                      "download"):
        ensure(_entry(source))


def test_damaged_manifest_is_a_clear_error(source):
    cache_dir().mkdir(parents=True, exist_ok=True)
    weights_manifest.manifest_path(cache_dir()).write_text("{not json")
    entry = _entry(source)
    entry.cache_path.parent.mkdir(parents=True)
    entry.cache_path.write_bytes(b"x")
    with pytest.raises(GanAdaptError, match="manifest.json is damaged"):
        ensure(entry)


def test_weights_command_lists_every_known_name_as_json(tmp_path):
    from gan_adapt.cli.weights_catalog import known_weights

    home = tmp_path / "home"
    clip = home / "clip" / "ViT-B-32-openai.safetensors"
    clip.parent.mkdir(parents=True)
    clip.write_bytes(b"placeholder")  # listed as cached; listing never hashes
    result = run_cli("weights", "--json", env={"GAN_ADAPT_HOME": str(home)})
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert set(rows) == {row.weights.name for row in known_weights()}
    assert {"ffhq-1024-config-f", "ffhq-1024-config-f-rosinality", "clip:ViT-B-32/openai",
            "lpips-backbone:alex", "fid-inception-v3"} <= set(rows)
    assert rows["clip:ViT-B-32/openai"]["cached"] is True
    assert rows["ffhq-1024-config-f"]["cached"] is False
    assert rows["clip:ViT-B-32/openai"]["size"] == 605_143_284
    assert rows["ffhq-1024-config-f"]["sha256"] is None
    assert rows["ffhq-1024-config-f"]["hash_source"] == "unknown here: recorded on first download"
    assert "stylegan2-ffhq-config-f" in rows["ffhq-1024-config-f-rosinality"]["aliases"]
    for row in rows.values():
        assert row["url"].startswith("https://") and row["path"].startswith(str(home))
    table = run_cli("weights", env={"GAN_ADAPT_HOME": str(home)})
    assert table.returncode == 0 and "ffhq-1024-config-f" in table.stdout
