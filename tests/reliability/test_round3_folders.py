"""Issue 26, critical: nothing gan-adapt shows or embeds can reach outside the run folder.

A run folder may come from someone else. The tests plant, in a copy of a finished run:
links from every file the readers use to a private file outside the folder, records naming
absolute or escaping paths, a ``recipe.toml`` whose ``target.image`` names a file outside, and
FIFOs under every name a reader opens. ``report``, ``Run._repr_html_``, ``eval``'s opening of
the folder and the record readers must never embed or read the outside file, must say the same
words whether or not it exists, and must never block.
"""

from __future__ import annotations

import base64
import io
import os
import re
import shutil
import signal
import tomllib
from contextlib import contextmanager
from pathlib import Path

import pytest
import tomli_w
import torch
from PIL import Image

from gan_adapt.errors import CheckpointError, GanAdaptError, InputError

from .conftest import assert_refused


@contextmanager
def no_hang(seconds: int = 60):
    """Fail (instead of hanging the suite) when the body blocks."""
    def _alarm(*_):
        raise TimeoutError(f"blocked for {seconds} s")

    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture
def outside(tmp_path):
    """A private folder beside the run: a blue PNG and a secret text, the reader's own files."""
    folder = tmp_path / "private"
    folder.mkdir()
    png = io.BytesIO()
    Image.new("RGB", (16, 16), (0, 0, 255)).save(png, format="PNG")
    (folder / "photo.png").write_bytes(png.getvalue())
    (folder / "secret.txt").write_text("SECRET-0f3a9 of the reader\n")
    return folder


@pytest.fixture
def run_copy(uninterrupted, tmp_path):
    folder = tmp_path / "downloaded-run"
    shutil.copytree(uninterrupted[1], folder, symlinks=True)
    return folder


def _grid(folder: Path) -> str:
    return sorted(p.name for p in (folder / "samples").glob("step-*.png"))[-1]


def _report(folder: Path) -> str:
    from gan_adapt.evaluation.report import build_report

    with no_hang():
        return build_report(folder)


def _repr(folder: Path) -> str:
    from gan_adapt.api.public import Run

    with no_hang():
        return Run(folder, plugins=None)._repr_html_()  # type: ignore[arg-type]


def _embedded(page: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)",
                                                    page)]


def _assert_nothing_from(outside: Path, page: str) -> None:
    for path in outside.iterdir():
        if not path.is_file():
            continue  # the FIFO of one case
        data = path.read_bytes()
        assert data not in _embedded(page), f"{path} was embedded"
        assert base64.b64encode(data).decode() not in page
    assert "SECRET-0f3a9" not in page


def test_the_run_keeps_its_target(run_copy):
    kept = run_copy / "target" / "image.png"
    assert kept.is_file()
    page = _report(run_copy)
    assert 'alt="target image"' in page and "keeps no copy" not in page


@pytest.mark.parametrize("name", ["grid", "search/target_vs_reference.png", "loss_curves.png",
                                  "target/image.png"])
@pytest.mark.parametrize("to", ["photo.png", "secret.txt"])
def test_links_out_of_the_folder_are_never_embedded(name, to, run_copy, outside):
    name = f"samples/{_grid(run_copy)}" if name == "grid" else name
    link = run_copy / name
    link.unlink()
    link.symlink_to(outside / to)
    for page in (_report(run_copy), _repr(run_copy)):
        _assert_nothing_from(outside, page)
    if name.startswith("target/"):
        assert "keeps no copy of its target image" in _report(run_copy)


def test_a_linked_folder_is_outside_too(run_copy, outside):
    """samples/ itself a link to a folder of the reader's files named like grids."""
    shutil.rmtree(run_copy / "samples")
    shutil.copy(outside / "photo.png", outside / "step-000001.png")
    (run_copy / "samples").symlink_to(outside)
    for page in (_report(run_copy), _repr(run_copy)):
        _assert_nothing_from(outside, page)


@pytest.mark.parametrize("record", ["eval.json", "metrics.json", "run.json", "result.json",
                                    "plugins.json", "environment.json", "recipe.toml"])
def test_a_record_linked_out_is_refused_or_missing_never_shown(record, run_copy, outside):
    secret = outside / "record"
    secret.write_text('{"metrics": {"fid": 1.0}, "x": "SECRET-0f3a9"}' if record != "recipe.toml"
                      else 'name = "SECRET-0f3a9"\n')
    (run_copy / record).unlink(missing_ok=True)
    (run_copy / record).symlink_to(secret)
    try:
        page = _report(run_copy)
    except GanAdaptError as exc:
        assert "SECRET-0f3a9" not in str(exc)
        assert "\n" not in str(exc)
    else:
        assert "SECRET-0f3a9" not in page
    assert "SECRET-0f3a9" not in _repr(run_copy)


