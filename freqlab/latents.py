"""How a pipeline holds its video latents: axis order, token packing, and its VAE's factors.

freqlab's samplers, filters and results hold latents as ``(B, C, T, h, w)`` (channels, latent
frames, height, width; the 3D FFT runs over the last three axes). Pipelines differ at their
boundary (``latents=`` in, ``output_type="latent"`` out), and each difference is read off the
pipeline's class, never guessed from a shape:

* **axis order** (:func:`latent_layout`): CogVideoX's ``(B, T, C, h, w)``;
* **token packing** (:func:`latent_packing`): LTX-Video's pipeline packs ``(B, C, T, h, w)`` into
  tokens ``(B, T/p_t · h/p · w/p, C · p_t · p · p)`` (:func:`pack_latents`, :func:`unpack_latents`);
* **VAE factors** (:func:`video_factors`): the temporal and spatial compression, under the
  attribute names each pipeline family uses.

:class:`freqlab.sampling.SamplerCall` converts at the boundary only, so pass 0 of a sampler
reproduces the pipeline's own noise.
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = [
    "LATENT_LAYOUT",
    "LATENT_LAYOUTS",
    "LATENT_PACKING",
    "check_layout",
    "from_pipeline_layout",
    "latent_layout",
    "latent_packing",
    "pack_latents",
    "to_pipeline_layout",
    "unpack_latents",
    "video_factors",
]


def _mro_lookup(pipe: Any, table: dict[str, Any]) -> Any:
    """``table``'s entry for ``pipe``'s class or its nearest base class listed there, else None
    (so a subclass inherits its base's entry)."""
    for cls in type(pipe).__mro__:
        if cls.__name__ in table:
            return table[cls.__name__]
    return None


# freqlab's latent layout: batch, channels, (latent) frames, height, width.
LATENT_LAYOUT = "BCTHW"
# Pipeline class name -> the layout of the latents its __call__ takes (``latents=``) and returns
# (``output_type="latent"``), for pipelines that differ from LATENT_LAYOUT. Looked up along the
# class's MRO, so a subclass inherits its base's layout. CogVideoXPipeline.prepare_latents builds
# (batch, frames, channels, h, w) and decode_latents permutes to (B, C, F, h, w) (diffusers 0.42).
LATENT_LAYOUTS: dict[str, str] = {"CogVideoXPipeline": "BTCHW"}


def latent_layout(pipe: Any) -> str:
    """The axis order of ``pipe``'s latents (a permutation of :data:`LATENT_LAYOUT`): its class's
    (or a base class's) :data:`LATENT_LAYOUTS` entry, else ``"BCTHW"``. Read off the pipeline's
    class, never guessed from a shape."""
    return _mro_lookup(pipe, LATENT_LAYOUTS) or LATENT_LAYOUT


def check_layout(layout: str) -> None:
    if sorted(layout) != sorted(LATENT_LAYOUT):
        raise ValueError(f"a latent layout is a permutation of {LATENT_LAYOUT!r}, got {layout!r}")


def _permute(x: Any, src: str, dst: str) -> Any:
    check_layout(src)
    check_layout(dst)
    if src == dst:
        return x
    order = [src.index(axis) for axis in dst]
    if isinstance(x, torch.Tensor):
        if x.dim() != 5:
            raise ValueError(f"latents must have 5 dims ({src}), got shape {tuple(x.shape)}")
        return x.permute(*order).contiguous()
    return tuple(x[i] for i in order)  # a shape


def to_pipeline_layout(x: Any, layout: str) -> Any:
    """``(B, C, T, h, w)`` latents (or a shape tuple) -> the pipeline's ``layout``."""
    return _permute(x, LATENT_LAYOUT, layout)


def from_pipeline_layout(x: Any, layout: str) -> Any:
    """Latents (or a shape tuple) in the pipeline's ``layout`` -> ``(B, C, T, h, w)``."""
    return _permute(x, layout, LATENT_LAYOUT)


# --------------------------------------------------------------------------- token packing

# Pipeline class name -> the names of its (spatial, temporal) patch-size attributes, for pipelines
# whose ``latents=`` and ``output_type="latent"`` are token-packed. LTXPipeline._pack_latents
# (diffusers 0.42): (B, C, T, h, w) -> (B, T/pt * h/p * w/p, C * pt * p * p), tokens ordered
# (frame, row, column), features (channel, dt, dy, dx).
LATENT_PACKING: dict[str, tuple[str, str]] = {
    "LTXPipeline": ("transformer_spatial_patch_size", "transformer_temporal_patch_size"),
}


def latent_packing(pipe: Any) -> tuple[int, int] | None:
    """``(p, p_t)``, the spatial and temporal patch of ``pipe``'s token-packed latents, or None
    when its latents are 5-dim tensors."""
    names = _mro_lookup(pipe, LATENT_PACKING)
    if names is None:
        return None
    return int(getattr(pipe, names[0])), int(getattr(pipe, names[1]))


def pack_latents(latents: torch.Tensor, patch: int, patch_t: int) -> torch.Tensor:
    """``(B, C, T, h, w)`` -> tokens ``(B, T/p_t · h/p · w/p, C · p_t · p · p)``."""
    b, c, t, h, w = latents.shape
    x = latents.reshape(b, c, t // patch_t, patch_t, h // patch, patch, w // patch, patch)
    # Token axes (frame, row, column) first, then the features (channel, dt, dy, dx).
    x = x.permute(0, 2, 4, 6, 1, 3, 5, 7)
    return x.reshape(b, (t // patch_t) * (h // patch) * (w // patch), c * patch_t * patch * patch)


def unpack_latents(
    tokens: torch.Tensor, shape: tuple[int, ...], patch: int, patch_t: int
) -> torch.Tensor:
    """Tokens ``(B, S, D)`` -> ``(B, C, T, h, w)`` of ``shape`` (the inverse of
    :func:`pack_latents`)."""
    b, c, t, h, w = shape
    expected = (b, (t // patch_t) * (h // patch) * (w // patch), c * patch_t * patch * patch)
    if tuple(tokens.shape) != expected:
        raise ValueError(
            f"packed latents must be {expected} for latents {tuple(shape)}, got "
            f"{tuple(tokens.shape)}"
        )
    x = tokens.reshape(b, t // patch_t, h // patch, w // patch, c, patch_t, patch, patch)
    x = x.permute(0, 4, 1, 5, 2, 6, 3, 7)
    return x.reshape(b, c, t, h, w).contiguous()


# --------------------------------------------------------------------------- VAE factors

# The (temporal, spatial) compression attributes of video pipelines, by family: Wan, CogVideoX
# and HunyuanVideo 1.5 name them one way, LTX-Video and Mochi each another (diffusers 0.42).
_FACTOR_ATTRIBUTES = (
    ("vae_scale_factor_temporal", "vae_scale_factor_spatial"),
    ("vae_temporal_compression_ratio", "vae_spatial_compression_ratio"),
    ("vae_temporal_scale_factor", "vae_spatial_scale_factor"),
)


def video_factors(pipe: Any) -> tuple[int, int] | None:
    """``(temporal, spatial)``: how many frames and pixels one latent frame and row hold for a
    pipeline with a temporally compressing VAE (``T = (frames - 1) // temporal + 1``), or None
    for a pipeline without one (the UNet pipelines' VAEs decode frame by frame)."""
    for temporal, spatial in _FACTOR_ATTRIBUTES:
        if hasattr(pipe, temporal) and hasattr(pipe, spatial):
            return int(getattr(pipe, temporal)), int(getattr(pipe, spatial))
    return None
