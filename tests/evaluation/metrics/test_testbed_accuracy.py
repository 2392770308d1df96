"""testbed_accuracy / testbed_all4: the judge's reading of testbed videos against their captions;
other videos and captions are refused before the judge loads."""

from __future__ import annotations

import pytest
import torch

# Imported as a module: pytest would collect names starting with "test" as tests.
from evaluation.metrics import testbed_accuracy as tba
from freqlab.testbed.data import make_clips
from freqlab.testbed.train_judge import EVAL_SEED


@pytest.fixture(scope="module")
def real():
    clips, captions = make_clips(8, seed=EVAL_SEED + 20, split="heldout")
    return torch.from_numpy(clips), captions


def test_real_clips_score_their_captions(real):
    videos, captions = real
    accuracy, all4 = tba.testbed_accuracy(videos, captions), tba.testbed_all4(videos, captions)
    assert accuracy.shape == all4.shape == (8,) and accuracy.dtype == torch.float32
    # The judge reads >= 98% of real clips' attributes (judge.json); one miss allowed here.
    assert accuracy.mean() >= 0.96 and all4.sum() >= 7


def test_a_wrong_caption_loses_exactly_its_wrong_attribute(real):
    videos, captions = real
    caption = captions[0]
    colour = caption.split()[1]
    other = "green" if colour != "green" else "red"
    wrong = caption.replace(f"a {colour} ", f"a {other} ", 1)
    matches = tba.testbed_attribute_matches(videos[:1], [wrong])
    assert matches["colour"].item() == 0
    right = tba.testbed_attribute_matches(videos[:1], [caption])
    assert all(matches[k].item() == right[k].item() for k in ("shape", "direction", "background"))


def test_a_blank_video_scores_at_most_its_background(real):
    _, captions = real
    blank = torch.full((2, 8, 3, 32, 32), 0.45)  # a gray background, nothing on it
    assert torch.all(tba.testbed_accuracy(blank, captions[:2]) <= 0.25)
    assert torch.all(tba.testbed_all4(blank, captions[:2]) == 0)


def test_uint8_videos_are_read_as_float_ones(real):
    videos, captions = real
    as_uint8 = (videos * 255).round().to(torch.uint8)
    assert torch.equal(
        tba.testbed_accuracy(as_uint8, captions), tba.testbed_accuracy(videos, captions)
    )


@pytest.mark.parametrize(
    ("videos", "prompts", "message"),
    [
        (
            torch.rand(1, 16, 3, 256, 256),
            ["a red circle moving left on a gray background"],
            "testbed videos",
        ),
        (torch.rand(1, 8, 3, 32, 32), ["a man playing the guitar"], "not a testbed caption"),
        (
            torch.rand(2, 8, 3, 32, 32),
            ["a red circle moving left on a gray background"],
            "one string per video",
        ),
    ],
)
def test_other_videos_and_captions_are_refused(videos, prompts, message):
    with pytest.raises(ValueError, match=message):
        tba.testbed_accuracy(videos, prompts)


def test_metric_class_accumulates_per_video_values(real):
    videos, captions = real
    metric = tba.TestbedAccuracy()
    metric.update(videos[:3], captions[:3])
    metric.update(videos[3:], captions[3:])
    per_video = metric.per_video()
    assert torch.equal(per_video["testbed_accuracy"], tba.testbed_accuracy(videos, captions))
    assert torch.equal(per_video["testbed_all4"], tba.testbed_all4(videos, captions))
    result = metric.compute()
    assert set(result) == {"testbed_accuracy", "testbed_all4"}
    assert metric.metadata["judge"] and metric.metadata["metric"] == "testbed_accuracy"
