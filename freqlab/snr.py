"""SNR by frequency: FreeInit's training-inference gap (its Fig. 3) for any schedule and video set.

The forward process noises a clean latent ``z0`` as ``z_t = sqrt(a_t) z0 + sqrt(n_t) eps``. Per
radial band of the 3D (T, H, W) spectrum, in the expected-value form of
:func:`freqlab.spectral.snr_by_frequency`::

    SNR_band(t) = 10 log10( a_t · sum_band |F z0|^2 / ( n_t · bins_band · T·H·W · copies ) )

summed over videos and channels (``copies``). It splits into three terms (all in dB)::

    SNR_band(t) = 10 log10(a_t / n_t)   the schedule ("global_snr_db")
                + 10 log10(mean z0^2)   the latents' power
                + gain_band             10 log10(band's share of the energy / its share of bins)

Natural videos put most energy in few low-frequency bins, so the low bands keep an SNR tens of dB
above the schedule's at the last training timestep, while the initial noise at inference has none:
the gap FreeInit closes. This module provides each step as plain functions:

* **videos**: :func:`synthetic_videos` (moving shapes over smooth backgrounds, numpy, seeded; the
  offline default) or real clips through :class:`freqlab.video_reader.VideoFolder`;
* **latents**: :func:`encode_videos`, the model's VAE in batches (``latent_dist.mean`` times
  ``scaling_factor``, as diffusers' training scripts; Wan-style video VAEs normalised with
  ``latents_mean`` / ``latents_std``);
* **spectrum**: :class:`LatentSpectrum`, the running per-bin energy, so any number of videos fits
  in memory; it reproduces :func:`~freqlab.spectral.snr_by_frequency` on the stacked latents;
* **schedules**: :func:`compare_schedules` builds the model's own schedule, the same with zero
  terminal SNR (``rescale_betas_zero_snr=True``), ``linear`` and ``scaled_linear`` betas, and a
  flow-matching path ``sigma``, each with its first *sampling* timestep;
* **tables**: :func:`snr_table`, :func:`first_step_table`, :func:`band_table` (tidy DataFrames);
* **FreeInit**: :func:`freeinit_band_correlation`, the per-band correlation of each pass's initial
  latent with the clean latents, next to independent Gaussian noise;
* **figures**: :func:`plot_snr_heatmap`, :func:`plot_first_step`, :func:`plot_band_correlation`;
  :func:`load_results` reads a ``task=snr`` output directory back.

Zero terminal SNR: with ``alphas_cumprod[-1] = 0`` (DDIM/DDPM with ``rescale_betas_zero_snr``) or
``sigma = 1`` (flow matching) the last timestep has no signal and its SNR is ``-inf`` dB in every
band; tables keep ``-inf`` and figures draw it at one floor (:func:`snr_floor_db`, labelled
"≤ X dB (-inf)"). Schedulers that clamp the last
``alphas_cumprod`` to ``2**-24`` instead (Euler) give a finite floor of about -72 dB + the terms
above.

Bands follow :func:`freqlab.spectral.frequency_band_index`: equal-width bins of the normalised
radius ``rho`` in ``[0, sqrt(3)]``; band 0 holds DC.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from freqlab.checks import check_int
from freqlab.spectral import frequency_band_index

__all__ = [
    "RESULT_FILES",
    "SCHEDULE_NAMES",
    "LatentSpectrum",
    "NoiseSchedule",
    "SNRResults",
    "band_correlation",
    "band_edges",
    "band_extremes",
    "band_table",
    "compare_schedules",
    "default_timesteps",
    "encode_videos",
    "first_step_table",
    "snr_floor_db",
    "freeinit_band_correlation",
    "load_results",
    "plot_band_correlation",
    "plot_first_step",
    "plot_snr_heatmap",
    "schedule_from_scheduler",
    "snr_table",
    "synthetic_video",
    "synthetic_videos",
]

SCHEDULE_NAMES = ("model", "zero_snr", "linear", "scaled_linear", "flow")
# Beta endpoints of the comparison schedules when the model's own schedule has none (flow models).
SD_BETAS = (0.00085, 0.012)
_FFT_DIMS = (-3, -2, -1)

# The files a task=snr job writes into its output directory.
RESULT_FILES = dict(
    snr="snr.parquet",
    first_step="snr_first_step.parquet",
    bands="bands.parquet",
    correlation="correlation.parquet",
    videos="videos.parquet",
    summary="job.json",
    heatmap="snr_heatmap.png",
    first_step_plot="snr_first_step.png",
    correlation_plot="correlation.png",
)


# --------------------------------------------------------------------------- synthetic videos


def _bounce(u: np.ndarray) -> np.ndarray:
    """Reflect positions into [0, 1] (a triangle wave): motion that bounces off the borders."""
    r = np.mod(u, 2.0)
    return np.where(r <= 1.0, r, 2.0 - r)


def synthetic_video(num_frames: int, height: int, width: int, seed: int = 0) -> torch.Tensor:
    """One synthetic clip: 1-3 moving discs and squares over a smooth, slowly drifting background.

    Deterministic in ``seed`` (numpy ``default_rng``). The background is a two-colour blend along a
    random direction, modulated by a low-frequency sinusoid that drifts over time; the shapes have
    random colours and sizes (10-25% of the short side), move at constant velocity and bounce off
    the borders, with 1-pixel antialiased edges (no aliasing into the high bands).

    Returns:
        ``(num_frames, 3, height, width)`` uint8 RGB, the layout :mod:`freqlab.video_reader` reads.
    """
    for name, value in (("num_frames", num_frames), ("height", height), ("width", width)):
        check_int(name, value)
    rng = np.random.default_rng(seed)
    t = (np.arange(num_frames) / max(num_frames - 1, 1)).reshape(-1, 1, 1)  # clip time in [0, 1]
    yy = (np.arange(height) + 0.5).reshape(1, -1, 1)  # pixel centres
    xx = (np.arange(width) + 0.5).reshape(1, 1, -1)

    c0, c1 = rng.uniform(0.1, 0.9, size=(2, 3))
    theta = rng.uniform(0.0, 2.0 * np.pi)
    along = (xx / width - 0.5) * np.cos(theta) + (yy / height - 0.5) * np.sin(theta)
    cycles, phase = rng.uniform(0.3, 1.0), rng.uniform(0.0, 2.0 * np.pi)
    drift = rng.uniform(-0.5, 0.5)  # cycles of the background wave per clip
    g = 0.5 + 0.5 * np.sin(2.0 * np.pi * (cycles * along + drift * t) + phase)  # (T, H, W)
    video = c0 + (c1 - c0) * g[..., None]  # (T, H, W, 3)

    short = min(height, width)
    for _ in range(int(rng.integers(1, 4))):
        square = bool(rng.integers(0, 2))
        radius = rng.uniform(0.10, 0.25) * short  # pixels
        colour = rng.uniform(0.0, 1.0, size=3)
        start, velocity = rng.uniform(0.2, 0.8, size=2), rng.uniform(-0.6, 0.6, size=2)
        cy = _bounce(start[0] + velocity[0] * t) * height
        cx = _bounce(start[1] + velocity[1] * t) * width
        dy, dx = yy - cy, xx - cx  # (T, H, W)
        if square:
            inside = radius - np.maximum(np.abs(dy), np.abs(dx))
        else:
            inside = radius - np.sqrt(dy * dy + dx * dx)
        alpha = np.clip(inside + 0.5, 0.0, 1.0)[..., None]  # signed distance -> coverage
        video = video * (1.0 - alpha) + colour * alpha
    frames = np.clip(np.round(video * 255.0), 0, 255).astype(np.uint8)
    return torch.from_numpy(frames).permute(0, 3, 1, 2).contiguous()


def synthetic_videos(
    num_videos: int, num_frames: int, height: int, width: int, seed: int = 0
) -> Iterator[torch.Tensor]:
    """``num_videos`` clips of :func:`synthetic_video`, lazily; clip ``i`` is seeded with
    ``(seed, i)``, so it does not depend on ``num_videos``."""
    check_int("num_videos", num_videos)
    check_int("seed", seed, 0)
    for i in range(num_videos):
        yield synthetic_video(num_frames, height, width, seed=int(seed) * 1_000_003 + i)


# --------------------------------------------------------------------------- VAE encoding


def _vae_kind(vae: Any) -> str:
    from diffusers import AutoencoderKLWan

    from freqlab.decoding import FRAME_VAES

    if isinstance(vae, FRAME_VAES):
        return "frames"
    if isinstance(vae, AutoencoderKLWan):
        return "video"
    raise ValueError(
        f"vae must be a per-frame image VAE ({', '.join(c.__name__ for c in FRAME_VAES)}) or "
        f"AutoencoderKLWan, got {type(vae).__name__}"
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
def _encode_batch(vae: Any, kind: str, batch: torch.Tensor, chunk_size: int) -> torch.Tensor:
    """``(B, T, 3, H, W)`` in [-1, 1] -> clean latents ``(B, C, t, h, w)`` float32."""
    param = next(vae.parameters())
    b, t = batch.shape[:2]
    if kind == "frames":
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
    # Wan-style causal video VAE: the whole clip at once, (B, 3, T, H, W).
    z = vae.encode(batch.permute(0, 2, 1, 3, 4).to(param.device, param.dtype)).latent_dist.mean
    z = z.float()
    mean = torch.tensor(vae.config.latents_mean, device=z.device).view(1, -1, 1, 1, 1)
    std = torch.tensor(vae.config.latents_std, device=z.device).view(1, -1, 1, 1, 1)
    return (z - mean) / std


def encode_videos(
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
    mean, not a sample: the SNR measures the data, not the VAE's sampling noise). Wan's
    AutoencoderKLWan: the whole clip, normalised with ``latents_mean`` / ``latents_std``.

    Args:
        vae: the model's VAE (``pipe.vae``).
        videos: ``(T, 3, H, W)`` uint8 or float in [0, 1], all of the same size, already at the
            model's frame count and resolution (see :mod:`freqlab.video_reader`).
        batch_size: videos per batch.
        chunk_size: frames per VAE call (per-frame VAEs).
        total: the number of videos, for the progress bar.
        progress: show a tqdm progress bar.

    Yields:
        Latents ``(B, C, t, h, w)`` float32 on the VAE's device, one tensor per batch.
    """
    from tqdm.auto import tqdm

    check_int("batch_size", batch_size)
    check_int("chunk_size", chunk_size)
    kind = _vae_kind(vae)
    bar = tqdm(total=total, desc="encoding", unit="video", disable=not progress, dynamic_ncols=True)
    pending: list[torch.Tensor] = []
    try:
        for video in videos:
            pending.append(_to_unit(video))
            if len(pending) == batch_size:
                yield _encode_batch(vae, kind, torch.stack(pending), chunk_size)
                bar.update(len(pending))
                pending = []
        if pending:
            yield _encode_batch(vae, kind, torch.stack(pending), chunk_size)
            bar.update(len(pending))
    finally:
        bar.close()


