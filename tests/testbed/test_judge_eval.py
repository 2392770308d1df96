"""freqlab.testbed.judge_eval.trajectories: tracking the caption's object in real clips."""

from __future__ import annotations

import math

import torch

from freqlab.testbed.data import make_clips
from freqlab.testbed.judge_eval import trajectories


def test_real_clips_move_straight_the_captions_way_at_the_generators_speed():
    clips, captions = make_clips(32, seed=5, split="heldout")
    result = trajectories(torch.from_numpy(clips), captions)
    assert result["tracked"] == 1.0 and result["captions_way"] == 1.0
    assert result["straightness"] > 0.97
    assert 1.2 <= result["speed"] <= 2.0  # the generator draws 1.2-2.0 pixels per frame


def test_reversed_clips_move_the_other_way_and_blank_ones_are_not_tracked():
    clips, captions = make_clips(8, seed=6, split="train")
    videos = torch.from_numpy(clips)
    assert trajectories(videos.flip(1), captions)["captions_way"] == 0.0
    blank = trajectories(torch.zeros_like(videos) + 0.45, captions)  # gray: no caption colour
    assert blank["tracked"] == 0.0 and math.isnan(blank["speed"])
