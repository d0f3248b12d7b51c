"""The benchmark's independent evaluator: training script (--quick), export, loading, distance."""

from __future__ import annotations

import json

import pytest
import torch

from gan_adapt.errors import CheckpointError
from gan_adapt.evaluation import evaluator as ev
from gan_adapt.training import portrait_evaluator as pe


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    work = tmp_path_factory.mktemp("evaluator")
    assert pe.main(["--work", str(work / "work"), "--quick", "--export", str(work / "out")]) == 0
    return work


def test_quick_training_exports_a_loadable_evaluator(exported):
    evaluator = ev.from_folder(exported / "out")
    x = torch.rand(3, 3, 16, 16) * 2 - 1
    y = torch.rand(3, 3, 16, 16) * 2 - 1
    assert torch.equal(evaluator.distance(x, x), torch.zeros(3))
    assert (evaluator.distance(x, y) > 0).all()
    assert torch.allclose(evaluator.distance(x, y), evaluator.distance(y, x))
    predicted = evaluator.attributes(x)
    assert set(predicted) == set(pe.ATTRIBUTES)
    assert all(v.shape == (3,) for v in predicted.values())
    assert "from a folder" in evaluator.provenance() and evaluator.sha256 in evaluator.provenance()
    heldout = json.loads((exported / "work" / "heldout.json").read_text())
    assert {"clean", "perturbed", "sketch"} <= set(heldout["accuracy"])


def test_resume_continues_exactly(tmp_path):
    config = pe.quick_config()  # 4 steps, logged at 1, 2, 4; checkpoints at 2 and 4
    straight, _ = pe.train(config, tmp_path / "a", report=lambda _: None)

    def interrupt(line):
        if json.loads(line)["step"] == 4:  # after step 4's update, before its checkpoint
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        pe.train(config, tmp_path / "b", report=interrupt)
    resumed, _ = pe.train(config, tmp_path / "b", report=lambda _: None)
    for (name, p), q in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(p, q), name


def test_distance_is_lpips_style_by_hand():
    """One stage, one channel pair: unit-normalised channels, squared difference summed over
    channels, mean over positions."""

    class OneStage(torch.nn.Module):
        def stages(self, x):
            return [x[:, :2]]

    e = ev.Evaluator(OneStage(), "hand", None, 2)
    x = torch.tensor([[[[1.0, 0.0], [1.0, 1.0]], [[0.0, 1.0], [1.0, 1.0]],
                       [[0.0, 0.0], [0.0, 0.0]]]])
    y = torch.tensor([[[[0.0, 0.0], [1.0, 1.0]], [[1.0, 1.0], [1.0, 1.0]],
                       [[0.0, 0.0], [0.0, 0.0]]]])
    # positions: (1,0)->(0,1): 2; (0,1)->(0,1): 0; (1,1)/sqrt2 twice: 0 -> mean 2/4
    assert float(e.distance(x, y)) == pytest.approx(0.5, abs=1e-6)
    assert "random" not in e.provenance()


def test_damaged_or_unknown_evaluator_is_refused(tmp_path, exported):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(CheckpointError, match="cannot load the evaluator"):
        ev.from_folder(tmp_path)
    with pytest.raises(CheckpointError, match="not a shipped evaluator"):
        ev.load_evaluator("portraits-clip")
