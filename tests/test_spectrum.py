"""freqlab.spectrum: band SNR against hand-computed values and snr_by_frequency, tables,
the synthetic set's spectrum, FreeInit's band correlations."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from freqlab import spectrum as fspec
from freqlab.data.shapes import shape_videos
from freqlab.models import get_model_spec
from freqlab.models.pretrained import build_scheduler
from freqlab.schedules import compare_schedules
from freqlab.spectral import snr_by_frequency
from freqlab.vae import encode_frames


def _spectrum(*batches: torch.Tensor) -> fspec.LatentSpectrum:
    spectrum = fspec.LatentSpectrum()
    for z in batches:
        spectrum.update(z)
    return spectrum


def _scheduler(model: str, **overrides):
    return build_scheduler(get_model_spec(model).scheduler, overrides)


# --------------------------------------------------------------------------- known spectra


def test_dc_plus_nyquist_matches_hand_computed_values():
    # z0 = a + b (-1)^(t+h+w) on a 2x2x2 grid: energy (8a)^2 at DC, (8b)^2 at the corner bin.
    # 3 bands over rho in [0, sqrt 3]: DC (1 bin) | one Nyquist coord, rho 1 (3 bins) |
    # rho sqrt 2 and sqrt 3 (4 bins). Noise: E|F eps|^2 = 8 per bin. With alpha_bar = 0.5:
    # band 0: 64 a^2 / 8 = 8 a^2; band 1: no signal; band 2: 64 b^2 / 32 = 2 b^2.
    a, b = 1.0, 0.5
    t, h, w = torch.meshgrid(torch.arange(2), torch.arange(2), torch.arange(2), indexing="ij")
    z0 = (a + b * (-1.0) ** (t + h + w)).double().view(1, 1, 2, 2, 2)
    got = _spectrum(z0).snr_db([0.5], [0.5], num_bands=3)[0]
    assert got[0] == pytest.approx(10 * math.log10(8.0))  # 9.031 dB
    assert got[1] == -math.inf
    assert got[2] == pytest.approx(10 * math.log10(0.5))  # -3.010 dB
    ref = snr_by_frequency(z0, torch.tensor([0.5]), [0], num_bands=3)[0].numpy()
    np.testing.assert_allclose(got, ref)


def test_plane_wave_lands_in_its_band_with_the_hand_computed_snr():
    # cos(2 pi w / 8) on a 4x8x8 grid: (A N / 2)^2 at the bins (0, 0, +-1), N = 256, whose radius
    # 2/8 = 0.25 lies in band floor(0.25 * 8 / sqrt 3) = 1 of 8.
    amp, shape, alpha = 3.0, (4, 8, 8), 0.001579
    n = math.prod(shape)
    wave = amp * torch.cos(2 * math.pi * torch.arange(8) / 8).double()
    z0 = wave.expand(*shape).reshape(1, 1, *shape)
    # Bins per band, counted bin by bin (independently of frequency_band_index).
    coords = [[2 * i / s - 1 for i in range(s)] for s in shape]
    bins1 = sum(
        1
        for ct in coords[0]
        for ch in coords[1]
        for cw in coords[2]
        if math.floor(math.sqrt(ct * ct + ch * ch + cw * cw) * 8 / math.sqrt(3)) == 1
    )
    expected = 10 * math.log10(alpha * 2 * (amp * n / 2) ** 2 / ((1 - alpha) * bins1 * n))
    got = _spectrum(z0).snr_db([alpha], [1 - alpha], num_bands=8)[0]
    assert got[1] == pytest.approx(expected)
    assert (np.delete(got, 1) < expected - 100).all()  # only float round-off elsewhere


def test_streamed_spectrum_equals_snr_by_frequency_on_the_stacked_latents():
    gen = torch.Generator().manual_seed(0)
    batches = [torch.randn(b, 4, 4, 6, 6, generator=gen).cumsum(-1) for b in (2, 3, 1)]
    spectrum = _spectrum(*batches)
    stacked = torch.cat(batches)
    sched = _scheduler("tiny_animatediff")
    steps = [0, 250, 999]
    alphas = sched.alphas_cumprod.double().numpy()[steps]
    np.testing.assert_allclose(
        spectrum.snr_db(alphas, 1 - alphas, 5),
        snr_by_frequency(stacked, sched.alphas_cumprod, steps, 5).numpy(),
        rtol=1e-12,
    )
    sigmas = torch.tensor([0.1, 0.5, 0.96])
    np.testing.assert_allclose(
        spectrum.snr_db((1 - sigmas.double()) ** 2, sigmas.double() ** 2, 5),
        snr_by_frequency(stacked, None, None, 5, sigmas=sigmas).numpy(),
        rtol=1e-6,
    )
    assert spectrum.videos == 6 and spectrum.copies == 24
    assert spectrum.std == pytest.approx(float(stacked.double().std(unbiased=False)), rel=1e-9)
    half = spectrum.rescaled(0.5)
    np.testing.assert_allclose(
        half.snr_db([0.5], [0.5], 5), spectrum.snr_db([0.5], [0.5], 5) - 20 * math.log10(2)
    )


def test_band_snr_is_schedule_plus_power_plus_gain():
    z0 = torch.randn(2, 4, 4, 8, 8, generator=torch.Generator().manual_seed(1)).cumsum(-2)
    spectrum = _spectrum(z0)
    schedules, _ = compare_schedules(_scheduler("tiny_animatediff"), ["model"], 10)
    table = fspec.snr_table(spectrum, schedules, [0, 500, 999], 6)
    gain = fspec.band_table(spectrum, 6).set_index("band").gain_db
    rebuilt = table.global_snr_db + 10 * math.log10(spectrum.power) + gain[table.band].to_numpy()
    np.testing.assert_allclose(table.snr_db, rebuilt, atol=1e-9)
    assert fspec.band_table(spectrum, 6).energy_share.sum() == pytest.approx(1.0)


def test_zero_terminal_snr_and_flow_give_minus_inf_at_the_last_timestep():
    schedules, _ = compare_schedules(
        _scheduler("tiny_animatediff"), ["zero_snr", "flow"], num_inference_steps=10
    )
    z0 = torch.randn(1, 4, 4, 8, 8, generator=torch.Generator().manual_seed(2))
    table = fspec.snr_table(_spectrum(z0), schedules, [0, 998, 999], 8)
    last = table[(table.timestep == 999) & (table.bins > 0)]
    assert np.isneginf(last.snr_db).all() and np.isneginf(last.global_snr_db).all()
    assert np.isfinite(table[table.timestep == 998].snr_db).all()
    first = fspec.first_step_table(_spectrum(z0), schedules, 8)
    assert np.isneginf(first[first.bins > 0].snr_db).all()  # both start sampling at zero signal


# --------------------------------------------------------------------------- the synthetic set


def test_shapes_put_low_bands_above_high_bands(tiny_animatediff):
    pipe = tiny_animatediff
    videos = shape_videos(4, 8, 32, 32, seed=0)
    # (T, 3, H, W) frames -> (1, 3, T, H, W): the FFT runs over (T, H, W).
    pixels = _spectrum(
        *(v.float().div(255).permute(1, 0, 2, 3)[None] for v in shape_videos(4, 8, 32, 32))
    )
    latents = _spectrum(*encode_frames(pipe.vae, videos, batch_size=2, progress=False))
    schedules, _ = compare_schedules(pipe.scheduler, num_inference_steps=10)
    for spectrum in (pixels, latents):
        table = fspec.snr_table(spectrum, schedules[:1], fspec.default_timesteps(1000, 10), 8)
        grid = table[table.bins > 0].pivot(index="timestep", columns="band", values="snr_db")
        assert (grid[0] > grid[grid.columns[-1]] + 10).all()  # >10 dB apart at every t
        assert (grid[[0, 1]].mean(axis=1) > grid[grid.columns[-2:]].mean(axis=1)).all()


# --------------------------------------------------------------------------- correlation


def test_band_correlation_definition():
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(2, 4, 8, 16, 16, generator=gen)
    np.testing.assert_allclose(fspec.band_correlation(x, 3 * x, 4).numpy(), 1.0)
    np.testing.assert_allclose(fspec.band_correlation(x, -x, 4).numpy(), -1.0)
    independent = fspec.band_correlation(x, torch.randn(x.shape, generator=gen), 4)
    assert independent[1:].abs().max() < 0.1  # chance level ~ 1/sqrt(bins * copies)
    # Mixing: y = x + noise of equal power in every band -> rho = 1/sqrt(2).
    mixed = fspec.band_correlation(x, x + torch.randn(x.shape, generator=gen), 4)
    np.testing.assert_allclose(mixed[1:].numpy(), 1 / math.sqrt(2), atol=0.05)
    with pytest.raises(ValueError, match="shape"):
        fspec.band_correlation(x, x[:1], 4)


def test_freeinit_band_correlation_pairs_each_pass_with_its_targets():
    gen = torch.Generator().manual_seed(4)
    z = [torch.randn(1, 4, 4, 8, 8, generator=gen) for _ in range(3)]
    # Pass 0 returns its input; pass 1 starts from pass 0's result; pass 2 returns its input.
    result = SimpleNamespace(latents=[z[0], z[1], z[2]], pass_inputs=[z[0], z[0], z[2]])
    frame = fspec.freeinit_band_correlation(result, num_bands=4)
    rho = frame.set_index(["pass", "target", "band"]).sort_index().correlation
    assert len(frame) == 4 * (2 + 3 + 3 + 1)
    np.testing.assert_allclose(rho.loc[(1, "previous")].dropna(), 1.0)
    np.testing.assert_allclose(rho.loc[(0, "own")].dropna(), 1.0)
    assert rho.loc[(1, "own")].abs().max() < 0.5  # independent draws
    # The reference never replays a sampler's noise: torch.randn with manual_seed(0) here.
    seeded = SimpleNamespace(
        latents=[torch.randn(2, 4, 4, 8, 8, generator=torch.Generator().manual_seed(0))],
        pass_inputs=[torch.zeros(2, 4, 4, 8, 8)],
    )
    reference = fspec.freeinit_band_correlation(seeded, num_bands=4, seed=0)
    assert reference[reference["pass"] == -1].correlation.abs().max() < 0.9  # 1 if replayed
    np.testing.assert_allclose(rho.loc[(2, "own")].dropna(), 1.0)
    np.testing.assert_allclose(rho.loc[(2, "final")].dropna(), 1.0)
    assert set(frame[frame["pass"] == -1].input) == {"independent noise"}
    np.testing.assert_allclose(frame.chance, 1 / np.sqrt(frame.bins * 4))  # 1 video x 4 channels
    assert (frame.correlation.dropna().abs() <= 1 + 1e-12).all()
    assert np.isposinf(
        frame[(frame["pass"] == 1) & (frame.target == "previous")].implied_snr_db
    ).all()
