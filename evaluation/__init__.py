"""Measuring generated videos: temporal consistency, text alignment, flicker and motion.

Videos are tensors ``(B, T, C, H, W)``, uint8 0-255 or float 0-1. Metrics live in
:mod:`evaluation.metrics` (a function returning per-video values and a torchmetrics class for
each); image encoders, their weights and preprocessing in :mod:`evaluation.encoders`,
:mod:`evaluation.weights` and :mod:`evaluation.preprocessing`.
"""

from evaluation.encoders import (
    ENCODERS,
    EncoderSpec,
    FrameEncoder,
    clear_encoder_cache,
    load_encoder,
    register_encoder,
)
from evaluation.metrics import (
    BackgroundConsistency,
    DINOConsistency,
    Motion,
    SubjectConsistency,
    TemporalFlicker,
    VideoCLIPScore,
    background_consistency,
    clip_score,
    dino_consistency,
    flow_magnitude,
    motion,
    subject_consistency,
    temporal_flicker,
)
from evaluation.preprocessing import Preprocess
from evaluation.weights import WeightsNotFoundError

__all__ = [
    "ENCODERS",
    "BackgroundConsistency",
    "DINOConsistency",
    "EncoderSpec",
    "FrameEncoder",
    "Motion",
    "Preprocess",
    "SubjectConsistency",
    "TemporalFlicker",
    "VideoCLIPScore",
    "WeightsNotFoundError",
    "background_consistency",
    "clip_score",
    "clear_encoder_cache",
    "dino_consistency",
    "flow_magnitude",
    "load_encoder",
    "motion",
    "register_encoder",
    "subject_consistency",
    "temporal_flicker",
]
