"""Window metrics for long videos: the pairings against loops written here, the metrics against
FreeInit's DINO metric on a one-window video, NaN across windows when there is one window, and
the torchmetrics classes."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from evaluation.metrics import (
    CrossWindowConsistency,
    WindowConsistency,
    cross_window_consistency,
    dino_consistency,
    window_consistency,
)
from evaluation.metrics.windows import cross_window_similarity, window_similarity, window_starts
from evaluation.preprocessing import FREEINIT_DINO


def _features(b: int, t: int, d: int = 6, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(b, t, d, generator=g), dim=-1)


def test_window_starts():
    assert window_starts(40, 16) == [0, 16, 32]
    assert window_starts(16, 16) == [0]
    assert window_starts(17, 16) == [0, 16]
    for bad in (1, 0, 2.0, True):
        with pytest.raises(ValueError, match="window must be an integer >= 2"):
            window_starts(8, bad)


@pytest.mark.parametrize("t", [5, 8, 9, 12])
def test_pairings_match_loops(t):
    """Blocks [0, 4), [4, 8), ...: inside, first frame vs the rest; across, block firsts."""
    feats, w = _features(2, t), 4
    inside, across = [], []
    for v in feats:
        row_in, row_across = [], []
        for s in range(0, t, w):
            for i in range(s + 1, min(s + w, t)):
                row_in.append(float(v[s] @ v[i]))
            if s + w < t:
                row_across.append(float(v[s] @ v[s + w]))
        inside.append(row_in)
        across.append(row_across)
    torch.testing.assert_close(window_similarity(feats, w), torch.tensor(inside))
    torch.testing.assert_close(cross_window_similarity(feats, w), torch.tensor(across))


def test_one_window_has_no_cross_pair():
    out = cross_window_similarity(_features(3, 8), window=16)
    assert out.shape == (3, 1) and torch.isnan(out).all()


def test_one_window_equals_freeinit_metric(tiny_conv, make_videos):
    # Same encoder, preprocessing and pairs: the identical computation, so exact equality.
    videos = make_videos(2, 6, h=24, w=24)
    torch.testing.assert_close(
        window_consistency(videos, tiny_conv, window=6),
        dino_consistency(videos, tiny_conv),
        atol=0,
        rtol=0,
    )
    assert torch.isnan(cross_window_consistency(videos, tiny_conv, window=6)).all()


def test_a_cut_between_windows_shows_across_not_inside(make_colour_video, mean_colour, raw):
    """Features = frame colours: four red frames then four blue ones (cosine 0 between)."""
    video = make_colour_video(*[(1.0, 0.0, 0.0)] * 4, *[(0.0, 0.0, 1.0)] * 4)
    inside = window_consistency(video, mean_colour, window=4, preprocess=raw)
    assert inside.item() == pytest.approx(100.0, abs=1e-4)
    across = cross_window_consistency(video, mean_colour, window=4, preprocess=raw)
    assert across.item() == pytest.approx(0.0, abs=1e-4)
    # The whole-video metric mixes both: 3 red and 4 blue frames after the first.
    whole = dino_consistency(video, mean_colour, preprocess=raw)
    assert whole.item() == pytest.approx(100 * 3 / 7, abs=1e-4)


def test_classes_accumulate_the_functions(tiny_conv, make_videos):
    a, b = make_videos(2, 9, h=24, w=24, seed=1), make_videos(1, 9, h=24, w=24, seed=2)
    for cls, fn in (
        (WindowConsistency, window_consistency),
        (CrossWindowConsistency, cross_window_consistency),
    ):
        metric = cls(tiny_conv, window=4)
        metric.update(a)
        metric.update(b)
        expected = torch.cat([fn(a, tiny_conv, window=4), fn(b, tiny_conv, window=4)])
        # Batches of different sizes through a network: ~1e-6 float32 differences.
        torch.testing.assert_close(metric.per_video()[metric.name], expected, atol=1e-4, rtol=0)
        assert metric.compute()[metric.name].item() == pytest.approx(
            expected.mean().item(), abs=1e-4
        )
        meta = metric.metadata
        assert meta["window"] == 4 and "4-frame window" in meta["pairing"]
        assert meta["preprocess"] == FREEINIT_DINO.to_dict() and meta["scale"] == 100.0


def test_bad_window_is_refused(tiny_conv, make_videos):
    with pytest.raises(ValueError, match="window must be an integer >= 2, got 1"):
        window_consistency(make_videos(1, 4), tiny_conv, window=1)
    with pytest.raises(ValueError, match="window must be an integer >= 2"):
        CrossWindowConsistency(tiny_conv, window="16")
