"""Checking the videos and prompts that enter a metric, and turning frames into floats.

Every metric takes a batch of videos as one tensor of shape ``(B, T, C, H, W)``:

* ``uint8`` with values 0-255, or a floating dtype with values in [0, 1];
* ``C`` is 3 (RGB) or 1 (grey, repeated to RGB);
* ``T >= 2`` (every metric compares frames with each other).

Bad input raises a :class:`ValueError` naming the parameter, here where it enters, rather than
deep inside an encoder. Checking does not copy: uint8 videos stay uint8 until a chunk of frames
is converted on the device that processes it (:func:`frames_to_float`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["check_prompts", "check_videos", "frames_to_float"]

# Tolerance for float videos slightly outside [0, 1] (rounding in a VAE decode or a resize).
RANGE_TOLERANCE = 1e-3


def check_videos(videos: torch.Tensor, name: str = "videos") -> torch.Tensor:
    """Validate a batch of videos and return it with 3 channels.

    Args:
        videos: ``(B, T, C, H, W)``, uint8 (0-255) or floating point (0-1), ``C`` in {1, 3},
            ``T >= 2``, ``B >= 1``.
        name: the parameter name used in error messages.

    Returns:
        ``(B, T, 3, H, W)`` in the input's dtype and device; grey input is expanded to RGB
        without copying, anything else is the input itself.

    Raises:
        ValueError: wrong type, rank, channel count, frame count, dtype, NaN/inf values, or
            float values outside [0, 1].
    """
    if not isinstance(videos, torch.Tensor):
        raise ValueError(
            f"{name} must be a torch.Tensor of shape (B, T, C, H, W), got {type(videos).__name__}"
        )
    shape = tuple(videos.shape)
    if videos.dim() != 5:
        hint = " For one video use video.unsqueeze(0)." if videos.dim() == 4 else ""
        raise ValueError(
            f"{name} must have 5 dimensions (B, T, C, H, W), got {videos.dim()} with shape "
            f"{shape}.{hint}"
        )
    b, t, c, h, w = shape
    if c not in (1, 3):
        hint = ""
        if w in (1, 3):
            hint = " It looks channels-last: use videos.permute(0, 1, 4, 2, 3)."
        raise ValueError(
            f"{name} must have 1 or 3 channels in dim 2 (B, T, C, H, W), got shape {shape}.{hint}"
        )
    if b < 1:
        raise ValueError(f"{name} must contain at least one video, got shape {shape}")
    if t < 2:
        raise ValueError(
            f"{name} must have at least 2 frames (dim 1) to measure anything over time, "
            f"got shape {shape}"
        )
    if h < 1 or w < 1:
        raise ValueError(f"{name} must have non-empty frames, got shape {shape}")
    if videos.dtype != torch.uint8:
        if not videos.is_floating_point():
            raise ValueError(
                f"{name} must be uint8 (0-255) or floating point (0-1), got {videos.dtype}"
            )
        if not bool(torch.isfinite(videos).all()):
            raise ValueError(f"{name} contains NaN or infinite values")
        lo, hi = (float(v) for v in torch.aminmax(videos))
        if lo < -RANGE_TOLERANCE or hi > 1 + RANGE_TOLERANCE:
            hint = ""
            if lo < -RANGE_TOLERANCE and hi <= 1 + RANGE_TOLERANCE:
                hint = " For videos in [-1, 1] pass (videos + 1) / 2."
            elif hi > 1 + RANGE_TOLERANCE:
                hint = " For 0-255 values pass videos.round().to(torch.uint8) or videos / 255."
            raise ValueError(
                f"float {name} must lie in [0, 1], got values in [{lo:.4g}, {hi:.4g}].{hint}"
            )
    if c == 1:
        videos = videos.expand(-1, -1, 3, -1, -1)
    return videos


def frames_to_float(frames: torch.Tensor) -> torch.Tensor:
    """Frames of a checked video, uint8 0-255 or float 0-1, as float32 in [0, 1].

    Args:
        frames: any shape, uint8 or floating point.

    Returns:
        float32 tensor of the same shape. Float input is clamped to [0, 1] (it was checked to be
        within :data:`RANGE_TOLERANCE` of it).
    """
    if frames.dtype == torch.uint8:
        return frames.float().div_(255.0)
    return frames.float().clamp(0.0, 1.0)


def check_prompts(
    prompts: Sequence[str] | str, num_videos: int, name: str = "prompts"
) -> list[str]:
    """Validate one prompt per video.

    Args:
        prompts: a sequence of ``num_videos`` strings (a bare string is accepted for one video).
        num_videos: ``B``, the number of videos the prompts belong to.
        name: the parameter name used in error messages.

    Returns:
        The prompts as a list of ``B`` strings.
    """
    if isinstance(prompts, str):
        prompts = [prompts]
    if not isinstance(prompts, Sequence) or not all(isinstance(p, str) for p in prompts):
        raise ValueError(
            f"{name} must be a sequence of strings, one per video, got {prompts!r:.200}"
        )
    if len(prompts) != num_videos:
        raise ValueError(
            f"{name} must have one string per video: got {len(prompts)} prompts for "
            f"{num_videos} videos"
        )
    return list(prompts)
