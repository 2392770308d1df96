"""Imaging quality: VBench's resize rule and aggregation with injected scorers (values computed by
hand), the class's scale and names, and MUSIQ with random weights."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torchvision import transforms

from evaluation.metrics.imaging_quality import ImagingQuality, imaging_quality, vbench_iq_resize
from freqlab.hub import WeightsNotFoundError


class MeanTimes100(nn.Module):
    """Score = 100 x the frame's mean value; records the frame sizes it is given."""

    def __init__(self) -> None:
        super().__init__()
        self.sizes: list[tuple[int, ...]] = []

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        self.sizes.append(tuple(frames.shape))
        return frames.mean(dim=(1, 2, 3)) * 100


class WidthOver10(nn.Module):
    """Score = the width it sees / 10, as ``(N, 1)`` (pyiqa's output shape)."""

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return torch.full((len(frames), 1), frames.shape[-1] / 10)


def constant_video(*values: int, h: int = 8, w: int = 12) -> torch.Tensor:
    """One uint8 video ``(1, T, 3, h, w)``, frame ``t`` filled with ``values[t]``."""
    frames = torch.tensor(values, dtype=torch.uint8)[:, None, None, None]
    return frames.expand(-1, 3, h, w).unsqueeze(0).contiguous()


def test_per_video_mean_of_frame_scores():
    scorer = MeanTimes100()
    videos = torch.cat([constant_video(51, 102, 153), constant_video(255, 0, 0)])
    scores = imaging_quality(videos, scorer, batch_size=2)
    # frames / 255 * 100: (20 + 40 + 60) / 3 = 40 and (100 + 0 + 0) / 3 = 33.33
    torch.testing.assert_close(scores, torch.tensor([40.0, 100.0 / 3]))
    # 6 frames in chunks of 2, at the native 8 x 12 (nothing over 512)
    assert scorer.sizes == [(2, 3, 8, 12)] * 3
    # float input in [0, 1]: the same values
    torch.testing.assert_close(imaging_quality(videos.float() / 255, scorer), scores)


@pytest.mark.parametrize(
    ("h", "w", "resize", "size"),
    [
        (600, 1000, "longer", (307, 512)),  # s = 0.512: int(307.2) = 307
        (561, 300, "longer", (511, 273)),  # int(512 / 561 * 561) = int(511.99...) = 511
        (513, 100, "longer", (512, 99)),
        (512, 300, "longer", (512, 300)),  # not over 512: untouched
        (600, 1000, "shorter", (512, 853)),
        (600, 1000, "shorter_centercrop", (512, 512)),
        (600, 1000, None, (600, 1000)),
        (600, 1000, "None", (600, 1000)),  # VBench's command-line spelling
    ],
)
def test_vbench_resize_rule(h, w, resize, size):
    gen = torch.Generator().manual_seed(0)
    frames = torch.randint(0, 256, (2, 3, h, w), generator=gen, dtype=torch.uint8)
    out = vbench_iq_resize(frames, resize)
    assert out.shape == (2, 3, *size) and out.dtype == torch.float32
    # VBench: torchvision Resize(antialias=False) on float 0-255 (its load_video gives
    # torch.Tensor(frames)), CenterCrop(512) in the crop mode, then / 255
    expected = frames.float()
    if size != (h, w):
        if resize == "shorter_centercrop":
            expected = transforms.Resize((512, 853), antialias=False)(expected)
            expected = transforms.CenterCrop(512)(expected)
        else:
            expected = transforms.Resize(size, antialias=False)(expected)
    torch.testing.assert_close(out, expected / 255.0, rtol=0, atol=0)


def test_the_resize_rule_reaches_the_scores():
    videos = torch.zeros(2, 2, 3, 600, 1000, dtype=torch.uint8)
    # longer: every frame 307 x 512 -> 51.2; shorter: 512 x 853 -> 85.3; none: 100
    torch.testing.assert_close(imaging_quality(videos, WidthOver10()), torch.full((2,), 51.2))
    scores = imaging_quality(videos, WidthOver10(), resize="shorter")
    torch.testing.assert_close(scores, torch.full((2,), 85.3))
    torch.testing.assert_close(
        imaging_quality(videos, WidthOver10(), resize=None), torch.full((2,), 100.0)
    )


def test_class_scale_names_and_accumulation():
    metric = ImagingQuality(MeanTimes100(), batch_size=3)
    metric.update(constant_video(51, 102, 153))
    metric.update(torch.cat([constant_video(255, 0, 0), constant_video(0, 0, 0)]))
    name = "imaging_quality[custom:MeanTimes100]"
    assert metric.name == name
    per_video = metric.per_video()[name]
    # VBench's set value: mean over videos / 100; per video the frame mean / 100
    torch.testing.assert_close(per_video, torch.tensor([0.4, 1 / 3, 0.0]))
    result = metric.compute()
    assert set(result) == {name}
    torch.testing.assert_close(result[name], torch.tensor((0.4 + 1 / 3 + 0.0) / 3))
    meta = metric.metadata
    assert meta["resize"] == "longer" and meta["weights"] == "injected"
    assert meta["name"] == name


def test_musiq_random_weights_function_and_class():
    gen = torch.Generator().manual_seed(1)
    videos = torch.randint(0, 256, (2, 2, 3, 24, 40), generator=gen, dtype=torch.uint8)
    by_four = imaging_quality(videos, weights="random", batch_size=4)
    by_one = imaging_quality(videos, weights="random", batch_size=1)
    assert by_four.shape == (2,) and torch.isfinite(by_four).all()
    torch.testing.assert_close(by_one, by_four, rtol=1e-5, atol=1e-5)
    metric = ImagingQuality(weights="random", batch_size=4)
    metric.update(videos)
    assert metric.name == "imaging_quality[musiq_spaq@random]"
    assert metric.metadata["weights"] == "random"
    torch.testing.assert_close(metric.per_video()[metric.name], by_four / 100)


def test_missing_weights_fail_at_construction(offline, monkeypatch):
    monkeypatch.setenv("VBENCH_CACHE_DIR", str(offline / "vbench"))
    with pytest.raises(WeightsNotFoundError, match="musiq_spaq_ckpt-358bb6af.pth"):
        ImagingQuality()
    with pytest.raises(WeightsNotFoundError, match="hf download chaofengc/IQA-PyTorch-Weights"):
        imaging_quality(constant_video(1, 2))


def test_bad_arguments():
    video = constant_video(1, 2)
    with pytest.raises(ValueError, match="resize must be one of"):
        imaging_quality(video, MeanTimes100(), resize="center")
    with pytest.raises(ValueError, match="weights is only used"):
        imaging_quality(video, MeanTimes100(), weights="random")
    with pytest.raises(ValueError, match="model must be 'musiq_spaq'"):
        imaging_quality(video, "musiq_koniq")
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        ImagingQuality(MeanTimes100(), batch_size=0)

    class TwoScores(nn.Module):
        def forward(self, frames):
            return torch.zeros(len(frames), 2)

    with pytest.raises(ValueError, match=r"one score per frame, \(N,\) or \(N, 1\); got \(2, 2\)"):
        imaging_quality(video, TwoScores())
