"""Every JSON record gan-adapt reads goes through one bounded reader (gan_adapt.io.json_files):
encoding, size, depth and type are checked the same way for the CLI and the Python API.

The damage is generated per class (not UTF-8, not JSON, nested too deeply, the wrong JSON type,
far too large, a FIFO, a folder) and applied to each record a run folder holds and to the
manifests; each gives one line naming the file, never a traceback and never a hang.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

import gan_adapt
from gan_adapt.errors import DamagedRecordError, GanAdaptError
from gan_adapt.io import json_files

from .conftest import FAULT_PLUGINS, FIXTURES, assert_refused


def _deep(levels: int) -> bytes:
    return ("[" * levels + "]" * levels).encode()


#: damage class -> (file content or a maker, words the message holds)
DAMAGE = {
    "latin-1": ('{"status": "d\xe9j\xe0"}'.encode("latin-1"), "not UTF-8 text"),
    "utf-16": ('{"a": 1}'.encode("utf-16"), "not UTF-8 text"),
    "binary": (bytes(range(256)), "not UTF-8 text"),
    "truncated": (b'{"status": "do', "not valid JSON"),
    "empty": (b"", "not valid JSON"),
    "deep-40": (b'{"a": ' + _deep(40) + b"}", "nested too deeply"),
    "deep-100000": (_deep(100_000), "nested too deeply"),
    "deep-objects": (b'{"a":' * 50 + b"1" + b"}" * 50, "nested too deeply"),
    "list": (b"[1, 2, 3]", "expected a JSON object, found a JSON array"),
    "string": (b'"done"', "expected a JSON object, found a string"),
    "number": (b"3", "expected a JSON object, found a number"),
    "null": (b"null", "expected a JSON object, found null"),
}


def _damage(path: Path, case: str) -> str:
    """Damage ``path`` with ``case``; returns the words the refusal must contain."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)
    if case == "huge":
        with open(path, "wb") as handle:  # sparse: costs no disk
            handle.truncate(json_files.MAX_BYTES + 1)
        return "far more than"
    if case == "fifo":
        os.mkfifo(path)
        return "not a regular file"
    if case == "folder":
        path.mkdir()
        return "not a regular file"
    content, words = DAMAGE[case]
    path.write_bytes(content)
    return words


CASES = [*DAMAGE, "huge", "fifo", "folder"]


@pytest.mark.parametrize("case", CASES)
def test_the_reader_refuses_each_class_with_one_line(case, tmp_path):
    path = tmp_path / "record.json"
    words = _damage(path, case)
    with pytest.raises(DamagedRecordError) as caught:
        json_files.read_json(path, expect=dict)
    message = str(caught.value)
    assert str(path) in message and words in message and "\n" not in message


def test_the_reader_accepts_what_gan_adapt_writes(tmp_path):
    path = tmp_path / "ok.json"
    value = {"a": [1, 2.5, None, {"b": "\u00e9"}], "nested": {"x": {"y": [[]]}}}
    path.write_text(json.dumps(value), encoding="utf-8")
    assert json_files.read_object(path) == value
    assert json_files.read_json(tmp_path / "absent.json", required=False) is None
    with pytest.raises(DamagedRecordError, match="is missing"):
        json_files.read_json(tmp_path / "absent.json")
    assert json_files.depth({"a": [[1]]}) == 3 and json_files.depth(7) == 0


def test_a_file_that_grows_after_its_size_was_checked_is_still_bounded(tmp_path, monkeypatch):
    path = tmp_path / "grows.json"
    path.write_bytes(b"[" + b"0," * 100 + b"0]")
    monkeypatch.setattr(json_files, "MAX_BYTES", 50)
    with pytest.raises(DamagedRecordError, match="far more than"):
        json_files.read_json(path, max_bytes=json_files.MAX_BYTES)


# ---------------------------------------------------------------------------------------------
# The records of a run folder, through the API and the CLI

RECORDS = ["run.json", "metrics.json", "eval.json", "result.json", "plugins.json"]
#: A sample of the classes for every record (each class is covered above for the reader).
RECORD_CASES = ["latin-1", "deep-100000", "deep-40", "list", "huge", "fifo"]


@pytest.fixture
def damaged_run(uninterrupted, tmp_path):
    """``damage(record, case)``: a copy of the finished toy run with one record damaged."""

    def damage(record: str, case: str) -> tuple[Path, str]:
        folder = tmp_path / f"run-{record}-{case}"
        shutil.copytree(uninterrupted[1], folder)
        if record == "eval.json":  # the toy run was not evaluated: give it a valid record first
            (folder / record).write_text(json.dumps({"metrics": {"fid": 1.0}}))
        return folder, _damage(folder / record, case)

    return damage


def _api_use(folder: Path, plugin_set) -> None:
    """What a notebook does with a run folder: open it, read its status and records."""
    run = gan_adapt.load_run(folder, plugins=plugin_set)
    run.status, run.metrics, run.evaluation, run.paths  # noqa: B018
    repr(run), run._repr_html_()


@pytest.mark.parametrize("case", RECORD_CASES)
@pytest.mark.parametrize("record", RECORDS)
def test_the_api_refuses_a_damaged_record_with_one_line(record, case, damaged_run,
                                                        fault_plugin_set):
    folder, words = damaged_run(record, case)
    if record == "plugins.json":  # the API loads no plugins from a folder's record
        from gan_adapt.plugin_host.provenance import read_record

        with pytest.raises(GanAdaptError, match="plugins.json is") as caught:
            read_record(folder)
    else:
        with pytest.raises(GanAdaptError) as caught:
            _api_use(folder, fault_plugin_set)
    message = str(caught.value)
    assert record in message and (words in message or "run folder" in message), message


