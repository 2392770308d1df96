"""Moving shapes: synthetic videos of one coloured shape moving over a smooth coloured background.

The one generator of synthetic video in freqlab: the testbed trains on these clips
(:mod:`freqlab.testbed.data`, 8 x 32 x 32), ``dataset=shapes`` prompts with their held-out
captions, and ``task=snr`` measures their spectrum at a model's own frame count and resolution
(:func:`shape_videos`).

Every clip is generated in numpy from a seed, so a dataset is a function of ``(n, seed, split)``.
A caption names the four factors, e.g. ``"a red circle moving left on a gray background"``.
The 6 x 3 x 4 x 4 = 288 caption combinations are split once, by a fixed rule, into 240 training
and 48 held-out combinations (:func:`caption_split`); every single word is seen in training, only
some combinations are not.

Geometry is defined at the testbed's 8 frames of 32 x 32 pixels and scales with the clip: the
radius and the path with the short side, the path spread over the clip's frames, so a clip at
another size or length shows the same motion (and at 8 x 32 x 32 the same pixels).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from freqlab.checks import check_int

if TYPE_CHECKING:
    import torch

COLOURS: dict[str, tuple[float, float, float]] = {
    "red": (0.9, 0.1, 0.1),
    "green": (0.1, 0.8, 0.2),
    "blue": (0.15, 0.3, 0.95),
    "yellow": (0.95, 0.9, 0.1),
    "white": (0.97, 0.97, 0.97),
    "purple": (0.6, 0.15, 0.8),
}
SHAPES = ("circle", "square", "triangle")
DIRECTIONS: dict[str, tuple[float, float]] = {  # (dx, dy) in image coordinates (y down)
    "left": (-1.0, 0.0),
    "right": (1.0, 0.0),
    "up": (0.0, -1.0),
    "down": (0.0, 1.0),
}
BACKGROUNDS: dict[str, tuple[float, float, float]] = {
    "black": (0.05, 0.05, 0.05),
    "gray": (0.45, 0.45, 0.45),
    "navy": (0.05, 0.08, 0.35),
    "olive": (0.4, 0.4, 0.1),
}
NUM_FRAMES = 8
SIZE = 32
_TRAIL_COPIES = 6  # shapes drawn along a trail (see render_clips)
HELD_OUT_EVERY = 6  # combination (c, s, d, b) is held out when (c + s + d + b) % 6 == 0


def caption(colour: str, shape: str, direction: str, background: str) -> str:
    """The caption of one factor combination."""
    return f"a {colour} {shape} moving {direction} on a {background} background"


def caption_words() -> list[str]:
    """Every word used by captions, in a fixed order."""
    words = ["a", "moving", "on", "background"]
    return words + list(COLOURS) + list(SHAPES) + list(DIRECTIONS) + list(BACKGROUNDS)


def _combinations() -> list[tuple[int, int, int, int]]:
    ranges = (len(COLOURS), len(SHAPES), len(DIRECTIONS), len(BACKGROUNDS))
    return list(itertools.product(*(range(n) for n in ranges)))


def caption_split(split: str) -> list[tuple[int, int, int, int]]:
    """Factor indices ``(colour, shape, direction, background)`` of the ``"train"`` (240) or
    ``"heldout"`` (48) combinations, in a fixed order."""
    if split not in ("train", "heldout"):
        raise ValueError(f"split must be 'train' or 'heldout', got {split!r}")
    held = [sum(c) % HELD_OUT_EVERY == 0 for c in _combinations()]
    return [c for c, h in zip(_combinations(), held, strict=True) if h == (split == "heldout")]


def combination_caption(combo: tuple[int, int, int, int]) -> str:
    """Caption of factor indices ``(colour, shape, direction, background)``."""
    c, s, d, b = combo
    return caption(list(COLOURS)[c], SHAPES[s], list(DIRECTIONS)[d], list(BACKGROUNDS)[b])


def split_captions(split: str) -> list[str]:
    """Captions of a split (see :func:`caption_split`)."""
    return [combination_caption(c) for c in caption_split(split)]


def shape_alpha(
    shape: np.ndarray, dx: np.ndarray, dy: np.ndarray, radius: np.ndarray
) -> np.ndarray:
    """Anti-aliased coverage in [0, 1] of each shape at offsets ``(dx, dy)`` from its centre.

    ``shape``, ``radius``: (N, 1, 1, 1); ``dx``, ``dy``: (N, T, H, W). Returns (N, T, H, W).
    """
    circle = np.sqrt(dx**2 + dy**2) - radius
    square = np.maximum(np.abs(dx), np.abs(dy)) - 0.85 * radius
    # Upward triangle: apex at -r, base at +0.7 r; half-width grows linearly to r at the base.
    half_width = (dy + radius) / 1.7
    triangle = np.maximum(np.maximum(np.abs(dx) - half_width, -radius - dy), dy - 0.7 * radius)
    signed = np.where(shape == 0, circle, np.where(shape == 1, square, triangle))
    return np.clip(0.5 - signed, 0.0, 1.0)


def render_clips(
    combos: np.ndarray,
    rng: np.random.Generator,
    num_frames: int = NUM_FRAMES,
    height: int = SIZE,
    width: int | None = None,
    trail: float = 0.0,
) -> np.ndarray:
    """Render one clip per factor combination.

    Args:
        combos: (N, 4) int factor indices ``(colour, shape, direction, background)``.
        rng: draws the start position, radius, speed and background gradient of each clip.
        num_frames, height: the clip's length and height.
        width: its width (default: ``height``, square frames).
        trail: length, in radii, of a fading tail behind the object (0: none), so that a single
            frame shows which way it moves.

    Returns:
        (N, T, 3, H, W) float32 clips in [0, 1].
    """
    if not trail >= 0:
        raise ValueError(f"trail must be >= 0 (radii), got {trail!r}")
    width = height if width is None else width
    n = len(combos)
    # The geometry is the testbed's (pixels at 32 x 32, speed per frame of 8 frames), scaled by
    # factors that are exactly 1.0 there, so the testbed's clips stay bit for bit the same.
    scale = min(height, width) / SIZE
    per_frame = scale * ((NUM_FRAMES - 1) / max(num_frames - 1, 1))
    radius = rng.uniform(4.0, 6.5, n) * scale
    speed = rng.uniform(1.2, 2.0, n) * per_frame  # pixels per frame
    direction = np.array(list(DIRECTIONS.values()))[combos[:, 2]]  # (N, 2) as (x, y)
    travel = speed * (num_frames - 1)
    # Start so that the whole path stays inside the frame (margin = radius + 1).
    extent = np.array([width, height], dtype=np.float64)
    lo = radius[:, None] + 1 - np.minimum(direction, 0) * travel[:, None]
    hi = extent - radius[:, None] - 1 - np.maximum(direction, 0) * travel[:, None]
    start = lo + rng.uniform(0, 1, (n, 2)) * np.maximum(hi - lo, 0)
    t = np.arange(num_frames)
    centre = start[:, None, :] + direction[:, None, :] * speed[:, None, None] * t[None, :, None]
    gx, gy = np.arange(width) + 0.5, np.arange(height) + 0.5  # pixel centres
    dx = gx[None, None, None, :] - centre[:, :, 0, None, None]  # (N, T, 1, W)
    dy = gy[None, None, :, None] - centre[:, :, 1, None, None]  # (N, T, H, 1)
    dx, dy = np.broadcast_arrays(dx, dy)
    shape, r4 = combos[:, 1, None, None, None], radius[:, None, None, None]
    alpha = shape_alpha(shape, dx, dy, r4)
    if trail > 0:
        # Copies of the shape up to `trail` radii behind it, their opacity falling linearly from
        # 0.51 (just behind) to 0.09 (the last): one frame shows which way the object moves.
        back = -direction[:, None, None, None, :] * r4[..., None] * trail  # (N, 1, 1, 1, 2)
        for k in range(1, _TRAIL_COPIES + 1):
            f = k / _TRAIL_COPIES
            ghost = shape_alpha(shape, dx - f * back[..., 0], dy - f * back[..., 1], r4)
            opacity = 0.6 * (1 - f + 1 / _TRAIL_COPIES) / (1 + 1 / _TRAIL_COPIES)
            alpha = np.maximum(alpha, ghost * opacity)

    # Smooth background: the named colour, brightened along a random direction (x0.7 .. x1.3).
    angle = rng.uniform(0, 2 * np.pi, n)
    yy, xx = np.meshgrid(gy / height - 0.5, gx / width - 0.5, indexing="ij")
    ramp = np.cos(angle)[:, None, None] * xx + np.sin(angle)[:, None, None] * yy  # (N, H, W)
    bg_rgb = np.array(list(BACKGROUNDS.values()))[combos[:, 3]]  # (N, 3)
    background = bg_rgb[:, :, None, None] * (1.0 + 0.6 * ramp[:, None])  # (N, 3, H, W)
    fg_rgb = np.array(list(COLOURS.values()))[combos[:, 0]]  # (N, 3)
    a = alpha[:, :, None]  # (N, T, 1, H, W)
    clips = a * fg_rgb[:, None, :, None, None] + (1 - a) * background[:, None]
    return np.clip(clips, 0.0, 1.0).astype(np.float32)


def make_clips(
    n: int,
    seed: int,
    split: str = "train",
    num_frames: int = NUM_FRAMES,
    size: int = SIZE,
    trail: float = 0.0,
) -> tuple[np.ndarray, list[str]]:
    """``n`` clips of a split, deterministic from ``seed``.

    Returns:
        clips (N, T, 3, H, W) float32 in [0, 1], and their N captions.
    """
    check_int("n", n)
    combos = np.array(caption_split(split))
    rng = np.random.default_rng(seed)
    chosen = combos[rng.integers(0, len(combos), n)]
    clips = render_clips(chosen, rng, num_frames, size, trail=trail)
    return clips, [combination_caption(tuple(int(i) for i in c)) for c in chosen]


def shape_videos(
    num_videos: int, num_frames: int, height: int, width: int, seed: int = 0
) -> Iterator[torch.Tensor]:
    """``num_videos`` clips of any combination (training or held-out), lazily, as uint8 tensors.

    Clip ``i`` is drawn from a generator seeded with ``(seed, i)``, so it does not depend on
    ``num_videos``; it is rendered alone, so memory stays one clip however many are asked for.

    Yields:
        ``(num_frames, 3, height, width)`` uint8 RGB, the layout :mod:`freqlab.video.read` reads.
    """
    import torch

    for name, value in (("num_frames", num_frames), ("height", height), ("width", width)):
        check_int(name, value)
    check_int("num_videos", num_videos)
    check_int("seed", seed, 0)
    combos = np.array(_combinations())
    for i in range(num_videos):
        rng = np.random.default_rng((int(seed), i))
        chosen = combos[rng.integers(0, len(combos), 1)]
        clip = render_clips(chosen, rng, num_frames, height, width)[0]
        frames = np.round(clip * 255.0).astype(np.uint8)  # already clipped to [0, 1]
        yield torch.from_numpy(frames)
