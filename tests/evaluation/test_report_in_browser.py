"""report.html of a smoke run in a real browser: headless Chromium over the DevTools protocol.

Skipped when no Chromium is installed (``.ci/run`` installs Debian's ``chromium``). The page is
checked at a 1280 px wide viewport: every image decodes, the console stays clean, nothing
overflows horizontally; a full-page screenshot is kept in the run folder as a CI artefact
(``report-screenshot-1280.png``).
"""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image

from tests.evaluation.headless_chromium import file_url, find_chromium, inspect_page

CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no Chromium browser installed (apt-get install chromium; "
                             ".ci/run installs it)")
WIDTH = 1280


def test_the_browser_checks_catch_a_broken_page(tmp_path):
    """The checks can fail: a missing image, console errors and a too-wide block are seen."""
    page = tmp_path / "bad.html"
    page.write_text('<!DOCTYPE html><html><body><img src="missing.png" alt="gone">'
                    '<div style="width:2000px">wide</div><script>console.error("boom");'
                    'throw new Error("uncaught")</script></body></html>', encoding="utf-8")
    report = inspect_page(CHROMIUM, file_url(page), width=WIDTH)
    assert [image["naturalWidth"] for image in report.images] == [0]
    assert any("boom" in e for e in report.console_errors)
    assert any("uncaught" in e for e in report.console_errors)
    assert report.scroll_width > report.viewport_width == WIDTH


def test_the_browser_sees_a_value_broken_in_two(tmp_path):
    page = tmp_path / "narrow.html"
    page.write_text('<!DOCTYPE html><html><body><table><tr><td style="width:3em">'
                    'attribute_preservation_hair_style</td><td class="num" '
                    'style="overflow-wrap:anywhere;width:2em">0.123456789</td></tr></table>'
                    '</body></html>', encoding="utf-8")
    report = inspect_page(CHROMIUM, file_url(page), width=WIDTH)
    assert "0.123456789" in report.broken_cells


@pytest.mark.parametrize("width", [WIDTH, 900])
def test_report_keeps_names_and_numbers_whole(smoke_run, width):
    """Metric names and values are never broken mid-word or mid-number, even on a narrow
    window; long free text (weights, paths) wraps instead, without widening the page."""
    from gan_adapt.evaluation.report import write_report

    eval_json = smoke_run / "eval.json"
    previous = eval_json.read_bytes() if eval_json.exists() else None
    eval_json.write_text(json.dumps({
        "metrics": {"attribute_preservation_hair_style": 0.8125, "diversity_lpips": 0.125,
                    "target_clip_image_source": 0.30517578125, "n_real": 123456789},
        "settings": {"n": 10, "seed": 0, "truncation": 1.0},
        "instruments": {"lpips": {"weights": "shipped portraits-clip (sha256 " + "9e3b" * 16
                                  + ")", "from": "recipe"}}}))
    try:
        page = write_report(smoke_run, out=smoke_run / f"report-{width}.html")
    finally:
        if previous is None:
            eval_json.unlink()
        else:
            eval_json.write_bytes(previous)
    report = inspect_page(CHROMIUM, file_url(page), width=width)
    assert report.broken_cells == []
    assert report.scroll_width <= report.viewport_width == width


def test_report_renders_cleanly_in_chromium(smoke_run):
    from gan_adapt.evaluation.report import write_report

    # An eval table too, with a long value that must wrap rather than widen the page.
    eval_json = smoke_run / "eval.json"
    previous = eval_json.read_bytes() if eval_json.exists() else None
    eval_json.write_text(json.dumps({
        "metrics": {"diversity_lpips": 0.125, "fid": 3.5},
        "settings": {"n": 10, "seed": 0, "truncation": 1.0},
        "instruments": {"lpips": {"weights": "x" * 300, "from": "recipe"}}}))
    try:
        page = write_report(smoke_run)
    finally:  # the run folder is shared by the evaluation tests: leave it as it was
        if previous is None:
            eval_json.unlink()
        else:
            eval_json.write_bytes(previous)
    report = inspect_page(CHROMIUM, file_url(page), width=WIDTH)

    screenshot = smoke_run / f"report-screenshot-{WIDTH}.png"
    screenshot.write_bytes(report.screenshot)
    print(f"screenshot: {screenshot}")
    assert Image.open(io.BytesIO(report.screenshot)).width == WIDTH

    alts = [image["alt"] for image in report.images]
    assert len(report.images) >= 5, alts  # target, reference, 3 sample grids, loss curves
    broken = [image for image in report.images
              if not image["complete"] or image["naturalWidth"] <= 0]
    assert not broken, broken
    assert report.console_errors == []
    assert report.scroll_width <= report.viewport_width == WIDTH, (
        f"the page is {report.scroll_width} px wide at a {WIDTH} px viewport")
