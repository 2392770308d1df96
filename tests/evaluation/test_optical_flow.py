"""evaluation.optical_flow: frames prepared for RAFT, in [-1, 1], padded or resized to sides that
are multiples of 8, and refused below 128 pixels a side."""

from __future__ import annotations

import pytest
import torch

from evaluation.optical_flow import prepare_flow_frames


def test_prepare_flow_frames():
    frames = torch.full((2, 3, 130, 170), 255, dtype=torch.uint8)
    out = prepare_flow_frames(frames, size=None)
    assert out.shape == (2, 3, 136, 176) and out.max() == 1.0 and out.min() == 1.0
    assert prepare_flow_frames(frames, size=256).shape == (2, 3, 256, 336)
    with pytest.raises(ValueError, match="at least 128 pixels"):
        prepare_flow_frames(frames, size=64)
