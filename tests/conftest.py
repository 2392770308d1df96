"""Shared fixtures. Tests run offline, on CPU, with tiny seeded models."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture
def tiny_animatediff():
    """A fresh AnimateDiffPipeline (UNetMotionModel) with seeded random weights."""
    from freqlab.models import load_model

    return load_model("tiny_animatediff")


@pytest.fixture
def tiny_modelscope():
    """A fresh TextToVideoSDPipeline (UNet3DConditionModel) with seeded random weights."""
    from freqlab.models import load_model

    return load_model("tiny_modelscope")
