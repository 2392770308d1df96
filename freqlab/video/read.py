"""Reading real videos: a folder of .mp4 / .avi / .gif clips as ``(T, 3, H, W)`` uint8 tensors.

Decoding uses PyAV (FFmpeg), which reads all three containers. Each clip is

* sampled to ``num_frames`` frames: spread uniformly over the whole clip by default
  (``round(linspace(0, n - 1, T))``; a clip shorter than T repeats frames), or ``frame_stride``
  apart around the clip's middle, as video models are trained (AnimateDiff samples a stride of 4),
  falling back to uniform sampling when the clip is too short for the stride;
* resized to ``height x width`` without distortion: centre-cropped to the target aspect ratio, then
  resized with antialiased bilinear interpolation.

:class:`VideoFolder` reads a folder (recursively, e.g. UCF-101's ``<class>/v_*.avi`` layout) lazily,
one clip at a time. A file that cannot be read (corrupt, truncated to nothing, not a video) is
skipped and recorded in :attr:`VideoFolder.skipped`; it never stops the iteration. A missing
folder raises FileNotFoundError and a folder without video files a ValueError, both naming the path.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from freqlab.checks import check_int

__all__ = [
    "VIDEO_EXTENSIONS",
    "SkippedVideo",
    "VideoFolder",
    "VideoReadError",
    "find_videos",
    "read_video",
    "resize_frames",
    "sample_frame_indices",
]

VIDEO_EXTENSIONS = (".mp4", ".avi", ".gif")


class VideoReadError(ValueError):
    """A file could not be decoded into frames."""


@dataclass(frozen=True)
class SkippedVideo:
    """A file :class:`VideoFolder` could not read, and why."""

    path: str
    reason: str


def find_videos(folder: str | os.PathLike) -> list[Path]:
    """The video files (:data:`VIDEO_EXTENSIONS`, any case) under ``folder``, recursively, sorted.

    Raises:
        FileNotFoundError: ``folder`` does not exist.
        ValueError: ``folder`` is not a directory, or holds no video file.
    """
    root = Path(folder).expanduser()
    if not root.exists():
        raise FileNotFoundError(f"videos folder {str(root)!r} does not exist")
    if not root.is_dir():
        raise ValueError(f"videos must be a folder of {'/'.join(VIDEO_EXTENSIONS)} files: {root}")
    paths = sorted(
        p
        for p in root.rglob("*")
        if p.suffix.lower() in VIDEO_EXTENSIONS and p.is_file() and not p.name.startswith(".")
    )
    if not paths:
        raise ValueError(f"videos folder {str(root)!r} holds no {'/'.join(VIDEO_EXTENSIONS)} files")
    return paths


def sample_frame_indices(
    num_available: int, num_frames: int, frame_stride: int | None = None
) -> list[int]:
    """Which of a clip's ``num_available`` frames to keep, ``num_frames`` indices in order.

    ``frame_stride=None``: ``round(linspace(0, n - 1, T))``, the whole clip (frames repeat when
    ``n < T``). ``frame_stride=s``: ``start + s * i`` with the window centred in the clip; when the
    clip is shorter than ``(T - 1) * s + 1`` frames, uniform sampling instead.
    """
    check_int("num_available", num_available)
    check_int("num_frames", num_frames)
    if frame_stride is not None:
        check_int("frame_stride", frame_stride)
        span = (num_frames - 1) * frame_stride + 1
        if span <= num_available:
            start = (num_available - span) // 2
            return [start + frame_stride * i for i in range(num_frames)]
    return [int(i) for i in np.round(np.linspace(0, num_available - 1, num_frames))]


def resize_frames(frames: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Centre-crop ``frames`` ``(T, 3, h, w)`` uint8 to the aspect of ``height x width``, then
    resize (bilinear, antialiased) to exactly that size; uint8 ``(T, 3, height, width)``."""
    check_int("height", height)
    check_int("width", width)
    if not isinstance(frames, torch.Tensor) or frames.dim() != 4 or frames.shape[1] != 3:
        shape = tuple(frames.shape) if isinstance(frames, torch.Tensor) else type(frames).__name__
        raise ValueError(f"frames must be a (T, 3, h, w) tensor, got {shape}")
    h, w = frames.shape[-2:]
    # The largest centred window of the target aspect ratio.
    if w * height > h * width:  # too wide: crop the sides
        crop_h, crop_w = h, max(1, min(w, round(h * width / height)))
    else:  # too tall (or exact): crop top and bottom
        crop_h, crop_w = max(1, min(h, round(w * height / width))), w
    top, left = (h - crop_h) // 2, (w - crop_w) // 2
    frames = frames[..., top : top + crop_h, left : left + crop_w]
    if (crop_h, crop_w) == (height, width):
        return frames.contiguous()
    resized = F.interpolate(
        frames.float(), size=(height, width), mode="bilinear", antialias=True, align_corners=False
    )
    return resized.round_().clamp_(0, 255).to(torch.uint8)


