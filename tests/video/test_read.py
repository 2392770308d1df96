"""freqlab.video.read: folders of mp4/avi/gif, frame sampling, resizing, unreadable files."""

from __future__ import annotations

import imageio.v3 as iio
import numpy as np
import pytest
import torch

from freqlab.video.read import (
    VideoFolder,
    find_videos,
    read_video,
    resize_frames,
    sample_frame_indices,
)

LEVELS = 20  # frame i is uniform grey 20 * i: the decoded brightness tells which frame it was


def _ramp(num_frames: int, height: int = 16, width: int = 24) -> np.ndarray:
    frames = np.zeros((num_frames, height, width, 3), dtype=np.uint8)
    for i in range(num_frames):
        frames[i] = LEVELS * i
    return frames


def _write(path, frames: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".gif":
        iio.imwrite(path, frames, duration=100, loop=0)
    elif path.suffix.lower() == ".avi":
        iio.imwrite(path, frames, fps=8, plugin="pyav", codec="mpeg4")
    else:
        iio.imwrite(path, frames, fps=8, plugin="pyav", codec="libx264")


def _levels(video: torch.Tensor) -> list[int]:
    """The source frame index of every output frame, from its mean brightness."""
    return [round(float(f.float().mean()) / LEVELS) for f in video]


@pytest.mark.parametrize("suffix", [".mp4", ".avi", ".gif"])
def test_read_video_samples_uniformly_and_resizes(tmp_path, suffix):
    path = tmp_path / f"clip{suffix}"
    _write(path, _ramp(10))
    video = read_video(path, num_frames=4, height=8, width=8)
    assert video.shape == (4, 3, 8, 8) and video.dtype == torch.uint8
    assert _levels(video) == [0, 3, 6, 9]  # round(linspace(0, 9, 4))
    # Fewer frames than asked for: frames repeat, in order.
    assert _levels(read_video(path, num_frames=12, height=8, width=8)) == sorted(
        round(i) for i in np.linspace(0, 9, 12)
    )
    strided = read_video(path, num_frames=3, height=8, width=8, frame_stride=3)
    assert _levels(strided) == [1, 4, 7]  # a window of 7 frames centred in 10


def test_sample_frame_indices():
    assert sample_frame_indices(10, 4) == [0, 3, 6, 9]
    assert sample_frame_indices(3, 5) == [0, 0, 1, 2, 2]
    assert sample_frame_indices(20, 4, frame_stride=2) == [6, 8, 10, 12]
    assert sample_frame_indices(5, 4, frame_stride=4) == [0, 1, 3, 4]  # too short: uniform
    assert sample_frame_indices(1, 3) == [0, 0, 0]
    with pytest.raises(ValueError, match="frame_stride"):
        sample_frame_indices(10, 4, frame_stride=0)


def test_resize_frames_crops_to_aspect_without_distortion():
    frames = torch.zeros(2, 3, 24, 48, dtype=torch.uint8)
    frames[:, 0, :, :24] = 255  # red left half
    frames[:, 2, :, 24:] = 255  # blue right half
    out = resize_frames(frames, 8, 8)  # centre 24x24 window: columns 12..36
    assert out.shape == (2, 3, 8, 8) and out.dtype == torch.uint8
    assert (out[:, 0, :, :3] == 255).all() and (out[:, 2, :, :3] == 0).all()
    assert (out[:, 2, :, 5:] == 255).all() and (out[:, 0, :, 5:] == 0).all()
    tall = resize_frames(torch.zeros(1, 3, 40, 10, dtype=torch.uint8), 4, 8)  # crop rows
    assert tall.shape == (1, 3, 4, 8)
    assert resize_frames(frames, 24, 48).equal(frames)  # same size: untouched
    with pytest.raises(ValueError, match="frames"):
        resize_frames(torch.zeros(2, 24, 48), 8, 8)


def test_folder_skips_and_counts_unreadable_files(tmp_path):
    _write(tmp_path / "a" / "good.mp4", _ramp(6))
    _write(tmp_path / "b" / "good.gif", _ramp(6))
    _write(tmp_path / "good.AVI", _ramp(6))
    (tmp_path / "noise.mp4").write_bytes(np.random.default_rng(0).bytes(4096))
    (tmp_path / "empty.avi").write_bytes(b"")
    (tmp_path / "text.gif").write_text("not a gif")
    valid = (tmp_path / "a" / "good.mp4").read_bytes()
    (tmp_path / "truncated.mp4").write_bytes(valid[:200])
    (tmp_path / "notes.txt").write_text("ignored: not a video extension")

    folder = VideoFolder(tmp_path, num_frames=4, height=8, width=8)
    assert len(folder.paths) == 7 and len(folder) == 7
    read = dict(folder)  # never raises
    assert sorted(p.name for p in read) == ["good.AVI", "good.gif", "good.mp4"]
    assert all(v.shape == (4, 3, 8, 8) for v in read.values())
    assert sorted(p.name for p in folder.read) == sorted(p.name for p in read)
    skipped = {s.path.rsplit("/", 1)[-1]: s.reason for s in folder.skipped}
    assert sorted(skipped) == ["empty.avi", "noise.mp4", "text.gif", "truncated.mp4"]
    assert all(reason for reason in skipped.values())
    list(folder)  # iterating again starts the counts afresh
    assert len(folder.read) == 3 and len(folder.skipped) == 4


def test_folder_limit_is_a_seeded_sample_that_skips_bad_files(tmp_path):
    for i in range(4):
        _write(tmp_path / f"clip{i}.gif", _ramp(3))
    (tmp_path / "bad.gif").write_bytes(b"GIF89a broken")
    first = VideoFolder(tmp_path, 2, 8, 8, limit=3, seed=1)
    second = VideoFolder(tmp_path, 2, 8, 8, limit=3, seed=1)
    assert [p for p, _ in first] == [p for p, _ in second]
    assert len(first.read) == 3  # a skipped file does not count towards the limit
    assert len(first.read) + len(first.skipped) <= 5
    other = VideoFolder(tmp_path, 2, 8, 8, limit=3, seed=2)
    assert other.paths != first.paths


def test_missing_or_empty_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        find_videos(tmp_path / "nowhere")
    (tmp_path / "readme.txt").write_text("no videos here")
    with pytest.raises(ValueError, match="holds no .mp4/.avi/.gif files"):
        VideoFolder(tmp_path, 4, 8, 8)
    with pytest.raises(ValueError, match="must be a folder"):
        find_videos(tmp_path / "readme.txt")
    with pytest.raises(ValueError, match="limit"):
        VideoFolder(tmp_path, 4, 8, 8, limit=0)
