"""freqlab.testbed.train_judge: deterministic training batches (blank clips carry no object),
resuming like an uninterrupted run, and the shipped judge comes from the default settings."""

from __future__ import annotations

from dataclasses import asdict

import torch

from freqlab.testbed.judge import ATTRIBUTES, NONE, judge_metadata
from freqlab.testbed.train_judge import JudgeConfig, train_judge, training_batch


def test_shipped_judge_comes_from_the_default_settings_and_meets_the_goal():
    meta = judge_metadata()
    assert meta["config"] == asdict(JudgeConfig())
    for key in ("heldout_accuracy", "heldout_accuracy_mp4"):
        assert all(meta[key][name] >= 0.98 for name in ATTRIBUTES), meta[key]


def test_training_batches_are_deterministic_and_blank_clips_have_no_object():
    cfg = JudgeConfig(batch_size=64, p_blank=0.5)
    clips, labels = training_batch(cfg, 3)
    again, labels_again = training_batch(cfg, 3)
    assert torch.equal(clips, again) and torch.equal(labels, labels_again)
    assert clips.shape == (64, 8, 3, 32, 32) and 0 <= clips.min() and clips.max() <= 1
    assert torch.equal(clips, (clips * 255).round() / 255)  # uint8 levels, as a saved video
    blank = labels[:, 0] == ATTRIBUTES["shape"].index(NONE)
    assert blank.any() and (labels[blank, 1] == ATTRIBUTES["colour"].index(NONE)).all()
    assert (labels[blank, 2] == ATTRIBUTES["direction"].index(NONE)).all()


def test_training_resumes_like_an_uninterrupted_run(tmp_path):
    settings = dict(batch_size=4, width=8, eval_clips=2, checkpoint_every=1, log_every=1)
    full = train_judge(JudgeConfig(steps=3, **settings), tmp_path / "full")
    train_judge(JudgeConfig(steps=2, **settings), tmp_path / "resumed")
    resumed = train_judge(JudgeConfig(steps=3, **settings), tmp_path / "resumed")
    assert full["heldout_accuracy"] == resumed["heldout_accuracy"]
    loss = [(tmp_path / r / "loss.csv").read_text() for r in ("full", "resumed")]
    assert loss[0] == loss[1] and len(loss[0].splitlines()) == 4
    assert {p.name for p in (tmp_path / "full" / "weights").iterdir()} == {
        "judge.safetensors",
        "judge.json",
    }
