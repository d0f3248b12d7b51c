"""Targets of every kind (text of any length and script; images with malformed metadata,
16/32-bit and float samples), the environment (GAN_ADAPT_HOME, devices) and results.csv:
a correct result or one clear line, never a traceback."""

from __future__ import annotations

import csv
import json
import os
import shutil
import struct

import numpy as np
import pytest
import torch
from PIL import Image

from gan_adapt.errors import GanAdaptError, InputError
from gan_adapt.io.images import load_image
from gan_adapt.recipe.targets import target_override

from .conftest import FAULT_PLUGINS, FIXTURES, ROOT, assert_refused, toy_run_args

# ---------------------------------------------------------------------------------------------
# Text targets

TEXTS = [
    "a pencil sketch",
    "a cat/dog hybrid, drawn in ink",  # a path separator, but no such file
    "Ukiyo-e.png style woodblock print of a face",
    "水墨画の肖像",
    "لوحة زيتية لوجه",
    "😀 emoji portrait 🎨",
    "x" * 5000,  # longer than any file name
    "word " * 2000,
    "a NUL \x00 inside",
    "~nobody-such-user/sketch",
    "",  # empty: the recipe schema says what is missing
]


@pytest.mark.parametrize("text", TEXTS, ids=range(len(TEXTS)))
def test_a_text_that_is_not_an_existing_file_is_text(text):
    assert target_override(text) == {"text": text}


def test_existing_files_and_folders_are_images(tmp_path):
    image = tmp_path / "target.png"
    Image.new("RGB", (16, 16)).save(image)
    assert target_override(str(image)) == {"image": str(image.resolve())}
    assert target_override(str(tmp_path)) == {"images": str(tmp_path.resolve())}


def test_a_mistyped_file_name_in_an_existing_folder_is_refused(tmp_path):
    with pytest.raises(InputError, match="no such file or folder"):
        target_override(str(tmp_path / "tagret.png"))


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_pipe_is_not_a_target(tmp_path):
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="not a regular file"):
        target_override(str(fifo))


def test_a_long_multiscript_text_target_runs_end_to_end(cli, tmp_path):
    text = "水墨画 / لوحة / a portrait in ink, " * 120  # about 4,000 characters
    out = tmp_path / "run"
    result = cli("run", ROOT / "recipes" / "oneshotclip-text-smoke.toml", "--out", out,
                 "--target", text, "--set", "search.steps=1", "--set", "adapt.steps=1",
                 "--set", "output.n_samples=2", plugins="oneshotclip,nada")
    assert result.code == 0, result.err
    assert "Traceback" not in result.err
    recorded = json.loads((out / "run.json").read_text())["target_override"]
    assert recorded == text


# ---------------------------------------------------------------------------------------------
# Target images: metadata and sample formats


def _tiff(path, array: np.ndarray, sample_format: int) -> None:
    """A minimal uncompressed little-endian TIFF of ``array`` ([H, W] or [H, W, 3]), written by
    hand: Pillow cannot write float colour or 32-bit unsigned samples."""
    h, w = array.shape[:2]
    c = array.shape[2] if array.ndim == 3 else 1
    bits = array.dtype.itemsize * 8
    data = array.astype(array.dtype.newbyteorder("<")).tobytes()
    bits_at = 8 + len(data)
    per_sample = struct.pack(f"<{c}H", *[bits] * c) + struct.pack(f"<{c}H", *[sample_format] * c)
    entries = [(256, 4, 1, w), (257, 4, 1, h), (258, 3, c, bits if c == 1 else bits_at),
               (259, 3, 1, 1), (262, 3, 1, 2 if c == 3 else 1), (273, 4, 1, 8),
               (277, 3, 1, c), (278, 4, 1, h), (279, 4, 1, len(data)),
               (339, 3, c, sample_format if c == 1 else bits_at + 2 * c)]
    ifd = struct.pack("<H", len(entries))
    for tag, kind, count, value in entries:
        ifd += (struct.pack("<HHIHH", tag, kind, count, value, 0) if kind == 3 and count == 1
                else struct.pack("<HHII", tag, kind, count, value))
    ifd += struct.pack("<I", 0)
    path.write_bytes(b"II*\x00" + struct.pack("<I", bits_at + len(per_sample)) + data
                     + per_sample + ifd)


