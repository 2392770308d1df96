"""VBench's motion smoothness: how well a frame interpolator re-creates the odd frames.

Per video, exactly as VBench's ``motion_smoothness.py`` (``MotionSmoothness.motion_score`` and
``vfi_score``):

1. frames ``F_0 .. F_{T-1}`` as uint8 RGB. Float input (0-1) is first quantised the way
   :func:`freqlab.video.write.save_video` writes it, ``round(255 x)``: VBench scores decoded
   video files, and its predictions are uint8 too.
2. the even frames ``F_0, F_2, ...`` become float32 ``F / 255``, edge-padded (``replicate``) to
   multiples of ``int(16 / scale)``, the padding split as evenly as possible with the extra
   pixel on the right / bottom (VBench's ``InputPadder``).
3. for each pair ``(F_2k, F_2k+2)`` the interpolator predicts the frame at t = 0.5 (AMT-S, one
   pass); the prediction is unpadded and turned into uint8 by **truncation**,
   ``uint8(clip(255 P, 0, 255))`` (VBench's ``tensor2img``), not by rounding.
4. ``err_k = mean |F_{2k+1} - P_k|`` over pixels and channels in uint8 units, ``err`` the mean
   over ``k``. With an even ``T`` the last frame has no right neighbour and is not used.
5. score ``(255 - err) / 255`` in [0, 1]; 1 means every odd frame is exactly the interpolation
   of its neighbours. Overall: the mean over videos (VBench's set score).

``T >= 3`` (two even frames). With AMT-S, frames must be at least 128 pixels a side after
padding: below that AMT's coarsest correlation level is one pixel wide and VBench's own model
returns NaN. ``scale`` is the resolution at which AMT estimates flows: 1 (default) is what VBench
uses on the CPU and on GPUs with enough memory for the frame size (for <= 1080p on >= 40 GB);
``scale="vbench"`` reproduces its rule from the GPU's memory (:func:`evaluation.amt.vbench_scale`),
which makes the score depend on the GPU.

Checked against VBench's own ``motion_score`` and AMT code (same random weights, CPU): with
``batch_size=1`` (VBench runs one pair at a time) the per-video error is identical in float64;
larger batches change the float rounding of a few predicted pixels near a truncation step, which
moves scores by about 1e-8.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from evaluation.amt import AMTS, MIN_SIDE, load_amt, resolve_amt_weights, vbench_scale
from evaluation.inputs import check_videos
from evaluation.metrics.base import VideoMetric, device_of

__all__ = [
    "INTERPOLATORS",
    "MotionSmoothness",
    "motion_smoothness",
    "padding_for",
    "quantise_frames",
]

INTERPOLATORS = ("amt_s",)
DEFAULT_INTERPOLATOR = "amt_s"
EMBT = 0.5

Interpolator = nn.Module | Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def quantise_frames(frames: torch.Tensor) -> torch.Tensor:
    """Frames as uint8, as a video file stores them: uint8 as is, float ``round(255 x)``.

    Args:
        frames: any shape, uint8 or float in [0, 1].

    Returns:
        uint8, same shape.
    """
    if frames.dtype == torch.uint8:
        return frames
    return (frames.float().clamp(0, 1) * 255).round().to(torch.uint8)


def padding_for(height: int, width: int, divisor: int) -> tuple[int, int, int, int]:
    """VBench's ``InputPadder``: ``(left, right, top, bottom)`` that bring ``height x width`` to
    multiples of ``divisor``, the extra pixel of an odd padding on the right / bottom."""
    pad_h, pad_w = -height % divisor, -width % divisor
    return pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2


def _scale_for(scale: float | str, height: int, width: int, device: torch.device) -> float:
    if scale == "vbench":
        memory = None
        if device.type == "cuda":
            memory = torch.cuda.get_device_properties(device).total_memory
        return vbench_scale(height, width, memory)
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not 0 < scale <= 1:
        raise ValueError(f"scale must be 'vbench' or a number in (0, 1], got {scale!r}")
    return float(scale)


def _module_device(module: object) -> torch.device | None:
    """:func:`device_of` for a module; None for any other callable interpolator."""
    return device_of(module) if isinstance(module, nn.Module) else None


def _interpolator(
    interpolator: str | Interpolator,
    weights: str | os.PathLike | None,
    device: str | torch.device | None,
    fallback: torch.device,
) -> tuple[Interpolator, torch.device]:
    """The interpolator to run and where: a named one is loaded on ``device`` (else
    ``fallback``); an injected one runs where its parameters are."""
    if isinstance(interpolator, str):
        if interpolator not in INTERPOLATORS:
            raise ValueError(
                f"interpolator must be one of {INTERPOLATORS} or a module, got {interpolator!r}"
            )
        run_device = torch.device(device) if device is not None else fallback
        return load_amt(weights, run_device), run_device
    if not callable(interpolator):
        raise ValueError(
            f"interpolator must be one of {INTERPOLATORS} or a callable (img0, img1) -> middle "
            f"frame, got {type(interpolator).__name__}"
        )
    if weights is not None:
        raise ValueError("weights is only used with a named interpolator, not an injected one")
    if isinstance(interpolator, nn.Module):
        interpolator.eval()
    module_device = _module_device(interpolator)
    if device is None:
        return interpolator, module_device or fallback
    if module_device is not None and module_device != torch.device(device):
        raise ValueError(
            f"device={str(device)!r} but the interpolator's parameters are on {module_device}; "
            f"move it or leave device=None"
        )
    return interpolator, torch.device(device)


def _interpolate(
    model: Interpolator, first: torch.Tensor, second: torch.Tensor, scale: float
) -> torch.Tensor:
    if isinstance(model, AMTS):
        out = model(first, second, EMBT, scale_factor=scale)
    else:
        out = model(first, second)
    if not isinstance(out, torch.Tensor) or out.shape != first.shape:
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(
            f"interpolator must return the middle frames with its inputs' shape "
            f"{tuple(first.shape)}, got {shape}"
        )
    return out


def _errors(
    videos: torch.Tensor,
    model: Interpolator,
    *,
    scale: float | str,
    batch_size: int,
    device: torch.device,
) -> torch.Tensor:
    """``(B,)`` float64: VBench's ``vfi_score``, the mean interpolation error in uint8 units."""
    b, t, _, height, width = videos.shape
    pairs = (t + 1) // 2 - 1  # consecutive even frames; the prediction of frame 2k+1 each
    factor = _scale_for(scale, height, width, device)
    left, right, top, bottom = padding_for(height, width, int(16 / factor))
    padded = (height + top + bottom, width + left + right)
    if isinstance(model, AMTS) and min(padded) < MIN_SIDE:
        raise ValueError(
            f"videos: AMT-S needs frames of at least {MIN_SIDE} pixels a side after padding, got "
            f"{height}x{width} (padded {padded[0]}x{padded[1]}); VBench's AMT returns NaN there"
        )
    index = torch.arange(b * pairs)
    per_pair = []
    with torch.inference_mode():
        for start in range(0, len(index), batch_size):
            chunk = index[start : start + batch_size]
            vid, k = chunk // pairs, chunk % pairs
            # Float frames exactly as VBench's img2tensor makes them: uint8 / 255 in float32.
            first = quantise_frames(videos[vid, 2 * k].to(device)).float() / 255.0
            second = quantise_frames(videos[vid, 2 * k + 2].to(device)).float() / 255.0
            pad = (left, right, top, bottom)
            if any(pad):
                first = F.pad(first, pad, mode="replicate")
                second = F.pad(second, pad, mode="replicate")
            middle = _interpolate(model, first, second, factor)
            middle = middle[..., top : top + height, left : left + width]
            middle = (middle * 255.0).clamp(0, 255).to(torch.uint8)  # truncation, as tensor2img
            target = quantise_frames(videos[vid, 2 * k + 1].to(device))
            diff = (target.to(torch.int16) - middle.to(torch.int16)).abs()
            per_pair.append(diff.mean(dim=(1, 2, 3), dtype=torch.float64).cpu())
    return torch.cat(per_pair).reshape(b, pairs).mean(dim=1)


