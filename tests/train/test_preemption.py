"""A preemption notice stops the loop at the next step boundary with a checkpoint of that step;
the same call resumes from it bit-exactly; with checkpoints off the run still stops cleanly."""

from __future__ import annotations

import os

import pytest

from admire_jax.train.preemption import PreemptionNotice
from admire_jax.train.trainer import train
from tests.train.test_loop import BATCH, MIXTURE, SEQ, config, losses, mesh_of, read_result
from tests.train.tiny_model import StepLoader, tiny_spec, validation

pytestmark = pytest.mark.usefixtures("fixed_learning_rate")
STEPS = 12


class NoticeDuringStep(StepLoader):
    """Requests preemption while the batch of step `during` (1-based) is read, as SIGTERM would."""

    def __init__(self, notice: PreemptionNotice, during: int):
        super().__init__(BATCH, SEQ)
        self.notice, self.during = notice, during

    def batch(self, step):
        if step + 1 == self.during:
            self.notice.request()
        return super().batch(step)


def _train(run_dir, loader, notice=None, **overrides):
    cfg = config(**{"steps": STEPS, "checkpoint_every": 100, **overrides})
    return train(
        tiny_spec(), mesh_of(2, 2), cfg, loader, validation(SEQ), str(run_dir), MIXTURE, preemption_notice=notice
    )


def test_preemption_checkpoints_the_next_step_and_resumes_bit_exactly(tmp_path):
    straight = _train(tmp_path / "straight", StepLoader(BATCH, SEQ))
    assert straight["status"] == "ok" and "resumable" not in straight

    notice = PreemptionNotice()
    stopped = _train(tmp_path / "run", NoticeDuringStep(notice, during=5), notice)
    assert stopped["status"] == "preempted" and stopped["step"] == stopped["steps"] == 5
    assert stopped["resumable"] is True and "run the same command to resume" in stopped["error"]
    assert read_result(str(tmp_path / "run")) == {**stopped, "wall_seconds": stopped["wall_seconds"]}
    assert os.listdir(tmp_path / "run" / "checkpoints") == ["5"], "checkpoint_every=100 > 12 steps"

    loader = StepLoader(BATCH, SEQ)
    resumed = _train(tmp_path / "run", loader)
    assert loader.calls[0] == 5 and resumed["status"] == "ok" and resumed["steps"] == STEPS
    assert losses(str(tmp_path / "run")) == losses(str(tmp_path / "straight"))
    assert resumed["val_loss"] == straight["val_loss"]
    assert resumed["wall_seconds"] > stopped["wall_seconds"], "the preempted invocation's time is part of the cost"


def test_with_checkpoints_off_a_preempted_run_stops_cleanly_with_nothing_to_resume(tmp_path):
    notice = PreemptionNotice()
    stopped = _train(tmp_path, NoticeDuringStep(notice, during=3), notice, checkpoint_every=0)
    assert stopped["status"] == "preempted" and stopped["step"] == 3 and stopped["resumable"] is False
    assert "nothing to resume from" in stopped["error"]
    assert read_result(str(tmp_path))["resumable"] is False
    assert not (tmp_path / "checkpoints").exists()

    finished = _train(tmp_path / "off", StepLoader(BATCH, SEQ), checkpoint_every=0)
    assert finished["status"] == "ok" and not (tmp_path / "off" / "checkpoints").exists()


def test_a_notice_before_the_first_step_stops_at_step_zero(tmp_path):
    notice = PreemptionNotice()
    notice.request()
    loader = StepLoader(BATCH, SEQ)
    stopped = _train(tmp_path, loader, notice)
    assert stopped["status"] == "preempted" and stopped["step"] == 0 and loader.calls == []
    assert os.listdir(tmp_path / "checkpoints") == ["0"]


def test_negative_checkpoint_interval_is_a_clear_error():
    with pytest.raises(ValueError, match="checkpoint_every must be >= 0"):
        config(checkpoint_every=-1)
