"""The judge: a small video classifier that reads what a testbed clip shows.

It predicts the four factors of a caption (:mod:`freqlab.testbed.data`): shape, colour, direction
of motion and background colour, from an ``(8, 3, 32, 32)`` clip. Shape, colour and direction
have one more class, ``"none"``: no object is visible (shape, colour, direction) or the object does
not move (direction). A reading is only accepted when its probability reaches
:data:`CONFIDENCE`; otherwise it is ``"uncertain"``. So a blank or a frozen video is never read as
the caption says, whatever the caption.

Architecture (``JudgeNet``, about 0.2M parameters): a 2D CNN per frame to a 16 x 16 map; per
frame, a pooled feature vector (``frame_features``, 64-d, what the frame shows: the
``testbed_judge`` encoder of the consistency metrics) whose mean over frames feeds the shape,
colour and background heads; a 3D CNN over the frames' maps feeds the direction head. The
shipped weights are ``freqlab/testbed/weights/judge.safetensors`` with ``judge.json`` (training
settings and held-out accuracy), trained by :mod:`freqlab.testbed.train_judge`.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import nn

from freqlab.testbed.data import BACKGROUNDS, COLOURS, DIRECTIONS, NUM_FRAMES, SHAPES, SIZE

WEIGHTS_PACKAGE = "freqlab.testbed.weights"
NONE = "none"
UNCERTAIN = "uncertain"
CONFIDENCE = 0.5  # a reading below this probability is "uncertain" (never counted as right)
ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "shape": (*SHAPES, NONE),
    "colour": (*COLOURS, NONE),
    "direction": (*DIRECTIONS, NONE),  # none: no object, or an object that does not move
    "background": tuple(BACKGROUNDS),
}
FEATURE_DIM = 64
_CAPTION = re.compile(
    rf"^a ({'|'.join(COLOURS)}) ({'|'.join(SHAPES)}) moving ({'|'.join(DIRECTIONS)}) "
    rf"on a ({'|'.join(BACKGROUNDS)}) background$"
)


class TestbedInputError(ValueError):
    """A video or caption that is not the testbed's: the judge cannot score it."""


def parse_caption(text: str) -> dict[str, str]:
    """``"a red circle moving left on a gray background"`` -> ``{"shape": "circle", "colour":
    "red", "direction": "left", "background": "gray"}``.

    Raises:
        TestbedInputError: the text is not a caption of the testbed's grammar.
    """
    match = _CAPTION.match(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise TestbedInputError(
            f"prompt {text!r:.120} is not a testbed caption: testbed_accuracy reads captions "
            f"'a <colour> <shape> moving <direction> on a <background> background' "
            f"(colours {', '.join(COLOURS)}; shapes {', '.join(SHAPES)}; directions "
            f"{', '.join(DIRECTIONS)}; backgrounds {', '.join(BACKGROUNDS)})"
        )
    colour, shape, direction, background = match.groups()
    return dict(shape=shape, colour=colour, direction=direction, background=background)


def check_testbed_videos(videos: Any) -> torch.Tensor:
    """Validate testbed videos and return them as float32 in [0, 1].

    Args:
        videos: ``(B, 8, 3, 32, 32)`` float in [0, 1] or uint8.

    Raises:
        TestbedInputError: any other type, shape, dtype or range (one message, naming the size).
    """
    expected = (NUM_FRAMES, 3, SIZE, SIZE)
    shape = tuple(getattr(videos, "shape", ()))
    ok = isinstance(videos, torch.Tensor) and len(shape) == 5 and shape[1:] == expected
    ok = ok and shape[0] >= 1 and (videos.dtype == torch.uint8 or videos.is_floating_point())
    if ok and videos.dtype == torch.uint8:
        return videos.float() / 255
    if ok:
        finite = bool(torch.isfinite(videos).all())
        ok = finite and float(videos.min()) >= 0.0 and float(videos.max()) <= 1.0
    if not ok:
        dtype = getattr(videos, "dtype", type(videos).__name__)
        raise TestbedInputError(
            f"videos must be testbed videos (B, {NUM_FRAMES}, 3, {SIZE}, {SIZE}), float in [0, 1] "
            f"or uint8, got {shape or type(videos).__name__} {dtype}: the testbed judge only "
            f"reads videos of model=testbed"
        )
    return videos.float()


def _conv(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, 1), nn.GroupNorm(8, c_out), nn.SiLU())


