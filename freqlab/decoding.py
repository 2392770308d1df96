"""Latents to frames: the VAE decode of a video pipeline, in bounded-memory chunks.

``decode_latents(pipe, latents)`` reproduces what AnimateDiffPipeline and TextToVideoSDPipeline do
for ``output_type="pt"`` (``latents / scaling_factor``, frame-wise ``vae.decode``, float32,
``x * 0.5 + 0.5`` clamped to [0, 1]), but never runs the VAE on more than ``chunk_size`` frames
at once (AnimateDiff chunks the same way; TextToVideoSD decodes every frame of the batch at once).
"""

from __future__ import annotations

from typing import Any

import torch
from diffusers import AsymmetricAutoencoderKL, AutoencoderKL, AutoencoderTiny

__all__ = ["FRAME_VAES", "check_chunk_size", "decode_latents"]

# Image VAEs that decode each frame independently, so chunking over frames is exact. Video VAEs
# (Wan, LTX, Hunyuan, SVD's temporal decoder) mix frames and need their pipeline's own decode.
FRAME_VAES = (AutoencoderKL, AsymmetricAutoencoderKL, AutoencoderTiny)


def check_chunk_size(chunk_size: object) -> int:
    """``chunk_size`` must be an int >= 1 (frames per VAE call)."""
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size must be an int >= 1, got {chunk_size!r}")
    return chunk_size


@torch.no_grad()
def decode_latents(pipe: Any, latents: torch.Tensor, chunk_size: int = 16) -> torch.Tensor:
    """Decode video latents to frames with ``pipe.vae``, ``chunk_size`` frames at a time.

    Args:
        pipe: a pipeline with an image VAE (``pipe.vae``, one of :data:`FRAME_VAES`), e.g.
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
    if not isinstance(vae, FRAME_VAES):
        names = ", ".join(c.__name__ for c in FRAME_VAES)
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