def _check(videos: torch.Tensor, batch_size: int) -> torch.Tensor:
    videos = check_videos(videos)
    if videos.shape[1] < 3:
        raise ValueError(
            f"videos must have at least 3 frames (dim 1) for motion smoothness (two even frames "
            f"and the odd one between them), got shape {tuple(videos.shape)}"
        )
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    return videos


def motion_smoothness(
    videos: torch.Tensor,
    interpolator: str | Interpolator = DEFAULT_INTERPOLATOR,
    *,
    weights: str | os.PathLike | None = None,
    batch_size: int = 4,
    scale: float | str = 1.0,
    device: str | torch.device | None = None,
) -> torch.Tensor:
    """VBench motion smoothness of each video (see the module docstring).

    Args:
        videos: ``(B, T, C, H, W)``, uint8 (0-255) or float (0-1), ``T >= 3``.
        interpolator: ``"amt_s"`` (AMT-S with local weights) or a callable
            ``(img0, img1) -> middle`` on ``(N, 3, H', W')`` float frames in [0, 1] (padded),
            returning the same shape in [0, 1].
        weights: AMT-S checkpoint: ``None`` (the caches), ``"random"`` (tests) or a local file.
        batch_size: frame pairs per interpolator call.
        scale: AMT's flow resolution, a number in (0, 1] or ``"vbench"`` (VBench's memory rule).
        device: where to interpolate (default: the injected module's device, else the videos').

    Returns:
        ``(B,)`` float32 in [0, 1] on the videos' device; 1.0 when every odd frame is the
        interpolation of its neighbours.

    Raises:
        WeightsNotFoundError: AMT-S's weights are not on this machine.
    """
    videos = _check(videos, batch_size)
    model, run_device = _interpolator(interpolator, weights, device, videos.device)
    errors = _errors(videos, model, scale=scale, batch_size=batch_size, device=run_device)
    return ((255.0 - errors) / 255.0).float().to(videos.device)