class JudgeNet(nn.Module):
    """Clips ``(B, T, 3, 32, 32)`` in [0, 1] -> logits per attribute (see module docstring)."""

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        w = width
        self.frame = nn.Sequential(_conv(3, w), _conv(w, w, 2), _conv(w, 2 * w))  # -> 16 x 16
        self.content = nn.Sequential(_conv(2 * w, 2 * w, 2), _conv(2 * w, 2 * w))  # -> 8 x 8
        self.embed = nn.Linear(4 * w, FEATURE_DIM)  # avg + max pooled content map
        self.motion = nn.Sequential(
            nn.Conv3d(2 * w, w, 3, (1, 2, 2), 1),
            nn.GroupNorm(8, w),
            nn.SiLU(),
            nn.Conv3d(w, 2 * w, 3, (2, 1, 1), 1),
            nn.GroupNorm(8, 2 * w),
            nn.SiLU(),
        )
        self.heads = nn.ModuleDict(
            {
                name: nn.Linear(FEATURE_DIM + (2 * w if name == "direction" else 0), len(labels))
                for name, labels in ATTRIBUTES.items()
            }
        )

    def _maps(self, clips: torch.Tensor) -> torch.Tensor:
        b, t = clips.shape[:2]
        return self.frame(clips.flatten(0, 1) * 2 - 1).unflatten(0, (b, t))  # (B, T, C, 16, 16)

    def _embed(self, maps: torch.Tensor) -> torch.Tensor:
        content = self.content(maps.flatten(0, 1))
        pooled = torch.cat([content.mean((-2, -1)), content.amax((-2, -1))], dim=1)
        return F.silu(self.embed(pooled)).unflatten(0, maps.shape[:2])  # (B, T, D)

    def frame_features(self, frames: torch.Tensor) -> torch.Tensor:
        """Per-frame penultimate features: frames ``(N, 3, 32, 32)`` in [0, 1] -> ``(N, 64)``."""
        return self._embed(self._maps(frames[:, None]))[:, 0]

    def forward(self, clips: torch.Tensor) -> dict[str, torch.Tensor]:
        """Clips ``(B, T, 3, 32, 32)`` in [0, 1] -> ``{attribute: (B, classes) logits}``."""
        maps = self._maps(clips)
        features = self._embed(maps).mean(1)  # (B, D)
        motion = self.motion(maps.transpose(1, 2)).mean((2, 3, 4))  # (B, 2w)
        out = {}
        for name, head in self.heads.items():
            x = torch.cat([features, motion], 1) if name == "direction" else features
            out[name] = head(x)
        return out


@dataclass(frozen=True)
class Reading:
    """What the judge reads in a batch of videos: per attribute, the label index per video
    (``-1``: uncertain) and the probability of the most likely label, ``(B,)`` each."""

    labels: dict[str, torch.Tensor]
    confidence: dict[str, torch.Tensor]

    def names(self, attribute: str) -> list[str]:
        """The labels of ``attribute`` as words (``"uncertain"`` below the threshold)."""
        words = ATTRIBUTES[attribute]
        return [words[i] if i >= 0 else UNCERTAIN for i in self.labels[attribute].tolist()]


@torch.inference_mode()
def read_videos(
    judge: JudgeNet, videos: torch.Tensor, threshold: float = CONFIDENCE, batch_size: int = 64
) -> Reading:
    """The judge's reading of testbed videos ``(B, 8, 3, 32, 32)`` (checked here)."""
    clips = check_testbed_videos(videos)
    device = next(judge.parameters()).device
    probs: dict[str, list[torch.Tensor]] = {name: [] for name in ATTRIBUTES}
    for start in range(0, len(clips), batch_size):
        logits = judge(clips[start : start + batch_size].to(device))
        for name, value in logits.items():
            probs[name].append(value.float().softmax(-1).cpu())
    labels, confidence = {}, {}
    for name, chunks in probs.items():
        p, index = torch.cat(chunks).max(-1)
        labels[name] = torch.where(p >= threshold, index, torch.full_like(index, -1))
        confidence[name] = p
    return Reading(labels, confidence)


def load_judge(device: str | torch.device = "cpu") -> JudgeNet:
    """The shipped judge (eval mode, no gradients), from :mod:`freqlab.testbed.weights`."""
    root = resources.files(WEIGHTS_PACKAGE)
    meta = judge_metadata()
    judge = JudgeNet(width=int(meta.get("width", 32)))
    with resources.as_file(root.joinpath("judge.safetensors")) as path:
        judge.load_state_dict(load_file(str(path)), strict=True)
    return judge.eval().requires_grad_(False).to(device)


def judge_digest() -> str:
    """SHA-256 (first 16 hex digits) of the shipped judge's weights and ``judge.json``: changes
    whenever the judge is retrained, so cached scores of an older judge are never reused."""
    root = resources.files(WEIGHTS_PACKAGE)
    h = hashlib.sha256()
    for name in ("judge.safetensors", "judge.json"):
        h.update(root.joinpath(name).read_bytes())
    return h.hexdigest()[:16]


def judge_metadata() -> dict[str, Any]:
    """The shipped ``judge.json``: training settings, held-out accuracy, weights digest."""
    return json.loads(resources.files(WEIGHTS_PACKAGE).joinpath("judge.json").read_text())
