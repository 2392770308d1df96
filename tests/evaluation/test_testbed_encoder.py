"""The judge's frame features as an encoder for the consistency metrics ("testbed_judge")."""

from __future__ import annotations

import torch

from evaluation import testbed_encoder
from evaluation.metrics.consistency import dino_consistency
from freqlab.testbed.data import make_clips


def test_features_are_per_frame_and_named():
    encoder = testbed_encoder.testbed_judge_encoder()
    assert encoder.name == testbed_encoder.TESTBED_JUDGE and "judge.safetensors@" in encoder.weights
    frames = torch.rand(5, 3, 224, 224)  # as the metrics' preprocessing hands them over
    assert encoder.module(frames).shape == (5, 64)
    assert testbed_encoder.testbed_judge_encoder() is encoder  # built once per device


def test_consistency_sees_an_object_vanish_but_not_a_static_clip():
    clips, _ = make_clips(2, seed=7, split="heldout")
    videos = torch.from_numpy(clips)
    static = videos[:, :1].expand(-1, 8, -1, -1, -1)
    vanishing = videos.clone()
    vanishing[:, 4:] = videos[:, :1, :, :1, :1]  # from frame 4: the corner's background colour
    encoder = testbed_encoder.testbed_judge_encoder()
    # Identical frames: cosine 1 up to float32 rounding of the features.
    assert torch.allclose(dino_consistency(static, encoder), torch.full((2,), 100.0), atol=1e-3)
    assert torch.all(dino_consistency(vanishing, encoder) < dino_consistency(videos, encoder))
