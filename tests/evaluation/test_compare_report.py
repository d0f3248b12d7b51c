"""`gan-adapt compare` sheets and `gan-adapt report` HTML, checked by parsing what they write."""

from __future__ import annotations

import base64
import io
import json
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image


def invoke(*args: str):
    from gan_adapt.cli.commands import cli

    return CliRunner().invoke(cli, list(args), catch_exceptions=True)


def test_compare_sheet_has_one_row_per_generator(smoke_run, tmp_path):
    from gan_adapt.evaluation.compare import LABEL_WIDTH, tile_size

    out = tmp_path / "sheet.png"
    result = invoke("compare", str(smoke_run), str(smoke_run), "--n", "3", "--out", str(out),
                    "--interpolation", "4", "--gif")
    assert result.exit_code == 0, result.output + repr(result.exception)
    tile, pad = tile_size(32), 4
    sheet = Image.open(out)
    assert sheet.size == (LABEL_WIDTH + 3 * (tile + pad) + pad, 3 * (tile + pad) + pad)
    strip = Image.open(tmp_path / "sheet-interp.png")
    assert strip.size == (LABEL_WIDTH + 4 * (tile + pad) + pad, 3 * (tile + pad) + pad)
    gif = Image.open(tmp_path / "sheet-interp.gif")
    assert gif.n_frames == 4 + 2  # there and back
    # Row 2 and row 3 show the same run: identical pixels.
    def row(r):
        return sheet.crop((LABEL_WIDTH, pad + r * (tile + pad), sheet.size[0],
                           pad + r * (tile + pad) + tile)).tobytes()

    assert row(1) == row(2)


def test_compare_refuses_runs_of_different_sources(smoke_run, tmp_path, plugin_set):
    from gan_adapt.errors import InputError
    from gan_adapt.evaluation.compare import load_rows

    other = tmp_path / "other"
    shutil.copytree(smoke_run, other)
    recipe = (other / "recipe.toml").read_text()
    (other / "recipe.toml").write_text(recipe.replace("tiny-stylegan2-32.pt",
                                                      "elsewhere/other.pt"))
    with pytest.raises(InputError, match="same source generator"):
        load_rows([smoke_run, other], plugin_set, device="cpu")


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.images: list[dict[str, str]] = []
        self.scripts = 0
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "img":
            self.images.append(attrs)
        if tag == "script":
            self.scripts += 1

    def handle_data(self, data):
        self.text.append(data)


def parse(path: Path) -> _Collect:
    parser = _Collect()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def test_report_is_self_contained_and_shows_the_run(smoke_run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(smoke_run, copy)
    result = invoke("report", str(copy))
    assert result.exit_code == 0, result.output + repr(result.exception)
    page = parse(copy / "report.html")
    assert {"target", "samples", "losses", "evaluation", "recipe", "no-eval"} <= page.ids
    assert page.scripts == 0
    for image in page.images:
        assert image["src"].startswith("data:image/png;base64,")
        Image.open(io.BytesIO(base64.b64decode(image["src"].split(",", 1)[1]))).verify()
    alts = [image["alt"] for image in page.images]
    assert "target image" in alts and "loss curves" in alts
    assert any(alt.startswith("target and the reference") for alt in alts)
    # Samples at steps 0, 4 and 8.
    assert sorted(a for a in alts if a.startswith("samples at step")) == [
        "samples at step 0", "samples at step 4", "samples at step 8"]

    # After an evaluation the numbers appear in the table.
    (copy / "eval.json").write_text(json.dumps({
        "metrics": {"diversity_lpips": 0.125, "fid": 3.5},
        "settings": {"n": 10, "seed": 0, "truncation": 1.0},
        "instruments": {"lpips": {"weights": "<random>", "from": "recipe"}}}))
    result = invoke("report", str(copy), "--out", str(tmp_path / "r.html"))
    assert result.exit_code == 0
    page = parse(tmp_path / "r.html")
    assert "eval-metrics" in page.ids and "no-eval" not in page.ids
    text = "".join(page.text)
    assert "0.1250" in text and "3.5000" in text and "<random>" in text  # escaped, not a tag


def test_report_subsamples_grids(smoke_run, tmp_path):
    from gan_adapt.evaluation.report import _evenly, build_report

    assert _evenly(list(range(10)), 4) == [0, 3, 6, 9]
    assert _evenly([1, 2], 5) == [1, 2]
    html = build_report(smoke_run, max_grids=2)
    assert html.count('alt="samples at step') == 2