def _decode(path: Path, keep: Sequence[int] | None) -> tuple[dict[int, np.ndarray], int]:
    """Decode the first video stream of ``path``: the frames at ``keep`` (all if None) as
    ``(h, w, 3)`` uint8 arrays by index, and the number of frames decoded."""
    import av

    wanted = None if keep is None else set(keep)
    last = None if keep is None else max(keep)
    frames: dict[int, np.ndarray] = {}
    count = 0
    with av.open(str(path)) as container:
        if not container.streams.video:
            raise VideoReadError("no video stream")
        stream = container.streams.video[0]
        for count, frame in enumerate(container.decode(stream), start=1):
            index = count - 1
            if wanted is None or index in wanted:
                frames[index] = frame.to_ndarray(format="rgb24")
            if last is not None and index >= last:
                break
    return frames, count


def _frame_count(path: Path) -> int:
    """The frame count the container declares (0 when unknown, e.g. GIF)."""
    import av

    with av.open(str(path)) as container:
        if not container.streams.video:
            raise VideoReadError("no video stream")
        return max(int(container.streams.video[0].frames or 0), 0)


def read_video(
    path: str | os.PathLike,
    num_frames: int,
    height: int,
    width: int,
    frame_stride: int | None = None,
) -> torch.Tensor:
    """One clip, sampled to ``num_frames`` frames and resized to ``height x width``.

    Args:
        path: an .mp4, .avi or .gif file (anything FFmpeg decodes works).
        num_frames, height, width: the output size, e.g. the model's frames and resolution.
        frame_stride: see :func:`sample_frame_indices`.

    Returns:
        ``(num_frames, 3, height, width)`` uint8 RGB.

    Raises:
        VideoReadError: the file has no decodable frame (a PyAV error for unreadable containers).
    """
    check_int("num_frames", num_frames)
    path = Path(path)
    declared = _frame_count(path)
    frames: dict[int, np.ndarray] = {}
    if declared > 0:  # decode only up to the last frame needed
        indices = sample_frame_indices(declared, num_frames, frame_stride)
        frames, count = _decode(path, indices)
        if not all(i in frames for i in indices):  # fewer frames than declared
            declared = 0
    if declared == 0:
        frames, count = _decode(path, None)
        if count == 0:
            raise VideoReadError("no decodable frame")
        indices = sample_frame_indices(count, num_frames, frame_stride)
    shapes = {frames[i].shape for i in indices}
    if len(shapes) != 1:
        raise VideoReadError(f"frames change size within the clip: {sorted(shapes)}")
    video = torch.from_numpy(np.stack([frames[i] for i in indices])).permute(0, 3, 1, 2)
    return resize_frames(video, height, width)


class VideoFolder:
    """The readable clips of a folder, read lazily one at a time.

    Iterating yields ``(path, video)`` with ``video`` ``(num_frames, 3, height, width)`` uint8 (see
    :func:`read_video`). Unreadable files are skipped and listed in :attr:`skipped` (with the
    reason); :attr:`read` lists the files that were read. Both are reset on every iteration.

    With ``limit``, the files are visited in a seeded random order (so a sample of a large set such
    as UCF-101 covers its classes) until ``limit`` clips were read; skipped files do not count
    towards it. Without, every file is read in sorted order.

    Raises:
        FileNotFoundError / ValueError: on construction, see :func:`find_videos`.
    """

    def __init__(
        self,
        folder: str | os.PathLike,
        num_frames: int,
        height: int,
        width: int,
        *,
        limit: int | None = None,
        seed: int = 0,
        frame_stride: int | None = None,
    ) -> None:
        for name, value in (("num_frames", num_frames), ("height", height), ("width", width)):
            check_int(name, value)
        if limit is not None:
            check_int("limit", limit)
        if frame_stride is not None:
            check_int("frame_stride", frame_stride)
        self.folder = Path(folder).expanduser()
        self.paths = find_videos(self.folder)
        if limit is not None and limit < len(self.paths):
            order = np.random.default_rng(seed).permutation(len(self.paths))
            self.paths = [self.paths[i] for i in order]
        self.limit = len(self.paths) if limit is None else min(limit, len(self.paths))
        self.num_frames, self.height, self.width = num_frames, height, width
        self.frame_stride = frame_stride
        self.read: list[Path] = []
        self.skipped: list[SkippedVideo] = []

    def __len__(self) -> int:
        """The number of clips iteration aims for (fewer if too many files are unreadable)."""
        return self.limit

    def __iter__(self) -> Iterator[tuple[Path, torch.Tensor]]:
        self.read, self.skipped = [], []
        for path in self.paths:
            if len(self.read) >= self.limit:
                return
            try:
                video = read_video(
                    path, self.num_frames, self.height, self.width, self.frame_stride
                )
            except Exception as err:  # any decoder failure: skip the file, never the run
                reason = f"{type(err).__name__}: {err}".strip()
                self.skipped.append(SkippedVideo(str(path), reason[:300]))
                continue
            self.read.append(path)
            yield path, video

    def __repr__(self) -> str:
        return (
            f"VideoFolder({str(self.folder)!r}, {len(self.paths)} files, limit={self.limit}, "
            f"{self.num_frames}x{self.height}x{self.width})"
        )
