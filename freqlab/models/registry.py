"""The registry of models by name, each with its documented sampling defaults."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from freqlab.models import tiny


@dataclass(frozen=True)
class ModelSpec:
    """A model's name, how to build it, and its documented sampling defaults.

    ``defaults`` are pipeline call arguments (num_frames, height, width, num_inference_steps,
    guidance_scale); ``freeu`` the recommended FreeU factors; ``decode_chunk`` the number of
    frames the VAE decodes at once.
    """

    name: str
    family: str
    build: Callable[..., Any]
    defaults: dict[str, Any] = field(default_factory=dict)
    freeu: dict[str, Any] = field(default_factory=dict)
    decode_chunk: int = 16
    description: str = ""


_TINY_DEFAULTS = dict(num_frames=8, height=32, width=32, num_inference_steps=10, guidance_scale=7.5)
# Tiny models have random weights, so any factors exercise the code; these are diffusers'
# documented video factors (ModelScope/ZeroScope), v1 backbone, diffusers stages.
_TINY_FREEU = dict(b1=1.2, b2=1.4, s1=0.9, s2=0.2, variant="v1", stages="diffusers")

MODELS: dict[str, ModelSpec] = {
    "tiny_animatediff": ModelSpec(
        name="tiny_animatediff",
        family="animatediff",
        build=tiny.tiny_animatediff,
        defaults=dict(_TINY_DEFAULTS),
        freeu=dict(_TINY_FREEU),
        decode_chunk=16,
        description="AnimateDiffPipeline (UNetMotionModel) with seeded random weights, offline.",
    ),
    "tiny_modelscope": ModelSpec(
        name="tiny_modelscope",
        family="modelscope",
        build=tiny.tiny_modelscope,
        defaults=dict(_TINY_DEFAULTS),
        freeu=dict(_TINY_FREEU),
        decode_chunk=16,
        description="TextToVideoSDPipeline (UNet3DConditionModel) with seeded random weights, offline.",
    ),
}


def get_model_spec(name: str) -> ModelSpec:
    """The registry entry for ``name``; a ValueError lists the known names otherwise."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; known models: {', '.join(sorted(MODELS))}")
    return MODELS[name]


def load_model(
    name: str,
    *,
    device: str | torch.device = "cpu",
    dtype: torch.dtype | None = None,
    seed: int = 0,
) -> Any:
    """Build the pipeline registered as ``name``.

    Args:
        name: a key of :data:`MODELS`, e.g. ``"tiny_animatediff"``.
        device: where to put the pipeline.
        dtype: optional weight dtype (tiny models default to float32).
        seed: seed of the random weights (tiny models).
    """
    spec = get_model_spec(name)
    pipe = spec.build(seed=seed)
    pipe = pipe.to(device=device, dtype=dtype) if dtype is not None else pipe.to(device)
    return pipe
