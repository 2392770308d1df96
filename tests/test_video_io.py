import imageio.v3 as iio
import numpy as np
import pytest
import torch

from freqlab.video_io import save_video, to_uint8_frames


def test_to_uint8_frames_float_and_gray():
    video = torch.linspace(0, 1, 2 * 1 * 4 * 4).view(2, 1, 4, 4)
    frames = to_uint8_frames(video)
    assert frames.shape == (2, 4, 4, 3) and frames.dtype == np.uint8
    assert frames[0, 0, 0, 0] == 0 and frames[-1, -1, -1, 2] == 255


@pytest.mark.parametrize("suffix", [".gif", ".mp4"])
def test_save_video_round_trip(tmp_path, suffix):
    video = torch.zeros(4, 3, 16, 16)
    video[:, 0] = torch.linspace(0, 1, 4).view(4, 1, 1)  # red ramps up over time
    path = save_video(video, tmp_path / f"clip{suffix}", fps=4)
    assert path.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp file left
    frames = iio.imread(path, index=None)
    assert frames.shape[0] == 4
    red = frames[..., 0].reshape(4, -1).mean(1)
    assert red[0] < red[-1]


def test_save_video_errors(tmp_path):
    with pytest.raises(ValueError, match="path"):
        save_video(torch.zeros(2, 3, 8, 8), tmp_path / "x.avi")
    with pytest.raises(ValueError, match="video"):
        save_video(torch.zeros(3, 8, 8), tmp_path / "x.gif")
    with pytest.raises(ValueError, match="fps"):
        save_video(torch.zeros(2, 3, 8, 8), tmp_path / "x.gif", fps=0)
