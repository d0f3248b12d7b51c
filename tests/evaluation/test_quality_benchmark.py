"""The known transforms of the quality benchmark, and its --quick mode end to end."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch

from gan_adapt.evaluation.known_transforms import (PALETTE, TRANSFORMS, TransformedGenerator,
                                                   invert, posterise, sketch)

ROOT = Path(__file__).resolve().parents[2]


def test_invert_is_an_involution():
    x = torch.rand(2, 3, 8, 8) * 2 - 1
    assert torch.equal(invert(invert(x)), x)


def test_sketch_of_a_flat_image_is_blank_paper_and_edges_are_dark():
    flat = torch.full((1, 3, 16, 16), 0.3)
    assert torch.allclose(sketch(flat), torch.ones(1, 3, 16, 16), atol=1e-5)
    half = flat.clone()
    half[..., 8:] = -0.8  # a vertical edge between columns 7 and 8
    lines = sketch(half)
    assert lines[0, 0, 8, 7] < 0 and lines[0, 0, 8, 2] == pytest.approx(1.0, abs=1e-5)


def test_posterise_paints_only_palette_colours():
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    out = (posterise(x) + 1) / 2
    colours = {tuple(round(v, 4) for v in c) for c in out.permute(0, 2, 3, 1).reshape(-1, 3)
               .tolist()}
    assert colours <= {tuple(round(v, 4) for v in c) for c in PALETTE}
    # Black maps to the darkest colour, white to the lightest.
    ends = posterise(torch.tensor([-1.0, 1.0]).reshape(2, 1, 1, 1).expand(2, 3, 2, 2))
    assert torch.allclose((ends[0, :, 0, 0] + 1) / 2, torch.tensor(PALETTE[0]))
    assert torch.allclose((ends[1, :, 0, 0] + 1) / 2, torch.tensor(PALETTE[-1]))


@pytest.mark.parametrize("name", sorted(TRANSFORMS))
def test_transforms_keep_shape_and_range(name):
    x = torch.rand(3, 3, 32, 32) * 2 - 1
    y = TRANSFORMS[name](x)
    assert y.shape == x.shape and y.min() >= -1 and y.max() <= 1


def test_transformed_generator_is_the_transform_of_the_generator():
    from gan_adapt.generators import tiny

    G, _ = tiny(resolution=16)
    ideal = TransformedGenerator(G, invert)
    z = torch.randn(2, G.z_dim)
    with torch.no_grad():
        ws = G.mapping(z)
        assert torch.equal(ideal.synthesis(ws), -G.synthesis(ws).clamp(-1, 1))


def _load_benchmark():
    spec = importlib.util.spec_from_file_location("quality_benchmark",
                                                  ROOT / "benchmarks" / "quality.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quick_benchmark_runs_end_to_end(tmp_path):
    quality = _load_benchmark()
    if not (quality.CHECKPOINT / "config.json").exists():
        pytest.fail(f"the benchmark generator {quality.CHECKPOINT} is missing; "
                    "run python benchmarks/quality.py --pretrain")
    record = quality.main(["--quick", "--out", str(tmp_path / "q"), "--threads",
                           str(torch.get_num_threads())])
    rows = {row["method"]: row for row in record["rows"]}
    assert set(rows) == {"ideal T(G_s)", "source (no adaptation)", "naive-shapes",
                         "oneshotclip-shapes"}
    assert all(row["transform"] == "invert" for row in record["rows"])
    # Known answers: the ideal generator has zero fidelity error; the source is G_s itself.
    assert rows["ideal T(G_s)"]["fidelity_l1"] == 0.0
    assert rows["source (no adaptation)"]["content_lpips"] == pytest.approx(0.0, abs=1e-6)
    assert rows["source (no adaptation)"]["fidelity_l1"] > 0.1
    saved = json.loads((tmp_path / "q" / "results.json").read_text())
    assert len(saved["rows"]) == 4 and saved["settings"]["quick"] is True
    table = (tmp_path / "q" / "table.md").read_text().splitlines()
    assert table[0].startswith("| transform | method |") and len(table) == 2 + 4
    assert (tmp_path / "q" / "targets" / "invert.png").exists()
    assert (tmp_path / "q" / "sheet-invert.png").exists()
    run_eval = json.loads((tmp_path / "q" / "runs" / "invert-naive-shapes" / "eval.json")
                          .read_text())
    assert run_eval["metrics"]["fidelity_l1"] == rows["naive-shapes"]["fidelity_l1"]
