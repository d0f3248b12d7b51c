"""Security, round 2: data files never name code, report.html shows every file's strings as
text, checkpoint readers are bounded before they trust a file, names stay in their folder."""

from __future__ import annotations

import contextlib
import io
import json
import os
import pickle
import shutil
import signal
import struct
import sys
import time
from pathlib import Path

import pytest
import torch

from gan_adapt.errors import CheckpointError
from gan_adapt.generators import load
from tests.generators.test_safe_loading import _fake_reference_module, _Reduce

from .conftest import FAULT_PLUGINS, FIXTURES, TOY_RECIPE, assert_refused, derived_recipe

PLUGIN_ARGS = ("--plugins-dir", FIXTURES, "--plugins-dir", FAULT_PLUGINS)


@contextlib.contextmanager
def no_hang(seconds: int = 30):
    """Fail (instead of hanging the suite) if the block takes longer than ``seconds``."""
    def expired(signum, frame):
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


# ---------------------------------------------------------------------------------------------
# Sweep files and recipes never make gan-adapt import code


def _planted_plugin(folder: Path) -> Path:
    """A .py file that would create ``PWNED`` if it were ever imported; returns the marker."""
    marker = folder / "PWNED"
    (folder / "evil_plugin.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    return marker


@pytest.mark.parametrize("key", ["plugins_dir", "plugins-dir"])
def test_sweep_file_cannot_name_plugin_folders(key, tmp_path, cli):
    marker = _planted_plugin(tmp_path)
    sweep = tmp_path / "sweep.toml"
    sweep.write_text(f'name = "s"\nbase = "{TOY_RECIPE}"\n{key} = ["."]\n')
    result = cli("sweep", sweep, "--out", tmp_path / "out")
    assert_refused(result, "cannot name plugin folders", "--plugins-dir", code=2)
    assert not marker.exists()
    assert not (tmp_path / "out").exists()


def test_recipe_cannot_name_plugin_folders(tmp_path, cli):
    marker = _planted_plugin(tmp_path)
    recipe = derived_recipe(tmp_path)
    recipe.write_text(recipe.read_text() + '\nplugins_dir = ["."]\n')
    for command in (["validate", recipe], ["run", recipe, "--out", tmp_path / "run"]):
        result = cli(*command, *PLUGIN_ARGS)
        assert_refused(result, "plugins_dir", code=2)
    assert not marker.exists()
    assert not (tmp_path / "run").exists()


def test_sweep_plugin_folders_come_from_the_command_line(tmp_path, monkeypatch):
    from gan_adapt.sweep import backends, runner

    seen = {}

    def fake_run_local(jobs, *, plugins_dirs, **kwargs):
        seen["plugins_dirs"] = plugins_dirs
        return [backends.Outcome(run.run_id, folder, "failed", "started", 0.0, "not run")
                for run, folder in jobs]

    monkeypatch.setattr(backends, "run_local", fake_run_local)
    sweep = tmp_path / "sweep.toml"
    sweep.write_text(f'name = "s"\nbase = "{TOY_RECIPE}"\n[eval]\nenabled = false\n')
    runner.run_sweep(sweep, tmp_path / "out", echo=lambda *a: None,
                     plugins_dirs=[str(FIXTURES)])
    assert seen["plugins_dirs"] == [str(FIXTURES.resolve())]


# ---------------------------------------------------------------------------------------------
# report.html: every string from every file of a run folder is escaped

MARK = '<i class="pwned" onmouseover="x()">{}</i>'
RAW = '<i class="pwned"'
ESCAPED = "&lt;i class=&quot;pwned&quot;"


def _poison(value, field: str):
    """Replace every string (keys too) of a JSON value by markup naming ``field``."""
    if isinstance(value, dict):
        return {MARK.format(f"{field}.{k}"): _poison(v, f"{field}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [_poison(v, f"{field}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, str):
        return MARK.format(field)
    return value


def test_every_string_in_a_run_folder_is_escaped_in_the_report(uninterrupted, tmp_path):
    import tomli_w
    from PIL import Image

    from gan_adapt.evaluation.report import build_report

    # The folder's own name and the target's file name carry markup too.
    folder = tmp_path / '<b onclick="x()">run'
    shutil.copytree(uninterrupted[1], folder)
    target = tmp_path / '<img src=x onerror="x()">.png'
    Image.new("RGB", (16, 16), (200, 100, 0)).save(target)

    recipe = {"name": MARK.format("recipe.name"), "seed": 3,
              "description": MARK.format("recipe.description")}
    recipe["target"] = {"image": str(target), "text": MARK.format("target.text"),
                        "source_text": MARK.format("target.source_text")}
    recipe["adapt"] = {"losses": [{"name": MARK.format("loss"), "params": {"k": MARK.format("p")}}]}
    (folder / "recipe.toml").write_text(tomli_w.dumps(recipe))
    meta = json.loads((folder / "run.json").read_text())
    meta = {**_poison(meta, "run"), "status": MARK.format("status"),
            "steps_done": MARK.format("steps_done"), "created": MARK.format("created"),
            "device": MARK.format("device"), "base_dir": str(tmp_path)}
    (folder / "run.json").write_text(json.dumps(meta))
    for name in ("metrics.json", "environment.json"):  # keys and values
        data = json.loads((folder / name).read_text())
        (folder / name).write_text(json.dumps(_poison(data, name)))
    for name in ("result.json", "plugins.json"):  # everything below the top-level keys
        data = json.loads((folder / name).read_text())
        (folder / name).write_text(json.dumps({k: _poison(v, name) for k, v in data.items()}))
    (folder / "eval.json").write_text(json.dumps({
        "metrics": {MARK.format("metric"): MARK.format("metric value"), "plain": 1.5},
        "settings": {"n": MARK.format("n"), "seed": MARK.format("seed"),
                     "truncation": MARK.format("truncation")},
        "instruments": {MARK.format("instrument"): {"weights": MARK.format("weights"),
                                                     "from": MARK.format("from")},
                        "broken": MARK.format("not a record")}}))
    (folder / "samples" / f"step-{MARK.format('file')}.png".replace("/", "")).write_bytes(b"x")

    page = build_report(folder)
    assert RAW not in page and "<img src=x" not in page and '<b onclick' not in page
    for shown in ("recipe.name", "recipe.description", "target.text", "status", "created",
                  "device", "steps_done", "metric", "metric value", "n", "seed", "truncation",
                  "instrument", "weights", "from", "metrics.json", "environment.json",
                  "plugins.json", "result.json"):
        assert f"{ESCAPED} onmouseover=&quot;x()&quot;&gt;{shown}" in page, shown
    assert "&lt;b onclick=&quot;x()&quot;&gt;run" in page


# ---------------------------------------------------------------------------------------------
# Checkpoint readers: bounded time and memory before a file is trusted


def _shared_records_pickle(monkeypatch, depth: int = 40) -> bytes:
    """An NVlabs-style pickle whose records share sub-records: 2**depth paths, ~3 KB."""
    module = _fake_reference_module(monkeypatch)

    def record(class_name, modules):
        return _Reduce(module._reconstruct_persistent_obj, {
            "type": "class", "version": 6, "module_src": "", "class_name": class_name,
            "state": {"_parameters": {}, "_buffers": {}, "_modules": modules}})

    node = record("Leaf", {})
    for _ in range(depth):
        node = record("Block", {"a": node, "b": node})
    data = pickle.dumps({"G_ema": record("Generator", {"synthesis": node, "mapping": node}),
                         "D": None, "G": None})
    monkeypatch.delitem(sys.modules, "torch_utils.persistence")
    monkeypatch.delitem(sys.modules, "torch_utils")
    return data


def test_network_pickle_with_shared_records_is_refused_quickly(tmp_path, monkeypatch):
    path = tmp_path / "dag.pkl"
    path.write_bytes(_shared_records_pickle(monkeypatch))
    assert path.stat().st_size < 8000
    started = time.perf_counter()
    with no_hang(30), pytest.raises(CheckpointError, match="share the sub-module"):
        load(path)
    assert time.perf_counter() - started < 10


def _native_folder(tmp_path: Path) -> Path:
    from gan_adapt.generators import native
    from gan_adapt.generators.networks import GeneratorConfig, StyleGAN2Generator

    config = GeneratorConfig(img_resolution=8, channels={4: 8, 8: 8}, z_dim=8, w_dim=8,
                             mapping_layers=2)
    return native.save(StyleGAN2Generator(config), tmp_path / "native")


@pytest.mark.parametrize("edit", [
    {"channels": {"4": 200_000, "8": 200_000}},  # 1.4 TB of weights if allocated
    {"channels": {"4": 6000, "8": 6000}},
    {"w_dim": 10_000_000},
    {"img_resolution": 2**40, "channels": {str(2**k): 8 for k in range(2, 41)}},
    {"mapping_layers": 10_000_000},
])
def test_native_config_that_does_not_match_its_weights_is_refused_before_allocating(
        edit, tmp_path):
    folder = _native_folder(tmp_path)
    config = json.loads((folder / "config.json").read_text())
    config["generator"].update(edit)
    (folder / "config.json").write_text(json.dumps(config))
    started = time.perf_counter()
    with no_hang(60), pytest.raises(CheckpointError):
        load(folder)
    assert time.perf_counter() - started < 30


@pytest.mark.parametrize("conditional", [False, True])
def test_shape_only_build_matches_the_real_networks(conditional):
    from gan_adapt.generators.dry_build import expected_shapes
    from gan_adapt.generators.networks import (
        DiscriminatorConfig,
        GeneratorConfig,
        StyleGAN2Discriminator,
        StyleGAN2Generator,
    )

    c_dim = 5 if conditional else 0
    configs = [(StyleGAN2Generator, GeneratorConfig(
                    img_resolution=32, channels={4: 16, 8: 16, 16: 8, 32: 4}, z_dim=12, w_dim=10,
                    c_dim=c_dim, mapping_layers=3, mapping_hidden=6)),
               (StyleGAN2Discriminator, DiscriminatorConfig(
                    img_resolution=32, channels={4: 16, 8: 16, 16: 8, 32: 4}, c_dim=c_dim))]
    for build, config in configs:
        real = {k: v.shape for k, v in build(config).state_dict().items()}
        assert expected_shapes(build, config, "test") == real


def test_native_folder_still_loads(tmp_path):
    G = load(_native_folder(tmp_path))
    assert G.img_resolution == 8


def _legacy_with_declared_size(numel: int) -> bytes:
    buffer = io.BytesIO()
    torch.save({"g_ema": {"x": torch.zeros(4)}}, buffer, _use_new_zipfile_serialization=False)
    data = buffer.getvalue()
    at = data.find(b"K\x04", data.find(b"cpu"))  # the storage's element count, 4
    return data[:at] + b"J" + struct.pack("<i", numel) + data[at + 2:]


def test_legacy_torch_file_declaring_more_than_it_holds_is_refused(tmp_path):
    path = tmp_path / "legacy.pt"
    path.write_bytes(_legacy_with_declared_size(1_500_000_000))  # 6 GB declared, 370 bytes
    with pytest.raises(CheckpointError, match="declares 6,000,000,000 bytes"):
        load(path)


def test_storage_inside_a_network_pickle_declaring_more_than_it_holds_is_refused():
    from gan_adapt.weights.safe_pickle import _load_storage

    buffer = io.BytesIO()
    torch.save(torch.zeros(4).untyped_storage(), buffer, _use_new_zipfile_serialization=False)
    data = buffer.getvalue()
    at = data.rfind(b"K\x10")  # 16 bytes of an untyped storage
    patched = data[:at] + b"J" + struct.pack("<i", 2_000_000_000) + data[at + 2:]
    with pytest.raises(CheckpointError, match="declares"):
        _load_storage(patched)


def test_safetensors_declaring_more_than_the_file_is_refused(tmp_path):
    folder = _native_folder(tmp_path)
    header = json.dumps({"generator.synthesis.b4.const": {
        "dtype": "F32", "shape": [100000, 100000], "data_offsets": [0, 40_000_000_000]}}).encode()
    (folder / "model.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 8)
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load(folder)


# FIFOs and devices given where a file is expected are refused, not read forever.

@pytest.fixture
def fifo(tmp_path):
    path = tmp_path / "pipe.pt"
    os.mkfifo(path)
    return path


@pytest.mark.parametrize("special", ["fifo", "/dev/zero"])
def test_fifo_or_device_as_checkpoint(special, fifo, tmp_path, cli):
    path = fifo if special == "fifo" else Path(special)
    with no_hang(30):
        with pytest.raises(CheckpointError, match="not a regular file"):
            load(path)
        result = cli("sample", path, "--out", tmp_path / "grid.png")
    assert_refused(result, "not a regular file")


def test_fifo_inside_a_native_folder(tmp_path):
    folder = _native_folder(tmp_path)
    (folder / "model.safetensors").unlink()
    os.mkfifo(folder / "model.safetensors")
    with no_hang(30), pytest.raises(CheckpointError, match="not a regular file"):
        load(folder)


def test_fifo_as_target_recipe_or_extends(fifo, tmp_path, cli):
    recipe = derived_recipe(tmp_path / "r")
    with no_hang(60):
        result = cli("run", recipe, "--out", tmp_path / "a", "--target", fifo, *PLUGIN_ARGS)
        assert_refused(result, "not a regular file")
        image_recipe = recipe.read_text().replace(str(TOY_RECIPE.parent / "orange.png"),
                                                  str(fifo))
        (tmp_path / "r" / "fifo-target.toml").write_text(image_recipe)
        result = cli("run", tmp_path / "r" / "fifo-target.toml", "--out", tmp_path / "b",
                     *PLUGIN_ARGS)
        assert_refused(result, "not a regular file")
        (tmp_path / "r" / "extends.toml").write_text(f'extends = "{fifo}"\nname = "x"\n')
        result = cli("validate", tmp_path / "r" / "extends.toml", *PLUGIN_ARGS)
        assert_refused(result, "not a regular file")
        result = cli("validate", fifo, *PLUGIN_ARGS)
        assert_refused(result, "not a regular file")
        result = cli("sweep", fifo)
        assert_refused(result, "not a regular file")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_fifo_in_a_run_folder_on_resume(uninterrupted, tmp_path, cli):
    folder = tmp_path / "run"
    shutil.copytree(uninterrupted[1], folder)
    meta = json.loads((folder / "run.json").read_text())
    (folder / "run.json").write_text(json.dumps({**meta, "status": "interrupted"}))
    (folder / "search" / "w_ref.pt").unlink()
    os.mkfifo(folder / "search" / "w_ref.pt")
    with no_hang(60):
        result = cli("run", "--resume", folder, *PLUGIN_ARGS)
    assert_refused(result, "not a regular file")


# ---------------------------------------------------------------------------------------------
# Names never escape their folder

HOSTILE_NAMES = ["../../x", "/abs/x", "..", "a/../../b", "..\\..\\x", "\x00", "", ".hidden",
                 "x" * 400, "é" * 200]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_run_and_sweep_folders_stay_in_their_folder(name, tmp_path):
    from gan_adapt.engine.run_folder import default_run_dir
    from gan_adapt.sweep.runner import sweep_folder

    base = tmp_path / "runs"
    path = default_run_dir(name, base)
    assert path.parent == base and len(path.name.encode()) <= 255
    assert path.name not in (".", "..") and not path.name.startswith(".")
    sweep = sweep_folder(name)
    assert sweep.parent == Path("sweeps") and sweep.name not in ("", ".", "..")
    assert len(sweep.name.encode()) <= 255 and "/" not in sweep.name


def test_recipe_name_with_dots_runs_inside_runs(tmp_path, cli, monkeypatch):
    monkeypatch.chdir(tmp_path)
    recipe = derived_recipe(tmp_path / "r")
    result = cli("run", recipe, "--set", 'name="../../escaped"', "--set", "adapt.steps=1",
                 "--set", "search.steps=1", *PLUGIN_ARGS)
    assert result.code == 0, result.err
    made = [p for p in (tmp_path / "runs").iterdir()]
    assert len(made) == 1 and made[0].name.startswith("escaped-")
    assert not any(p.name.startswith("escaped") for p in tmp_path.parent.iterdir())
