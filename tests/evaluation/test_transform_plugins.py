"""Transforms are plugins (hook ``register_transforms``): the built-in splits come from the
evaluation default plugin, a plugin folder adds held-out transforms, and a transform that
breaks the contract is named."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = ROOT / "benchmarks"

PLUGIN = '''
from gan_adapt import hookimpl


def mirror(images):
    """Left-right mirror."""
    return images.flip(-1)


def halve(images):
    return images[..., ::2, ::2]


def brighten(images):
    return images + 1.5


@hookimpl
def register_transforms(register):
    register("mirror", mirror, "a mirrored photo of a face")
    register("halve", halve)
    register("brighten", brighten)
'''


def _quality():
    if str(BENCHMARKS) not in sys.path:
        sys.path.insert(0, str(BENCHMARKS))
    return importlib.import_module("quality")


@pytest.fixture
def plugin_dir(tmp_path):
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "my_transforms.py").write_text(PLUGIN)
    return folder


def test_the_builtin_transforms_are_registered_with_their_split_and_caption():
    from gan_adapt.evaluation.plugin import TEST_CAPTIONS, TUNE_CAPTIONS
    from gan_adapt.plugin_host.loading import load_plugins
    from gan_adapt.synthetic_data.known_transforms import TRANSFORMS
    from gan_adapt.synthetic_data.portraits import DOMAINS
    from gan_adapt.synthetic_data.test_split_transforms import TEST_CAPTIONS as TEST_PHRASES
    from gan_adapt.synthetic_data.test_split_transforms import TEST_TRANSFORMS

    registry = load_plugins(entry_points=False).registry
    assert TUNE_CAPTIONS == {k: v for k, v in DOMAINS.items() if k != "photo"}
    assert TEST_CAPTIONS == TEST_PHRASES
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    for names, split, table in ((TRANSFORMS, "tune", TRANSFORMS),
                                (TEST_TRANSFORMS, "test", TEST_TRANSFORMS)):
        for name in names:
            info = registry.get("transform", name).factory
            assert info.split == split and info.caption.endswith(" of a face")
            assert torch.equal(info(x), table[name](x))  # the same function, lazily imported


def test_a_plugin_folder_adds_held_out_transforms_checked_on_use(plugin_dir):
    from gan_adapt.plugin_host.loading import load_plugins

    quality = _quality()
    table = quality.transform_table(load_plugins([plugin_dir], entry_points=False))
    assert table["mirror"].split == "held-out" and table["mirror"].caption == \
        "a mirrored photo of a face"
    assert table["halve"].caption == "a halve picture of a face"
    assert list(table)[:10] == ["sketch", "posterise", "invert", "watercolour", "hatch",
                                "grade", "pixelart", "relief", "lineart", "canvas"]
    args = quality.parse_args(["--split", "tune", "test", "--out", "x"])
    assert "mirror" not in quality.choose_transforms(args, table)  # in neither split
    x = torch.rand(2, 3, 8, 8) * 2 - 1
    assert torch.equal(table["mirror"].fn(x), x.flip(-1))
    with pytest.raises(SystemExit, match=r"transform 'halve' \(plugin 'my_transforms'\) returned "
                                         r"\(2, 3, 4, 4\) for images of shape \(2, 3, 8, 8\)"):
        table["halve"].fn(x)
    with pytest.raises(SystemExit, match=r"transform 'brighten' .* returned values in "
                                         r"\[[0-9.]+, 2\.[0-9]+\]; images are in \[-1, 1\]"):
        table["brighten"].fn(x)
    with pytest.raises(SystemExit, match="transform 'mirror' .* returned NaN"):
        table["mirror"].fn(torch.full((1, 3, 4, 4), float("nan")))


def test_a_transform_registered_with_a_bad_split_fails_its_plugin(tmp_path):
    from gan_adapt.plugin_host.loading import load_plugins

    (tmp_path / "bad_split.py").write_text(
        "from gan_adapt import hookimpl\n\n@hookimpl\ndef register_transforms(register):\n"
        "    register('tinted', lambda x: x, split='train')\n")
    plugin_set = load_plugins([tmp_path], entry_points=False)
    assert plugin_set.registry.get("transform", "tinted") is None
    assert "split must be one of" in plugin_set.failure_of("bad_split").error


def test_the_benchmark_refuses_a_broken_transform_with_one_line(plugin_dir, tmp_path):
    quality = _quality()
    with pytest.raises(SystemExit, match=r"transform 'halve' \(plugin 'my_transforms'\)"):
        quality.main(["--write-targets", str(tmp_path / "t"), "--plugins-dir", str(plugin_dir),
                      "--transforms", "halve", "--targets", "render", "--target-seeds", "5001"])


@pytest.mark.slow
def test_a_plugin_transform_goes_through_the_quick_benchmark(plugin_dir, tmp_path):
    quality = _quality()
    out = tmp_path / "q"
    evaluator = tmp_path / "evaluator"
    import subprocess

    result = subprocess.run([sys.executable, "-m", "gan_adapt.training.portrait_evaluator",
                             "--quick", "--work", str(tmp_path / "w"), "--export",
                             str(evaluator)], capture_output=True, text=True, cwd=ROOT,
                            timeout=600)
    assert result.returncode == 0, result.stderr
    record = quality.main(["--quick", "--out", str(out), "--plugins-dir", str(plugin_dir),
                           "--transforms", "mirror", "--recipes", "oneshotclip", "nada",
                           "--targets", "render", "--evaluator", str(evaluator), "--jobs", "2"])
    rows = {(r["method"], r["target"]): r for r in record["rows"]}
    assert set(rows) == {(m, "render-5001") for m in ("ideal", "source", "oneshotclip", "nada")}
    assert all(r["split"] == "held-out" and r["transform"] == "mirror" for r in rows.values())
    assert rows["ideal", "render-5001"]["fidelity"] == 0.0
    # A mirrored face is close to the face: the source is near the ideal, but not at it.
    assert 0 < rows["source", "render-5001"]["fidelity_l1"] < 0.5
    meta = json.loads((out / "runs" / "nada" / "mirror" / "caption" / "seed0" / "run.json")
                      .read_text())
    assert meta["target_override"] == "a mirrored photo of a face"
    assert "held-out-render" in record["claims"]["methods"]["nada"]["groups"]