RED = np.zeros((16, 16, 3), np.uint8)
RED[..., 0] = 200
#: name -> (writer, expected mean of each RGB channel in [-1, 1])
ACCEPTED = {
    "broken-exif.jpg": (lambda p: Image.fromarray(RED).save(
        p, exif=b"Exif\x00\x00II*\x00\x08\x00\x00\x00\xff\xff"), (0.569, -1, -1)),
    "broken-exif.png": (lambda p: Image.fromarray(RED).save(p, exif=b"not a TIFF header"),
                        (0.569, -1, -1)),
    "exif-tag-past-end.png": (lambda p: Image.fromarray(RED).save(
        p, exif=b"II*\x00\x08\x00\x00\x00\x01\x00\x12\x01\x03\x00\x01\x00\x00\x00\x09\x00\x00"
                b"\x00"), (0.569, -1, -1)),
    "broken-icc.png": (lambda p: Image.fromarray(RED).save(p, icc_profile=b"garbage"),
                       (0.569, -1, -1)),
    "broken-icc.jpg": (lambda p: Image.fromarray(RED).save(p, icc_profile=b"\x00" * 40),
                       (0.569, -1, -1)),
    # 16-bit: 200 of 65535 is nearly black, not 8-bit 200
    "dark-16bit.png": (lambda p: Image.fromarray(np.full((16, 16), 200, np.uint16)).save(p),
                       (-0.992,) * 3),
    "16bit.tif": (lambda p: Image.fromarray(np.full((16, 16), 65535, np.uint16)).save(p),
                  (1, 1, 1)),
    "rgb-16bit.tif": (lambda p: _tiff(p, np.stack([np.full((16, 16), 65535, np.uint16),
                                                   np.zeros((16, 16), np.uint16),
                                                   np.full((16, 16), 32768, np.uint16)], -1), 1),
                      (1, -1, 0.004)),
    "float-half.tif": (lambda p: Image.fromarray(np.full((16, 16), 0.5, np.float32)).save(p),
                       (0.004,) * 3),
    "float-one.tif": (lambda p: _tiff(p, np.ones((16, 16), np.float32), 3), (1, 1, 1)),
    "int32-max.tif": (lambda p: Image.fromarray(np.full((16, 16), 2 ** 31 - 1, np.int32)).save(p),
                      (1, 1, 1)),
    "uint32-max.tif": (lambda p: _tiff(p, np.full((16, 16), 2 ** 32 - 1, np.uint32), 1),
                       (1, 1, 1)),
}
REFUSED = {
    "float-hdr.tif": (lambda p: Image.fromarray(np.full((16, 16), 7.5, np.float32)).save(p),
                      "float images must lie in [0, 1]"),
    "float-nan.tif": (lambda p: Image.fromarray(np.full((16, 16), np.nan, np.float32)).save(p),
                      "NaN or infinite"),
    "negative.tif": (lambda p: Image.fromarray(np.full((16, 16), -5, np.int32)).save(p),
                     "negative pixel values"),
    "float-rgb.tif": (lambda p: _tiff(p, np.ones((16, 16, 3), np.float32), 3),
                      "8- or 16-bit"),
    "float64.tif": (lambda p: _tiff(p, np.ones((16, 16), np.float64), 3), "8- or 16-bit"),
}


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("name", sorted(ACCEPTED))
def test_odd_images_convert_correctly(name, tmp_path):
    write, expected = ACCEPTED[name]
    write(tmp_path / name)
    means = load_image(tmp_path / name).mean(dim=(0, 2, 3))
    assert torch.allclose(means, torch.tensor(expected, dtype=torch.float32), atol=0.01), means


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_images_that_cannot_convert_are_refused(name, tmp_path, cli):
    write, needle = REFUSED[name]
    write(tmp_path / name)
    with pytest.raises(InputError, match=needle.replace("[", r"\[").replace("]", r"\]")):
        load_image(tmp_path / name)
    out = tmp_path / "run"
    assert_refused(cli(*toy_run_args(out), "--target", tmp_path / name), name, needle)
    assert not out.exists()


