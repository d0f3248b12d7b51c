"""Model-zoo names: download on first use (file:// and a local HTTP server only), cache, offline."""

from __future__ import annotations

import functools
import http.server
import os
import threading
from pathlib import Path

import pytest

from gan_adapt.errors import CheckpointError, WeightsUnavailableError
from gan_adapt.generators import load, load_discriminator, write_tiny_checkpoint
from gan_adapt.weights import zoo
from gan_adapt.weights.download import KnownWeights, sha256_of


def _entry(name: str, url: str, sha256: str | None, filename: str = "tiny.pt") -> KnownWeights:
    return KnownWeights(name=name, url=url, filename=filename, sha256=sha256,
                        subdir="generators", format="rosinality-pt")


@pytest.fixture
def online(monkeypatch):
    monkeypatch.setenv("GAN_ADAPT_OFFLINE", "0")


@pytest.fixture
def tiny_file(tmp_path_factory) -> Path:
    return write_tiny_checkpoint(tmp_path_factory.mktemp("src") / "tiny.pt", seed=11)


def _register(monkeypatch, entry: KnownWeights) -> None:
    monkeypatch.setitem(zoo.CATALOG, entry.name, entry)


def test_download_from_file_url_then_cached(online, tiny_file, monkeypatch):
    entry = _entry("tiny-test", tiny_file.as_uri(), sha256_of(tiny_file))
    _register(monkeypatch, entry)
    G = load("tiny-test")
    cached = Path(os.environ["GAN_ADAPT_HOME"]) / "generators" / "tiny.pt"
    assert cached.is_file() and sha256_of(cached) == entry.sha256
    assert G.checkpoint_info["path"] == str(cached)
    assert load_discriminator("tiny-test").img_resolution == 16
    tiny_file.unlink()  # later uses read the cache, not the URL
    assert load("tiny-test").img_resolution == 16


def test_offline_error_names_url_and_path(tiny_file, monkeypatch):
    monkeypatch.setenv("GAN_ADAPT_OFFLINE", "1")
    _register(monkeypatch, _entry("tiny-test", tiny_file.as_uri(), None))
    with pytest.raises(WeightsUnavailableError) as info:
        load("tiny-test")
    message = str(info.value)
    assert tiny_file.as_uri() in message
    assert str(Path(os.environ["GAN_ADAPT_HOME"]) / "generators" / "tiny.pt") in message


def test_real_catalog_entry_offline_message(monkeypatch):
    monkeypatch.setenv("GAN_ADAPT_OFFLINE", "1")
    with pytest.raises(WeightsUnavailableError) as info:
        load("ffhq-1024")
    message = str(info.value)
    assert "https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/ffhq.pkl" in message
    assert str(Path(os.environ["GAN_ADAPT_HOME"]) / "generators" / "ffhq-1024.pkl") in message


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep the test output clean
        pass


@pytest.fixture
def server(tmp_path):
    """A throw-away HTTP server on 127.0.0.1 serving ``tmp_path / "www"``."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(_Quiet, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_download_over_http(online, server, tiny_file, monkeypatch):
    root, base = server
    (root / "tiny.pt").write_bytes(tiny_file.read_bytes())
    _register(monkeypatch, _entry("tiny-http", f"{base}/tiny.pt", sha256_of(tiny_file)))
    assert load("tiny-http").img_resolution == 16


def test_wrong_hash_leaves_nothing_behind(online, server, tiny_file, monkeypatch):
    root, base = server
    (root / "tiny.pt").write_bytes(tiny_file.read_bytes())
    _register(monkeypatch, _entry("tiny-bad", f"{base}/tiny.pt", "0" * 64))
    with pytest.raises(WeightsUnavailableError, match="sha256"):
        load("tiny-bad")
    folder = Path(os.environ["GAN_ADAPT_HOME"]) / "generators"
    assert list(folder.iterdir()) == []


def test_missing_file_on_server(online, server, monkeypatch):
    _, base = server
    _register(monkeypatch, _entry("tiny-404", f"{base}/absent.pt", None))
    with pytest.raises(WeightsUnavailableError, match=f"{base}/absent.pt"):
        load("tiny-404")
    assert not any((Path(os.environ["GAN_ADAPT_HOME"]) / "generators").iterdir())


def test_html_instead_of_checkpoint_is_discarded(online, server, monkeypatch):
    root, base = server
    (root / "drive.pt").write_text("<!DOCTYPE html><html>Virus scan warning</html>")
    _register(monkeypatch, _entry("tiny-html", f"{base}/drive.pt", None))
    with pytest.raises(WeightsUnavailableError, match="web page instead of the file"):
        load("tiny-html")
    assert not (Path(os.environ["GAN_ADAPT_HOME"]) / "generators" / "tiny.pt").exists()


def test_a_zoo_name_is_never_shadowed_by_a_local_file(tmp_path, monkeypatch, tiny_file):
    """Issue 26: a bare zoo name is the zoo model; the local file needs a path spelling."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ffhq-1024").write_bytes(tiny_file.read_bytes())
    assert load("./ffhq-1024").img_resolution == 16
    with pytest.warns(UserWarning, match="is not used"), \
            pytest.raises(WeightsUnavailableError):  # offline: the zoo file is not there
        load("ffhq-1024")


def test_unknown_name(tmp_path):
    with pytest.raises(CheckpointError, match="not a known checkpoint name.*afhq-cat-512"):
        load("afhq-kat")


def test_catalog_is_well_formed():
    filenames = [w.filename for w in zoo.CATALOG.values()]
    assert len(set(filenames)) == len(filenames)
    for name, weights in zoo.CATALOG.items():
        assert weights.name == name and weights.subdir == "generators"
        assert weights.url.startswith("https://")
        assert weights.format in ("nvlabs-pkl", "rosinality-pt")
    assert {"ffhq-1024", "ffhq-512", "ffhq-256", "afhq-cat-512", "afhq-dog-512",
            "afhq-wild-512", "metfaces-1024"} <= set(zoo.names())
    assert all(zoo.lookup(alias) is not None for alias in zoo.ALIASES)
