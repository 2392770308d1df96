"""How frames are resized, cropped and normalised before they reach an image encoder.

A :class:`Preprocess` is one explicit rule, applied to a chunk of frames ``(N, 3, H, W)`` in
[0, 1] on the encoder's device:

1. resize: ``"short"`` scales the shorter side to ``size`` and keeps the aspect ratio (the longer
   side becomes ``int(size * long / short)``, as ``torchvision.transforms.Resize(size)``);
   ``"square"`` scales to ``size x size`` and distorts the aspect ratio; ``"none"`` keeps the frame.
2. crop: if ``crop``, a centre crop of ``size x size`` (``torchvision`` rounding).
3. clamp to [0, 1] if ``clamp`` (bicubic interpolation overshoots; PIL-based pipelines clamp).
4. normalise: ``(x - mean) / std`` per channel.

Presets, named after the code whose numbers they reproduce:

* ``"freeinit"`` (:data:`FREEINIT_DINO`): shorter side to 224, centre crop 224, bicubic with
  antialiasing, clamped, ImageNet mean/std. The FreeInit paper only says DINO ViT-S/16 features; it
  does not state a resize rule. For the usual square videos this is a plain resize to 224 x 224
  with no content lost; for non-square videos the sides of the longer dimension are cropped.
* ``"vbench_dino"`` (:data:`VBENCH_DINO`): VBench's ``dino_transform(224)``: shorter side to 224,
  bilinear, no antialiasing, **no crop** (non-square frames stay non-square), no clamp, ImageNet
  mean/std.
* ``"vbench_clip"`` (:data:`VBENCH_CLIP`): VBench's ``clip_transform(224)``: shorter side to 224,
  bicubic, no antialiasing, centre crop 224, no clamp, CLIP mean/std.
* ``"clip"`` (:data:`CLIP_SCORE`): open_clip's image preprocessing on tensors: shorter side to
  224, bicubic with antialiasing (as PIL), centre crop 224, clamped, CLIP mean/std.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torchvision.transforms import InterpolationMode
from torchvision.transforms import functional as TF

__all__ = [
    "CLIP_MEAN",
    "CLIP_SCORE",
    "CLIP_STD",
    "FREEINIT_DINO",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "PRESETS",
    "VBENCH_CLIP",
    "VBENCH_DINO",
    "Preprocess",
    "get_preprocess",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

_RESIZE_MODES = ("short", "square", "none")
_INTERPOLATIONS = {
    "bilinear": InterpolationMode.BILINEAR,
    "bicubic": InterpolationMode.BICUBIC,
    "nearest": InterpolationMode.NEAREST,
}


@dataclass(frozen=True)
class Preprocess:
    """A resize/crop/normalise rule for frames; see the module docstring for each step.

    Attributes:
        size: target size in pixels (shorter side, square side and crop side).
        resize: ``"short"``, ``"square"`` or ``"none"``.
        crop: centre-crop ``size x size`` after resizing.
        interpolation: ``"bilinear"``, ``"bicubic"`` or ``"nearest"``.
        antialias: low-pass before downsampling (as PIL); VBench's tensor transforms use ``False``.
        clamp: clamp to [0, 1] after resizing.
        mean: per-channel mean subtracted after resizing.
        std: per-channel standard deviation divided by after that.
    """

    size: int = 224
    resize: str = "short"
    crop: bool = True
    interpolation: str = "bicubic"
    antialias: bool = True
    clamp: bool = True
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD

    def __post_init__(self) -> None:
        if not isinstance(self.size, int) or self.size < 1:
            raise ValueError(f"size must be a positive int, got {self.size!r}")
        if self.resize not in _RESIZE_MODES:
            raise ValueError(f"resize must be one of {_RESIZE_MODES}, got {self.resize!r}")
        if self.interpolation not in _INTERPOLATIONS:
            raise ValueError(
                f"interpolation must be one of {tuple(_INTERPOLATIONS)}, got {self.interpolation!r}"
            )
        for field in ("mean", "std"):
            value = tuple(float(v) for v in getattr(self, field))
            if len(value) != 3:
                raise ValueError(f"{field} must have 3 values (R, G, B), got {value}")
            object.__setattr__(self, field, value)
        if any(s <= 0 for s in self.std):
            raise ValueError(f"std must be positive, got {self.std}")

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """The ``(height, width)`` of a ``height x width`` frame after this rule."""
        h, w = self._resized_size(height, width)
        if self.crop:
            return self.size, self.size
        return h, w

    def _resized_size(self, height: int, width: int) -> tuple[int, int]:
        if self.resize == "none":
            return height, width
        if self.resize == "square":
            return self.size, self.size
        # torchvision Resize(int): shorter side -> size, longer side truncated.
        if height <= width:
            return self.size, int(self.size * width / height)
        return int(self.size * height / width), self.size

    def __call__(self, frames: torch.Tensor) -> torch.Tensor:
        """Apply the rule.

        Args:
            frames: ``(N, 3, H, W)`` float in [0, 1].

        Returns:
            ``(N, 3, h, w)`` normalised frames, ``(h, w) = self.output_size(H, W)``.
        """
        height, width = frames.shape[-2:]
        size = self._resized_size(height, width)
        if size != (height, width):
            frames = TF.resize(
                frames,
                list(size),
                interpolation=_INTERPOLATIONS[self.interpolation],
                antialias=self.antialias,
            )
        if self.crop and tuple(frames.shape[-2:]) != (self.size, self.size):
            frames = TF.center_crop(frames, [self.size, self.size])
        if self.clamp:
            frames = frames.clamp(0.0, 1.0)
        mean = torch.tensor(self.mean, device=frames.device, dtype=frames.dtype)
        std = torch.tensor(self.std, device=frames.device, dtype=frames.dtype)
        return (frames - mean[:, None, None]) / std[:, None, None]

    def with_normalization(
        self, mean: tuple[float, float, float], std: tuple[float, float, float]
    ) -> Preprocess:
        """The same geometry with another mean/std (for an encoder trained with other stats)."""
        return dataclasses.replace(self, mean=mean, std=std)

    def to_dict(self) -> dict[str, Any]:
        """Plain values, for result metadata and experiment configs."""
        return dataclasses.asdict(self)


FREEINIT_DINO = Preprocess(
    size=224, resize="short", crop=True, interpolation="bicubic", antialias=True, clamp=True
)
VBENCH_DINO = Preprocess(
    size=224, resize="short", crop=False, interpolation="bilinear", antialias=False, clamp=False
)
VBENCH_CLIP = Preprocess(
    size=224,
    resize="short",
    crop=True,
    interpolation="bicubic",
    antialias=False,
    clamp=False,
    mean=CLIP_MEAN,
    std=CLIP_STD,
)
CLIP_SCORE = Preprocess(
    size=224,
    resize="short",
    crop=True,
    interpolation="bicubic",
    antialias=True,
    clamp=True,
    mean=CLIP_MEAN,
    std=CLIP_STD,
)

PRESETS: dict[str, Preprocess] = {
    "freeinit": FREEINIT_DINO,
    "vbench_dino": VBENCH_DINO,
    "vbench_clip": VBENCH_CLIP,
    "clip": CLIP_SCORE,
}


def get_preprocess(preprocess: Preprocess | str | Mapping[str, Any]) -> Preprocess:
    """A :class:`Preprocess` from itself, a preset name (:data:`PRESETS`) or its field values."""
    if isinstance(preprocess, Preprocess):
        return preprocess
    if isinstance(preprocess, str):
        if preprocess not in PRESETS:
            raise ValueError(
                f"preprocess must be a Preprocess, a dict of its fields or one of "
                f"{sorted(PRESETS)}, got {preprocess!r}"
            )
        return PRESETS[preprocess]
    if isinstance(preprocess, Mapping):
        return Preprocess(**preprocess)
    raise ValueError(
        f"preprocess must be a Preprocess, a dict of its fields or one of {sorted(PRESETS)}, "
        f"got {type(preprocess).__name__}"
    )
