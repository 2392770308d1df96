"""The testbed judge's per-frame features as an image encoder (``"testbed_judge"``).

``dino_consistency(videos, encoder="testbed_judge")`` (or ``encoder=testbed_judge_encoder()``; in
the runner ``metrics.encoder=testbed_judge``, columns ``dino_consistency[testbed_judge]``) and the
other consistency metrics then compare frames by what the judge sees in them: the 64-d
penultimate features that its shape, colour and background heads read
(:meth:`freqlab.testbed.judge.JudgeNet.frame_features`). A frame that loses its object, or whose object changes shape or colour, moves away from the first
frame; a blank video is still perfectly consistent (nothing changes), so read this metric beside
``testbed_accuracy``, which scores a blank video as wrong. The features are per frame, as the
consistency metrics need: the judge's direction head (which needs several frames) is not part of
them, so motion along the caption's direction is neither rewarded nor penalised beyond the
object's position leaking into the pooled features.

Only testbed frames are meaningful: preprocessing (the metric's resize to 224, with mean 0 and
std 1 so the frames stay in [0, 1]) is undone by an area resize back to 32 x 32.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from evaluation.checkpoints import WeightsSource
from evaluation.encoders import TESTBED_JUDGE, FrameEncoder

__all__ = [
    "TESTBED_JUDGE",
    "JudgeFrameFeatures",
    "clear_cache",
    "judge_weights_source",
    "testbed_judge_encoder",
]

_CACHE: dict[str, FrameEncoder] = {}


def clear_cache() -> None:
    """Forget the built encoders (:func:`evaluation.encoders.clear_encoder_cache` calls this)."""
    _CACHE.clear()


class JudgeFrameFeatures(nn.Module):
    """Frames ``(N, 3, h, w)`` in [0, 1] (any size; resized to 32 x 32) -> ``(N, 64)``."""

    def __init__(self, judge: nn.Module) -> None:
        super().__init__()
        self.judge = judge

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        from freqlab.testbed.data import SIZE

        if frames.shape[-2:] != (SIZE, SIZE):
            frames = F.interpolate(frames, size=(SIZE, SIZE), mode="area")
        return self.judge.frame_features(frames.clamp(0, 1))


def judge_weights_source(weights: object = None) -> WeightsSource:
    """The shipped judge's weights file (``weights`` must be None: the judge ships with
    freqlab and has no other source)."""
    from importlib import resources

    from freqlab.testbed.judge import WEIGHTS_PACKAGE

    if weights is not None:
        raise ValueError(
            f"weights must be None for encoder={TESTBED_JUDGE!r} (its weights ship with "
            f"freqlab), got {weights!r}"
        )
    return WeightsSource("file", Path(str(resources.files(WEIGHTS_PACKAGE) / "judge.safetensors")))


def testbed_judge_encoder(
    device: str | torch.device = "cpu", weights: object = None
) -> FrameEncoder:
    """The shipped judge's frame features as a :class:`FrameEncoder` named ``"testbed_judge"``
    (built once per device; weights recorded as the judge's digest). ``weights``: None only."""
    from freqlab.testbed.judge import judge_digest, load_judge

    judge_weights_source(weights)
    key = str(torch.device(device))
    if key not in _CACHE:
        module = JudgeFrameFeatures(load_judge(device)).eval().requires_grad_(False)
        _CACHE[key] = FrameEncoder(
            name=TESTBED_JUDGE,
            module=module,
            model="freqlab.testbed.judge:JudgeNet.frame_features",
            weights=f"package:freqlab.testbed.weights/judge.safetensors@{judge_digest()}",
            mean=(0.0, 0.0, 0.0),
            std=(1.0, 1.0, 1.0),
        )
    return _CACHE[key]
