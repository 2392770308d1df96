"""evaluation.metrics.fvd: the Fréchet distance against numpy references and closed forms, the
1/N statistics, cd-fvd's preprocessing, the sample-size warning, the torchmetrics class with an
injected network, and reference statistics cached by folder digest."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from evaluation.metrics.fvd import (
    FVD_RECOMMENDED_VIDEOS,
    FeatureStats,
    FrechetVideoDistance,
    FVDSampleSizeWarning,
    folder_digest,
    frechet_distance,
    fvd,
    fvd_from_stats,
    i3d_features,
    preprocess_i3d,
    reference_stats,
)
from freqlab.hub import WeightsNotFoundError
from freqlab.video.write import save_video

pytestmark = pytest.mark.filterwarnings("ignore::evaluation.metrics.fvd.FVDSampleSizeWarning")


def numpy_fd(x: np.ndarray, y: np.ndarray, ddof: int = 0) -> float:
    """TF-GAN's route, independent of the eigenvalues of Σ₁Σ₂ used by the code under test:
    Tr √(√Σ₁ Σ₂ √Σ₁) with symmetric square roots from eigh."""
    mu1, mu2 = x.mean(axis=0), y.mean(axis=0)
    s1 = np.cov(x, rowvar=False, ddof=ddof)
    s2 = np.cov(y, rowvar=False, ddof=ddof)

    def sym_sqrt(a: np.ndarray) -> np.ndarray:
        w, v = np.linalg.eigh(a)
        return (v * np.sqrt(np.clip(w, 0, None))) @ v.T

    root = sym_sqrt(s1)
    trace = np.trace(sym_sqrt(root @ s2 @ root))
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * trace)


def gaussian(n: int, d: int, seed: int, scale: float = 1.0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    mix = torch.randn(d, d, generator=gen) * 0.5 + torch.eye(d)
    return (torch.randn(n, d, generator=gen) @ mix * scale).double()


class MeanColourClip(torch.nn.Module):
    """Features = the clip's mean per channel: ``(N, 3, T, H, W) -> (N, 3)``; counts its calls."""

    num_features = 3

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0
        self.frames_seen: list[int] = []

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        self.frames_seen.append(clips.shape[2])
        return clips.mean(dim=(2, 3, 4))


def colour_videos(colours: list[tuple[int, int, int]], t: int = 16, size: int = 8) -> torch.Tensor:
    """uint8 videos ``(B, t, 3, size, size)``, video ``b`` filled with ``colours[b]``."""
    c = torch.tensor(colours, dtype=torch.uint8)[:, None, :, None, None]
    return c.expand(-1, t, -1, size, size).contiguous()


# --- the distance ---------------------------------------------------------------------------


def test_frechet_distance_matches_the_numpy_reference():
    x, y = gaussian(300, 6, 0), gaussian(250, 6, 1, scale=1.5) + 0.3
    expected = numpy_fd(x.numpy(), y.numpy())
    assert fvd(x, y) == pytest.approx(expected, rel=1e-9)
    a, b = FeatureStats.from_features(x), FeatureStats.from_features(y)
    assert frechet_distance(a.mean, a.cov, b.mean, b.cov) == pytest.approx(expected, rel=1e-9)
    assert fvd_from_stats(b, a) == pytest.approx(expected, rel=1e-9)  # symmetric
    # TF's original and torchmetrics: 1/(N-1) covariances
    unbiased = numpy_fd(x.numpy(), y.numpy(), ddof=1)
    assert fvd(x, y, unbiased=True) == pytest.approx(unbiased, rel=1e-9)
    assert fvd(x, y, unbiased=True) != pytest.approx(expected, rel=1e-6)
    # fewer videos than features (rank-deficient covariances, as with N < 400 I3D logits): the
    # eigenvalues of Σ₁Σ₂ pick up rounding noise, the two routes still agree closely
    x, y = gaussian(30, 40, 2), gaussian(30, 40, 3) + 0.1
    assert fvd(x, y) == pytest.approx(numpy_fd(x.numpy(), y.numpy()), rel=1e-6)


def test_identical_sets_give_zero():
    x = gaussian(200, 5, 3)
    assert abs(fvd(x, x)) < 1e-9
    assert abs(fvd(x, x[torch.randperm(200, generator=torch.Generator().manual_seed(0))])) < 1e-9


