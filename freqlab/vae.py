"""Latents to frames: the VAE decode of a video pipeline, in bounded-memory chunks.

``decode_latents(pipe, latents)`` reproduces what AnimateDiffPipeline and TextToVideoSDPipeline do
for ``output_type="pt"`` (``latents / scaling_factor``, frame-wise ``vae.decode``, float32,
``x * 0.5 + 0.5`` clamped to [0, 1]), but never runs the VAE on more than ``chunk_size`` frames
at once (AnimateDiff chunks the same way; TextToVideoSD decodes every frame of the batch at once).
"""

from __future__ import annotations

from typing import Any

import torch

from freqlab.checks import check_int

__all__ = ["check_chunk_size", "decode_latents", "frame_vaes"]  # FRAME_VAES: see __getattr__


def frame_vaes() -> tuple[type, ...]:
    """Image VAEs that decode each frame independently, so chunking over frames is exact. Video
    VAEs (Wan, LTX, Hunyuan, SVD's temporal decoder) mix frames and need their pipeline's own
    decode.

    Imported on first use: diffusers' autoencoder modules take ~2 s to import, which a job whose
    samples are all cached (no model loaded) should not pay.
    """
    from diffusers import AsymmetricAutoencoderKL, AutoencoderKL, AutoencoderTiny

    return (AutoencoderKL, AsymmetricAutoencoderKL, AutoencoderTiny)


def __getattr__(name: str) -> Any:
    # FRAME_VAES stays importable (``from freqlab.decoding import FRAME_VAES``), resolved lazily.
    if name == "FRAME_VAES":
        return frame_vaes()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def check_chunk_size(chunk_size: object) -> int:
    """``chunk_size`` must be an int >= 1 (frames per VAE call)."""
    return check_int("chunk_size", chunk_size, 1)


@torch.no_grad()
def decode_latents(pipe: Any, latents: torch.Tensor, chunk_size: int = 16) -> torch.Tensor:
    """Decode video latents to frames with ``pipe.vae``, ``chunk_size`` frames at a time.

    Args:
        pipe: a pipeline with an image VAE (``pipe.vae``, one of :func:`frame_vaes`), e.g.
            AnimateDiffPipeline or TextToVideoSDPipeline.
        latents: clean latents ``(B, C, T, h, w)`` as the pipeline returns for
            ``output_type="latent"``.
        chunk_size: at most this many frames (over the flattened ``B*T``) per VAE call.

    Returns:
        Frames ``(B, T, C, H, W)``, float32 in [0, 1], on the VAE's device: the pipeline's own
        ``output_type="pt"`` result.
    """
    check_chunk_size(chunk_size)
    vae = getattr(pipe, "vae", None)
    vaes = frame_vaes()
    if not isinstance(vae, vaes):
        names = ", ".join(c.__name__ for c in vaes)
        raise ValueError(
            f"pipe.vae must be a per-frame image VAE ({names}), got {type(vae).__name__}"
        )
    if not isinstance(latents, torch.Tensor) or latents.dim() != 5:
        shape = (
            tuple(latents.shape) if isinstance(latents, torch.Tensor) else type(latents).__name__
        )
        raise ValueError(f"latents must be a (B, C, T, h, w) tensor, got {shape}")
    if not latents.is_floating_point():
        raise ValueError(f"latents must be a float tensor, got dtype {latents.dtype}")

    # Same expression as the pipelines' decode_latents, so the numbers match bit for bit.
    latents = 1 / vae.config.scaling_factor * latents
    shift = vae.config.get("shift_factor", None)
    if shift is not None:
        latents = latents + shift
    b, c, t, h, w = latents.shape
    frames = latents.permute(0, 2, 1, 3, 4).reshape(b * t, c, h, w)
    frames = frames.to(device=vae.device, dtype=vae.dtype)
    decoded = [vae.decode(chunk).sample for chunk in frames.split(chunk_size)]
    video = torch.cat(decoded).reshape(b, t, *decoded[0].shape[1:]).float()
    # VaeImageProcessor.denormalize, as postprocess_video(..., output_type="pt").
    return (video * 0.5 + 0.5).clamp(0, 1)