class MotionSmoothness(VideoMetric):
    """VBench motion smoothness (higher: smoother); see :func:`motion_smoothness`.

    ``compute()`` returns ``{"motion_smoothness[amt_s]": mean over videos}`` (``amt_s@random``
    with random weights, ``custom:<class>`` for an injected interpolator).

    Args:
        interpolator: ``"amt_s"`` or an injected callable (see :func:`motion_smoothness`).
        weights: AMT-S checkpoint: ``None`` (Hugging Face cache ``lalala125/AMT``, then VBench's
            cache), ``"random"`` or a local file / directory. Looked up (and loaded) here, so
            missing weights fail at construction.
        batch_size: frame pairs per interpolator call.
        scale: AMT's flow resolution (``1.0`` or ``"vbench"``).
        device: where the interpolator runs (default: the metric's device).
        kwargs: torchmetrics ``Metric`` options.
    """

    higher_is_better = True
    plot_lower_bound = 0.0
    plot_upper_bound = 1.0
    metric_name = "motion_smoothness"

    def __init__(
        self,
        interpolator: str | Interpolator = DEFAULT_INTERPOLATOR,
        *,
        weights: str | os.PathLike | None = None,
        batch_size: int = 4,
        scale: float | str = 1.0,
        device: str | torch.device | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        if scale != "vbench":
            _scale_for(scale, 1, 1, torch.device("cpu"))  # checks the value
        self._interpolator_arg = interpolator
        self._weights = weights
        self._batch_size = batch_size
        self._scale = scale
        self._device_arg = device
        if isinstance(interpolator, str):
            source = resolve_amt_weights(weights)
            self._model_name = f"{interpolator}@random" if source.kind == "random" else interpolator
            self._weights_note = str(source)
            # Load now: a file with the wrong keys fails here, not at the first update.
            _interpolator(interpolator, weights, device, torch.device("cpu"))
        else:
            _interpolator(interpolator, weights, device, torch.device("cpu"))
            self._model_name = f"custom:{type(interpolator).__name__}"
            self._weights_note = "injected"
        self._add_per_video_state("scores")

    @property
    def name(self) -> str:
        """``motion_smoothness[<interpolator>]``, e.g. ``motion_smoothness[amt_s]``."""
        return f"{self.metric_name}[{self._model_name}]"

    @property
    def metadata(self) -> dict[str, Any]:
        """The interpolator, its weights and the protocol."""
        return {
            **super().metadata,
            "interpolator": self._model_name,
            "weights": self._weights_note,
            "scale": self._scale,
            "formula": (
                "(255 - mean_k MAE(F[2k+1], uint8_trunc(AMT(F[2k], F[2k+2], t=0.5)))) / 255, "
                "native resolution, frames padded to multiples of 16 (replicate)"
            ),
            "pooling": "mean over videos",
        }

    def update(self, videos: torch.Tensor) -> None:
        """Add a batch of videos ``(B, T, C, H, W)``, uint8 (0-255) or float (0-1), ``T >= 3``."""
        videos = _check(videos, self._batch_size)
        model, run_device = _interpolator(
            self._interpolator_arg, self._weights, self._device_arg, self.device
        )
        errors = _errors(
            videos, model, scale=self._scale, batch_size=self._batch_size, device=run_device
        )
        self.scores.append(((255.0 - errors) / 255.0).float().to(self.device))

    def compute(self) -> dict[str, torch.Tensor]:
        """``{"motion_smoothness[<interpolator>]": mean over videos}``."""
        return {self.name: self._values("scores").mean()}

    def per_video(self) -> dict[str, torch.Tensor]:
        """``{"motion_smoothness[<interpolator>]": (N,)}``."""
        return {self.name: self._values("scores")}
