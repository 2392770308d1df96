"""The spectrum of clean latents by frequency band: SNR tables and FreeInit's band correlations.

FreeInit's training-inference gap (its Fig. 3) for any schedule and video set. The forward process
noises a clean latent ``z0`` as ``z_t = sqrt(a_t) z0 + sqrt(n_t) eps``
(:class:`freqlab.schedules.NoiseSchedule`). Per radial band of the 3D (T, H, W) spectrum, in the
expected-value form of :func:`freqlab.spectral.snr_by_frequency`::

    SNR_band(t) = 10 log10( a_t · sum_band |F z0|^2 / ( n_t · bins_band · T·H·W · copies ) )

summed over videos and channels (``copies``). It splits into three terms (all in dB)::

    SNR_band(t) = 10 log10(a_t / n_t)   the schedule ("global_snr_db")
                + 10 log10(mean z0^2)   the latents' power
                + gain_band             10 log10(band's share of the energy / its share of bins)

Natural videos put most energy in few low-frequency bins, so the low bands keep an SNR tens of dB
above the schedule's at the last training timestep, while the initial noise at inference has none:
the gap FreeInit closes. This module holds the measurement; the videos come from
:func:`freqlab.data.shapes.shape_videos` or :class:`freqlab.video.read.VideoFolder`, the latents
from :func:`freqlab.vae.encode_frames`, the schedules from :func:`freqlab.schedules.compare_schedules`,
and ``task=snr`` (:mod:`experiments.snr`, figures in :mod:`experiments.snr_plots`) runs it all:

* **spectrum**: :class:`LatentSpectrum`, the running per-bin energy, so any number of videos fits
  in memory; its band energies are :func:`freqlab.spectral.band_energy`'s, so it reproduces
  :func:`~freqlab.spectral.snr_by_frequency` on the stacked latents;
* **tables**: :func:`snr_table`, :func:`first_step_table`, :func:`band_table`,
  :func:`band_extremes` (tidy DataFrames);
* **FreeInit**: :func:`freeinit_band_correlation`, the per-band correlation of each pass's initial
  latent with the clean latents, next to independent Gaussian noise.

Zero terminal SNR: with ``alphas_cumprod[-1] = 0`` (DDIM/DDPM with ``rescale_betas_zero_snr``) or
``sigma = 1`` (flow matching) the last timestep has no signal and its SNR is ``-inf`` dB in every
band; tables keep ``-inf``. Schedulers that clamp the last ``alphas_cumprod`` to ``2**-24``
instead (Euler) give a finite floor of about -72 dB + the terms above.

Bands follow :func:`freqlab.spectral.frequency_band_index`: equal-width bins of the normalised
radius ``rho`` in ``[0, sqrt(3)]``; band 0 holds DC.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from freqlab.checks import check_int
from freqlab.schedules import NoiseSchedule
from freqlab.spectral import (
    band_energy,
    band_snr_db,
    band_sum,
    frequency_energy,
)

__all__ = [
    "LatentSpectrum",
    "band_correlation",
    "band_edges",
    "band_extremes",
    "band_table",
    "default_timesteps",
    "first_step_table",
    "freeinit_band_correlation",
    "snr_table",
]

_FFT_DIMS = (-3, -2, -1)


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
        energy = frequency_energy(z)
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
        signal, noise, bins = band_energy(self._require(), self.copies, num_bands)
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
        signal, noise, _ = band_energy(self._require(), self.copies, num_bands)
        a = torch.as_tensor(np.asarray(signal_weight, dtype=np.float64))
        n = torch.as_tensor(np.asarray(noise_weight, dtype=np.float64))
        return band_snr_db(a, n, signal, noise).numpy()


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
    # Shifting one spectrum's product is shifting both: the bins stay paired.
    cross = torch.fft.fftshift((fx * fy.conj()).real, dim=_FFT_DIMS)
    cross = cross.reshape(-1, *grid).sum(0).cpu()
    sums = [band_sum(v, num_bands) for v in (cross, frequency_energy(x), frequency_energy(y))]
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
    bins = band_sum(torch.ones(grid, dtype=torch.float64), num_bands)
    cols = _band_columns(num_bands, bins.numpy())
    copies = latents[0].numel() // math.prod(grid)
    with np.errstate(divide="ignore"):
        chance = 1.0 / np.sqrt(bins.numpy().astype(np.float64) * copies)
    check_int("seed", seed, 0)
    # The key names the module this came from (freqlab.snr): kept, so results do not change.
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
