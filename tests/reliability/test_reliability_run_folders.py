"""Damaged run folders: every command that reads one (`report`, `compare`, `eval`,
`run --resume`) refuses a damaged file with one line naming the file and what is wrong, and
ignores files that are not the run's (stray files in samples/)."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from .conftest import FAULT_PLUGINS, FIXTURES, assert_refused

PLUGINS = ("--plugins-dir", FIXTURES, "--plugins-dir", FAULT_PLUGINS)

#: The commands, as arguments after which the run folder follows.
COMMANDS = {
    "report": lambda folder, tmp: ["report", folder, "--out", tmp / "report.html"],
    "compare": lambda folder, tmp: ["compare", folder, "--out", tmp / "sheet.png", "--n", "1",
                                    "--device", "cpu", *PLUGINS],
    "eval": lambda folder, tmp: ["eval", folder, "--n", "2", "--lpips", "random-alex",
                                 "--clip", "tiny", "--device", "cpu",
                                 "--out", tmp / "eval.json", *PLUGINS],
    "resume": lambda folder, tmp: ["run", "--resume", folder, *PLUGINS],
}

#: (file, what is written into it, the commands that read it, words of the message).
#: The report shows odd *values* of a well-formed record as they are (escaped); a file that
#: is not a JSON object at all, or a value a command computes with, is refused.
DAMAGES = [
    ("run.json", b"{\"status\": \"done\",", "report compare eval resume", "not valid JSON"),
    ("run.json", b"[1, 2, 3]", "report compare eval resume", "expected a JSON object"),
    ("run.json", b"{\"status\": \"done\", \"base_dir\": 5}", "report compare eval resume",
     "base_dir"),
    ("run.json", b"{\"status\": \"x\", \"device\": [\"cpu\"]}", "report compare eval resume",
     "device"),
    ("run.json", b"\xff\xfe\x00binary", "report compare eval resume", "not UTF-8"),
    ("run.json", b"[" * 100_000 + b"]" * 100_000, "report compare eval resume",
     "nested too deeply"),
    ("result.json", b"{\"outputs\": \"generator\"}", "compare eval", "outputs"),
    ("result.json", b"{}", "compare eval", "outputs"),
    ("result.json", b"{\"outputs\": {\"generator\": \"../../../etc\"}}", "compare eval",
     "outside the run folder"),
    ("result.json", b"not json", "compare eval", "not valid JSON"),
    ("eval.json", b"{\"metrics\": {\"fid\": \"low\"}}", "compare", "metrics.fid"),
    ("eval.json", b"{\"metrics\": [1, 2]}", "compare", "metrics"),
    ("eval.json", b"{\"metrics\": {}, \"instruments\": {\"clip\": 3}}", "compare",
     "instruments.clip"),
    ("eval.json", b"\"just a string\"", "report compare", "expected a JSON object"),
    ("eval.json", b"{\"metrics\": {\"fid\": 1.0}", "report compare", "not valid JSON"),
    ("metrics.json", b"{\"total\": 1.0", "report", "not valid JSON"),
    ("environment.json", b"[]", "report", "expected a JSON object"),
]


@pytest.fixture
def finished(uninterrupted, tmp_path):
    """A copy of the finished toy run, to damage."""
    folder = tmp_path / "run"
    shutil.copytree(uninterrupted[1], folder)
    return folder


def _resumable(folder):
    meta = json.loads((folder / "run.json").read_text())
    meta["status"] = "interrupted"
    (folder / "run.json").write_text(json.dumps(meta))


#: Every (command, damage) pair in which the command reads the damaged file.
CASES = [(command, file, content, needle) for file, content, readers, needle in DAMAGES
         for command in readers.split()]


@pytest.mark.parametrize("command, file, content, needle", CASES,
                         ids=[f"{c[0]}-{c[1]}-{i}" for i, c in enumerate(CASES)])
def test_damaged_file_is_named_in_one_line(command, file, content, needle, finished, cli,
                                           tmp_path):
    if command == "resume":
        _resumable(finished)
    (finished / file).write_bytes(content)
    result = cli(*COMMANDS[command](finished, tmp_path))
    assert_refused(result, file, needle)
    assert "damaged" in result.err or "not valid" in result.err
    error_lines = [line for line in result.err.splitlines() if line.startswith("Error")]
    assert len(error_lines) == 1 and len(error_lines[0]) < 400, result.err


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_folder_where_a_record_should_be_is_refused(command, finished, cli, tmp_path):
    if command == "resume":
        _resumable(finished)
    (finished / "run.json").unlink()
    (finished / "run.json").mkdir()
    assert_refused(cli(*COMMANDS[command](finished, tmp_path)), "run.json",
                   "is a folder, not a regular file")


@pytest.mark.parametrize("w_ref, needle", [
    (torch.zeros(1, 3, 7), "w_ref has shape [1, 3, 7]"),
    (torch.zeros(4), "w_ref has shape [4]"),
    ("a string", "w_ref is not a float tensor"),
    (torch.zeros(1, 1, 1, dtype=torch.int64), "w_ref is not a float tensor"),
])
def test_resume_refuses_a_w_ref_of_the_wrong_shape(w_ref, needle, finished, cli, tmp_path):
    _resumable(finished)
    search = finished / "search" / "w_ref.pt"
    saved = torch.load(search, weights_only=True)
    saved["w_ref"] = w_ref
    torch.save(saved, search)
    result = cli(*COMMANDS["resume"](finished, tmp_path))
    assert_refused(result, "w_ref.pt is damaged", needle)


def test_resume_refuses_a_w_ref_of_the_wrong_shape_in_a_checkpoint(finished, cli, tmp_path):
    _resumable(finished)
    last = sorted((finished / "checkpoints").glob("step-*.pt"))[-1]
    state = torch.load(last, weights_only=True)
    state["w_ref"] = torch.zeros(1, 2, 3)
    torch.save(state, last)
    assert_refused(cli(*COMMANDS["resume"](finished, tmp_path)), last.name, "w_ref has shape")


def test_resume_refuses_a_w_ref_file_without_its_entries(finished, cli, tmp_path):
    _resumable(finished)
    search = finished / "search" / "w_ref.pt"
    saved = torch.load(search, weights_only=True)
    del saved["rng"]  # the run's own identity stays: the file is this run's, but cut
    torch.save(saved, search)
    assert_refused(cli(*COMMANDS["resume"](finished, tmp_path)), "w_ref.pt is damaged",
                   "expected the w_ref and rng entries")


def test_stray_files_in_samples_are_ignored_by_the_report(finished, cli, tmp_path):
    samples = finished / "samples"
    grids = sorted(p.name for p in samples.glob("step-*.png"))
    (samples / "step-abc.png").write_bytes(b"not a grid")
    (samples / "notes.txt").write_text("mine")
    (samples / "step-000099.png.tmp").write_bytes(b"")
    (samples / "step-000777.png").mkdir()
    result = cli("report", finished, "--out", tmp_path / "r.html", "--max-grids", "100")
    assert result.code == 0, result.err
    page = (tmp_path / "r.html").read_text()
    shown = [int(name[5:11]) for name in grids]
    assert page.count('alt="samples at step') == len(shown)
    for step in shown:
        assert f"samples at step {step}" in page
    assert "step 777" not in page and "abc" not in page


def test_a_damaged_adapted_generator_is_named(finished, cli, tmp_path):
    generator = finished / "generator" / "state_dict.pt"
    state = torch.load(generator, weights_only=True)
    name = sorted(state)[0]
    state[name] = torch.zeros(3, 3, 3, 3)
    torch.save(state, generator)
    result = cli(*COMMANDS["compare"](finished, tmp_path))
    assert_refused(result, "state_dict.pt is damaged", "does not fit the run's generator")
