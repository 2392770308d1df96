"""Temporal flicker: hand-computed values and VBench's loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from evaluation.metrics import TemporalFlicker, motion, temporal_flicker


def vbench_flicker_reference(videos: torch.Tensor) -> np.ndarray:
    """VBench temporal_flickering.py: per pair mean(cv2.absdiff) on uint8 HWC frames,
    score (255 - mean) / 255."""
    scores = []
    for video in videos.permute(0, 1, 3, 4, 2).numpy():
        maes = [np.abs(a.astype(np.int16) - b.astype(np.int16)).mean() for a, b in
                zip(video[:-1], video[1:], strict=True)]  # fmt: skip
        scores.append((255.0 - np.mean(maes)) / 255.0)
    return np.array(scores)


def test_hand_computed_flicker_and_motion():
    """Grey levels 0, 51, 102: every pair differs by 51, so flicker (255 - 51) / 255 = 0.8."""
    video = torch.tensor([0, 51, 102], dtype=torch.uint8)[None, :, None, None, None]
    video = video.expand(1, 3, 3, 4, 5)
    assert temporal_flicker(video).item() == pytest.approx(0.8, abs=1e-6)
    assert motion(video).item() == pytest.approx(0.2, abs=1e-6)


def test_identical_frames(make_videos):
    frozen = make_videos(2, 1).expand(-1, 4, -1, -1, -1)
    torch.testing.assert_close(temporal_flicker(frozen), torch.ones(2))
    torch.testing.assert_close(motion(frozen), torch.zeros(2))


def test_flicker_matches_vbench_reference(make_videos):
    videos = make_videos(3, 5, h=20, w=30, seed=9)
    expected = torch.tensor(vbench_flicker_reference(videos), dtype=torch.float32)
    torch.testing.assert_close(temporal_flicker(videos), expected, atol=1e-6, rtol=0)
    torch.testing.assert_close(temporal_flicker(videos.float() / 255), expected, atol=1e-6, rtol=0)
    torch.testing.assert_close(motion(videos), 1 - expected, atol=1e-6, rtol=0)


def test_flicker_class(make_videos):
    a, b = make_videos(2, 3, seed=1), make_videos(1, 6, seed=2)
    metric = TemporalFlicker()
    metric.update(a)
    metric.update(b)
    expected = torch.cat([temporal_flicker(a), temporal_flicker(b)])
    torch.testing.assert_close(metric.per_video()["temporal_flicker"], expected)
    assert metric.compute()["temporal_flicker"].item() == pytest.approx(expected.mean().item())