def _target_image(page: str) -> tuple[int, int, int]:
    match = re.search(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)" alt="target image"',
                      page)
    assert match, "no target image on the page"
    image = Image.open(io.BytesIO(base64.b64decode(match.group(1)))).convert("RGB")
    return tuple(int(c) for c in torch.tensor(list(image.get_flattened_data())).float().mean(0))


def _without(page: str, value: str) -> str:
    """The page with the recorded value (and its file name) blanked: what may differ."""
    return page.replace(value, "VALUE").replace(Path(value).name, "NAME")


def _point_target(folder: Path, value: str) -> None:
    data = tomllib.loads((folder / "recipe.toml").read_text())
    data["target"] = {"image": value}
    (folder / "recipe.toml").write_text(tomli_w.dumps(data))


def test_a_recipe_naming_a_target_outside_is_never_read(run_copy, outside, fault_plugin_set):
    from gan_adapt.evaluation.runs import open_run_recipe

    os.mkfifo(outside / "pipe.png")
    pages, errors = {}, {}
    kept = (run_copy / "target" / "image.png").read_bytes()
    for case, value in {"exists": str(outside / "photo.png"), "missing": str(outside / "no.png"),
                        "fifo": str(outside / "pipe.png"),
                        "escaping": "../../private/photo.png"}.items():
        _point_target(run_copy, value)
        page = _report(run_copy)
        assert sum(_target_image(page)) > 0 and _target_image(page)[2] < 200, \
            "the page shows the recorded target, not the run's own copy"
        _assert_nothing_from(outside, page)
        pages[case] = _without(page, value)
        with no_hang():
            _, _, validated = open_run_recipe(run_copy, fault_plugin_set)
        assert Path(validated.recipe.target.image).read_bytes() == kept
    assert len(set(pages.values())) == 1, "the page differs with the outside file's state"

    (run_copy / "target" / "image.png").unlink()  # a folder that keeps no copy
    for case, value in {"exists": str(outside / "photo.png"),
                        "missing": str(outside / "no.png"),
                        "fifo": str(outside / "pipe.png")}.items():
        _point_target(run_copy, value)
        page = _report(run_copy)
        assert "keeps no copy of its target image" in page
        _assert_nothing_from(outside, page)
        pages[case] = _without(page, value)
        with no_hang(), pytest.raises(InputError) as caught:
            open_run_recipe(run_copy, fault_plugin_set)
        errors[case] = str(caught.value)
    assert len({pages[c] for c in errors}) == 1
    assert len(set(errors.values())) == 1, errors


@pytest.mark.parametrize("name", ["recipe.toml", "run.json", "eval.json", "metrics.json",
                                  "result.json", "plugins.json", "environment.json", "grid",
                                  "search/target_vs_reference.png", "loss_curves.png",
                                  "target/image.png", "log.jsonl"])
def test_fifos_never_block_a_reader(name, run_copy, cli, fault_plugin_set):
    from gan_adapt.engine.run_folder import RunFolder
    from gan_adapt.evaluation.runs import open_run_recipe

    name = f"samples/{_grid(run_copy)}" if name == "grid" else name
    (run_copy / name).unlink(missing_ok=True)
    os.mkfifo(run_copy / name)
    with no_hang():
        result = cli("report", run_copy, "--out", run_copy.parent / "report.html")
        assert "Traceback" not in result.err
        if result.code != 0:
            assert_refused(result, name.split("/")[-1])
        _repr(run_copy)
        try:  # refused with one line (the bounded reader) or read as no log: never blocks
            RunFolder(run_copy).read_log()
        except GanAdaptError as exc:
            assert "log.jsonl" in str(exc)
        try:
            open_run_recipe(run_copy, fault_plugin_set)
        except GanAdaptError:
            pass


@pytest.mark.parametrize("value", ["/etc/passwd", "../../private/photo.png", "generator/../../x",
                                   "~root/.bashrc", "", 5, None, "a\x00b"])
def test_records_naming_paths_outside_are_refused_or_missing(value, run_copy, fault_plugin_set):
    import json

    from gan_adapt.api.public import Run
    from gan_adapt.io.safe_paths import record_path

    assert record_path(run_copy, value) is None
    result = json.loads((run_copy / "result.json").read_text())
    result["outputs"]["generator"] = value
    (run_copy / "result.json").write_text(json.dumps(result))
    try:  # refused with one line naming the record (the bounded reader), or left out
        paths = Run(run_copy, plugins=fault_plugin_set).paths
    except GanAdaptError as exc:
        assert "result.json" in str(exc)
        return
    assert "generator" not in paths
    assert all(p.resolve().is_relative_to(run_copy.resolve()) for p in paths.values())


def test_a_checkpoint_linked_out_is_not_read(run_copy, tmp_path):
    from gan_adapt.engine.run_folder import RunFolder

    outside = tmp_path / "elsewhere.pt"
    torch.save({"w": torch.zeros(1)}, outside)
    link = sorted((run_copy / "checkpoints").glob("step-*.pt"))[-1]
    link.unlink()
    link.symlink_to(outside)
    folder = RunFolder(run_copy)
    assert link not in folder.list_checkpoints()
    with pytest.raises(CheckpointError, match="outside the run folder"):
        folder.load_state(link)


