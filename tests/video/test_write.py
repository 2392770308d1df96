"""freqlab.video.write: MP4 (H.264, yuv420p) and GIF files, frames as uint8, atomic writes."""

import gc
import os

import av
import imageio.v3 as iio
import numpy as np
import pytest
import torch
from PIL import Image

import freqlab.video.write as video_write
from freqlab.video.read import read_video
from freqlab.video.write import save_video, to_uint8_frames


def smooth_video(t=4, h=16, w=16):
    """(T, 3, H, W) in [0, 1]: red ramps up over time, green over x, blue over y."""
    video = torch.zeros(t, 3, h, w)
    video[:, 0] = torch.linspace(0.1, 0.9, t).view(t, 1, 1)
    video[:, 1] = torch.linspace(0.2, 0.8, w).view(1, 1, w)
    video[:, 2] = torch.linspace(0.8, 0.2, h).view(1, h, 1)
    return video


def test_to_uint8_frames_float_and_gray():
    video = torch.linspace(0, 1, 2 * 1 * 4 * 4).view(2, 1, 4, 4)
    frames = to_uint8_frames(video)
    assert frames.shape == (2, 4, 4, 3) and frames.dtype == np.uint8
    assert frames[0, 0, 0, 0] == 0 and frames[-1, -1, -1, 2] == 255


@pytest.mark.parametrize("suffix", [".gif", ".mp4"])
def test_save_video_round_trip(tmp_path, suffix):
    video = smooth_video()
    path = save_video(video, tmp_path / f"clip{suffix}", fps=4)
    assert path == tmp_path / f"clip{suffix}" and path.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp file left
    frames = iio.imread(path, index=None)  # imageio still reads what we write
    assert frames.shape == (4, 16, 16, 3)
    red = frames[..., 0].reshape(4, -1).mean(1)
    assert (np.diff(red) > 0).all()
    # Lossy either way (H.264 + 4:2:0 chroma, or a 256-colour palette): a few levels of 255 on
    # smooth content (measured 3.5 on 16x16 frames); a wrong colour conversion or channel order is
    # off by ~50.
    error = np.abs(frames.astype(float) - to_uint8_frames(video).astype(float)).mean()
    assert error < 8


def test_mp4_is_h264_yuv420p_at_fps_and_read_back_by_read_video(tmp_path):
    video = smooth_video(t=6, h=24, w=32)
    path = save_video(video, tmp_path / "clip.mp4", fps=8)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert stream.codec_context.pix_fmt == "yuv420p"
        assert stream.average_rate == 8 and stream.frames == 6
    frames = read_video(path, num_frames=6, height=24, width=32)
    assert frames.shape == (6, 3, 24, 32) and frames.dtype == torch.uint8
    expected = torch.from_numpy(to_uint8_frames(video)).permute(0, 3, 1, 2)
    error = (frames.float() - expected.float()).abs().mean()
    assert error < 8


def test_mp4_of_odd_size_is_padded_to_even(tmp_path):
    path = save_video(smooth_video(h=15, w=17), tmp_path / "odd.mp4")
    assert iio.imread(path, index=None).shape == (4, 16, 18, 3)


def test_gif_loops_at_fps_with_one_palette(tmp_path):
    video = smooth_video(t=5)
    video[:, :, :4, :4] = torch.rand(5, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    path = save_video(video, tmp_path / "clip.gif", fps=5)
    with Image.open(path) as gif:
        assert gif.n_frames == 5 and gif.info["loop"] == 0 and gif.info["duration"] == 200
        colours = set()
        for i in range(gif.n_frames):
            gif.seek(i)
            colours |= {c for _, c in gif.convert("RGB").getcolors(256 * 256)}
    # One palette for the whole clip (no colour jumping between frames): <= 256 colours in all.
    assert len(colours) <= 256


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
@pytest.mark.parametrize("suffix", [".gif", ".mp4"])
def test_files_get_the_umask_mode(tmp_path, umask, suffix):
    old = os.umask(umask)
    try:
        path = save_video(smooth_video(), tmp_path / f"clip{suffix}")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


@pytest.mark.parametrize("suffix", [".gif", ".mp4"])
def test_no_garbage_collection_per_file(tmp_path, monkeypatch, suffix):
    """imageio's PyAV plugin ran gc.collect() on every close (0.3 s with a model loaded)."""
    calls = []
    monkeypatch.setattr(gc, "collect", lambda *args: calls.append(args) or 0)
    for i in range(3):
        save_video(smooth_video(), tmp_path / f"clip{i}{suffix}")
    assert calls == []


def test_failed_write_leaves_no_file(tmp_path, monkeypatch):
    target = tmp_path / "clip.mp4"
    save_video(smooth_video(), target)
    before = target.read_bytes()

    def broken(frames, path, fps):
        path.write_bytes(b"partial")
        raise OSError("No space left on device")

    monkeypatch.setattr(video_write, "_write_mp4", broken)
    with pytest.raises(OSError, match="No space"):
        save_video(smooth_video(t=2), target)
    assert target.read_bytes() == before  # the old file is untouched
    assert [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]  # and no temp file is left


def test_save_video_errors(tmp_path):
    with pytest.raises(ValueError, match="path"):
        save_video(torch.zeros(2, 3, 8, 8), tmp_path / "x.avi")
    with pytest.raises(ValueError, match="video"):
        save_video(torch.zeros(3, 8, 8), tmp_path / "x.gif")
    with pytest.raises(ValueError, match="video"):
        save_video(torch.zeros(0, 3, 8, 8), tmp_path / "x.mp4")
    for fps in (0, -1, True, "8", float("inf")):
        with pytest.raises(ValueError, match="fps"):
            save_video(torch.zeros(2, 3, 8, 8), tmp_path / "x.gif", fps=fps)
    assert list(tmp_path.iterdir()) == []
