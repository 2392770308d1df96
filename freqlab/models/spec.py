"""One registered model's description: :class:`ModelSpec` (the table itself is
:mod:`freqlab.models.specs`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from freqlab.models.weights import HubSource

__all__ = ["ModelSpec"]


@dataclass(frozen=True)
class ModelSpec:
    """A model's name, how to build it, and its documented sampling defaults.

    ``defaults`` are pipeline call arguments (num_frames, height, width, num_inference_steps,
    guidance_scale, and model-specific ones such as VideoCrafter2's ``fps``/``eta``); ``freeu`` the
    recommended FreeU factors (b1, b2, s1, s2, variant, stages; empty when FreeU does not apply);
    ``decode_chunk`` the number of frames the VAE decodes at once; ``scheduler`` the scheduler's
    diffusers config (``_class_name`` plus arguments); ``bytheway`` the recommended
    :class:`freqlab.bytheway.ByTheWay` arguments (``None`` where ByTheWay does not apply).

    Size rules, checked before a model loads (:meth:`check_sizes`): ``height`` and ``width`` must be
    multiples of ``size_multiple`` (the pipeline's own check: diffusers' UNet video pipelines ask
    for multiples of 8 whatever the VAE's factor, Wan for 16: VAE factor 8 x patch 2); ``num_frames - 1`` a multiple of ``temporal_factor`` (a video VAE's
    temporal compression: Wan's keeps frame 0 and packs 4 frames per latent); at most
    ``max_frames`` frames (an AnimateDiff motion module's positional encoding length; it holds for
    the registered adapter, not for one given with ``adapter=``).

    Tiny models have ``build(seed=...)``. Real models have ``sources``: role -> the hub repository
    that provides some components (the first role is the one ``load_model(path=...)`` sets), and
    ``pipeline``: the pipeline class they are assembled into.
    """

    name: str
    family: str
    build: Callable[..., Any] | None = None
    defaults: dict[str, Any] = field(default_factory=dict)
    freeu: dict[str, Any] = field(default_factory=dict)
    decode_chunk: int = 16
    description: str = ""
    scheduler: dict[str, Any] = field(default_factory=dict)
    pipeline: str = ""
    sources: dict[str, HubSource] = field(default_factory=dict)
    pipeline_kwargs: dict[str, Any] = field(default_factory=dict)
    fill_config: dict[str, dict[str, Any]] = field(default_factory=dict)
    accelerator_dtype: torch.dtype = torch.float16
    references: tuple[str, ...] = ()
    weights_digest: Callable[[], str] | None = None  # built-in weights' fingerprint (cache keys)
    size_multiple: int = 8
    temporal_factor: int = 1
    max_frames: int | None = None
    bytheway: dict[str, Any] | None = None

    def check_sizes(self, num_frames: int, height: int, width: int) -> list[tuple[str, str]]:
        """The size rules ``(num_frames, height, width)`` break: ``(argument, what is required)``
        pairs, empty when the sizes suit the model."""
        problems = []
        for key, value in (("height", height), ("width", width)):
            if value % self.size_multiple:
                below = value // self.size_multiple * self.size_multiple
                near = f"{below} or {below + self.size_multiple}" if below else self.size_multiple
                problems.append(
                    (key, f"a multiple of {self.size_multiple} for {self.name} (e.g. {near})")
                )
        if (num_frames - 1) % self.temporal_factor:
            k = self.temporal_factor
            below = (num_frames - 1) // k * k + 1
            problems.append(
                (
                    "num_frames",
                    f"{k}k + 1 for {self.name}'s video VAE (e.g. {below} or {below + k})",
                )
            )
        if self.max_frames is not None and num_frames > self.max_frames:
            problems.append(
                (
                    "num_frames",
                    f"at most {self.max_frames} for {self.name} (its motion module's positional "
                    "encoding length)",
                )
            )
        return problems

    @property
    def pretrained(self) -> bool:
        """Whether the weights are read from the hub / disk (else built in code)."""
        return bool(self.sources)

    @property
    def primary(self) -> str | None:
        """The source role that ``load_model(path=...)`` sets."""
        return next(iter(self.sources), None)

    @property
    def hub_ids(self) -> dict[str, str]:
        """Role -> default hub repository id."""
        return {role: src.repo_id for role, src in self.sources.items()}
