"""evaluation.inputs: every metric checks its input where it enters, with clear ValueErrors naming
the parameter."""

from __future__ import annotations

import re

import pytest
import torch
from torch import nn

from evaluation import metrics
from evaluation.inputs import check_prompts, check_videos


class ConstantFlow(nn.Module):
    def forward(self, a, b):
        flow = torch.zeros(a.shape[0], 2, *a.shape[-2:])
        flow[:, 0], flow[:, 1] = 3.0, 4.0
        return flow


def _functions():
    return {
        "dino_consistency": lambda v: metrics.dino_consistency(v, "pixel"),
        "subject_consistency": lambda v: metrics.subject_consistency(v, "pixel"),
        "background_consistency": lambda v: metrics.background_consistency(v, "pixel"),
        "clip_score": lambda v: metrics.clip_score(v, ["p"] * max(len(v), 1), "pixel"),
        "temporal_flicker": metrics.temporal_flicker,
        "motion": metrics.motion,
        "flow_magnitude": lambda v: metrics.flow_magnitude(v, ConstantFlow(), size=128),
        "DINOConsistency": lambda v: metrics.DINOConsistency("pixel").update(v),
        "SubjectConsistency": lambda v: metrics.SubjectConsistency("pixel").update(v),
        "VideoCLIPScore": lambda v: metrics.VideoCLIPScore("pixel").update(v, ["p"] * len(v)),
        "TemporalFlicker": lambda v: metrics.TemporalFlicker().update(v),
        "Motion": lambda v: metrics.Motion(flow=None).update(v),
    }


FUNCTIONS = _functions()
GOOD = torch.zeros(2, 3, 3, 16, 16, dtype=torch.uint8)
NAN = torch.zeros(2, 3, 3, 16, 16)
NAN[1, 2, 0, 3, 3] = float("nan")
BAD = {
    "rank 4": (torch.zeros(3, 3, 16, 16, dtype=torch.uint8), r"5 dimensions.*unsqueeze\(0\)"),
    "rank 6": (torch.zeros(1, 2, 3, 3, 16, 16), "5 dimensions"),
    "one frame": (torch.zeros(2, 1, 3, 16, 16), "at least 2 frames"),
    "four channels": (torch.zeros(2, 3, 4, 16, 16), "1 or 3 channels"),
    "channels last": (torch.zeros(2, 3, 16, 16, 3), "channels-last"),
    "nan": (NAN, "NaN"),
    "inf": (torch.full((1, 2, 3, 8, 8), float("inf")), "NaN or infinite"),
    "minus one to one": (torch.full((1, 2, 3, 8, 8), -1.0), r"\[0, 1\].*\(videos \+ 1\) / 2"),
    "0-255 floats": (torch.full((1, 2, 3, 8, 8), 200.0), r"\[0, 1\].*uint8"),
    "int64": (torch.zeros(1, 2, 3, 8, 8, dtype=torch.int64), "uint8.*int64"),
    "not a tensor": ([[0.0]], "torch.Tensor"),
}


@pytest.mark.parametrize("case", sorted(BAD))
@pytest.mark.parametrize("fn", sorted(FUNCTIONS))
def test_bad_videos_raise_value_error(fn, case):
    videos, message = BAD[case]
    with pytest.raises(ValueError) as info:
        FUNCTIONS[fn](videos)
    assert "videos" in str(info.value)
    assert re.search(message, str(info.value), flags=re.DOTALL), str(info.value)


def test_prompt_count_must_match():
    with pytest.raises(ValueError, match="one string per video: got 3 prompts for 2 videos"):
        metrics.clip_score(GOOD, ["a", "b", "c"], "pixel")
    with pytest.raises(ValueError, match="one string per video: got 1 prompts for 2 videos"):
        metrics.VideoCLIPScore("pixel").update(GOOD, ["a"])
    with pytest.raises(ValueError, match="prompts must be a sequence of strings"):
        metrics.clip_score(GOOD, [1, 2], "pixel")


def test_single_prompt_string_for_one_video():
    assert check_prompts("a cat", 1) == ["a cat"]
    with pytest.raises(ValueError, match="got 1 prompts for 2 videos"):
        check_prompts("a cat", 2)


def test_grey_videos_are_expanded_to_rgb(make_videos):
    grey = make_videos(2, 3)[:, :, :1]
    rgb = grey.expand(-1, -1, 3, -1, -1)
    assert check_videos(grey).shape == rgb.shape
    torch.testing.assert_close(
        metrics.dino_consistency(grey, "pixel"), metrics.dino_consistency(rgb, "pixel")
    )


def test_float_slightly_outside_range_is_accepted():
    videos = torch.full((1, 2, 3, 8, 8), 1.0005)
    assert metrics.temporal_flicker(videos).item() == pytest.approx(1.0)


def test_bad_batch_size_and_unknown_encoder():
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        metrics.dino_consistency(GOOD, "pixel", batch_size=0)
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        metrics.DINOConsistency("pixel", batch_size=-1)
    with pytest.raises(ValueError, match=r"encoder must be one of \[.*dino_vits16.*pixel"):
        metrics.dino_consistency(GOOD, "dino_vits17")
    with pytest.raises(ValueError, match='weights must be None for encoder="pixel"'):
        metrics.dino_consistency(GOOD, "pixel", weights="x.pth")
