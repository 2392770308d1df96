"""Measuring generated videos: temporal consistency, text alignment, flicker and motion.

Videos are tensors ``(B, T, C, H, W)``, uint8 0-255 or float 0-1. Metrics live in
:mod:`evaluation.metrics` (a function returning per-video values and a torchmetrics class for
each); image encoders, their weights and preprocessing in :mod:`evaluation.encoders`,
:mod:`evaluation.checkpoints` and :mod:`evaluation.preprocessing`.
"""

from __future__ import annotations

import importlib
from typing import Any

# Public names -> their module, imported on first use: the metrics pull in torch, timm and
# open_clip (seconds), which `python -m evaluation.report` does not need.
_LAZY = {
    "ENCODERS": "evaluation.encoders",
    "EncoderSpec": "evaluation.encoders",
    "FrameEncoder": "evaluation.encoders",
    "clear_encoder_cache": "evaluation.encoders",
    "load_encoder": "evaluation.encoders",
    "register_encoder": "evaluation.encoders",
    "AestheticQuality": "evaluation.metrics",
    "DynamicDegree": "evaluation.metrics",
    "ImagingQuality": "evaluation.metrics",
    "MotionSmoothness": "evaluation.metrics",
    "aesthetic_quality": "evaluation.metrics",
    "dynamic_degree": "evaluation.metrics",
    "imaging_quality": "evaluation.metrics",
    "motion_smoothness": "evaluation.metrics",
    "BackgroundConsistency": "evaluation.metrics",
    "CrossWindowConsistency": "evaluation.metrics",
    "DINOConsistency": "evaluation.metrics",
    "Motion": "evaluation.metrics",
    "SubjectConsistency": "evaluation.metrics",
    "TemporalFlicker": "evaluation.metrics",
    "VideoCLIPScore": "evaluation.metrics",
    "WindowConsistency": "evaluation.metrics",
    "background_consistency": "evaluation.metrics",
    "clip_score": "evaluation.metrics",
    "cross_window_consistency": "evaluation.metrics",
    "dino_consistency": "evaluation.metrics",
    "flow_magnitude": "evaluation.metrics",
    "motion": "evaluation.metrics",
    "subject_consistency": "evaluation.metrics",
    "temporal_flicker": "evaluation.metrics",
    "window_consistency": "evaluation.metrics",
    "Preprocess": "evaluation.preprocessing",
    "WeightsNotFoundError": "freqlab.hub",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'evaluation' has no attribute {name!r}")


__all__ = [
    "ENCODERS",
    "AestheticQuality",
    "BackgroundConsistency",
    "CrossWindowConsistency",
    "DINOConsistency",
    "DynamicDegree",
    "EncoderSpec",
    "FrameEncoder",
    "ImagingQuality",
    "Motion",
    "MotionSmoothness",
    "Preprocess",
    "SubjectConsistency",
    "TemporalFlicker",
    "VideoCLIPScore",
    "WeightsNotFoundError",
    "WindowConsistency",
    "aesthetic_quality",
    "background_consistency",
    "clear_encoder_cache",
    "clip_score",
    "cross_window_consistency",
    "dino_consistency",
    "dynamic_degree",
    "flow_magnitude",
    "imaging_quality",
    "load_encoder",
    "motion",
    "motion_smoothness",
    "register_encoder",
    "subject_consistency",
    "temporal_flicker",
    "window_consistency",
]
