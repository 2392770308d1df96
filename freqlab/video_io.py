"""Writing videos to disk (GIF or MP4), atomically."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import torch

VIDEO_SUFFIXES = (".gif", ".mp4")


def to_uint8_frames(video: torch.Tensor) -> np.ndarray:
    """``(T, C, H, W)`` float in [0, 1] or uint8 -> numpy uint8 ``(T, H, W, C)`` with C = 3."""
    if not isinstance(video, torch.Tensor) or video.dim() != 4:
        raise ValueError(
            f"video must be a (T, C, H, W) tensor, got {getattr(video, 'shape', video)}"
        )
    if video.shape[1] not in (1, 3):
        raise ValueError(
            f"video must have 1 or 3 channels in dim 1, got shape {tuple(video.shape)}"
        )
    if video.dtype != torch.uint8:
        if not video.is_floating_point():
            raise ValueError(f"video must be uint8 or float in [0, 1], got {video.dtype}")
        video = (video.detach().float().clamp(0, 1) * 255).round().to(torch.uint8)
    if video.shape[1] == 1:
        video = video.expand(-1, 3, -1, -1)
    return video.permute(0, 2, 3, 1).cpu().numpy()


def save_video(video: torch.Tensor, path: str | os.PathLike, fps: int = 8) -> Path:
    """Write ``video`` ``(T, C, H, W)`` (float in [0, 1] or uint8) as a looping GIF or an MP4.

    The file appears only once complete (written to a temporary name, then renamed).
    """
    import imageio.v3 as iio

    path = Path(path)
    if path.suffix not in VIDEO_SUFFIXES:
        raise ValueError(f"path must end in one of {VIDEO_SUFFIXES}, got {path.name!r}")
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    frames = to_uint8_frames(video)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=path.suffix, dir=path.parent, prefix=f".{path.stem}.")
    os.close(fd)
    try:
        if path.suffix == ".gif":
            iio.imwrite(tmp, frames, duration=1000 / fps, loop=0)
        else:
            iio.imwrite(tmp, frames, fps=fps, plugin="pyav", codec="libx264")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