def test_an_adapted_generator_folder_with_a_link_out_is_refused(run_copy, tmp_path,
                                                                fault_plugin_set):
    import json

    from gan_adapt.engine.run_folder import RunFolder
    from gan_adapt.evaluation.runs import load_adapted

    generator = run_copy / "generator"
    shutil.rmtree(generator)
    generator.mkdir()
    (tmp_path / "model.safetensors").write_bytes(b"x")
    (generator / "model.safetensors").symlink_to(tmp_path / "model.safetensors")
    outputs = {"generator": "generator"}
    with pytest.raises(InputError, match="outside the run folder"):
        load_adapted(RunFolder(run_copy), outputs, None, torch.device("cpu"))
    assert json.loads((run_copy / "run.json").read_text())  # the folder is left as it was


def test_read_inside_helpers(tmp_path):
    from gan_adapt.io.safe_paths import is_within, read_inside, record_path, regular_inside

    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "ok.png").write_bytes(b"png")
    (tmp_path / "out.txt").write_text("out")
    (root / "link").symlink_to(tmp_path / "out.txt")
    (root / "inner").symlink_to(root / "sub" / "ok.png")
    os.mkfifo(root / "pipe")
    assert read_inside(root, root / "sub" / "ok.png") == b"png"
    assert read_inside(root, root / "inner") == b"png"  # a link that stays inside is fine
    assert read_inside(root, root / "link") is None
    with no_hang(10):
        assert read_inside(root, root / "pipe") is None
    assert read_inside(root, root / "sub") is None
    assert read_inside(root, root / "sub" / "ok.png", limit=2) is None
    assert not regular_inside(root, root / "pipe") and regular_inside(root, root / "inner")
    assert record_path(root, "sub/ok.png") == root / "sub" / "ok.png"
    assert record_path(root, "link") is None and record_path(root, "/abs") is None
    assert not is_within(root, tmp_path) and is_within(root, root)


def test_sweep_tables_read_only_the_runs_own_records(run_copy, outside):
    """results.csv is something gan-adapt shows: a record linked out, or a FIFO, is missing."""
    from gan_adapt.sweep.backends import Outcome, _status
    from gan_adapt.sweep.spec import RunSpec
    from gan_adapt.sweep.table import rows

    (outside / "metrics.json").write_text('{"SECRET-0f3a9": 1.0}')
    (run_copy / "metrics.json").unlink()
    (run_copy / "metrics.json").symlink_to(outside / "metrics.json")
    os.mkfifo(run_copy / "eval.json")
    spec = RunSpec(run_id="r0", base="b.toml", target=None, overrides=[], seed=0)
    with no_hang():
        table = rows([(spec, str(run_copy))], [Outcome("r0", str(run_copy), "done", "none", 1.0)])
        assert _status(run_copy) == "done"
    assert not any("SECRET" in key for key in table[0])
    (run_copy / "run.json").unlink()
    (run_copy / "run.json").symlink_to(outside / "metrics.json")
    assert _status(run_copy) is None


def _interrupted(folder: Path) -> None:
    import json

    meta = json.loads((folder / "run.json").read_text())
    (folder / "run.json").write_text(json.dumps({**meta, "status": "interrupted"}))


def test_a_resume_keeps_the_target_of_an_older_run_and_never_writes_through_a_link(
        run_copy, outside, cli, uninterrupted):
    from .conftest import FAULT_PLUGINS, FIXTURES

    orange = (run_copy / "target" / "image.png").read_bytes()
    shutil.rmtree(run_copy / "target")  # a run from before runs kept their target
    _interrupted(run_copy)
    result = cli("run", "--resume", run_copy, "--plugins-dir", FIXTURES,
                 "--plugins-dir", FAULT_PLUGINS)
    assert result.code == 0, result.err
    assert (run_copy / "target" / "image.png").read_bytes() == orange

    shutil.rmtree(run_copy / "target")
    (run_copy / "target").symlink_to(outside)
    _interrupted(run_copy)
    before = sorted(p.name for p in outside.iterdir())
    result = cli("run", "--resume", run_copy, "--plugins-dir", FIXTURES,
                 "--plugins-dir", FAULT_PLUGINS)
    assert result.code == 0, result.err
    assert sorted(p.name for p in outside.iterdir()) == before


def test_a_resume_never_reads_a_recipe_linked_out(run_copy, outside, cli):
    from .conftest import FAULT_PLUGINS, FIXTURES

    (outside / "recipe.toml").write_text((run_copy / "recipe.toml").read_text())
    (run_copy / "recipe.toml").unlink()
    (run_copy / "recipe.toml").symlink_to(outside / "recipe.toml")
    _interrupted(run_copy)
    result = cli("run", "--resume", run_copy, "--plugins-dir", FIXTURES,
                 "--plugins-dir", FAULT_PLUGINS)
    assert_refused(result, "leads outside the run folder")
