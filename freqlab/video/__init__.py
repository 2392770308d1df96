"""Video files: writing (:mod:`freqlab.video.write`, GIF/MP4, atomic) and reading
(:mod:`freqlab.video.read`, folders of mp4/avi/gif as uint8 tensors), both through PyAV.

Videos in memory are ``(T, C, H, W)`` tensors: float in [0, 1] or uint8 to write, uint8 RGB when
read. The checks of videos given to a metric are the metrics' (:mod:`evaluation.inputs`).
"""

from freqlab.video.read import (
    VIDEO_EXTENSIONS,
    SkippedVideo,
    VideoFolder,
    VideoReadError,
    find_videos,
    read_video,
    resize_frames,
    sample_frame_indices,
)
from freqlab.video.write import VIDEO_SUFFIXES, save_video, to_uint8_frames

__all__ = [
    "VIDEO_EXTENSIONS",
    "VIDEO_SUFFIXES",
    "SkippedVideo",
    "VideoFolder",
    "VideoReadError",
    "find_videos",
    "read_video",
    "resize_frames",
    "sample_frame_indices",
    "save_video",
    "to_uint8_frames",
]
