"""Latents <-> frames: a video model's VAE, both ways, in bounded-memory chunks.

* **decoding**: ``decode_latents(pipe, latents)`` reproduces what the model's pipeline does for
  ``output_type="pt"``. Image VAEs (AnimateDiffPipeline, TextToVideoSDPipeline): ``latents /
  scaling_factor``, frame-wise ``vae.decode``, float32, ``x * 0.5 + 0.5`` clamped to [0, 1], never
  more than ``chunk_size`` frames per VAE call (AnimateDiff chunks the same way; TextToVideoSD
  decodes every frame of the batch at once). Video VAEs (:data:`VIDEO_VAES`, one entry a family:
  Wan's AutoencoderKLWan, CogVideoX's AutoencoderKLCogVideoX, LTX-Video's AutoencoderKLLTXVideo,
  Mochi's AutoencoderKLMochi, HunyuanVideo 1.5's AutoencoderKLHunyuanVideo15): whole clips, with their pipeline's
  normalisation before ``vae.decode``. Latents are always freqlab's ``(B, C, t, h, w)``
  (:func:`freqlab.sampling.latent_layout`: CogVideoXPipeline's own are ``(B, t, C, h, w)``).
* **encoding**: ``encode_frames(vae, videos)`` turns videos into the clean latents a model is
  trained on, in batches: image VAEs ``latent_dist.mean`` times ``scaling_factor``, as diffusers'
  training scripts; video VAEs whole clips, ``latent_dist.mean`` through their :data:`VIDEO_VAES`
  entry's ``normalise`` (the inverse of its ``unnormalise``, as the family's image-to-video
  pipeline encodes its conditioning frames), clips of the VAE's ``f k + 1`` frames only.

Not to be confused with :func:`evaluation.encoders.encode_videos`, which computes the features
of a metric's image encoder.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch

from freqlab.checks import check_int

__all__ = [  # FRAME_VAES: see __getattr__
    "VIDEO_VAES",
    "VideoVae",
    "check_chunk_size",
    "decode_latents",
    "encode_frames",
    "frame_vaes",
]


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
    # FRAME_VAES stays importable (``from freqlab.vae import FRAME_VAES``), resolved lazily.
    if name == "FRAME_VAES":
        return frame_vaes()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def check_chunk_size(chunk_size: object) -> int:
    """``chunk_size`` must be an int >= 1 (frames per VAE call)."""
    return check_int("chunk_size", chunk_size, 1)


# --------------------------------------------------------------------------- decoding


@dataclass(frozen=True)
class VideoVae:
    """How one video-VAE family decodes: what its pipeline does to latents before ``vae.decode``.

    ``unnormalise(vae, latents)`` takes the loop's latents ``(B, C, t, h, w)`` (already on the VAE's
    device and dtype) to the VAE's own latent scale, with the pipeline's own expression (same
    order of operations, so the numbers match). ``vae.decode`` then returns ``(B, 3, T, H, W)``
    in [-1, 1], post-processed as ``VideoProcessor.postprocess_video``. ``frames(vae, t)`` is the
    decoded frame count (it sizes the VAE calls; the encoder's frame rule ``T = f (t - 1) + 1``).

    ``normalise(vae, z)`` is the way back, used by :func:`encode_frames`: ``vae.encode(x)
    .latent_dist.mean`` ``(B, C, t, h, w)`` to the latents the model is trained on, the inverse of
    ``unnormalise`` (``normalise(vae, unnormalise(vae, z)) == z`` to float round-off).
    """

    pipeline: str  # the diffusers pipeline whose decode this reproduces (for messages and docs)
    unnormalise: Callable[[Any, torch.Tensor], torch.Tensor]
    frames: Callable[[Any, int], int]  # (vae, latent frames t) -> decoded frames T
    # (vae, z) -> extra positional arguments of vae.decode after z (LTX's decode timestep).
    decode_args: Callable[[Any, torch.Tensor], tuple[Any, ...]] | None = None
    # At most this many videos per vae.decode / vae.encode call, whatever chunk_size or batch_size
    # allow (None: no limit).
    max_videos: int | None = None
    # (vae, z) -> training latents: the inverse of unnormalise (keyword-only, required).
    normalise: Callable[[Any, torch.Tensor], torch.Tensor] = field(kw_only=True)


def _temporal_frames(factor: Callable[[Any], int]) -> Callable[[Any, int], int]:
    # A causal video VAE: latent frame 0 is one frame, every later one ``factor(vae)`` frames
    # (Wan, CogVideoX: 4, so 13 latent frames -> 49 frames; LTX-Video: 8).
    return lambda vae, t: (t - 1) * int(factor(vae)) + 1


def _wan_unnormalise(vae: Any, latents: torch.Tensor) -> torch.Tensor:
    # WanPipeline.__call__ (diffusers 0.42): latents / (1 / std) + mean, per latent channel.
    shape = (1, vae.config.z_dim, 1, 1, 1)
    mean = torch.tensor(vae.config.latents_mean).view(shape).to(latents.device, latents.dtype)
    inv_std = 1.0 / torch.tensor(vae.config.latents_std).view(shape).to(
        latents.device, latents.dtype
    )
    return latents / inv_std + mean


def _wan_normalise(vae: Any, z: torch.Tensor) -> torch.Tensor:
    # WanImageToVideoPipeline.prepare_latents (diffusers 0.42): (z - mean) * (1 / std), per
    # latent channel: the inverse of _wan_unnormalise.
    shape = (1, vae.config.z_dim, 1, 1, 1)
    mean = torch.tensor(vae.config.latents_mean).view(shape).to(z.device, z.dtype)
    inv_std = 1.0 / torch.tensor(vae.config.latents_std).view(shape).to(z.device, z.dtype)
    return (z - mean) * inv_std


def _cogvideox_unnormalise(vae: Any, latents: torch.Tensor) -> torch.Tensor:
    # CogVideoXPipeline.decode_latents (diffusers 0.42): permute (B, F, C, h, w) -> (B, C, F, h,
    # w), which freqlab's layout already is, then ``1 / vae_scaling_factor_image * latents``.
    return 1 / vae.config.scaling_factor * latents


def _cogvideox_normalise(vae: Any, z: torch.Tensor) -> torch.Tensor:
    # CogVideoXImageToVideoPipeline.prepare_latents (diffusers 0.42): ``vae_scaling_factor_image *
    # image_latents`` (then permuted to its (B, F, C, h, w); freqlab keeps (B, C, F, h, w)). Its
    # ``invert_scale_latents`` branch (CogVideoX 1.5 I2V: 1 / scaling_factor) is for the image
    # conditioning only: the video latents are decoded with 1 / scaling_factor, so trained at
    # z * scaling_factor.
    return vae.config.scaling_factor * z


def _ltx_unnormalise(vae: Any, latents: torch.Tensor) -> torch.Tensor:
    # LTXPipeline._denormalize_latents (diffusers 0.42): latents * std / scaling_factor + mean,
    # per channel, from the VAE's latents_mean / latents_std buffers.
    shape = (1, -1, 1, 1, 1)
    mean = vae.latents_mean.view(shape).to(latents.device, latents.dtype)
    std = vae.latents_std.view(shape).to(latents.device, latents.dtype)
    return latents * std / vae.config.scaling_factor + mean


def _ltx_normalise(vae: Any, z: torch.Tensor) -> torch.Tensor:
    # LTXPipeline._normalize_latents (diffusers 0.42): (z - mean) * scaling_factor / std, per
    # channel, the inverse of _denormalize_latents. LTXImageToVideoPipeline.prepare_latents calls
    # it with its default scaling_factor 1.0, the released VAE configs' value; the config's own is
    # used here so that encoding inverts decoding for any config.
    shape = (1, -1, 1, 1, 1)
    mean = vae.latents_mean.view(shape).to(z.device, z.dtype)
    std = vae.latents_std.view(shape).to(z.device, z.dtype)
    return (z - mean) * vae.config.scaling_factor / std


def _ltx_decode_args(vae: Any, z: torch.Tensor) -> tuple[Any, ...]:
    # A timestep-conditioned LTX VAE (0.9.1 and later) takes the decode timestep: LTXPipeline's
    # default decode_timestep 0.0 (decode_noise_scale defaults to it, so no noise is mixed in).
    # Other decode_timestep values are not reproduced.
    if not vae.config.timestep_conditioning:
        return (None,)
    return (torch.zeros(z.shape[0], device=z.device, dtype=z.dtype),)


def _scaling_unnormalise(vae: Any, latents: torch.Tensor) -> torch.Tensor:
    # HunyuanVideo15Pipeline.__call__ (diffusers 0.42): latents / scaling_factor, no shift, no
    # per-channel statistics.
    return latents / vae.config.scaling_factor


def _scaling_normalise(vae: Any, z: torch.Tensor) -> torch.Tensor:
    # HunyuanVideo15ImageToVideoPipeline._get_image_latents (diffusers 0.42): the posterior's mode
    # (its mean) times scaling_factor.
    return z * vae.config.scaling_factor


def _mochi_unnormalise(vae: Any, latents: torch.Tensor) -> torch.Tensor:
    # MochiPipeline.__call__ (diffusers 0.42): latents * std / scaling_factor + mean over its 12
    # channels when the config has latents_mean/latents_std, else latents / scaling_factor.
    config = vae.config
    if (
        getattr(config, "latents_mean", None) is None
        or getattr(config, "latents_std", None) is None
    ):
        return latents / config.scaling_factor
    shape = (1, len(config.latents_mean), 1, 1, 1)
    mean = torch.tensor(config.latents_mean).view(shape).to(latents.device, latents.dtype)
    std = torch.tensor(config.latents_std).view(shape).to(latents.device, latents.dtype)
    return latents * std / config.scaling_factor + mean


def _mochi_normalise(vae: Any, z: torch.Tensor) -> torch.Tensor:
    # Mochi has no image-to-video pipeline (diffusers 0.42): the inverse of MochiPipeline's decode
    # normalisation, (z - mean) * scaling_factor / std over its 12 channels, or z *
    # scaling_factor without latents_mean/latents_std (the inverse of its latents / scaling_factor).
    config = vae.config
    if (
        getattr(config, "latents_mean", None) is None
        or getattr(config, "latents_std", None) is None
    ):
        return z * config.scaling_factor
    shape = (1, len(config.latents_mean), 1, 1, 1)
    mean = torch.tensor(config.latents_mean).view(shape).to(z.device, z.dtype)
    std = torch.tensor(config.latents_std).view(shape).to(z.device, z.dtype)
    return (z - mean) * config.scaling_factor / std


# diffusers VAE class name -> how its pipeline decodes (and, inverted, encodes). A new family is
# one entry here, with its pipeline's normalisation before ``vae.decode`` and its inverse for
# ``encode_frames`` (and tests against that pipeline and of the round trip).
VIDEO_VAES: dict[str, VideoVae] = {
    "AutoencoderKLWan": VideoVae(
        "WanPipeline",
        _wan_unnormalise,
        _temporal_frames(lambda vae: vae.config.scale_factor_temporal),
        normalise=_wan_normalise,
    ),
    "AutoencoderKLCogVideoX": VideoVae(
        "CogVideoXPipeline",
        _cogvideox_unnormalise,
        _temporal_frames(lambda vae: vae.config.temporal_compression_ratio),
        normalise=_cogvideox_normalise,
    ),
    "AutoencoderKLLTXVideo": VideoVae(
        "LTXPipeline",
        _ltx_unnormalise,
        _temporal_frames(lambda vae: vae.temporal_compression_ratio),
        _ltx_decode_args,
        normalise=_ltx_normalise,
    ),
    "AutoencoderKLMochi": VideoVae(
        "MochiPipeline",
        _mochi_unnormalise,
        # Its decoder expands time by prod(temporal_expansions) (6) and drops the first 5 frames.
        _temporal_frames(lambda vae: math.prod(vae.config.temporal_expansions)),
        normalise=_mochi_normalise,
    ),
    "AutoencoderKLHunyuanVideo15": VideoVae(
        "HunyuanVideo15Pipeline",
        _scaling_unnormalise,
        _temporal_frames(lambda vae: vae.temporal_compression_ratio),
        # One video per call: its mid-block attention builds a (B, N, N) causal mask that fails
        # to broadcast for B > 1 (diffusers 0.42), so the pipeline itself cannot decode a batch
        # (its encoder's mid block fails the same way).
        max_videos=1,
        normalise=_scaling_normalise,
    ),
}


def _video_vae(vae: Any) -> VideoVae | None:
    """The :data:`VIDEO_VAES` entry whose class ``vae`` is an instance of (None if none)."""
    import diffusers

    for name, entry in VIDEO_VAES.items():
        cls = getattr(diffusers, name, None)
        if cls is not None and isinstance(vae, cls):
            return entry
    return None


def _check_latents(latents: object) -> None:
    if not isinstance(latents, torch.Tensor) or latents.dim() != 5:
        shape = (
            tuple(latents.shape) if isinstance(latents, torch.Tensor) else type(latents).__name__
        )
        raise ValueError(f"latents must be a (B, C, T, h, w) tensor, got {shape}")
    if not latents.is_floating_point():
        raise ValueError(f"latents must be a float tensor, got dtype {latents.dtype}")


@torch.no_grad()
def decode_latents(pipe: Any, latents: torch.Tensor, chunk_size: int = 16) -> torch.Tensor:
    """Decode video latents to frames with ``pipe.vae``, as the model's own pipeline does.

    * image VAEs (:func:`frame_vaes`: AnimateDiff, ModelScope, VideoCrafter2, SDXL): frame by
      frame, at most ``chunk_size`` frames (over the flattened ``B*T``) per VAE call;
    * video VAEs (:data:`VIDEO_VAES`: the causal, temporally compressing AutoencoderKLWan and
      AutoencoderKLCogVideoX):
      whole clips, normalised as their pipeline does, ``max(1, chunk_size // T)`` videos per VAE
      call (one 81-frame Wan video per call at the default 16). Within a clip, memory is the
      VAE's own business: ``vae.enable_tiling()`` / ``enable_slicing()`` (the runner's
      ``model.vae_tiling`` / ``model.vae_slicing``) are honoured, never forced.

    Args:
        pipe: a pipeline whose ``vae`` is a frame VAE or a :data:`VIDEO_VAES` class.
        latents: clean latents ``(B, C, t, h, w)`` as the pipeline returns for
            ``output_type="latent"``, in freqlab's layout (what the samplers return; CogVideoX's
            pipeline returns ``(B, t, C, h, w)``: ``from_pipeline_layout`` converts).
        chunk_size: at most this many decoded frames per VAE call (a video VAE: at least one
            whole video).

    Returns:
        Frames ``(B, T, C, H, W)``, float32 in [0, 1], on the VAE's device: the pipeline's own
        ``output_type="pt"`` result. ``T = t`` for frame VAEs; for a video VAE the decoded frame
        count (Wan, CogVideoX: ``4 (t - 1) + 1``).
    """
    check_chunk_size(chunk_size)
    vae = getattr(pipe, "vae", None)
    vaes = frame_vaes()
    video_vae = None if isinstance(vae, vaes) else _video_vae(vae)
    if video_vae is None and not isinstance(vae, vaes):
        names = ", ".join([*(c.__name__ for c in vaes), *VIDEO_VAES])
        raise ValueError(
            f"pipe.vae must be a per-frame image VAE or a video VAE freqlab knows how to decode "
            f"({names}), got {type(vae).__name__}"
        )
    _check_latents(latents)
    if video_vae is not None:
        return _decode_videos(vae, video_vae, latents, chunk_size)

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


def _decode_videos(
    vae: Any, entry: VideoVae, latents: torch.Tensor, chunk_size: int
) -> torch.Tensor:
    """A video VAE's decode: ``(B, C, t, h, w)`` -> ``(B, T, 3, H, W)`` float32 in [0, 1]."""
    from diffusers.utils.torch_utils import get_module_execution_device

    # As the pipelines: the device the VAE runs on (its offload hook's, if offloaded).
    channels = getattr(vae.config, "latent_channels", None) or getattr(vae.config, "z_dim", None)
    if channels is not None and latents.shape[1] != channels:
        # E.g. CogVideoXPipeline's own (B, t, C, h, w) output, passed unconverted.
        raise ValueError(
            f"latents must be (B, C, t, h, w) with C = {channels} for {type(vae).__name__}, got "
            f"{tuple(latents.shape)} ({entry.pipeline}'s own output_type='latent' layout may "
            "differ: see freqlab.sampling.from_pipeline_layout)"
        )
    latents = latents.to(get_module_execution_device(vae), dtype=vae.dtype)
    z = entry.unnormalise(vae, latents)
    # Whole videos per VAE call, up to chunk_size decoded frames (the pipeline decodes the whole
    # batch at once: equal up to float round-off, ~5e-6 on the tiny Wan).
    per_call = max(1, chunk_size // entry.frames(vae, z.shape[2]))
    if entry.max_videos is not None:
        per_call = min(per_call, entry.max_videos)
    parts = []
    for part in z.split(per_call):
        extra = entry.decode_args(vae, part) if entry.decode_args is not None else ()
        parts.append(vae.decode(part, *extra).sample.float())
    # postprocess_video(..., "pt"): (B, C, T, H, W) -> (B, T, C, H, W), then denormalize. In
    # float32 (the pipeline denormalises in the VAE's dtype; the same for Wan's float32 VAE).
    video = torch.cat(parts).permute(0, 2, 1, 3, 4)
    return (video * 0.5 + 0.5).clamp(0, 1)


# --------------------------------------------------------------------------- encoding


def _encoder(vae: Any) -> VideoVae | None:
    """None for a per-frame image VAE, else ``vae``'s :data:`VIDEO_VAES` entry; refuses others."""
    vaes = frame_vaes()
    if isinstance(vae, vaes):
        return None
    entry = _video_vae(vae)
    if entry is None:
        names = ", ".join([*(c.__name__ for c in vaes), *VIDEO_VAES])
        raise ValueError(
            f"vae must be a per-frame image VAE or a video VAE freqlab knows how to encode "
            f"({names}), got {type(vae).__name__}"
        )
    return entry


def _temporal_factor(vae: Any, entry: VideoVae) -> int:
    """``f`` of a causal video VAE's frame rule ``T = f (t - 1) + 1`` (its decoded frame count
    for 2 latent frames, less the one for 1): 4 for Wan, CogVideoX and HunyuanVideo 1.5, 8 for
    LTX-Video, 6 for Mochi."""
    return int(entry.frames(vae, 2)) - int(entry.frames(vae, 1))


def _check_frame_rule(vae: Any, entry: VideoVae, frames: int) -> None:
    # Off the rule, the encoders silently drop the trailing frames (Wan, CogVideoX, LTX, Mochi)
    # or fail on a reshape (HunyuanVideo 1.5): refuse, naming the rule.
    factor = _temporal_factor(vae, entry)
    if (frames - 1) % factor:
        below = (frames - 1) // factor * factor + 1
        raise ValueError(
            f"{type(vae).__name__} ({entry.pipeline}) encodes clips of {factor}k + 1 frames "
            f"(1, {factor + 1}, {2 * factor + 1}, ...), got {frames} frames: use {below} or "
            f"{below + factor}"
        )


def _to_unit(video: torch.Tensor) -> torch.Tensor:
    """``(T, 3, H, W)`` uint8 or float in [0, 1] -> float32 in [-1, 1]."""
    if not isinstance(video, torch.Tensor) or video.dim() != 4 or video.shape[1] != 3:
        shape = tuple(video.shape) if isinstance(video, torch.Tensor) else type(video).__name__
        raise ValueError(f"videos must be (T, 3, H, W) tensors, got {shape}")
    if video.dtype == torch.uint8:
        return video.float().div_(127.5).sub_(1.0)
    if not video.is_floating_point():
        raise ValueError(f"videos must be uint8 or float in [0, 1], got {video.dtype}")
    return video.float() * 2.0 - 1.0


@torch.no_grad()
def _encode_batch(
    vae: Any, entry: VideoVae | None, batch: torch.Tensor, chunk_size: int
) -> torch.Tensor:
    """``(B, T, 3, H, W)`` in [-1, 1] -> clean latents ``(B, C, t, h, w)`` float32."""
    param = next(vae.parameters())
    b, t = batch.shape[:2]
    if entry is None:  # a per-frame image VAE
        frames = batch.flatten(0, 1)
        parts = [
            vae.encode(frames[i : i + chunk_size].to(param.device, param.dtype)).latent_dist.mean
            for i in range(0, frames.shape[0], chunk_size)
        ]
        z = torch.cat(parts).float()
        shift = getattr(vae.config, "shift_factor", None)
        if shift is not None:
            z = z - shift
        z = z * float(vae.config.scaling_factor)
        return z.unflatten(0, (b, t)).permute(0, 2, 1, 3, 4).contiguous()
    # A causal video VAE: whole clips (B, 3, T, H, W), as many per call as the family allows;
    # normalised in float32 (an analysis of the data, not the pipeline's bf16 round-off).
    clips = batch.permute(0, 2, 1, 3, 4)
    per_call = entry.max_videos or b
    parts = [
        vae.encode(part.to(param.device, param.dtype)).latent_dist.mean.float()
        for part in clips.split(per_call)
    ]
    return entry.normalise(vae, torch.cat(parts)).contiguous()


def encode_frames(
    vae: Any,
    videos: Iterable[torch.Tensor],
    *,
    batch_size: int = 4,
    chunk_size: int = 16,
    total: int | None = None,
    progress: bool = True,
) -> Iterator[torch.Tensor]:
    """Encode videos to the clean latents a model is trained on, ``batch_size`` videos at a time.

    Per-frame VAEs (AutoencoderKL, ...): ``(vae.encode(x).latent_dist.mean - shift_factor) *
    scaling_factor`` frame by frame, at most ``chunk_size`` frames per VAE call (the posterior
    mean, not a sample: an analysis of the data should not measure the VAE's sampling noise).
    Video VAEs (:data:`VIDEO_VAES`): whole clips, ``vae.encode(x).latent_dist.mean`` through the
    family's ``normalise`` (the inverse of the pipeline's decode normalisation): Wan ``(z - mean)
    / std``; CogVideoX and HunyuanVideo 1.5 ``z * scaling_factor``; LTX-Video and Mochi ``(z -
    mean) * scaling_factor / std``, per channel. A video VAE takes clips of ``f k + 1`` frames
    only (Wan, CogVideoX, HunyuanVideo 1.5: 4k + 1; LTX-Video 8k + 1; Mochi 6k + 1): any other
    count is refused (ValueError naming the rule) rather than silently truncated.

    Args:
        vae: the model's VAE (``pipe.vae``).
        videos: ``(T, 3, H, W)`` uint8 or float in [0, 1], all of the same size, already at the
            model's frame count and resolution (see :mod:`freqlab.video.read`).
        batch_size: videos per batch (a video VAE: per ``vae.encode`` call, at most the
            family's ``max_videos``; HunyuanVideo 1.5 encodes one video per call).
        chunk_size: frames per VAE call (per-frame VAEs).
        total: the number of videos, for the progress bar.
        progress: show a tqdm progress bar.

    Yields:
        Latents ``(B, C, t, h, w)`` float32 on the VAE's device, one tensor per batch (a video
        VAE: ``t = (T - 1) / f + 1``).
    """
    from tqdm.auto import tqdm

    check_int("batch_size", batch_size)
    check_chunk_size(chunk_size)
    entry = _encoder(vae)
    bar = tqdm(total=total, desc="encoding", unit="video", disable=not progress, dynamic_ncols=True)
    pending: list[torch.Tensor] = []
    try:
        for video in videos:
            video = _to_unit(video)
            if entry is not None:
                _check_frame_rule(vae, entry, video.shape[0])
            pending.append(video)
            if len(pending) == batch_size:
                yield _encode_batch(vae, entry, torch.stack(pending), chunk_size)
                bar.update(len(pending))
                pending = []
        if pending:
            yield _encode_batch(vae, entry, torch.stack(pending), chunk_size)
            bar.update(len(pending))
    finally:
        bar.close()
