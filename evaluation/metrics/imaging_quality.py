"""VBench's ``imaging_quality``: MUSIQ (SPAQ checkpoint) on every frame, averaged.

Per frame (VBench ``vbench/imaging_quality.py``, default ``--imaging_quality_preprocessing_mode
longer``):

1. the frame as float 0-255; if its longer side exceeds 512, it is resized to
   ``(int(s * H), int(s * W))`` with ``s = 512 / max(H, W)``, bilinear, ``antialias=False``
   (torchvision ``Resize`` on the float tensor); then ``/ 255``. ``int`` truncates a float
   product, so some sides land on 511 (e.g. 561 -> 511), as in VBench;
2. MUSIQ-SPAQ (:mod:`evaluation.musiq`) scores it on SPAQ's 0-100 MOS scale.

Per video: the mean over all frames, 0-100 (VBench's stored ``video_results``), which
:func:`imaging_quality` returns. The set value is the mean over videos divided by 100 (VBench's
dimension score, shown x100 as a percentage on the leaderboard); :class:`ImagingQuality` keeps the
per-video values divided by 100 so that they average to it.

VBench scores one frame at a time; frames are batched here (same numbers up to float summation
order). Float videos (0-1) are resized as they are, without VBench's detour through 0-255 (the
same up to rounding); uint8 videos follow VBench's order exactly. VBench's other preprocessing
modes (``shorter``, ``shorter_centercrop``, ``None``) are available as ``resize=``.
"""

from __future__ import annotations

import os
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.transforms import functional as TF

from evaluation.inputs import check_videos
from evaluation.metrics.base import VideoMetric, injected_device
from evaluation.musiq import load_musiq, resolve_musiq_weights

__all__ = ["RESIZE_MODES", "ImagingQuality", "imaging_quality", "vbench_iq_resize"]

DEFAULT_MODEL = "musiq_spaq"
RESIZE_MODES = ("longer", "shorter", "shorter_centercrop", None)
MAX_SIDE = 512


def _check_resize(resize: str | None) -> str | None:
    if resize == "None":  # VBench's spelling on its command line
        resize = None
    if resize not in RESIZE_MODES:
        raise ValueError(f"resize must be one of {RESIZE_MODES}, got {resize!r}")
    return resize


def _resized_size(height: int, width: int, resize: str | None) -> tuple[int, int] | None:
    """VBench's target size, or None when the frame is left as it is."""
    if resize == "longer":
        side = max(height, width)
    elif resize is not None:
        side = min(height, width)
    else:
        return None
    if side <= MAX_SIDE:
        return None
    scale = MAX_SIDE / side  # VBench: scale = 512. / side; size = (int(scale * h), int(scale * w))
    return int(scale * height), int(scale * width)


def vbench_iq_resize(frames: torch.Tensor, resize: str | None = "longer") -> torch.Tensor:
    """VBench's imaging-quality preprocessing of frames.

    Args:
        frames: ``(N, 3, H, W)`` uint8 (0-255) or float (0-1).
        resize: ``"longer"`` (VBench's default: a longer side over 512 becomes 512),
            ``"shorter"`` (a shorter side over 512 becomes 512), ``"shorter_centercrop"`` (then a
            centre 512 x 512 crop) or ``None`` (no resizing).

    Returns:
        ``(N, 3, h, w)`` float32 in [0, 1] (bilinear without antialias cannot overshoot).
    """
    resize = _check_resize(resize)
    x = frames.float() if frames.dtype == torch.uint8 else frames.float().clamp(0.0, 1.0)
    size = _resized_size(*x.shape[-2:], resize)
    if size is not None:
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=False)
        if resize == "shorter_centercrop":
            # torchvision's own crop: it zero-pads where int() left a side at 511
            x = TF.center_crop(x, [MAX_SIDE, MAX_SIDE])
    if frames.dtype == torch.uint8:
        x = x / 255.0
    return x


def _scorer(
    model: str | nn.Module,
    weights: str | os.PathLike | None,
    device: str | torch.device | None,
    fallback: torch.device,
) -> tuple[nn.Module, torch.device]:
    """The scoring network and where it runs."""
    if isinstance(model, str):
        if model != DEFAULT_MODEL:
            raise ValueError(f"model must be {DEFAULT_MODEL!r} or an nn.Module, got {model!r}")
        run_device = torch.device(device) if device is not None else fallback
        return load_musiq(weights, run_device), run_device
    if not isinstance(model, nn.Module):
        raise ValueError(
            f"model must be {DEFAULT_MODEL!r} or an nn.Module, got {type(model).__name__}"
        )
    if weights is not None:
        raise ValueError("weights is only used with model='musiq_spaq', not an injected module")
    model.eval()
    return model, injected_device(model, device, fallback)


def _frame_scores(
    videos: torch.Tensor,
    model: nn.Module,
    *,
    resize: str | None,
    batch_size: int,
    device: torch.device,
) -> torch.Tensor:
    """``(B, T)`` float64 scores of every frame, in chunks of ``batch_size`` frames."""
    b, t = videos.shape[:2]
    frames = videos.reshape(b * t, *videos.shape[2:])
    scores = []
    with torch.inference_mode():
        for chunk in frames.split(batch_size):
            x = vbench_iq_resize(chunk.to(device), resize)
            out = model(x)
            if out.dim() == 2 and out.shape[1] == 1:
                out = out[:, 0]
            if out.shape != (len(chunk),):
                raise ValueError(
                    f"the imaging-quality model must return one score per frame, (N,) or (N, 1); "
                    f"got {tuple(out.shape)} for {len(chunk)} frames"
                )
            scores.append(out.double())  # VBench sums Python floats (float64)
    return torch.cat(scores).reshape(b, t)


