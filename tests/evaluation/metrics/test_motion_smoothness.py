"""evaluation.metrics.motion_smoothness: VBench's protocol with an injected interpolator (the mean
of the two neighbours, or a copy of the first) against values computed by hand: uint8
truncation of the prediction, the unused last frame of an even-length video, float input
quantised, padding to multiples of 16 and its split; the class's states and name; AMT-S on
random weights at a small size; missing weights and bad arguments."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from evaluation.metrics.motion_smoothness import (
    MotionSmoothness,
    motion_smoothness,
    padding_for,
    quantise_frames,
)
from freqlab.hub import WeightsNotFoundError


class MeanInterpolator(nn.Module):
    """The middle frame as the mean of its neighbours."""

    def forward(self, img0: torch.Tensor, img1: torch.Tensor) -> torch.Tensor:
        return (img0 + img1) / 2


class Recorder(nn.Module):
    """Returns ``img0`` and keeps the shapes and inputs it was given."""

    def __init__(self) -> None:
        super().__init__()
        self.inputs: list[torch.Tensor] = []

    def forward(self, img0: torch.Tensor, img1: torch.Tensor) -> torch.Tensor:
        self.inputs.append(img0.clone())
        return img0


def colours(*frames: tuple[int, int, int], size: tuple[int, int] = (4, 6)) -> torch.Tensor:
    """One uint8 video ``(1, T, 3, h, w)``, frame ``t`` filled with the colour ``frames[t]``."""
    video = torch.tensor(frames, dtype=torch.uint8)[:, :, None, None]
    return video.expand(-1, -1, *size).unsqueeze(0).contiguous()


@pytest.fixture(autouse=True)
def no_vbench_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("VBENCH_CACHE_DIR", str(tmp_path / "vbench"))


# Frames 0 and 2 per channel: (0, 255), (255, 255), (0, 0). Their mean in [0, 1] is 0.5, 1, 0;
# times 255: 127.5, 255, 0, truncated to 127, 255, 0 (rounding would give 128 for the first).
# Frame 1 is (130, 250, 3): errors 3, 5, 3, mean 11/3.
FIRST, MIDDLE, LAST = (0, 255, 0), (130, 250, 3), (255, 255, 0)
SCORE = (255 - 11 / 3) / 255


def test_truncates_the_prediction_like_vbench():
    score = motion_smoothness(colours(FIRST, MIDDLE, LAST), MeanInterpolator())
    assert score.dtype == torch.float32 and score.shape == (1,)
    assert score.item() == pytest.approx(SCORE, abs=1e-7)
    rounded = (255 - (2 + 5 + 3) / 3) / 255  # what rounding 127.5 up would give
    assert abs(score.item() - rounded) > 1e-3


def test_even_length_drops_the_last_frame_and_pairs_average():
    # T = 4: frames 0, 2 are interpolated for frame 1; frame 3 has no right neighbour.
    even = colours(FIRST, MIDDLE, LAST, (7, 99, 201))
    assert motion_smoothness(even, MeanInterpolator()).item() == pytest.approx(SCORE, abs=1e-7)
    # T = 5: a second pair (frames 2, 4 for frame 3). Frame 4 = frame 2, so the prediction is
    # frame 2 itself, (255, 255, 0); frame 3 is (250, 255, 10): errors 5, 0, 10, mean 5.
    five = colours(FIRST, MIDDLE, LAST, (250, 255, 10), LAST)
    expected = ((255 - 11 / 3) / 255 + (255 - 5) / 255) / 2
    assert motion_smoothness(five, MeanInterpolator()).item() == pytest.approx(expected, abs=1e-7)
    # a perfectly linear video scores 1
    linear = colours((0, 10, 20), (2, 12, 22), (4, 14, 24))
    assert motion_smoothness(linear, MeanInterpolator()).item() == 1.0


def test_float_input_is_quantised_as_a_saved_video():
    video = colours(FIRST, MIDDLE, LAST)
    as_float = video.float() / 255
    assert motion_smoothness(as_float, MeanInterpolator()).item() == pytest.approx(SCORE, abs=1e-7)
    nudged = as_float.clone()
    nudged[:, 1] += 0.4 / 255  # 130.4 -> 130: round(255 x)
    assert motion_smoothness(nudged, MeanInterpolator()).item() == pytest.approx(SCORE, abs=1e-7)
    quantised = quantise_frames(torch.tensor([0.0, 0.5, 130.6 / 255, 1.0]))
    assert quantised.tolist() == [0, 128, 131, 255]


def test_pads_to_multiples_of_16_and_unpads():
    assert padding_for(20, 24, 16) == (4, 4, 6, 6)
    assert padding_for(21, 17, 16) == (7, 8, 5, 6)  # the extra pixel right / bottom
    assert padding_for(32, 48, 16) == (0, 0, 0, 0)
    assert padding_for(1080, 1920, 22) == (8, 8, 10, 10)  # 1100 = 50 x 22, 1936 = 88 x 22
    gen = torch.Generator().manual_seed(0)
    video = torch.randint(0, 256, (1, 3, 3, 21, 17), generator=gen, dtype=torch.uint8)
    recorder = Recorder()
    score = motion_smoothness(video, recorder)
    (seen,) = recorder.inputs
    assert seen.shape == (1, 3, 32, 32)
    # replicate padding: left 7, top 5; the frame itself in the middle
    assert torch.equal(seen[0, :, 5:26, 7:24], video[0, 0].float() / 255)
    assert torch.equal(seen[0, :, 0, 0], seen[0, :, 5, 7])
    assert torch.equal(seen[0, :, 31, 31], seen[0, :, 25, 23])
    # the copy of frame 0, unpadded, comes back exact: the error is |frame 1 - frame 0|
    error = (video[0, 1].int() - video[0, 0].int()).abs().double().mean().item()
    assert score.item() == pytest.approx((255 - error) / 255, abs=1e-7)


def test_videos_in_a_batch_and_batch_sizes():
    gen = torch.Generator().manual_seed(1)
    videos = torch.randint(0, 256, (3, 5, 3, 8, 8), generator=gen, dtype=torch.uint8)
    together = motion_smoothness(videos, MeanInterpolator(), batch_size=3)
    for i in range(3):
        alone = motion_smoothness(videos[i : i + 1], MeanInterpolator(), batch_size=1)
        assert together[i] == alone[0]
    # by hand: frames as float32 / 255, their mean, x 255, truncated (as VBench, in float32)
    x = videos.float() / 255
    middle = ((x[:, 0:3:2] + x[:, 2:5:2]) / 2 * 255).floor()
    error = (videos[:, 1:4:2].double() - middle.double()).abs().mean(dim=(2, 3, 4)).mean(dim=1)
    torch.testing.assert_close(together, ((255 - error) / 255).float(), atol=0, rtol=0)


def test_metric_class():
    metric = MotionSmoothness(MeanInterpolator())
    assert metric.name == "motion_smoothness[custom:MeanInterpolator]"
    metric.update(colours(FIRST, MIDDLE, LAST))
    metric.update(colours((0, 10, 20), (2, 12, 22), (4, 14, 24)).float() / 255)
    per_video = metric.per_video()[metric.name]
    torch.testing.assert_close(per_video, torch.tensor([SCORE, 1.0]))
    result = metric.compute()
    assert list(result) == [metric.name]
    assert result[metric.name].item() == pytest.approx((SCORE + 1) / 2, abs=1e-7)
    assert metric.metadata["interpolator"] == "custom:MeanInterpolator"
    assert metric.metadata["weights"] == "injected"
    assert metric.higher_is_better is True


def test_amt_s_on_random_weights():
    gen = torch.Generator().manual_seed(2)
    video = torch.randint(0, 256, (1, 3, 3, 120, 136), generator=gen, dtype=torch.uint8)
    score = motion_smoothness(video, weights="random")
    assert 0 <= score.item() <= 1
    metric = MotionSmoothness(weights="random")
    assert metric.name == "motion_smoothness[amt_s@random]"
    assert metric.metadata["weights"] == "random"
    metric.update(video)
    assert metric.compute()[metric.name].item() == pytest.approx(score.item(), abs=1e-6)
    # VBench's scale rule on the CPU is 1
    assert motion_smoothness(video, weights="random", scale="vbench").item() == score.item()
    with pytest.raises(ValueError, match="at least 128 pixels a side after padding"):
        motion_smoothness(video[..., :96, :], weights="random")


def test_missing_weights():
    with pytest.raises(WeightsNotFoundError, match="hf download lalala125/AMT amt-s.pth"):
        MotionSmoothness()
    with pytest.raises(WeightsNotFoundError, match="amt-s.pth"):
        motion_smoothness(colours(FIRST, MIDDLE, LAST))


def test_bad_arguments():
    video = colours(FIRST, MIDDLE, LAST)
    with pytest.raises(ValueError, match="at least 3 frames"):
        motion_smoothness(video[:, :2], MeanInterpolator())
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        motion_smoothness(video, MeanInterpolator(), batch_size=0)
    with pytest.raises(ValueError, match="interpolator must be one of"):
        motion_smoothness(video, "film")
    with pytest.raises(ValueError, match="weights is only used with a named interpolator"):
        motion_smoothness(video, MeanInterpolator(), weights="random")
    with pytest.raises(ValueError, match="scale must be 'vbench' or a number"):
        MotionSmoothness(MeanInterpolator(), scale=2.0)
    with pytest.raises(ValueError, match="inputs' shape"):
        motion_smoothness(video, lambda a, b: a[:, :1])
    with pytest.raises(ValueError, match="must lie in"):
        motion_smoothness(video.float(), MeanInterpolator())
