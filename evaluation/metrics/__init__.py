"""Video metrics: each a plain function returning per-video values ``(B,)`` and a torchmetrics
class (``update`` / ``compute``) that reuses it.

* :func:`dino_consistency` / :class:`DINOConsistency`: FreeInit's metric, first frame vs each
  following frame, DINO ViT-S/16, x100.
* :func:`subject_consistency` / :class:`SubjectConsistency`: VBench, DINO ViT-B/16.
* :func:`background_consistency` / :class:`BackgroundConsistency`: VBench, CLIP ViT-B/32.
* :func:`window_consistency` / :class:`WindowConsistency` and :func:`cross_window_consistency` /
  :class:`CrossWindowConsistency`: FreeInit's metric inside each 16-frame window and between
  windows, for long videos (FreeNoise).
* :func:`clip_score` / :class:`VideoCLIPScore`: CLIP text-frame cosine x100, mean over frames.
* :func:`temporal_flicker` / :class:`TemporalFlicker`: VBench temporal flickering.
* :func:`motion`, :func:`flow_magnitude` / :class:`Motion`: mean frame difference, RAFT flow.
* VBench's quality dimensions, each with its own network: :func:`dynamic_degree` /
  :class:`DynamicDegree` (RAFT), :func:`motion_smoothness` / :class:`MotionSmoothness` (AMT-S),
  :func:`aesthetic_quality` / :class:`AestheticQuality` (CLIP ViT-L/14 + LAION's head),
  :func:`imaging_quality` / :class:`ImagingQuality` (MUSIQ, SPAQ); and FVD in :mod:`.fvd`.
"""

from evaluation.metrics.aesthetic_quality import AestheticQuality, aesthetic_quality
from evaluation.metrics.base import VideoMetric
from evaluation.metrics.clip_score import VideoCLIPScore, clip_score
from evaluation.metrics.consistency import (
    BackgroundConsistency,
    DINOConsistency,
    SubjectConsistency,
    background_consistency,
    dino_consistency,
    first_frame_similarity,
    frame_weighted_mean,
    subject_consistency,
    vbench_similarity,
)
from evaluation.metrics.dynamic_degree import DynamicDegree, dynamic_degree
from evaluation.metrics.flicker import TemporalFlicker, temporal_flicker
from evaluation.metrics.imaging_quality import ImagingQuality, imaging_quality
from evaluation.metrics.motion import Motion, flow_magnitude, mean_abs_frame_difference, motion
from evaluation.metrics.motion_smoothness import MotionSmoothness, motion_smoothness
from evaluation.metrics.windows import (
    CrossWindowConsistency,
    WindowConsistency,
    cross_window_consistency,
    window_consistency,
)

__all__ = [
    "AestheticQuality",
    "BackgroundConsistency",
    "CrossWindowConsistency",
    "DINOConsistency",
    "DynamicDegree",
    "ImagingQuality",
    "Motion",
    "MotionSmoothness",
    "SubjectConsistency",
    "TemporalFlicker",
    "VideoCLIPScore",
    "VideoMetric",
    "WindowConsistency",
    "aesthetic_quality",
    "background_consistency",
    "clip_score",
    "cross_window_consistency",
    "dino_consistency",
    "dynamic_degree",
    "first_frame_similarity",
    "flow_magnitude",
    "frame_weighted_mean",
    "imaging_quality",
    "mean_abs_frame_difference",
    "motion",
    "motion_smoothness",
    "subject_consistency",
    "temporal_flicker",
    "vbench_similarity",
    "window_consistency",
]
