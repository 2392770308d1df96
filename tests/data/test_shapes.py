"""freqlab.data.shapes: one moving-shapes generator, deterministic from its seed, for the testbed's
8 x 32 x 32 clips and for videos of any size (task=snr)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from freqlab.data import shapes
from freqlab.data.shapes import make_clips, shape_videos, split_captions


def test_generator_is_deterministic_from_the_seed():
    clips, captions = make_clips(6, seed=3)
    again, captions_again = make_clips(6, seed=3)
    other, _ = make_clips(6, seed=4)
    assert clips.shape == (6, 8, 3, 32, 32) and clips.dtype == np.float32
    assert 0.0 <= clips.min() and clips.max() <= 1.0
    np.testing.assert_array_equal(clips, again)
    assert captions == captions_again
    assert not np.array_equal(clips, other)
    assert set(captions) <= set(split_captions("train"))
    assert np.abs(np.diff(clips, axis=1)).mean() > 0  # the shapes move


def test_videos_of_any_size_are_deterministic_and_move():
    videos = list(shape_videos(3, 6, 24, 32, seed=5))
    assert all(v.shape == (6, 3, 24, 32) and v.dtype == torch.uint8 for v in videos)
    again = list(shape_videos(2, 6, 24, 32, seed=5))
    assert all(a.equal(b) for a, b in zip(videos, again, strict=False))  # independent of count
    assert not videos[0].equal(videos[1])
    assert not videos[0].equal(next(shape_videos(1, 6, 24, 32, seed=6)))
    assert all((v[1:].float() - v[:-1].float()).abs().mean() > 0.1 for v in videos)  # motion


def test_geometry_scales_with_the_clip():
    # The same draws at 4x the size and twice the frames: the shape covers the same share of the
    # frame, and travels the same share of it over the clip.
    combos = np.array([[0, 0, 1, 0]])  # a red circle moving right on black
    small = shapes.render_clips(combos, np.random.default_rng(0), 8, 32, 32)[0]
    large = shapes.render_clips(combos, np.random.default_rng(0), 15, 128, 128)[0]
    red = (small[:, 0] > 0.5).mean(axis=(1, 2)), (large[:, 0] > 0.5).mean(axis=(1, 2))
    np.testing.assert_allclose(red[0].mean(), red[1].mean(), rtol=0.1)

    def centre_x(clip: np.ndarray) -> np.ndarray:
        mask = clip[:, 0] > 0.5  # (T, H, W)
        xs = np.arange(clip.shape[-1]) / clip.shape[-1]
        return (mask * xs).sum(axis=(1, 2)) / mask.sum(axis=(1, 2))

    travel = centre_x(small)[-1] - centre_x(small)[0], centre_x(large)[-1] - centre_x(large)[0]
    assert travel[0] > 0.2 and abs(travel[0] - travel[1]) < 0.02
    wide = shapes.render_clips(combos, np.random.default_rng(0), 8, 32, 64)[0]
    assert wide.shape == (8, 3, 32, 64)


def test_a_trail_lies_behind_the_object_and_changes_nothing_else():
    # Same draws with and without a trail: the object itself is unchanged, the extra faint pixels
    # lie on the side it comes from (a red circle moving right on black: left of it).
    combos = np.array([[0, 0, 1, 0]])
    plain = shapes.render_clips(combos, np.random.default_rng(0))[0]
    tailed = shapes.render_clips(combos, np.random.default_rng(0), trail=2.0)[0]
    body = plain[:, 0] > 0.5  # (T, H, W) the circle
    np.testing.assert_array_equal(tailed[:, 0][body], plain[:, 0][body])
    extra = (tailed[:, 0] - plain[:, 0]) > 0.05  # the tail's pixels
    assert extra.any(axis=(1, 2)).all()  # in every frame
    xs = np.arange(32)
    tail_x = (extra * xs).sum(axis=(1, 2)) / extra.sum(axis=(1, 2))
    body_x = (body * xs).sum(axis=(1, 2)) / body.sum(axis=(1, 2))
    assert (tail_x < body_x - 2).all()
    assert (tailed[:, 0] - plain[:, 0]).max() < 0.6  # fainter than the object
    np.testing.assert_array_equal(make_clips(4, seed=3, trail=0.0)[0], make_clips(4, seed=3)[0])
    with pytest.raises(ValueError, match="trail must be >= 0"):
        make_clips(1, seed=3, trail=-1.0)