def test_shifted_and_scaled_sets_give_the_closed_form():
    x = gaussian(400, 4, 4)
    shift = torch.tensor([1.0, -2.0, 0.5, 3.0], dtype=torch.float64)
    # same covariance: FD = |shift|^2
    assert fvd(x, x + shift) == pytest.approx(float(shift @ shift), rel=1e-9)
    # y = 2x + s: Σ_y = 4Σ_x, Tr(Σ + 4Σ - 2·2Σ) = Tr Σ_x; μ_y - μ_x = μ_x + s
    stats = FeatureStats.from_features(x)
    expected = float((stats.mean + shift) @ (stats.mean + shift) + stats.cov.trace())
    assert fvd(x, 2 * x + shift) == pytest.approx(expected, rel=1e-9)


def test_diagonal_gaussians_closed_form():
    mean_a = torch.tensor([0.0, 1.0, 2.0], dtype=torch.float64)
    mean_b = torch.tensor([1.0, 1.0, 0.0], dtype=torch.float64)
    var_a = torch.tensor([1.0, 4.0, 9.0], dtype=torch.float64)
    var_b = torch.tensor([4.0, 1.0, 9.0], dtype=torch.float64)
    a = FeatureStats(mean_a, torch.diag(var_a), FVD_RECOMMENDED_VIDEOS)
    b = FeatureStats(mean_b, torch.diag(var_b), FVD_RECOMMENDED_VIDEOS)
    # |Δμ|^2 + Σ (√a - √b)^2 = 5 + (1 + 1 + 0)
    assert fvd_from_stats(a, b) == pytest.approx(7.0, rel=1e-12)


