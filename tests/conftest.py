"""Shared fixtures. Tests run offline, on CPU, with tiny seeded models."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")

import pytest  # noqa: E402
import torch  # noqa: E402

# One thread: tiny tensors gain nothing from more, and on a shared 2-core machine OpenMP workers
# waiting for descheduled peers make multi-threaded FFTs and convs seconds slower.
torch.set_num_threads(1)


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
