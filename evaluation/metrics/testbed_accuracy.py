"""Testbed accuracy: does a testbed video show what its caption says, as the judge reads it?

The judge (:mod:`freqlab.testbed.judge`, shipped with freqlab) reads shape, colour, direction of
motion and background colour from an ``(8, 3, 32, 32)`` testbed clip. Per video:

* :func:`testbed_accuracy`: the fraction of the four attributes read as the caption says
  (0, 0.25, 0.5, 0.75 or 1);
* :func:`testbed_all4`: 1 when all four are, else 0.

A reading the judge is not sure of (probability below
:data:`freqlab.testbed.judge.CONFIDENCE`) or ``"none"`` (no object, or an object that does not
move) never matches a caption, so a blank or frozen video scores at most 0.25 (its background).
Only videos of the testbed's size and captions of its grammar
(``"a red circle moving left on a gray background"``) are accepted; anything else is refused
with one message before the judge loads. The judge's real-clip accuracy is in ``judge.json``.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import torch

from evaluation.inputs import check_prompts
from evaluation.metrics.base import VideoMetric

__all__ = ["TestbedAccuracy", "testbed_accuracy", "testbed_all4", "testbed_attribute_matches"]

_JUDGES: dict[str, torch.nn.Module] = {}
_LOCK = threading.Lock()


def _judge(device: torch.device) -> torch.nn.Module:
    """The shipped judge on ``device``, loaded once per process and device."""
    from freqlab.testbed.judge import load_judge

    with _LOCK:
        if str(device) not in _JUDGES:
            _JUDGES[str(device)] = load_judge(device)
        return _JUDGES[str(device)]


def testbed_attribute_matches(
    videos: torch.Tensor,
    prompts: Sequence[str] | str,
    *,
    device: str | torch.device | None = None,
) -> dict[str, torch.Tensor]:
    """Per attribute, whether the judge reads it as the caption says.

    Args:
        videos: ``(B, 8, 3, 32, 32)`` float in [0, 1] or uint8: testbed videos only.
        prompts: ``B`` testbed captions.
        device: where the judge runs (default: the videos' device).

    Returns:
        ``{"shape" | "colour" | "direction" | "background": (B,) float32 of 0/1}`` on the
        videos' device.

    Raises:
        ValueError: not testbed videos, or a prompt outside the testbed's caption grammar.
    """
    from freqlab.testbed.judge import ATTRIBUTES, check_testbed_videos, parse_caption, read_videos

    clips = check_testbed_videos(videos)
    captions = [parse_caption(p) for p in check_prompts(prompts, len(clips))]
    target = torch.device(device) if device is not None else clips.device
    reading = read_videos(_judge(target), clips)
    return {
        name: torch.tensor(
            [w == c[name] for w, c in zip(reading.names(name), captions, strict=True)],
            dtype=torch.float32,
            device=videos.device,
        )
        for name in ATTRIBUTES
    }


def testbed_accuracy(
    videos: torch.Tensor,
    prompts: Sequence[str] | str,
    *,
    device: str | torch.device | None = None,
) -> torch.Tensor:
    """Fraction of the four caption attributes the judge reads in each video, ``(B,)`` float32
    in {0, 0.25, 0.5, 0.75, 1} (see :func:`testbed_attribute_matches` for the arguments)."""
    matches = testbed_attribute_matches(videos, prompts, device=device)
    return torch.stack(list(matches.values())).mean(0)


def testbed_all4(
    videos: torch.Tensor,
    prompts: Sequence[str] | str,
    *,
    device: str | torch.device | None = None,
) -> torch.Tensor:
    """1 where the judge reads all four caption attributes in the video, else 0: ``(B,)``."""
    matches = testbed_attribute_matches(videos, prompts, device=device)
    return torch.stack(list(matches.values())).prod(0)


class TestbedAccuracy(VideoMetric):
    """Mean :func:`testbed_accuracy` and :func:`testbed_all4` over the videos of all updates.

    ``compute()`` -> ``{"testbed_accuracy": ..., "testbed_all4": ...}``.
    """

    metric_name = "testbed_accuracy"

    def __init__(self, device: str | torch.device | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._device_arg = device
        self._add_per_video_state("accuracy", "all4")

    def update(self, videos: torch.Tensor, prompts: Sequence[str] | str) -> None:
        matches = testbed_attribute_matches(videos, prompts, device=self._device_arg)
        stacked = torch.stack(list(matches.values()))
        self.accuracy.append(stacked.mean(0).to(self.device))
        self.all4.append(stacked.prod(0).to(self.device))

    def per_video(self) -> dict[str, torch.Tensor]:
        return {"testbed_accuracy": self._values("accuracy"), "testbed_all4": self._values("all4")}

    def compute(self) -> dict[str, torch.Tensor]:
        return {name: values.mean() for name, values in self.per_video().items()}

    @property
    def metadata(self) -> dict[str, Any]:
        from freqlab.testbed.judge import CONFIDENCE, judge_digest

        return {**super().metadata, "judge": judge_digest(), "confidence": CONFIDENCE}