def test_statistics_are_float64_with_the_1_over_n_covariance():
    x = gaussian(50, 3, 5).float()
    stats = FeatureStats.from_features(x)
    ref = x.double().numpy()
    assert stats.mean.dtype == stats.cov.dtype == torch.float64 and stats.count == 50
    np.testing.assert_allclose(stats.mean.numpy(), ref.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(stats.cov.numpy(), np.cov(ref, rowvar=False, bias=True), atol=1e-12)
    total, outer = stats.sums()
    again = FeatureStats.from_sums(total, outer, stats.count)
    torch.testing.assert_close(again.cov, stats.cov, rtol=1e-12, atol=1e-12)


def test_too_few_videos_warn_and_one_video_is_refused():
    x = gaussian(10, 2, 6)
    with pytest.warns(FVDSampleSizeWarning, match="FVD from 10 and 7 videos: fewer than 2,048"):
        fvd(x, x[:7])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        big = gaussian(FVD_RECOMMENDED_VIDEOS, 2, 7)
        fvd(big, big + 1)  # 2,048 a side: no warning
    with pytest.raises(ValueError, match="at least 2 videos a side, got 1 and 10"):
        fvd(x[:1], x)


# --- preprocessing and features --------------------------------------------------------------


def test_preprocess_is_cd_fvds():
    gen = torch.Generator().manual_seed(0)
    videos = torch.randint(0, 256, (2, 3, 3, 224, 224), generator=gen, dtype=torch.uint8)
    out = preprocess_i3d(videos)
    assert out.shape == (2, 3, 3, 224, 224) and out.dtype == torch.float32
    # no resize at 224: 2x/255 - 1 of each value, channel-first clips
    assert torch.equal(out, 2.0 * videos.permute(0, 2, 1, 3, 4).float() / 255.0 - 1)
    small = videos[:, :, :, :40, :50]
    expected = torch.nn.functional.interpolate(
        small.flatten(0, 1).float(), size=(224, 224), mode="bilinear", align_corners=False
    )
    expected = 2.0 * expected.unflatten(0, (2, 3)).transpose(1, 2) / 255.0 - 1
    assert torch.equal(preprocess_i3d(small), expected)
    # float input in [0, 1] is the same clip (up to rounding)
    floats = small.float() / 255
    kept = floats.clone()
    torch.testing.assert_close(preprocess_i3d(floats), expected, atol=1e-5, rtol=0)
    assert torch.equal(floats, kept)  # the input is not scaled in place
    assert preprocess_i3d(videos).is_contiguous()


def test_features_are_the_first_16_frames_through_the_network():
    net = MeanColourClip()
    videos = colour_videos([(0, 255, 51), (255, 0, 102)], t=20)
    videos[:, 16:] = 128  # frames past the clip must not count
    features = i3d_features(videos, net, batch_size=1)
    expected = 2.0 * torch.tensor([[0, 255, 51], [255, 0, 102]]) / 255.0 - 1
    torch.testing.assert_close(features, expected, rtol=0, atol=1e-6)
    assert net.calls == 2 and net.frames_seen == [16, 16]
    assert i3d_features(videos, net, num_frames=None).shape == (2, 3)
    assert net.frames_seen[-1] == 20
    with pytest.raises(ValueError, match="clips of 16 frames, got videos of 12 frames"):
        i3d_features(videos[:, :12], net)
    with pytest.raises(ValueError, match="num_frames must be an int >= 9"):
        i3d_features(videos, net, num_frames=4)
    with pytest.raises(ValueError, match="weights is only used with the built-in I3D"):
        i3d_features(videos, net, weights="random")


def test_i3d_features_on_random_weights():
    videos = colour_videos([(10, 20, 30)], t=9, size=16)
    features = i3d_features(videos, weights="random", num_frames=9)
    assert features.shape == (1, 400) and features.dtype == torch.float32
    assert torch.isfinite(features).all()


# --- the torchmetrics class ------------------------------------------------------------------


def test_metric_equals_fvd_of_the_features():
    net = MeanColourClip()
    gen = torch.Generator().manual_seed(1)
    fake = torch.randint(0, 256, (5, 16, 3, 8, 8), generator=gen, dtype=torch.uint8)
    real = torch.randint(0, 256, (4, 16, 3, 8, 8), generator=gen, dtype=torch.uint8)
    metric = FrechetVideoDistance(model=net, batch_size=2)
    metric.update(fake[:3])
    metric.update(fake[3:])
    metric.update(real, real=True)
    with pytest.warns(FVDSampleSizeWarning, match="from 5 and 4 videos"):
        result = metric.compute()
    name = "fvd[custom:MeanColourClip]"
    expected = fvd(i3d_features(fake, net), i3d_features(real, net))
    assert result[name].dtype == torch.float64
    assert float(result[name]) == pytest.approx(expected, rel=1e-9)
    assert int(result[f"{name}/videos"]) == 5 and int(result[f"{name}/reference_videos"]) == 4
    with pytest.raises(NotImplementedError, match="set"):
        metric.per_video()
    metric.reset()  # without reference=, both sides reset
    with pytest.raises(ValueError, match="at least 2 generated videos, got 0"):
        with warnings.catch_warnings():  # torchmetrics: compute() before update()
            warnings.simplefilter("ignore", UserWarning)
            metric.compute()


def test_metric_with_reference_statistics():
    net = MeanColourClip()
    gen = torch.Generator().manual_seed(2)
    real = torch.randint(0, 256, (6, 16, 3, 8, 8), generator=gen, dtype=torch.uint8)
    fake = torch.randint(0, 256, (3, 16, 3, 8, 8), generator=gen, dtype=torch.uint8)
    stats = FeatureStats.from_features(i3d_features(real, net))
    metric = FrechetVideoDistance(stats, net)
    metric.update(fake)
    name = metric.name
    expected = fvd(i3d_features(fake, net), i3d_features(real, net))
    assert float(metric.compute()[name]) == pytest.approx(expected, rel=1e-9)
    metric.reset()  # the reference side is kept
    metric.update(fake[:2])
    result = metric.compute()
    assert int(result[f"{name}/reference_videos"]) == 6 and int(result[f"{name}/videos"]) == 2
    with pytest.raises(ValueError, match="reference set was given as reference="):
        metric.update(real, real=True)
    with pytest.raises(ValueError, match="reference statistics have"):
        FrechetVideoDistance(FeatureStats(torch.zeros(5), torch.eye(5), 3), net)


def test_metric_names_and_missing_weights():
    with pytest.raises(WeightsNotFoundError, match="hf download Xiaodong/FVD_I3D"):
        FrechetVideoDistance()  # the cache is empty (tests/evaluation/conftest.py)
    metric = FrechetVideoDistance(weights="random")
    assert metric.name == "fvd[i3d_k400@random]"
    assert metric.metadata["matches"].startswith("cd-fvd")
    assert (
        FrechetVideoDistance(weights="random", bn_eps=1e-3).name == "fvd[i3d_k400@random@eps=0.001]"
    )
    with pytest.raises(FileNotFoundError, match="does not exist"):
        FrechetVideoDistance("/nonexistent/videos", weights="random")


# --- reference sets --------------------------------------------------------------------------


def write_videos(folder, colours, frames: int = 16) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, colour in enumerate(colours):
        video = colour_videos([colour], t=frames, size=16)[0]
        save_video(video, folder / f"clip_{i}.gif", fps=8)


def test_reference_stats_are_cached_by_folder_digest(tmp_path):
    folder, cache = tmp_path / "real", tmp_path / "cache"
    write_videos(folder, [(0, 0, 0), (255, 255, 255), (255, 0, 0)])
    net = MeanColourClip()

    first = reference_stats(folder, net, cache_dir=cache, batch_size=2)
    assert first.metadata["cache"] == "miss" and first.count == 3 and net.calls == 2
    assert first.metadata["files_read"] == 3 and first.metadata["skipped"] == []
    assert len(list(cache.glob("fvd_reference-*.safetensors"))) == 1
    # the statistics of the clips' features (GIF colours are exact for black, white and red)
    expected = FeatureStats.from_features(
        2.0 * torch.tensor([[0, 0, 0], [255, 255, 255], [255, 0, 0]]) / 255 - 1
    )
    torch.testing.assert_close(first.mean, expected.mean, atol=1e-6, rtol=0)
    torch.testing.assert_close(first.cov, expected.cov, atol=1e-6, rtol=0)

    again = reference_stats(folder, net, cache_dir=cache, batch_size=2)
    assert again.metadata["cache"] == "hit" and net.calls == 2  # nothing recomputed
    assert torch.equal(again.mean, first.mean) and torch.equal(again.cov, first.cov)
    assert again.count == 3 and again.metadata["folder_digest"] == folder_digest(folder)

    digest = folder_digest(folder)
    write_videos(folder / "more", [(0, 255, 0)])  # a new file: new digest, new statistics
    assert folder_digest(folder) != digest
    grown = reference_stats(folder, net, cache_dir=cache, batch_size=2)
    assert grown.metadata["cache"] == "miss" and grown.count == 4
    # another setting that changes the clips is another cache entry
    assert reference_stats(folder, net, cache_dir=cache, limit=2).metadata["cache"] == "miss"
    assert len(list(cache.glob("fvd_reference-*.safetensors"))) == 3
    assert reference_stats(folder, net).metadata["cache"] == "off"
    assert not list(cache.glob(".*"))  # atomic writes leave no temporary file


def test_reference_folder_in_the_metric(tmp_path):
    folder, cache = tmp_path / "real", tmp_path / "cache"
    write_videos(folder, [(0, 0, 0), (255, 255, 255), (255, 0, 0)])
    net = MeanColourClip()
    metric = FrechetVideoDistance(folder, net, cache_dir=cache)
    fake = colour_videos([(10, 20, 30), (200, 100, 0)])
    metric.update(fake)
    value = metric.compute()[metric.name]
    stats = reference_stats(folder, net, cache_dir=cache)
    assert stats.metadata["cache"] == "hit"  # the metric computed and cached them
    assert metric.reference_statistics().metadata["cache"] == "miss"
    generated = FeatureStats.from_features(i3d_features(fake, net))
    assert float(value) == pytest.approx(fvd_from_stats(generated, stats), rel=1e-9)
    assert metric.metadata["reference"]["files_read"] == 3


def test_feature_stats_save_and_load(tmp_path):
    stats = FeatureStats.from_features(gaussian(20, 3, 8), {"folder": "x", "n": 2})
    path = stats.save(tmp_path / "s.safetensors")
    loaded = FeatureStats.load(path)
    assert torch.equal(loaded.mean, stats.mean) and torch.equal(loaded.cov, stats.cov)
    assert loaded.count == 20 and loaded.metadata == {"folder": "x", "n": 2}