def test_malformed_metadata_is_one_note_and_the_run_starts(tmp_path, cli):
    ACCEPTED["broken-exif.png"][0](tmp_path / "t.png")
    out = tmp_path / "run"
    result = cli(*toy_run_args(out), "--target", tmp_path / "t.png", "--set", "adapt.steps=1",
                 "--set", "search.steps=1")
    assert result.code == 0, result.err
    notes = [line for line in result.err.splitlines() if "malformed metadata" in line]
    assert len(notes) == 1 and notes[0].startswith("note:"), result.err


# ---------------------------------------------------------------------------------------------
# The environment


@pytest.mark.parametrize("where", ["file", "under a file"])
def test_gan_adapt_home_that_is_not_a_folder_is_one_line(where, tmp_path, cli, monkeypatch):
    home = tmp_path / "home"
    home.write_text("not a folder")
    monkeypatch.setenv("GAN_ADAPT_HOME", str(home if where == "file" else home / "cache"))
    monkeypatch.setenv("GAN_ADAPT_OFFLINE", "1")
    out = tmp_path / "run"
    # the full recipe needs downloaded weights: their cache is the first thing it looks at
    result = cli("run", ROOT / "recipes" / "oneshotclip.toml", "--out", out,
                 plugins="oneshotclip")
    assert_refused(result, "GAN_ADAPT_HOME", "not a folder")
    assert not out.exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_device_cuda_without_a_gpu_is_one_line(tmp_path, cli):
    out = tmp_path / "run"
    assert_refused(cli(*toy_run_args(out), "--device", "cuda"), "sees no CUDA GPU")
    assert not out.exists()


@pytest.mark.parametrize("name", ["tpu", "cuda:x", "", "cpu:0:1", "meta"])
def test_unknown_devices_are_refused(name):
    from gan_adapt.engine.build import resolve_device

    with pytest.raises(GanAdaptError, match="unknown device"):
        resolve_device(name)


@pytest.mark.parametrize("device", ["tpu", "cuda:7"])
def test_resume_with_a_device_this_machine_lacks_is_one_line(device, uninterrupted, tmp_path,
                                                             cli):
    folder = tmp_path / "run"
    shutil.copytree(uninterrupted[1], folder)
    meta = json.loads((folder / "run.json").read_text())
    meta.update(status="interrupted", device=device)
    (folder / "run.json").write_text(json.dumps(meta))
    result = cli("run", "--resume", folder, "--plugins-dir", FIXTURES,
                 "--plugins-dir", FAULT_PLUGINS)
    assert_refused(result, repr(device))


def test_an_output_path_the_system_refuses_is_one_line(uninterrupted, tmp_path, cli):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = cli("report", uninterrupted[1], "--out", blocker / "report.html")
    assert_refused(result, "report.html")


# ---------------------------------------------------------------------------------------------
# results.csv


def test_results_csv_neutralises_formulas(tmp_path):
    from gan_adapt.sweep.table import write_table

    evil = ["=HYPERLINK(\"http://x\")", "+1+1", "-2+3", "@SUM(A1)", "\tcmd", "\rcmd",
            "  =1+1", "plain", "a=b"]
    rows = [{"run_id": text, "status": "done", "=col": text, "train/loss": -0.25, "seed": -3}
            for text in evil]
    write_table(rows, tmp_path / "results.csv")
    with open(tmp_path / "results.csv", newline="", encoding="utf-8") as handle:
        read = list(csv.reader(handle))
    assert read[0] == ["run_id", "status", "'=col", "train/loss", "seed"]
    for text, row in zip(evil, read[1:]):
        safe = text if text in ("plain", "a=b") else "'" + text
        assert row[0] == safe and row[2] == safe
        assert row[3] == "-0.25" and row[4] == "-3"  # numbers stay numbers
        for cell in row:
            assert not cell.lstrip(" ").startswith(("=", "+", "@", "\t", "\r")) or \
                cell.startswith("'")