def _check_batch_size(batch_size: int) -> None:
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")


def imaging_quality(
    videos: torch.Tensor,
    model: str | nn.Module = DEFAULT_MODEL,
    *,
    weights: str | os.PathLike | None = None,
    resize: str | None = "longer",
    batch_size: int = 4,
    device: str | torch.device | None = None,
) -> torch.Tensor:
    """VBench imaging quality of each video: the mean MUSIQ-SPAQ score of its frames.

    Args:
        videos: ``(B, T, C, H, W)``, uint8 (0-255) or float (0-1), ``T >= 2``.
        model: ``"musiq_spaq"`` (:func:`evaluation.musiq.load_musiq`) or a module
            ``(N, 3, h, w) in [0, 1] -> (N,)`` or ``(N, 1)`` scores (tests, other checkpoints).
        weights: for ``"musiq_spaq"``: ``None`` (local caches), ``"random"`` (smoke tests) or a
            local ``musiq_spaq_ckpt-358bb6af.pth``.
        resize: VBench's preprocessing mode (:func:`vbench_iq_resize`), default ``"longer"``.
        batch_size: frames per network call.
        device: where to run (default: the model's device, else the videos').

    Returns:
        ``(B,)`` float32 on the 0-100 scale (VBench's per-video value), on the videos' device.

    Raises:
        WeightsNotFoundError: the MUSIQ-SPAQ weights are not on this machine.
    """
    videos = check_videos(videos)
    resize = _check_resize(resize)
    _check_batch_size(batch_size)
    net, run_device = _scorer(model, weights, device, videos.device)
    scores = _frame_scores(videos, net, resize=resize, batch_size=batch_size, device=run_device)
    return scores.mean(dim=1).float().to(videos.device)


class ImagingQuality(VideoMetric):
    """VBench imaging quality (MUSIQ, SPAQ checkpoint); see :func:`imaging_quality`.

    ``compute()`` returns ``{"imaging_quality[musiq_spaq]": mean over videos / 100}``, VBench's
    dimension score; :meth:`per_video` gives each video's frame mean / 100, so that they average
    to it. Random weights name the result ``imaging_quality[musiq_spaq@random]``, an injected
    module ``imaging_quality[custom:<class>]``.

    Args:
        model: ``"musiq_spaq"`` or an injected module (see :func:`imaging_quality`).
        weights: local checkpoint, ``"random"`` or ``None`` (caches); loaded at construction, so
            missing weights fail here.
        resize: VBench's preprocessing mode, default ``"longer"``.
        batch_size: frames per network call.
        device: where the network runs (default: the metric's device).
        kwargs: torchmetrics ``Metric`` options.
    """

    higher_is_better = True
    plot_lower_bound = 0.0
    plot_upper_bound = 1.0
    metric_name = "imaging_quality"

    def __init__(
        self,
        model: str | nn.Module = DEFAULT_MODEL,
        *,
        weights: str | os.PathLike | None = None,
        resize: str | None = "longer",
        batch_size: int = 4,
        device: str | torch.device | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        _check_batch_size(batch_size)
        self._resize = _check_resize(resize)
        self._batch_size = batch_size
        self._device_arg = device
        self._weights = weights
        if isinstance(model, nn.Module):
            if weights is not None:
                raise ValueError("weights is only used with model='musiq_spaq', not a module")
            self._module: nn.Module | None = model
            self._model_name = f"custom:{type(model).__name__}"
            self._source = "injected"
        elif model == DEFAULT_MODEL:
            self._module = None
            source = resolve_musiq_weights(weights)
            self._model_name = f"{DEFAULT_MODEL}@random" if source.kind == "random" else model
            self._source = str(source)
            load_musiq(weights, torch.device(device) if device is not None else "cpu")
        else:
            raise ValueError(f"model must be {DEFAULT_MODEL!r} or an nn.Module, got {model!r}")
        self._add_per_video_state("scores")

    @property
    def name(self) -> str:
        """``imaging_quality[<model>]``."""
        return f"{self.metric_name}[{self._model_name}]"

    @property
    def metadata(self) -> dict[str, Any]:
        """How the score is computed."""
        return {
            **super().metadata,
            "model": self._model_name,
            "weights": self._source,
            "resize": self._resize,
            "formula": "mean over frames of MUSIQ-SPAQ MOS (0-100), / 100",
            "pooling": "mean over videos",
        }

    def update(self, videos: torch.Tensor) -> None:
        """Add a batch of videos ``(B, T, C, H, W)``, uint8 (0-255) or float (0-1)."""
        videos = check_videos(videos)
        if self._module is not None:
            net, run_device = _scorer(self._module, None, self._device_arg, self.device)
        else:
            run_device = torch.device(
                self._device_arg if self._device_arg is not None else self.device
            )
            net = load_musiq(self._weights, run_device)
        scores = _frame_scores(
            videos, net, resize=self._resize, batch_size=self._batch_size, device=run_device
        )
        self.scores.append((scores.mean(dim=1) / 100.0).float().to(self.device))

    def compute(self) -> dict[str, torch.Tensor]:
        """``{"imaging_quality[<model>]": mean over videos / 100}``."""
        return {self.name: self._values("scores").mean()}

    def per_video(self) -> dict[str, torch.Tensor]:
        """``{"imaging_quality[<model>]": (N,)}``, each video's frame mean / 100."""
        return {self.name: self._values("scores")}