def test_repr_of_a_run_with_a_damaged_run_json_does_not_raise(damaged_run, fault_plugin_set,
                                                             uninterrupted, tmp_path):
    folder, _ = damaged_run("metrics.json", "list")
    run = gan_adapt.api.public.Run(folder, plugins=fault_plugin_set)
    assert "metrics.json is damaged" in run._repr_html_()
    (folder / "run.json").write_bytes(b"\xff\xfe")
    assert "unreadable" in repr(run) and "unreadable" in run._repr_html_()


@pytest.mark.parametrize("case", ["latin-1", "deep-100000", "list", "huge", "fifo"])
@pytest.mark.parametrize("record", ["run.json", "eval.json", "metrics.json", "plugins.json"])
def test_report_refuses_a_damaged_record(record, case, damaged_run, cli, tmp_path):
    folder, _ = damaged_run(record, case)
    result = cli("report", folder, "--out", tmp_path / "report.html")
    assert_refused(result, record)
    assert not (tmp_path / "report.html").exists()


@pytest.mark.parametrize("case", ["latin-1", "deep-100000", "list", "huge"])
@pytest.mark.parametrize("record", ["run.json", "plugins.json"])
def test_eval_and_resume_refuse_a_damaged_record(record, case, damaged_run, cli):
    folder, _ = damaged_run(record, case)
    for args in (["eval", folder, "--n", "2"], ["run", "--resume", folder]):
        result = cli(*args, "--plugins-dir", FIXTURES, "--plugins-dir", FAULT_PLUGINS)
        assert_refused(result, record)


# ---------------------------------------------------------------------------------------------
# Manifests and model configs


@pytest.mark.parametrize("case", ["latin-1", "deep-100000", "list", "huge", "folder"])
def test_a_damaged_weights_manifest_is_one_line_that_says_how_to_recover(case, tmp_path):
    from gan_adapt.weights import manifest as weights_manifest

    _damage(weights_manifest.manifest_path(tmp_path), case)
    with pytest.raises(GanAdaptError) as caught:
        weights_manifest.lookup(tmp_path, tmp_path / "generators" / "x.pkl")
    assert "manifest.json" in str(caught.value) and "Delete it" in str(caught.value)


@pytest.mark.parametrize("case", ["latin-1", "deep-40", "list", "huge"])
def test_a_damaged_shipped_manifest_is_refused(case, tmp_path, monkeypatch):
    from gan_adapt.errors import CheckpointError
    from gan_adapt.weights import shipped

    manifest = tmp_path / "manifest.json"
    _damage(manifest, case)
    monkeypatch.setattr(shipped, "MANIFEST", manifest)
    shipped._manifest.cache_clear()
    try:
        with pytest.raises(CheckpointError, match="manifest.json"):
            shipped.names()
    finally:
        shipped._manifest.cache_clear()


@pytest.mark.parametrize("case", ["latin-1", "deep-100000", "list", "huge", "fifo"])
def test_a_damaged_native_generator_config_is_refused(case, tmp_path):
    from gan_adapt.errors import CheckpointError
    from gan_adapt.generators.native import read_config

    _damage(tmp_path / "config.json", case)
    with pytest.raises(CheckpointError, match="config.json"):
        read_config(tmp_path)


@pytest.mark.parametrize("case", ["latin-1", "deep-100000", "list", "huge"])
def test_sweep_summaries_skip_a_damaged_record_instead_of_crashing(case, tmp_path):
    from gan_adapt.sweep.backends import _status
    from gan_adapt.sweep.runner import files_json
    from gan_adapt.sweep.table import _read_json

    _damage(tmp_path / "run.json", case)
    assert _status(tmp_path) is None
    assert files_json(tmp_path / "run.json") is None
    assert _read_json(tmp_path / "run.json") == {}


# ---------------------------------------------------------------------------------------------
# log.jsonl: read line by line, but bounded and never from a FIFO


@pytest.mark.parametrize("case", ["fifo", "folder", "huge"])
def test_the_log_reader_refuses_what_is_not_a_log(case, tmp_path, monkeypatch):
    from gan_adapt.engine import run_folder
    from gan_adapt.engine.run_folder import RunFolder

    monkeypatch.setattr(run_folder, "MAX_LOG_BYTES", 1000)
    folder = RunFolder(tmp_path, writer=False)
    _damage(folder.log, case)
    with pytest.raises(DamagedRecordError, match="log.jsonl"):
        folder.read_log()


def test_the_log_reader_stops_at_the_first_line_that_is_not_a_record(tmp_path):
    from gan_adapt.engine.run_folder import RunFolder

    folder = RunFolder(tmp_path, writer=False)
    good = [{"phase": "adapt", "step": i, "total": 0.5} for i in range(3)]
    lines = [json.dumps(r).encode() for r in good]
    for bad in (b"[" * 100_000, b'{"a": ' + _deep(50) + b"}", b"\xff\xfe{", b'{"cut": '):
        folder.log.write_bytes(b"\n".join([*lines, bad, lines[0]]) + b"\n")
        assert folder.read_log() == good
