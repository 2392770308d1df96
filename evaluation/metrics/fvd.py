"""Fréchet Video Distance (FVD): the Fréchet distance between Gaussians fitted to the I3D
Kinetics-400 logits of two sets of 16-frame clips. Lower is better; 0 for identical statistics.

**Reference matched: content-debiased FVD** (PyPI ``cd-fvd`` 0.1.1, ``cdfvd(model='i3d')``,
``compute_fvd`` / ``compute_fvd_from_stats``), step by step:

* clips: the first ``num_frames`` (16) frames of each video, no random offset (StyleGAN-V's rule
  for generated clips); reference folders: 16 consecutive frames from the middle of each file,
  centre-cropped and resized to 256 x 256 (:func:`reference_stats`);
* preprocessing (cd-fvd's ``preprocess_i3d``, the same in TATS and VideoGPT): frames as 0-255
  floats, bilinear resize to 224x224 (``align_corners=False``, no antialiasing; the aspect ratio is
  not kept, so pass square videos), then ``2x/255 - 1``;
* network: :class:`evaluation.i3d.InceptionI3d` with ``i3d_pretrained_400.pt`` and batch-norm
  ``eps=1e-5`` (the PyTorch port's), 400 pre-softmax logits per clip;
* statistics: float64 sums of ``x`` and ``x xᵀ`` over float32 features; ``μ = Σx / N`` and
  ``Σ = Σxxᵀ / N - μμᵀ``: the **1/N** covariance of StyleGAN-V's and cd-fvd's ``FeatureStats``
  (TF's original and torchmetrics use 1/(N-1): :func:`fvd` with ``unbiased=True``);
* distance: ``‖μ₁ - μ₂‖² + Tr Σ₁ + Tr Σ₂ - 2 Σᵢ Re √λᵢ(Σ₁Σ₂)``, in float64. The trace of the
  principal square root of ``Σ₁Σ₂`` is the sum of the square roots of its eigenvalues, which is
  what StyleGAN-V and cd-fvd take as ``Re Tr scipy.linalg.sqrtm(Σ₁Σ₂)``; the eigenvalue route is
  torchmetrics' (``FrechetInceptionDistance``), and needs no scipy.

**StyleGAN-V's** ``fvd2048_16f`` runs the same TF-Hub weights through a TorchScript port. If
that port follows TF's graph, on 224x224 clips the two differ by the batch-norm epsilon (TF's is
1e-3: ``bn_eps=BN_EPS_TF``; the TorchScript's own value and its internal resize are UNCONFIRMED)
and by StyleGAN-V's random offset of real clips. freqlab's numbers are cd-fvd's, StyleGAN-V's
only up to that.

**Sample size.** The estimator is biased upward at small N (identical distributions give FVD > 0),
so values compare only at equal N and clip length. Papers use 2,048 generated and 2,048 real clips
(:data:`FVD_RECOMMENDED_VIDEOS`); below that a :class:`FVDSampleSizeWarning` is issued, and the
numbers of videos used are always returned beside the value.

**Reference sets.** :func:`reference_stats` reads a folder of videos (UCF-101's ``.avi``, ``.mp4``,
``.gif``; :class:`freqlab.video.read.VideoFolder`), computes ``(mean, covariance, count)`` and caches
them as a ``.safetensors`` file keyed by :func:`folder_digest` (names, sizes and modification times
of the files) and every setting that changes the features; the cache is written atomically.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics.image.fid import FrechetInceptionDistance

from evaluation.i3d import (
    BN_EPS_PYTORCH_PORT,
    I3D_INPUT_SIZE,
    I3D_MIN_FRAMES,
    I3D_NUM_CLASSES,
    load_i3d,
    resolve_i3d_weights,
)
from evaluation.inputs import check_videos
from evaluation.metrics.base import VideoMetric, device_of
from freqlab.atomic import write_atomic

__all__ = [
    "FVD_NUM_FRAMES",
    "FVD_RECOMMENDED_VIDEOS",
    "FVDSampleSizeWarning",
    "FeatureStats",
    "FrechetVideoDistance",
    "check_sample_size",
    "folder_digest",
    "frechet_distance",
    "fvd",
    "fvd_from_stats",
    "i3d_features",
    "preprocess_i3d",
    "reference_stats",
]

FVD_NUM_FRAMES = 16
FVD_RECOMMENDED_VIDEOS = 2048
MODEL_NAME = "i3d_k400"
# Reference clips are read at cd-fvd's load_videos(resolution=256) (square), then resized to 224.
REFERENCE_RESOLUTION = 256
# Bumped when anything that changes cached reference statistics changes.
CACHE_VERSION = 1


class FVDSampleSizeWarning(UserWarning):
    """FVD computed from fewer than :data:`FVD_RECOMMENDED_VIDEOS` videos on a side: the value is
    biased upward and comparable only with values at the same numbers of videos."""


# --------------------------------------------------------------------------------------------
# Features


def preprocess_i3d(videos: torch.Tensor) -> torch.Tensor:
    """Clips as I3D takes them, as cd-fvd's ``preprocess_i3d``.

    Args:
        videos: ``(B, T, 3, H, W)`` checked videos, uint8 (0-255) or float (0-1; scaled by 255,
            not quantised).

    Returns:
        ``(B, 3, T, 224, 224)`` float32 in [-1, 1]: bilinear resize of the 0-255 values
        (``align_corners=False``, no antialiasing; skipped at 224x224), then ``2x/255 - 1``.
    """
    b, t = videos.shape[:2]
    if videos.dtype == torch.uint8:
        x = videos.flatten(0, 1).float()
    else:
        x = videos.flatten(0, 1).float().clamp(0.0, 1.0).mul_(255.0)
    size = (I3D_INPUT_SIZE, I3D_INPUT_SIZE)
    if tuple(x.shape[-2:]) != size:
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=False)
    # 2 * x / 255 - 1 in the reference's order of operations (bit-identical to it), in place on
    # the float copy made above; then one copy to the network's contiguous (B, 3, T, H, W).
    x.mul_(2.0).div_(255.0).sub_(1.0)
    return x.unflatten(0, (b, t)).transpose(1, 2).contiguous()


def _clips(videos: torch.Tensor, num_frames: int | None) -> torch.Tensor:
    """The first ``num_frames`` frames of each video (all with ``None``)."""
    if num_frames is not None and (
        not isinstance(num_frames, int)
        or isinstance(num_frames, bool)
        or num_frames < I3D_MIN_FRAMES
    ):
        raise ValueError(
            f"num_frames must be an int >= {I3D_MIN_FRAMES} (I3D's minimum) or None, "
            f"got {num_frames!r}"
        )
    t = videos.shape[1]
    need = I3D_MIN_FRAMES if num_frames is None else num_frames
    if t < need:
        raise ValueError(
            f"FVD takes clips of {need} frames, got videos of {t} frames (shape "
            f"{tuple(videos.shape)}); pass num_frames=None to use all frames of longer videos, "
            f"I3D needs at least {I3D_MIN_FRAMES}"
        )
    return videos if num_frames is None else videos[:, :num_frames]


def _features(
    videos: torch.Tensor, model: nn.Module, batch_size: int, device: torch.device
) -> torch.Tensor:
    """``(B, T, 3, H, W)`` clips -> ``(B, D)`` float32 features on ``device``."""
    out = []
    with torch.inference_mode():
        for chunk in videos.split(batch_size):
            features = model(preprocess_i3d(chunk.to(device)))
            if not isinstance(features, torch.Tensor) or features.dim() != 2:
                shape = getattr(features, "shape", type(features).__name__)
                raise ValueError(f"the FVD network must return (N, D) features, got {shape}")
            out.append(features.float())
    return torch.cat(out).clone()  # out of inference mode: usable in metric states


def _check_batch_size(batch_size: object) -> int:
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    return batch_size


def _network(
    model: nn.Module | None,
    weights: str | os.PathLike | None,
    device: str | torch.device | None,
    fallback: torch.device,
    bn_eps: float,
) -> tuple[nn.Module, torch.device]:
    """The I3D (loaded) or the injected module, and where it runs."""
    if model is None:
        run = torch.device(device) if device is not None else fallback
        return load_i3d(weights, run, bn_eps=bn_eps), run
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be an nn.Module or None, got {type(model).__name__}")
    if weights is not None:
        raise ValueError("weights is only used with the built-in I3D, not an injected model")
    model.eval()
    run = device_of(model) or (torch.device(device) if device is not None else fallback)
    return model, run


def i3d_features(
    videos: torch.Tensor,
    model: nn.Module | None = None,
    *,
    weights: str | os.PathLike | None = None,
    num_frames: int | None = FVD_NUM_FRAMES,
    batch_size: int = 8,
    device: str | torch.device | None = None,
    bn_eps: float = BN_EPS_PYTORCH_PORT,
) -> torch.Tensor:
    """I3D Kinetics-400 logits of each video's clip: FVD's per-video part.

    Args:
        videos: ``(B, T, C, H, W)``, uint8 (0-255) or float (0-1), ``T >= num_frames``.
        model: ``None`` (the I3D of :mod:`evaluation.i3d`) or a module taking ``(N, 3, T, 224,
            224)`` clips in [-1, 1] to ``(N, D)`` features (tests).
        weights: the I3D checkpoint: ``None`` (Hugging Face cache), ``"random"`` or a local file.
        num_frames: frames per clip, the first ones (``None``: all, at least 9).
        batch_size: clips per forward.
        device: where the network runs (default: the videos' device).
        bn_eps: the I3D's batch-norm epsilon (:mod:`evaluation.i3d`).

    Returns:
        ``(B, 400)`` float32 (``(B, D)`` for an injected model) on the videos' device.

    Raises:
        WeightsNotFoundError: the I3D weights are not on this machine.
    """
    videos = _clips(check_videos(videos), num_frames)
    network, run = _network(model, weights, device, videos.device, bn_eps)
    return _features(videos, network, _check_batch_size(batch_size), run).to(videos.device)


# --------------------------------------------------------------------------------------------
# Statistics and the distance


@dataclass(frozen=True)
class FeatureStats:
    """A set's feature statistics.

    Attributes:
        mean: ``(D,)`` float64.
        cov: ``(D, D)`` float64, the 1/N (biased) covariance.
        count: N, the number of videos.
        metadata: where they come from (for a reference folder: the folder, its digest, the
            settings, the files read and skipped, and ``"cache"``: ``"hit"``, ``"miss"`` or
            ``"off"``).
    """

    mean: torch.Tensor
    cov: torch.Tensor
    count: int
    metadata: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_features(
        cls, features: torch.Tensor, metadata: dict[str, Any] | None = None
    ) -> FeatureStats:
        """Statistics of ``features`` ``(N, D)``, as cd-fvd's ``FeatureStats``: float64 sums of the
        features (I3D's are float32; float64 input is kept), ``μ = Σx/N``, ``Σ = Σxxᵀ/N - μμᵀ``."""
        if not isinstance(features, torch.Tensor) or features.dim() != 2 or len(features) < 1:
            shape = getattr(features, "shape", type(features).__name__)
            raise ValueError(f"features must be an (N, D) tensor with N >= 1, got {shape}")
        x = features.detach().double().cpu()
        return cls.from_sums(x.sum(dim=0), x.T @ x, len(x), metadata)

    @classmethod
    def from_sums(
        cls,
        total: torch.Tensor,
        outer: torch.Tensor,
        count: int,
        metadata: dict[str, Any] | None = None,
    ) -> FeatureStats:
        """From ``Σx`` ``(D,)``, ``Σxxᵀ`` ``(D, D)`` and N (torchmetrics' FID states)."""
        count = int(count)
        if count < 1:
            raise ValueError("statistics need at least one video")
        mean = total.double().cpu() / count
        cov = outer.double().cpu() / count - torch.outer(mean, mean)
        return cls(mean, cov, count, dict(metadata or {}))

    def sums(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(Σx, Σxxᵀ)`` that these statistics come from (float64)."""
        return self.mean * self.count, (self.cov + torch.outer(self.mean, self.mean)) * self.count

    def save(self, path: str | os.PathLike) -> Path:
        """Write to ``path`` (``.safetensors``: tensors and a JSON header, no pickle), atomically."""
        from safetensors.torch import save

        header = {"count": str(self.count), "freqlab": json.dumps(self.metadata, default=str)}
        data = save({"mean": self.mean.contiguous(), "cov": self.cov.contiguous()}, header)
        return write_atomic(path, data)

    @classmethod
    def load(cls, path: str | os.PathLike) -> FeatureStats:
        """Read statistics written by :meth:`save`."""
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            header = f.metadata() or {}
            mean, cov = f.get_tensor("mean"), f.get_tensor("cov")
        return cls(mean, cov, int(header["count"]), json.loads(header.get("freqlab", "{}")))


def frechet_distance(
    mu1: torch.Tensor, sigma1: torch.Tensor, mu2: torch.Tensor, sigma2: torch.Tensor
) -> float:
    """``‖μ₁ - μ₂‖² + Tr Σ₁ + Tr Σ₂ - 2 Tr √(Σ₁Σ₂)``, in float64.

    ``Tr √(Σ₁Σ₂)`` is ``Σᵢ Re √λᵢ`` over the eigenvalues of ``Σ₁Σ₂`` (real and >= 0 in exact
    arithmetic; rounding can make tiny ones negative or complex, whose principal roots are then
    (nearly) imaginary and add (nearly) nothing, as in the real part of scipy's ``sqrtm``).
    """
    mu1, mu2 = mu1.double().cpu(), mu2.double().cpu()
    sigma1, sigma2 = sigma1.double().cpu(), sigma2.double().cpu()
    if (
        mu1.shape != mu2.shape
        or sigma1.shape != sigma2.shape
        or sigma1.shape != (*mu1.shape, *mu1.shape)
    ):
        raise ValueError(
            f"mismatched statistics: means {tuple(mu1.shape)} and {tuple(mu2.shape)}, "
            f"covariances {tuple(sigma1.shape)} and {tuple(sigma2.shape)}"
        )
    diff = mu1 - mu2
    root_trace = torch.linalg.eigvals(sigma1 @ sigma2).sqrt().real.sum()
    return float(diff @ diff + sigma1.trace() + sigma2.trace() - 2.0 * root_trace)


def check_sample_size(count_a: int, count_b: int, minimum: int = FVD_RECOMMENDED_VIDEOS) -> None:
    """Warn (:class:`FVDSampleSizeWarning`) when a side has fewer than ``minimum`` videos."""
    if min(count_a, count_b) < minimum:
        warnings.warn(
            FVDSampleSizeWarning(
                f"FVD from {count_a} and {count_b} videos: fewer than {minimum:,} a side, the value "
                f"is biased upward and compares only with FVDs at the same numbers of videos"
            ),
            stacklevel=3,
        )


def fvd_from_stats(stats_a: FeatureStats, stats_b: FeatureStats) -> float:
    """FVD between two sets' statistics (warns below :data:`FVD_RECOMMENDED_VIDEOS` a side)."""
    if min(stats_a.count, stats_b.count) < 2:
        raise ValueError(
            f"FVD needs at least 2 videos a side, got {stats_a.count} and {stats_b.count}"
        )
    check_sample_size(stats_a.count, stats_b.count)
    return frechet_distance(stats_a.mean, stats_a.cov, stats_b.mean, stats_b.cov)


def fvd(features_a: torch.Tensor, features_b: torch.Tensor, *, unbiased: bool = False) -> float:
    """FVD between two sets of per-video features (e.g. :func:`i3d_features`).

    Args:
        features_a: ``(N_a, D)``.
        features_b: ``(N_b, D)``.
        unbiased: 1/(N-1) covariances (TF's original, torchmetrics) instead of 1/N (StyleGAN-V,
            cd-fvd, the default).

    Returns:
        The distance (float). Warns (:class:`FVDSampleSizeWarning`) below 2,048 videos a side.
    """
    a, b = FeatureStats.from_features(features_a), FeatureStats.from_features(features_b)
    if unbiased and min(a.count, b.count) >= 2:
        a = FeatureStats(a.mean, a.cov * a.count / (a.count - 1), a.count)
        b = FeatureStats(b.mean, b.cov * b.count / (b.count - 1), b.count)
    return fvd_from_stats(a, b)


# --------------------------------------------------------------------------------------------
# Reference sets


def folder_digest(folder: str | os.PathLike) -> str:
    """sha256 over the video files under ``folder`` (recursively, sorted): each one's relative
    path, size and modification time (not its bytes: a UCF-101 folder is 6.5 GB). Adding,
    removing, renaming or rewriting a file changes it; copying the folder without keeping
    modification times does too (a cache miss, never a wrong hit)."""
    from freqlab.video.read import find_videos

    root = Path(folder).expanduser()
    digest = hashlib.sha256()
    for path in find_videos(root):
        stat = path.stat()
        digest.update(
            f"{path.relative_to(root).as_posix()}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode()
        )
    return digest.hexdigest()


def _network_key(model: nn.Module | None, weights: str | os.PathLike | None, bn_eps: float) -> str:
    """What identifies the features' network in a cache key."""
    if model is not None:  # an injected module: its class and the bytes of its state
        digest = hashlib.sha256(type(model).__qualname__.encode())
        for name, tensor in model.state_dict().items():
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
        return f"custom:{type(model).__qualname__}:{digest.hexdigest()[:16]}"
    source = resolve_i3d_weights(weights)
    key = f"{MODEL_NAME}:{source}:eps={bn_eps!r}"
    if source.path is not None:
        stat = source.path.stat()
        key += f":{stat.st_size}:{stat.st_mtime_ns}"
    return key


def _batches(clips: Iterator[tuple[Path, torch.Tensor]], size: int) -> Iterator[torch.Tensor]:
    batch: list[torch.Tensor] = []
    for _, clip in clips:
        batch.append(clip)
        if len(batch) == size:
            yield torch.stack(batch)
            batch = []
    if batch:
        yield torch.stack(batch)


def reference_stats(
    folder: str | os.PathLike,
    model: nn.Module | None = None,
    *,
    weights: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    num_frames: int = FVD_NUM_FRAMES,
    resolution: int = REFERENCE_RESOLUTION,
    frame_stride: int | None = 1,
    limit: int | None = None,
    seed: int = 0,
    batch_size: int = 8,
    device: str | torch.device | None = None,
    bn_eps: float = BN_EPS_PYTORCH_PORT,
) -> FeatureStats:
    """Feature statistics of a folder of videos, cached by folder digest.

    Each file gives one clip (:class:`freqlab.video.read.VideoFolder`): ``num_frames`` frames
    ``frame_stride`` apart around the clip's middle (default: consecutive; a clip too short is
    sampled uniformly instead, repeating frames), centre-cropped to a square and resized with
    antialiasing to ``resolution`` (256, as cd-fvd's ``load_videos``); the FVD preprocessing then
    resizes that to 224. cd-fvd takes one random clip per file and truncates its resized frames to
    uint8; here the clip is the middle one and frames are rounded. Unreadable files are skipped
    (listed in the metadata).

    Args:
        folder: a folder of .mp4 / .avi / .gif files (searched recursively).
        model, weights, batch_size, device, bn_eps: as :func:`i3d_features`.
        cache_dir: where statistics are cached (``None``: no cache). The file is
            ``fvd_reference-<key>.safetensors``, ``key`` a digest of :func:`folder_digest` and
            every argument that changes the features.
        num_frames, resolution, frame_stride: how clips are read.
        limit, seed: read at most ``limit`` files, in a ``seed``-ed random order (all, sorted,
            without).

    Returns:
        :class:`FeatureStats`; ``metadata["cache"]`` is ``"hit"``, ``"miss"`` (computed and
        written) or ``"off"``.

    Raises:
        FileNotFoundError / ValueError: no such folder, or no videos in it.
        WeightsNotFoundError: the I3D weights are not on this machine.
    """
    from freqlab.video.read import VideoFolder

    batch_size = _check_batch_size(batch_size)
    reader = VideoFolder(
        folder,
        num_frames,
        resolution,
        resolution,
        limit=limit,
        seed=seed,
        frame_stride=frame_stride,
    )
    settings = {
        "version": CACHE_VERSION,
        "folder_digest": folder_digest(folder),
        "network": _network_key(model, weights, bn_eps),
        "num_frames": num_frames,
        "resolution": resolution,
        "frame_stride": frame_stride,
        "limit": limit,
        "seed": seed if limit is not None else None,
    }
    key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:24]
    path = None if cache_dir is None else Path(cache_dir) / f"fvd_reference-{key}.safetensors"
    if path is not None and path.is_file():
        stats = FeatureStats.load(path)
        return FeatureStats(stats.mean, stats.cov, stats.count, {**stats.metadata, "cache": "hit"})

    network, run = _network(model, weights, device, torch.device("cpu"), bn_eps)
    total = outer = None
    count = 0
    for clips in _batches(iter(reader), batch_size):
        x = _features(clips, network, batch_size, run).double().cpu()
        total = x.sum(dim=0) if total is None else total + x.sum(dim=0)
        outer = x.T @ x if outer is None else outer + x.T @ x
        count += len(x)
    if total is None or outer is None:
        reasons = "; ".join(f"{s.path}: {s.reason}" for s in reader.skipped[:3])
        raise ValueError(f"no readable video in {str(folder)!r} ({reasons})")
    metadata = {
        "folder": str(Path(folder).expanduser().resolve()),
        **settings,
        "files_read": count,
        "skipped": [{"path": s.path, "reason": s.reason} for s in reader.skipped],
    }
    stats = FeatureStats.from_sums(total, outer, count, metadata)
    if path is None:
        return FeatureStats(stats.mean, stats.cov, count, {**metadata, "cache": "off"})
    stats.save(path)
    return FeatureStats(stats.mean, stats.cov, count, {**metadata, "cache": "miss"})


# --------------------------------------------------------------------------------------------
# The torchmetrics class


class _Features(nn.Module):
    """The "feature extractor" handed to torchmetrics' FID: features are computed before
    :meth:`FrechetInceptionDistance.update` (on the network's device, then moved to the metric's),
    so it passes them through; it holds no network, so ``metric.to()`` never moves the shared I3D."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features


class FrechetVideoDistance(VideoMetric, FrechetInceptionDistance):
    """FVD of generated videos against a reference set (see the module docstring).

    torchmetrics' :class:`~torchmetrics.image.fid.FrechetInceptionDistance` keeps the float64
    sums (``Σx``, ``Σxxᵀ``, N) of the videos given to ``update`` and syncs them across processes;
    this class adds the I3D features, the reference statistics (:meth:`reference_statistics`, kept
    across ``reset()``), the 1/N covariance and the float64 result.

    ``update(videos)`` adds generated videos; ``update(videos, real=True)`` reference videos (only
    without ``reference=``). ``compute()`` returns ``{"fvd[i3d_k400]": FVD,
    "fvd[i3d_k400]/videos": N generated, "fvd[i3d_k400]/reference_videos": N reference}`` and warns
    (:class:`FVDSampleSizeWarning`) below 2,048 videos a side. FVD is a set metric: there are no
    per-video values (:func:`i3d_features` gives per-video features).

    Args:
        reference: ``None`` (reference videos come through ``update(..., real=True)``), a folder
            of videos (:func:`reference_stats`, computed or read from the cache at the first
            ``compute()``) or :class:`FeatureStats`.
        model: ``None`` (I3D) or an injected module (see :func:`i3d_features`).
        weights: the I3D checkpoint (``None``: Hugging Face cache; ``"random"``: tests). Resolved
            here, so missing weights fail at construction.
        num_frames: frames per clip (16).
        batch_size: clips per forward.
        device: where the network runs (default: the metric's device).
        bn_eps: the I3D's batch-norm epsilon.
        cache_dir, reference_limit, reference_resolution, reference_frame_stride, seed: for a
            reference folder, as :func:`reference_stats`'s ``cache_dir``, ``limit``,
            ``resolution``, ``frame_stride`` and ``seed``.
        kwargs: torchmetrics ``Metric`` options.
    """

    higher_is_better = False
    metric_name = "fvd"

    def __init__(
        self,
        reference: str | os.PathLike | FeatureStats | None = None,
        model: nn.Module | None = None,
        *,
        weights: str | os.PathLike | None = None,
        num_frames: int | None = FVD_NUM_FRAMES,
        batch_size: int = 8,
        device: str | torch.device | None = None,
        bn_eps: float = BN_EPS_PYTORCH_PORT,
        cache_dir: str | os.PathLike | None = None,
        reference_limit: int | None = None,
        reference_resolution: int = REFERENCE_RESOLUTION,
        reference_frame_stride: int | None = 1,
        seed: int = 0,
        **kwargs: Any,
    ) -> None:
        if model is not None and not isinstance(model, nn.Module):
            raise ValueError(f"model must be an nn.Module or None, got {type(model).__name__}")
        if model is not None and weights is not None:
            raise ValueError("weights is only used with the built-in I3D, not an injected model")
        if model is None:
            self_source = resolve_i3d_weights(weights)
            num_features = I3D_NUM_CLASSES
        else:
            self_source = None
            num_features = _probe_features(model, num_frames)
        super().__init__(feature=_Features(num_features), **kwargs)
        if reference is not None and not isinstance(reference, FeatureStats):
            from freqlab.video.read import find_videos

            find_videos(reference)  # a missing or empty folder fails now, not at the first update
        if isinstance(reference, FeatureStats) and reference.mean.shape != (num_features,):
            raise ValueError(
                f"reference statistics have {tuple(reference.mean.shape)} features, the network "
                f"gives {num_features}"
            )
        self._reference = reference
        self._reference_stats: FeatureStats | None = None
        self._network_module = model
        self._weights = weights
        self._source = self_source
        self._num_frames = num_frames
        self._batch_size = _check_batch_size(batch_size)
        self._device_arg = device
        self._bn_eps = bn_eps
        self._reference_options = {
            "cache_dir": cache_dir,
            "limit": reference_limit,
            "resolution": reference_resolution,
            "frame_stride": reference_frame_stride,
            "seed": seed,
        }

    @property
    def name(self) -> str:
        """``fvd[i3d_k400]`` (``@random`` for random weights, ``@eps=...`` for a non-default
        batch-norm epsilon, ``custom:<class>`` for an injected network)."""
        if self._network_module is not None:
            return f"{self.metric_name}[custom:{type(self._network_module).__name__}]"
        model = MODEL_NAME
        if self._source is not None and self._source.kind == "random":
            model += "@random"
        if self._bn_eps != BN_EPS_PYTORCH_PORT:
            model += f"@eps={self._bn_eps:g}"
        return f"{self.metric_name}[{model}]"

    @property
    def metadata(self) -> dict[str, Any]:
        """How the value is computed, and the reference set."""
        reference: Any = None
        if isinstance(self._reference, FeatureStats):
            reference = {"stats": self._reference.count, **self._reference.metadata}
        elif self._reference is not None:
            reference = {"folder": str(self._reference), **self._reference_options}
            if self._reference_stats is not None:
                reference.update(self._reference_stats.metadata)
        return {
            **super().metadata,
            "network": "injected" if self._network_module is not None else MODEL_NAME,
            "weights": None if self._source is None else str(self._source),
            "bn_eps": self._bn_eps,
            "num_frames": self._num_frames,
            "preprocess": "first num_frames frames; bilinear 224x224 (align_corners=False, no "
            "antialias); 2x/255 - 1",
            "features": "400 Kinetics logits (pre-softmax, mean over time)",
            "covariance": "float64 sums, 1/N",
            "matrix_sqrt": "sum of sqrt of eigenvalues of cov_gen @ cov_ref (= Re Tr sqrtm)",
            "matches": "cd-fvd 0.1.1 cdfvd(model='i3d')",
            "recommended_videos": FVD_RECOMMENDED_VIDEOS,
            "reference": reference,
        }

    def _run_device(self) -> torch.device:
        return torch.device(self._device_arg if self._device_arg is not None else self.device)

    def reference_statistics(self) -> FeatureStats | None:
        """The statistics of ``reference=`` (a folder's are computed or read from the cache on
        the first call, then kept); ``None`` without ``reference=``.

        Kept outside the metric states, so ``reset()`` and a multi-process sync leave them as
        they are (every process holds the same reference)."""
        if self._reference is None or self._reference_stats is not None:
            return self._reference_stats
        if isinstance(self._reference, FeatureStats):
            self._reference_stats = self._reference
            return self._reference_stats
        options = self._reference_options
        self._reference_stats = reference_stats(
            self._reference,
            self._network_module,
            weights=self._weights,
            cache_dir=options["cache_dir"],
            num_frames=self._num_frames or FVD_NUM_FRAMES,
            resolution=options["resolution"],
            frame_stride=options["frame_stride"],
            limit=options["limit"],
            seed=options["seed"],
            batch_size=self._batch_size,
            device=self._run_device(),
            bn_eps=self._bn_eps,
        )
        return self._reference_stats

    def update(self, videos: torch.Tensor, real: bool = False) -> None:  # type: ignore[override]
        """Add videos ``(B, T, C, H, W)``, uint8 (0-255) or float (0-1), ``T >= num_frames``:
        generated ones, or reference ones with ``real=True`` (only without ``reference=``)."""
        if real and self._reference is not None:
            raise ValueError(
                "the reference set was given as reference=; update(videos) adds generated videos"
            )
        videos = _clips(check_videos(videos), self._num_frames)
        network, run = _network(
            self._network_module, self._weights, self._device_arg, self.device, self._bn_eps
        )
        features = _features(videos, network, self._batch_size, run)
        super().update(features.to(self.device), real)

    def _stats(self, real: bool) -> FeatureStats:
        side = "real" if real else "fake"
        count = int(getattr(self, f"{side}_features_num_samples"))
        if count < 2:
            what = "reference" if real else "generated"
            raise ValueError(f"FVD needs at least 2 {what} videos, got {count}")
        return FeatureStats.from_sums(
            getattr(self, f"{side}_features_sum"), getattr(self, f"{side}_features_cov_sum"), count
        )

    def compute(self) -> dict[str, torch.Tensor]:  # type: ignore[override]
        """``{name: FVD (float64), name/videos: N generated, name/reference_videos: N
        reference}``; warns below 2,048 videos a side."""
        generated = self._stats(real=False)
        reference = self.reference_statistics() or self._stats(real=True)
        value = fvd_from_stats(generated, reference)
        return {
            self.name: torch.tensor(value, dtype=torch.float64),
            f"{self.name}/videos": torch.tensor(generated.count),
            f"{self.name}/reference_videos": torch.tensor(reference.count),
        }

    def per_video(self) -> dict[str, torch.Tensor]:
        """FVD is a set metric: no per-video values (use :func:`i3d_features`)."""
        raise NotImplementedError(
            "FVD is a distance between two sets of videos: it has no per-video values; "
            "i3d_features(videos) gives each video's features"
        )


def _probe_features(model: nn.Module, num_frames: int | None) -> int:
    """The feature dimension of an injected network: its ``num_features``, else one zero clip."""
    size = getattr(model, "num_features", None)
    if isinstance(size, int):
        return size
    t = num_frames or FVD_NUM_FRAMES
    device = device_of(model) or torch.device("cpu")
    clip = torch.zeros(1, 3, t, I3D_INPUT_SIZE, I3D_INPUT_SIZE, device=device)
    with torch.inference_mode():
        return int(model.eval()(clip).shape[-1])