# --------------------------------------------------------------------------- spectrum


def band_edges(num_bands: int) -> np.ndarray:
    """The ``rho`` edges of the bands, ``(num_bands + 1,)`` from 0 to ``sqrt(3)``."""
    check_int("num_bands", num_bands)
    return np.linspace(0.0, math.sqrt(3.0), num_bands + 1)


class LatentSpectrum:
    """Running energy ``|F z0|^2`` of clean latents per fftshifted frequency bin.

    ``update(z0)`` adds a batch ``(B, C, T, h, w)`` (or any ``(..., T, h, w)``): the 3D FFT over
    (T, h, w), summed over the leading dims, kept as a float64 ``(T, h, w)`` map on the CPU, so any
    number of videos costs one map of memory. ``snr_db`` then equals
    :func:`freqlab.spectral.snr_by_frequency` on all the latents stacked.

    Attributes:
        energy: ``(T, h, w)`` float64, ``sum |F z0|^2`` per bin (None before the first update).
        copies: the number of ``(T, h, w)`` grids added (videos x channels).
        videos: the number of videos added (``B`` summed over updates).
        count, sum, sum_sq: the number, sum and sum of squares of all latent values (for the
            latents' mean, std and power).
    """

    def __init__(self) -> None:
        self.energy: torch.Tensor | None = None
        self.copies = 0
        self.videos = 0
        self.count = 0
        self.sum = 0.0
        self.sum_sq = 0.0

    def update(self, z0: torch.Tensor) -> None:
        """Add the clean latents ``z0`` ``(B, C, T, h, w)``, on any device."""
        if not isinstance(z0, torch.Tensor) or z0.dim() < 3 or not z0.is_floating_point():
            raise ValueError("z0 must be a float tensor (..., T, h, w)")
        if not bool(torch.isfinite(z0).all()):
            raise ValueError("z0 contains NaN or Inf")
        grid = tuple(z0.shape[-3:])
        if self.energy is not None and grid != self.shape:
            raise ValueError(f"z0 must have the (T, h, w) grid {self.shape}, got {grid}")
        z = z0.detach().to(torch.float64)
        spectrum = torch.fft.fftshift(torch.fft.fftn(z, dim=_FFT_DIMS), dim=_FFT_DIMS)
        energy = spectrum.abs().square().reshape(-1, *grid).sum(0).cpu()
        self.energy = energy if self.energy is None else self.energy + energy
        self.copies += z.numel() // math.prod(grid)
        self.videos += z.shape[0] if z.dim() >= 5 else 1
        self.count += z.numel()
        self.sum += float(z.sum())
        self.sum_sq += float(z.square().sum())

    def rescaled(self, factor: float) -> LatentSpectrum:
        """The spectrum of ``factor * z0`` (e.g. ``1 / rms`` for unit-power latents)."""
        if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not factor > 0:
            raise ValueError(f"factor must be a number > 0, got {factor!r}")
        out = LatentSpectrum()
        out.energy = self._require() * factor**2
        out.copies, out.videos, out.count = self.copies, self.videos, self.count
        out.sum, out.sum_sq = self.sum * factor, self.sum_sq * factor**2
        return out

    def _require(self) -> torch.Tensor:
        if self.energy is None:
            raise ValueError("the spectrum is empty: update() it with latents first")
        return self.energy

    @property
    def shape(self) -> tuple[int, int, int]:
        """The latent grid ``(T, h, w)``."""
        return tuple(self._require().shape)  # type: ignore[return-value]

    @property
    def mean(self) -> float:
        self._require()
        return self.sum / self.count

    @property
    def std(self) -> float:
        self._require()
        return math.sqrt(max(self.sum_sq / self.count - self.mean**2, 0.0))

    @property
    def power(self) -> float:
        """``mean(z0^2)``."""
        self._require()
        return self.sum_sq / self.count

    def band_energy(self, num_bands: int = 8) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per band: the signal ``sum |F z0|^2``, the expected noise ``bins * T*h*w * copies``
        (``E|F eps|^2 = T*h*w`` per bin for unit Gaussian noise) and the bin count, float64."""
        energy = self._require()
        t, h, w = energy.shape
        band = frequency_band_index((t, h, w), num_bands).flatten()
        signal = torch.bincount(band, weights=energy.flatten(), minlength=num_bands)
        bins = torch.bincount(band, minlength=num_bands).to(torch.float64)
        noise = bins * (t * h * w) * self.copies
        return signal.numpy(), noise.numpy(), bins.numpy()

    def snr_db(
        self,
        signal_weight: Sequence[float] | np.ndarray,
        noise_weight: Sequence[float] | np.ndarray,
        num_bands: int = 8,
    ) -> np.ndarray:
        """``10 log10(a · signal_band / (n · noise_band))``, ``(len(a), num_bands)`` float64.

        ``a = 0`` gives ``-inf``; a band without bins NaN (as ``snr_by_frequency``).
        """
        a = np.asarray(signal_weight, dtype=np.float64).reshape(-1, 1)
        n = np.asarray(noise_weight, dtype=np.float64).reshape(-1, 1)
        signal, noise, _ = self.band_energy(num_bands)
        with np.errstate(divide="ignore", invalid="ignore"):
            return 10.0 * np.log10((a * signal[None, :]) / (n * noise[None, :]))


# --------------------------------------------------------------------------- schedules


@dataclass(frozen=True)
class NoiseSchedule:
    """A forward process ``z_t = sqrt(signal_t) z0 + sqrt(noise_t) eps`` over training timesteps.

    DDPM-type (``kind="ddpm"``): ``signal = alphas_cumprod * s_t^2`` (``s_t`` a data scale,
    VideoCrafter2's; 1 elsewhere), ``noise = 1 - alphas_cumprod``. Flow matching
    (``kind="flow"``): ``z_t = (1 - sigma_t) z0 + sigma_t eps``, so ``signal = (1 - sigma)^2``,
    ``noise = sigma^2``, with ``sigma_t`` the shifted training sigma of timestep ``t``.

    Attributes:
        name: ``model``, ``zero_snr``, ``linear``, ``scaled_linear`` or ``flow``.
        kind: ``ddpm`` or ``flow``.
        signal, noise: ``(num_train_timesteps,)`` float64 weights by training timestep.
        first_timestep: the first timestep of sampling with ``num_inference_steps`` steps (for
            flow schedulers ``sigma * num_train_timesteps``, possibly fractional).
        first_signal, first_noise: the weights at that step (flow: from the scheduler's sigma).
        num_inference_steps: the steps ``first_timestep`` is for.
        description: the scheduler and its settings, for tables and legends.
    """

    name: str
    kind: str
    signal: np.ndarray
    noise: np.ndarray
    first_timestep: float
    first_signal: float
    first_noise: float
    num_inference_steps: int
    description: str

    @property
    def num_train_timesteps(self) -> int:
        return len(self.signal)

    def global_snr_db(self, timesteps: Sequence[int] | np.ndarray) -> np.ndarray:
        """``10 log10(signal_t / noise_t)`` at ``timesteps``."""
        idx = np.asarray(timesteps, dtype=np.int64)
        with np.errstate(divide="ignore"):
            return 10.0 * np.log10(self.signal[idx] / self.noise[idx])


def _is_flow(scheduler: Any) -> bool:
    from freqlab.freeinit import noising_rule

    return noising_rule(scheduler) == "flow"


def _flow_shift(config: Any) -> float:
    for key in ("shift", "flow_shift"):
        value = config.get(key)
        if value is not None:
            return float(value)
    return 1.0


def _shifted_sigmas(num_train_timesteps: int, shift: float) -> np.ndarray:
    """FlowMatchEulerDiscreteScheduler's training sigmas by timestep: ``u = (t + 1) / T``
    shifted as ``shift·u / (1 + (shift - 1)·u)``; sigma = 1 at the last timestep."""
    u = np.arange(1, num_train_timesteps + 1, dtype=np.float64) / num_train_timesteps
    return shift * u / (1.0 + (shift - 1.0) * u)


def _fresh(scheduler: Any, **overrides: Any) -> Any:
    """A new scheduler of the same class from its config (plus ``overrides``); never mutates."""
    # Overrides as keyword arguments: a config key listed in `_use_default_values` would
    # otherwise be reset to the class default.
    return type(scheduler).from_config(scheduler.config, **overrides)


def schedule_from_scheduler(
    scheduler: Any, name: str = "model", num_inference_steps: int = 25, description: str = ""
) -> NoiseSchedule:
    """The :class:`NoiseSchedule` of a diffusers scheduler (which is not modified).

    DDPM-type schedulers give their ``alphas_cumprod`` (times VideoCrafter2's ``data_scales``
    squared where present). Flow-matching schedulers (``FlowMatch*``, ``use_flow_sigmas``,
    ``flow_prediction``, as :func:`freqlab.freeinit.noising_rule`) give the shifted training
    sigmas (``shift`` or ``flow_shift`` of the config; resolution-dependent dynamic shifting is not
    modelled). The first sampling step comes from ``set_timesteps(num_inference_steps)`` on a
    copy: e.g. 999 for AnimateDiff's linspace spacing, 981 for ModelScope's leading spacing.
    """
    check_int("num_inference_steps", num_inference_steps)
    config = scheduler.config
    num_train = int(config.get("num_train_timesteps", 1000))
    sampler = _fresh(scheduler)
    if _is_flow(scheduler):
        kind = "flow"
        sigma = _shifted_sigmas(num_train, _flow_shift(config))
        signal, noise = (1.0 - sigma) ** 2, sigma**2
        try:
            sampler.set_timesteps(num_inference_steps)
            sigma0 = float(sampler.sigmas[0])
            t0 = float(sampler.timesteps[0])
        except (TypeError, ValueError):  # e.g. dynamic shifting needs mu: use the training table
            sigma0, t0 = float(sigma[-1]), float(num_train - 1)
        first_signal, first_noise = (1.0 - sigma0) ** 2, sigma0**2
    else:
        kind = "ddpm"
        alphas = scheduler.alphas_cumprod.detach().to(torch.float64).cpu().numpy()
        scales = getattr(scheduler, "data_scales", None)
        scale2 = 1.0 if scales is None else torch.as_tensor(scales).double().numpy() ** 2
        signal, noise = alphas * scale2, 1.0 - alphas
        sampler.set_timesteps(num_inference_steps)
        t0 = float(sampler.timesteps[0])
        first_signal, first_noise = float(signal[int(t0)]), float(noise[int(t0)])
    return NoiseSchedule(
        name=name,
        kind=kind,
        signal=np.asarray(signal, dtype=np.float64),
        noise=np.asarray(noise, dtype=np.float64),
        first_timestep=t0,
        first_signal=first_signal,
        first_noise=first_noise,
        num_inference_steps=num_inference_steps,
        description=description or _describe(scheduler),
    )


def _describe(scheduler: Any) -> str:
    config = scheduler.config
    parts = [type(scheduler).__name__]
    if _is_flow(scheduler):
        parts.append(f"flow sigmas, shift {_flow_shift(config):g}")
    else:
        betas = f"{config.get('beta_schedule')} betas {config.get('beta_start')}-{config.get('beta_end')}"
        parts.append(betas)
        if config.get("rescale_betas_zero_snr"):
            parts.append("zero terminal SNR")
    if config.get("timestep_spacing"):
        parts.append(f"{config.get('timestep_spacing')} spacing")
    return ", ".join(parts)


def compare_schedules(
    scheduler: Any,
    names: Sequence[str] = SCHEDULE_NAMES,
    num_inference_steps: int = 25,
    flow_shift: float | None = None,
) -> tuple[list[NoiseSchedule], dict[str, str]]:
    """The schedules to compare for a model whose scheduler is ``scheduler``.

    * ``model``: the scheduler as configured.
    * ``zero_snr``: the same config with ``rescale_betas_zero_snr=True`` (Lin et al. 2023):
      ``alphas_cumprod[-1] = 0``, so no signal at the last timestep. Not applicable to flow models
      (their path already ends at sigma = 1) or to classes without that option.
    * ``linear`` / ``scaled_linear``: the same config with that ``beta_schedule`` (flow models:
      a DDIMScheduler with SD's betas 0.00085 -> 0.012).
    * ``flow``: FlowMatchEulerDiscreteScheduler's sigma path with ``flow_shift`` (default: the
      model's own shift for flow models, else 1, plain rectified flow).

    Returns:
        The schedules in the order of ``names``, and ``{name: reason}`` for those not applicable.
    """
    from diffusers import DDIMScheduler, FlowMatchEulerDiscreteScheduler

    unknown = [n for n in names if n not in SCHEDULE_NAMES]
    if unknown or not names:
        raise ValueError(f"schedules must be a non-empty list of {SCHEDULE_NAMES}, got {names!r}")
    flow_model = _is_flow(scheduler)
    config = dict(scheduler.config)
    num_train = int(config.get("num_train_timesteps", 1000))
    schedules, skipped = [], {}
    for name in dict.fromkeys(names):  # unique, in order
        if name == "model":
            schedules.append(schedule_from_scheduler(scheduler, "model", num_inference_steps))
        elif name == "zero_snr":
            if flow_model:
                skipped[name] = "a flow-matching path already ends at sigma = 1 (zero SNR)"
                continue
            variant = _fresh(scheduler, rescale_betas_zero_snr=True)
            if not variant.config.get("rescale_betas_zero_snr"):
                skipped[name] = f"{type(scheduler).__name__} has no rescale_betas_zero_snr option"
                continue
            schedules.append(schedule_from_scheduler(variant, name, num_inference_steps))
        elif name in ("linear", "scaled_linear"):
            if flow_model:
                variant = DDIMScheduler(
                    num_train_timesteps=num_train,
                    beta_start=SD_BETAS[0],
                    beta_end=SD_BETAS[1],
                    beta_schedule=name,
                    clip_sample=False,
                    set_alpha_to_one=False,
                    steps_offset=1,
                    timestep_spacing="linspace",
                )
            else:
                drop = {"trained_betas": None} if "trained_betas" in config else {}
                variant = _fresh(scheduler, beta_schedule=name, **drop)
            schedules.append(schedule_from_scheduler(variant, name, num_inference_steps))
        else:  # flow
            shift = (
                flow_shift
                if flow_shift is not None
                else (_flow_shift(config) if flow_model else 1.0)
            )
            if not shift > 0:
                raise ValueError(f"flow_shift must be > 0, got {shift!r}")
            variant = FlowMatchEulerDiscreteScheduler(num_train_timesteps=num_train, shift=shift)
            schedules.append(schedule_from_scheduler(variant, name, num_inference_steps))
    return schedules, skipped


# --------------------------------------------------------------------------- tables


def default_timesteps(num_train_timesteps: int = 1000, count: int = 50) -> list[int]:
    """``count`` training timesteps spread evenly over ``[0, T - 1]``, both ends included."""
    check_int("num_train_timesteps", num_train_timesteps)
    check_int("count", count)
    grid = np.round(np.linspace(0, num_train_timesteps - 1, min(count, num_train_timesteps)))
    return sorted({int(t) for t in grid})


def _band_columns(num_bands: int, bins: np.ndarray) -> dict[str, np.ndarray]:
    edges = band_edges(num_bands)
    return dict(
        band=np.arange(num_bands), rho_lo=edges[:-1], rho_hi=edges[1:], bins=bins.astype(np.int64)
    )


def snr_table(
    spectrum: LatentSpectrum,
    schedules: Sequence[NoiseSchedule],
    timesteps: Sequence[int],
    num_bands: int = 8,
) -> pd.DataFrame:
    """Per-band SNR of the noisy latents for every schedule and training timestep.

    Returns:
        One row per (schedule, timestep, band): ``schedule``, ``kind``, ``timestep``, ``band``,
        ``rho_lo``, ``rho_hi``, ``bins``, ``snr_db``, ``global_snr_db`` (the schedule's
        ``10 log10(a_t / n_t)``) and ``latent_snr_db`` (all bins together).
    """
    steps = np.asarray(list(timesteps), dtype=np.int64)
    if steps.size == 0:
        raise ValueError("timesteps must not be empty")
    _, _, bins = spectrum.band_energy(num_bands)
    frames = []
    for s in schedules:
        if steps.min() < 0 or steps.max() >= s.num_train_timesteps:
            raise ValueError(
                f"timesteps must lie in [0, {s.num_train_timesteps - 1}], got {steps.tolist()}"
            )
        a, n = s.signal[steps], s.noise[steps]
        band_db = spectrum.snr_db(a, n, num_bands)
        total = spectrum.snr_db(a, n, 1)[:, 0]
        cols = _band_columns(num_bands, bins)
        frames.append(
            pd.DataFrame(
                dict(
                    schedule=s.name,
                    kind=s.kind,
                    timestep=np.repeat(steps, num_bands),
                    **{k: np.tile(v, len(steps)) for k, v in cols.items()},
                    snr_db=band_db.reshape(-1),
                    global_snr_db=np.repeat(s.global_snr_db(steps), num_bands),
                    latent_snr_db=np.repeat(total, num_bands),
                )
            )
        )
    return pd.concat(frames, ignore_index=True)


def first_step_table(
    spectrum: LatentSpectrum, schedules: Sequence[NoiseSchedule], num_bands: int = 8
) -> pd.DataFrame:
    """Per-band SNR at each schedule's first sampling step: what sampling starts from.

    Returns:
        One row per (schedule, band): ``schedule``, ``kind``, ``description``, ``timestep``
        (float), ``num_inference_steps``, ``band``, ``rho_lo``, ``rho_hi``, ``bins``, ``snr_db``,
        ``global_snr_db``.
    """
    _, _, bins = spectrum.band_energy(num_bands)
    rows = []
    for s in schedules:
        band_db = spectrum.snr_db([s.first_signal], [s.first_noise], num_bands)[0]
        with np.errstate(divide="ignore"):
            global_db = 10.0 * np.log10(s.first_signal / s.first_noise)
        rows.append(
            pd.DataFrame(
                dict(
                    schedule=s.name,
                    kind=s.kind,
                    description=s.description,
                    timestep=float(s.first_timestep),
                    num_inference_steps=s.num_inference_steps,
                    **_band_columns(num_bands, bins),
                    snr_db=band_db,
                    global_snr_db=global_db,
                )
            )
        )
    return pd.concat(rows, ignore_index=True)


def band_table(spectrum: LatentSpectrum, num_bands: int = 8) -> pd.DataFrame:
    """The schedule-independent part: each band's share of the energy and of the bins.

    ``gain_db = 10 log10(energy_share / bin_share)``, so that every ``snr_db`` of
    :func:`snr_table` is ``global_snr_db + 10 log10(mean z0^2) + gain_db``.
    """
    signal, _, bins = spectrum.band_energy(num_bands)
    energy_share = signal / signal.sum() if signal.sum() > 0 else np.full_like(signal, np.nan)
    bin_share = bins / bins.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        gain = 10.0 * np.log10(energy_share / bin_share)
    return pd.DataFrame(
        dict(
            **_band_columns(num_bands, bins),
            energy=signal,
            energy_share=energy_share,
            bin_share=bin_share,
            gain_db=gain,
        )
    )


def band_extremes(snr: pd.DataFrame, timestep: float | None = None) -> pd.DataFrame:
    """The lowest and highest (non-empty) band's SNR per schedule at ``timestep``.

    Args:
        snr: :func:`snr_table` or :func:`first_step_table` output.
        timestep: the row's timestep (default: the largest in ``snr``; ignored for a first-step
            table, which has one per schedule).

    Returns:
        One row per schedule: ``schedule``, ``timestep``, ``lowest_band_db``, ``highest_band_db``,
        ``gap_db`` (their difference).
    """
    rows = []
    nonempty = snr[snr.bins > 0]
    for name, group in nonempty.groupby("schedule", sort=False):
        if "num_inference_steps" not in group:
            t = group.timestep.max() if timestep is None else timestep
            group = group[group.timestep == t]
            if group.empty:
                raise ValueError(f"timestep {timestep} is not in the table")
        group = group.sort_values("band")
        low, high = float(group.snr_db.iloc[0]), float(group.snr_db.iloc[-1])
        with np.errstate(invalid="ignore"):
            gap = low - high if np.isfinite(low) and np.isfinite(high) else float("nan")
        rows.append(
            dict(
                schedule=name,
                timestep=float(group.timestep.iloc[0]),
                lowest_band_db=low,
                highest_band_db=high,
                gap_db=gap,
            )
        )
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- FreeInit correlation


def band_correlation(x: torch.Tensor, y: torch.Tensor, num_bands: int = 8) -> torch.Tensor:
    """Per-band correlation of two latents in the 3D frequency domain.

    ``rho_band = sum_band Re(F x · conj(F y)) / sqrt(sum_band |F x|^2 · sum_band |F y|^2)``,
    sums over the band's bins and every leading dim (batch, channels); F the 3D FFT over
    (T, h, w). By Parseval this is the (uncentred) correlation of the two band-passed signals:
    1 for ``y = c·x`` (c > 0), -1 for c < 0, about ``±1/sqrt(bins·copies)`` for independent ones.

    Args:
        x, y: ``(..., T, h, w)`` of the same shape, e.g. ``(B, C, T, h, w)``.

    Returns:
        float64 ``(num_bands,)``; NaN for an empty band or one where x or y has no energy.
    """
    for name, value in (("x", x), ("y", y)):
        if not isinstance(value, torch.Tensor) or value.dim() < 3 or not value.is_floating_point():
            raise ValueError(f"{name} must be a float tensor (..., T, h, w)")
    if x.shape != y.shape:
        raise ValueError(f"y must have the shape of x {tuple(x.shape)}, got {tuple(y.shape)}")
    grid = tuple(x.shape[-3:])
    fx = torch.fft.fftn(x.detach().to(torch.float64), dim=_FFT_DIMS)
    fy = torch.fft.fftn(y.detach().to(torch.float64), dim=_FFT_DIMS)
    fx, fy = torch.fft.fftshift(fx, dim=_FFT_DIMS), torch.fft.fftshift(fy, dim=_FFT_DIMS)
    cross = (fx * fy.conj()).real.reshape(-1, *grid).sum(0).flatten().cpu()
    ex = fx.abs().square().reshape(-1, *grid).sum(0).flatten().cpu()
    ey = fy.abs().square().reshape(-1, *grid).sum(0).flatten().cpu()
    band = frequency_band_index(grid, num_bands).flatten()
    sums = [torch.bincount(band, weights=v, minlength=num_bands) for v in (cross, ex, ey)]
    return sums[0] / (sums[1] * sums[2]).sqrt()


def freeinit_band_correlation(result: Any, num_bands: int = 8, seed: int = 0) -> pd.DataFrame:
    """What FreeInit's refined initial latents carry in each band, pass by pass.

    For every pass ``k`` of a :class:`freqlab.freeinit.FreeInitResult`, the
    :func:`band_correlation` of its initial latent ``z_T^(k)`` (``result.pass_inputs[k]``; pass 0
    starts from plain Gaussian noise) with the clean latents: ``own`` (``latents[k]``, what the
    pass produced), ``previous`` (``latents[k - 1]``, whose low frequencies the refinement keeps)
    and ``final`` (``latents[-1]``). Pass ``-1`` is the reference: independent Gaussian noise of
    the same shape against ``final``, i.e. correlation by chance. Its generator is seeded with a
    hash of ``seed``, so it never replays the sampler's noise (which a plain ``manual_seed(seed)``
    would, for the video sampled with that seed).

    ``implied_snr_db = 10 log10(rho^2 / (1 - rho^2))`` is the band SNR that ``z_T`` would have
    if it were the target plus independent noise; compare it with :func:`snr_table`.
    ``chance = 1 / sqrt(bins · copies)`` is the standard deviation of ``rho`` between independent
    latents: bands with few bins (band 0 of a small grid holds DC alone) are noisy.

    Returns:
        One row per (pass, target, band): ``pass``, ``input``, ``target``, ``band``, ``rho_lo``,
        ``rho_hi``, ``bins``, ``correlation``, ``implied_snr_db``, ``chance``.
    """
    latents, inputs = list(result.latents), list(result.pass_inputs)
    if not latents or len(inputs) != len(latents):
        raise ValueError("result must have one pass_inputs entry per latents entry")
    grid = tuple(latents[0].shape[-3:])
    bins = torch.bincount(frequency_band_index(grid, num_bands).flatten(), minlength=num_bands)
    cols = _band_columns(num_bands, bins.numpy())
    copies = latents[0].numel() // math.prod(grid)
    with np.errstate(divide="ignore"):
        chance = 1.0 / np.sqrt(bins.numpy().astype(np.float64) * copies)
    check_int("seed", seed, 0)
    digest = hashlib.blake2b(f"freqlab.snr.reference:{int(seed)}".encode(), digest_size=8)
    generator = torch.Generator().manual_seed(int.from_bytes(digest.digest(), "little") >> 1)
    reference = torch.randn(inputs[0].shape, generator=generator, dtype=torch.float32)
    pairs: list[tuple[int, str, str, torch.Tensor, torch.Tensor]] = []
    for k, z_t in enumerate(inputs):
        source = "initial noise" if k == 0 else "refined"
        pairs.append((k, source, "own", z_t, latents[k]))
        if k > 0:
            pairs.append((k, source, "previous", z_t, latents[k - 1]))
        pairs.append((k, source, "final", z_t, latents[-1]))
    pairs.append((-1, "independent noise", "final", reference, latents[-1].cpu()))
    frames = []
    for k, source, target, x, y in pairs:
        rho = band_correlation(x.float().cpu(), y.float().cpu(), num_bands).numpy()
        with np.errstate(divide="ignore", invalid="ignore"):
            implied = 10.0 * np.log10(rho**2 / (1.0 - rho**2))
        frames.append(
            pd.DataFrame(
                dict(
                    **{"pass": k, "input": source, "target": target},
                    **cols,
                    correlation=rho,
                    implied_snr_db=implied,
                    chance=chance,
                )
            )
        )
    return pd.concat(frames, ignore_index=True)


# --------------------------------------------------------------------------- figures


def _pyplot() -> Any:
    # matplotlib picks a headless backend by itself where there is no display, and the inline one
    # in notebooks; forcing Agg here would break the latter.
    import matplotlib.pyplot as plt

    return plt


def _edges(centres: np.ndarray) -> np.ndarray:
    """Cell edges around sorted ``centres`` (midpoints; half a gap beyond the ends)."""
    if len(centres) == 1:
        return np.array([centres[0] - 0.5, centres[0] + 0.5])
    mids = (centres[1:] + centres[:-1]) / 2
    return np.concatenate([[2 * centres[0] - mids[0]], mids, [2 * centres[-1] - mids[-1]]])


DEFAULT_FLOOR_DB = -100.0


def snr_floor_db(*tables: pd.DataFrame, margin: float = 10.0) -> float:
    """Where figures draw ``-inf`` dB (no signal): :data:`DEFAULT_FLOOR_DB`, or lower when a
    finite ``snr_db`` of any of ``tables`` comes within ``margin`` dB of it (rounded down to 10 dB).

    Pass every table a set of figures shows, so that they all draw ``-inf`` at the same level.
    """
    values = np.concatenate([t.snr_db.to_numpy(dtype=np.float64) for t in tables] or [[]])
    finite = values[np.isfinite(values)]
    lowest = float(finite.min()) if finite.size else 0.0
    return min(DEFAULT_FLOOR_DB, 10.0 * math.floor((lowest - margin) / 10.0))


def _floor_label(floor: float) -> str:
    return f"≤ {floor:.0f} dB (-inf: no signal)"


def _caption(fig: Any, text: str) -> None:
    """A wrapped caption under the figure (saved with ``bbox_inches="tight"``)."""
    fig.text(0.01, -0.02, text, ha="left", va="top", wrap=True, fontsize=8.5)


def plot_snr_heatmap(snr: pd.DataFrame, floor_db: float | None = None) -> Any:
    """Band x timestep heatmaps of ``snr_db``, one panel per schedule, shared colour scale.

    Red is above 0 dB (signal dominates), blue below; the black line is the 0 dB contour, where
    the band's signal and noise have equal power. ``-inf`` (no signal) is drawn at ``floor_db``
    (default: :func:`snr_floor_db` of ``snr``), the bottom of the colour bar, labelled as such.

    Returns:
        A matplotlib Figure.
    """
    from matplotlib.colors import TwoSlopeNorm
    from matplotlib.lines import Line2D

    plt = _pyplot()
    names = list(dict.fromkeys(snr.schedule))
    values = snr.snr_db.to_numpy(dtype=np.float64)
    floor = snr_floor_db(snr) if floor_db is None else float(floor_db)
    finite = values[np.isfinite(values)]
    top = float(finite.max()) if finite.size else 1.0
    vmin, vmax = min(floor, -1.0), max(top, 1.0)
    norm = TwoSlopeNorm(vmin=vmin, vcenter=0.0, vmax=vmax)
    fig, axes = plt.subplots(
        1, len(names), figsize=(3.6 * len(names) + 1.0, 3.6), squeeze=False, sharey=True
    )
    mesh = None
    contour = False
    for ax, name in zip(axes[0], names, strict=True):
        table = snr[snr.schedule == name].pivot(index="band", columns="timestep", values="snr_db")
        grid = table.to_numpy(dtype=np.float64)
        grid = np.where(np.isneginf(grid), floor, grid)
        steps = table.columns.to_numpy(dtype=np.float64)
        yedges = _edges(table.index.to_numpy(dtype=np.float64))
        mesh = ax.pcolormesh(
            _edges(steps), yedges, np.clip(grid, vmin, vmax), cmap="RdBu_r", norm=norm
        )
        if np.nanmin(grid) < 0 < np.nanmax(grid) and len(steps) > 1:
            ax.contour(steps, table.index, grid, levels=[0.0], colors="k", linewidths=1.0)
            contour = True
        kind = snr[snr.schedule == name].kind.iloc[0]
        ax.set_title(f"{name} ({kind})")
        ax.set_xlabel("timestep t")
    axes[0][0].set_ylabel("frequency band (0 = lowest)")
    bar = fig.colorbar(mesh, ax=list(axes[0]), extend="min")
    bar.set_label("SNR of z_t in the band (dB)")
    bar.set_ticks(sorted({*bar.get_ticks(), floor}))
    bar.ax.set_ylim(vmin, vmax)
    labels = [_floor_label(floor) if t == floor else f"{t:g}" for t in bar.get_ticks()]
    bar.set_ticklabels(labels)
    if contour:
        axes[0][-1].legend(
            [Line2D([], [], color="k", lw=1.0)],
            ["0 dB: signal = noise"],
            loc="upper right",
            fontsize="small",
        )
    _caption(
        fig,
        "Per-band SNR of the noised latent z_t = √a_t z_0 + √(1-a_t) ε. Black line: the 0 dB "
        "contour, where a band's signal and noise have equal power; to its left (smaller t) the "
        "signal dominates. Low bands stay above it up to large t: the low-frequency signal that "
        f"training leaves in z_T and sampling does not. The darkest blue, {_floor_label(floor)}, "
        "includes -inf: timesteps with no signal at all (zero terminal SNR, σ = 1).",
    )
    return fig


def _same_curves(first: pd.DataFrame) -> list[list[str]]:
    """Schedules grouped by equal first-step SNR curves (e.g. the model's own = ``linear``)."""
    groups: list[tuple[np.ndarray, list[str]]] = []
    for name, group in first.groupby("schedule", sort=False):
        y = group[group.bins > 0].sort_values("band").snr_db.to_numpy(dtype=np.float64)
        for curve, names in groups:
            if curve.shape == y.shape and np.allclose(curve, y, rtol=0, atol=1e-9, equal_nan=True):
                names.append(name)
                break
        else:
            groups.append((y, [name]))
    return [names for _, names in groups]


def plot_first_step(first: pd.DataFrame, floor_db: float | None = None) -> Any:
    """SNR against band at each schedule's first sampling timestep; 0 dB dashed.

    Bands above the dashed line start sampling with more signal than noise: the low-frequency
    leak FreeInit exploits. A schedule with no signal (``-inf``) is drawn dotted at ``floor_db``
    (default: :func:`snr_floor_db` of ``first``), whose tick says so. Schedules with equal curves are
    drawn once and named together (``model = linear``), so none hides behind another.

    Returns:
        A matplotlib Figure.
    """
    plt = _pyplot()
    floor = snr_floor_db(first) if floor_db is None else float(floor_db)
    fig, ax = plt.subplots(figsize=(6.8, 4.4))
    markers = "osD^vP*X"
    by_name = {name: g for name, g in first.groupby("schedule", sort=False)}
    for i, names in enumerate(_same_curves(first)):
        group = by_name[names[0]]
        group = group[group.bins > 0].sort_values("band")
        y = group.snr_db.to_numpy(dtype=np.float64)
        label = " = ".join(
            f"{n} (t={by_name[n].timestep.iloc[0]:g} of {by_name[n].num_inference_steps.iloc[0]})"
            for n in names
        )
        style = dict(marker=markers[i % len(markers)], markersize=6)
        if np.isneginf(y).all():
            ax.plot(group.band, np.full_like(y, floor), ":", label=f"{label}: -inf", **style)
        else:
            ax.plot(group.band, np.where(np.isneginf(y), floor, y), label=label, **style)
    ax.axhline(0.0, color="k", linestyle="--", linewidth=1.0, label="0 dB: signal = noise")
    ticks = [t for t in ax.get_yticks() if t > floor + 5] + [floor]
    ax.set_yticks(ticks)
    ax.set_yticklabels([_floor_label(floor) if t == floor else f"{t:g}" for t in ticks])
    ax.set_ylim(floor - 5, None)
    ax.set_xlabel("frequency band (0 = lowest)")
    ax.set_ylabel("SNR of z_t (dB)")
    ax.set_title("SNR by band at the first sampling timestep (t of inference steps)")
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def plot_band_correlation(corr: pd.DataFrame) -> Any:
    """Per-band correlation of each FreeInit pass's initial latent with the clean latents; one
    panel per target (own / previous / final), the independent-noise reference (against the
    final latent) dashed grey in every panel and the chance level shaded.

    Band 0 is marked: on a small grid it holds DC alone (one bin per channel and video), so its
    correlations are as noisy as the wide chance band there says. A caption explains pass 0's
    high-band correlation with its own output: with a deterministic sampler (DDIM, eta = 0) the
    output is a function of the initial noise, and in bands where the model adds little structure
    it keeps a scaled copy of that noise (measured on the testbed: band 7, 0.85 with eta = 0,
    0.22 with eta = 1, chance ±0.13).

    Returns:
        A matplotlib Figure.
    """
    plt = _pyplot()
    targets = [t for t in ("own", "previous", "final") if t in set(corr.target)]
    fig, axes = plt.subplots(
        1, len(targets), figsize=(4.4 * len(targets), 3.8), squeeze=False, sharey=True
    )
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    reference = corr[(corr["pass"] < 0) & (corr.bins > 0)].sort_values("band")
    bins0 = int(corr[corr.band == 0].bins.iloc[0]) if (corr.band == 0).any() else 0
    for ax, target in zip(axes[0], targets, strict=True):
        part = corr[(corr.target == target) & (corr.bins > 0) & (corr["pass"] >= 0)]
        if bins0:
            ax.axvspan(-0.4, 0.4, color="#f3d9a4", alpha=0.5, lw=0)
        for k, group in part.groupby("pass", sort=True):
            group = group.sort_values("band")
            colour = colours[int(k) % len(colours)]  # one colour per pass in every panel
            ax.plot(group.band, group.correlation, marker="o", color=colour, label=f"pass {k}")
        if not reference.empty:
            ax.plot(
                reference.band,
                reference.correlation,
                "--",
                color="grey",
                label="independent noise vs final latent",
            )
        ax.axhline(0.0, color="k", linewidth=0.8)
        if "chance" in part:
            band = part.drop_duplicates("band").sort_values("band")
            ax.fill_between(
                band.band,
                -band.chance,
                band.chance,
                color="grey",
                alpha=0.2,
                label="chance: ±1/√(bins·copies)",
            )
        ax.set_title(f"corr(z_T of the pass, {target} clean latent)", fontsize=10)
        ax.set_xlabel("frequency band (0 = lowest)")
    axes[0][0].set_ylabel("correlation")
    handles, labels = axes[0][-1].get_legend_handles_labels()
    if bins0:
        from matplotlib.patches import Patch

        handles.append(Patch(color="#f3d9a4", alpha=0.5))
        labels.append(
            "band 0: DC alone (1 bin), noisy" if bins0 == 1 else f"band 0: {bins0} bins around DC"
        )
    axes[0][-1].legend(handles, labels, fontsize="x-small")
    fig.tight_layout()
    _caption(
        fig,
        "Pass 0 starts from plain Gaussian noise, later passes from FreeInit's refined z_T (low "
        "bands of the previous output, fresh noise above). Left: pass 0's high bands correlate "
        "with its own output because the sampler is deterministic (DDIM, eta = 0): where the "
        "model adds little structure, the video keeps a scaled copy of its initial noise "
        "(stochastic sampling, eta = 1, brings it to chance). Middle: what the refinement keeps "
        "of the previous pass (low bands). Band 0 (shaded) holds DC only: read it against its "
        "wide chance band.",
    )
    return fig


# --------------------------------------------------------------------------- results


@dataclass
class SNRResults:
    """A ``task=snr`` output directory, read back (see :data:`RESULT_FILES`)."""

    path: Path
    snr: pd.DataFrame
    first_step: pd.DataFrame
    bands: pd.DataFrame
    videos: pd.DataFrame
    correlation: pd.DataFrame | None
    summary: dict[str, Any]


def load_results(path: str | os.PathLike) -> SNRResults:
    """Read the parquet tables and ``job.json`` of a ``task=snr`` run directory.

    Raises:
        FileNotFoundError: ``path`` has no ``snr.parquet`` (not a finished snr run).
    """
    root = Path(path)
    if not (root / RESULT_FILES["snr"]).exists():
        raise FileNotFoundError(f"{root} has no {RESULT_FILES['snr']}: not a finished task=snr run")
    corr_path = root / RESULT_FILES["correlation"]
    return SNRResults(
        path=root,
        snr=pd.read_parquet(root / RESULT_FILES["snr"]),
        first_step=pd.read_parquet(root / RESULT_FILES["first_step"]),
        bands=pd.read_parquet(root / RESULT_FILES["bands"]),
        videos=pd.read_parquet(root / RESULT_FILES["videos"]),
        correlation=pd.read_parquet(corr_path) if corr_path.exists() else None,
        summary=json.loads((root / RESULT_FILES["summary"]).read_text()),
    )
