"""freqlab.snr: band SNR against hand-computed values, schedules, synthetic videos, correlation."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from freqlab import snr as fsnr
from freqlab.models import get_model_spec
from freqlab.models.pretrained import build_scheduler
from freqlab.spectral import snr_by_frequency


def _spectrum(*batches: torch.Tensor) -> fsnr.LatentSpectrum:
    spectrum = fsnr.LatentSpectrum()
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
    schedules, _ = fsnr.compare_schedules(_scheduler("tiny_animatediff"), ["model"], 10)
    table = fsnr.snr_table(spectrum, schedules, [0, 500, 999], 6)
    gain = fsnr.band_table(spectrum, 6).set_index("band").gain_db
    rebuilt = table.global_snr_db + 10 * math.log10(spectrum.power) + gain[table.band].to_numpy()
    np.testing.assert_allclose(table.snr_db, rebuilt, atol=1e-9)
    assert fsnr.band_table(spectrum, 6).energy_share.sum() == pytest.approx(1.0)


# --------------------------------------------------------------------------- schedules


def test_schedules_of_an_animatediff_model():
    schedules, skipped = fsnr.compare_schedules(
        _scheduler("tiny_animatediff"), num_inference_steps=10
    )
    assert skipped == {}
    by = {s.name: s for s in schedules}
    assert list(by) == list(fsnr.SCHEDULE_NAMES)
    # methods.md 1.1 / ecosystem.md 2.4: linear alpha_bar_999 = 0.001579 (-28.0 dB), scaled_linear
    # 0.004660 (-23.3 dB).
    assert by["model"].signal[999] == pytest.approx(0.001579, abs=1e-6)
    assert by["model"].global_snr_db([999])[0] == pytest.approx(-28.0, abs=0.05)
    assert by["scaled_linear"].signal[999] == pytest.approx(0.004660, abs=1e-6)
    assert by["scaled_linear"].global_snr_db([999])[0] == pytest.approx(-23.3, abs=0.05)
    np.testing.assert_array_equal(by["linear"].signal, by["model"].signal)
    assert all(s.first_timestep == 999 for s in schedules if s.kind == "ddpm")  # linspace


def test_zero_terminal_snr_and_flow_give_minus_inf_at_the_last_timestep():
    schedules, _ = fsnr.compare_schedules(
        _scheduler("tiny_animatediff"), ["zero_snr", "flow"], num_inference_steps=10
    )
    z0 = torch.randn(1, 4, 4, 8, 8, generator=torch.Generator().manual_seed(2))
    table = fsnr.snr_table(_spectrum(z0), schedules, [0, 998, 999], 8)
    last = table[(table.timestep == 999) & (table.bins > 0)]
    assert np.isneginf(last.snr_db).all() and np.isneginf(last.global_snr_db).all()
    assert np.isfinite(table[table.timestep == 998].snr_db).all()
    first = fsnr.first_step_table(_spectrum(z0), schedules, 8)
    assert np.isneginf(first[first.bins > 0].snr_db).all()  # both start sampling at zero signal


def test_euler_zero_snr_keeps_the_documented_floor():
    # EulerDiscreteScheduler clamps the last alpha_bar to 2**-24 instead of 0: a finite floor.
    euler = _scheduler("animatediff", _class_name="EulerDiscreteScheduler")
    schedules, _ = fsnr.compare_schedules(euler, ["zero_snr"], num_inference_steps=10)
    floor = 10 * math.log10(2**-24 / (1 - 2**-24))
    assert schedules[0].global_snr_db([999])[0] == pytest.approx(floor)  # -72.2 dB


def test_first_sampling_timestep_follows_the_spacing():
    schedules, _ = fsnr.compare_schedules(_scheduler("modelscope"), ["model", "zero_snr"], 50)
    assert [s.first_timestep for s in schedules] == [981, 981]  # "leading": 49 * 20 + 1
    assert schedules[1].first_signal > 0  # zero SNR at 999, but sampling starts at 981


def test_videocrafter_data_scale_enters_the_signal():
    (model,), _ = fsnr.compare_schedules(_scheduler("videocrafter2"), ["model"], 50)
    alphas = _scheduler("videocrafter2").alphas_cumprod.double().numpy()
    assert model.signal[999] == pytest.approx(alphas[999] * 0.7**2)
    assert model.signal[0] == pytest.approx(alphas[0])


def test_flow_schedules():
    from diffusers import FlowMatchEulerDiscreteScheduler

    wan = _scheduler("wan21_t2v_1_3b")  # UniPC with flow sigmas, shift 3
    schedules, skipped = fsnr.compare_schedules(wan, num_inference_steps=50)
    assert "zero_snr" in skipped and [s.name for s in schedules] == [
        "model",
        "linear",
        "scaled_linear",
        "flow",
    ]
    by = {s.name: s for s in schedules}
    assert by["model"].kind == by["flow"].kind == "flow"
    assert by["linear"].kind == "ddpm"
    reference = FlowMatchEulerDiscreteScheduler(shift=3.0).sigmas.double().numpy()[::-1]
    np.testing.assert_allclose(np.sqrt(by["flow"].noise), reference, rtol=1e-6)  # model's shift
    assert 0.99 < math.sqrt(by["model"].first_noise) <= 1.0
    (plain,), _ = fsnr.compare_schedules(wan, ["flow"], 50, flow_shift=1.0)
    assert math.sqrt(plain.noise[499]) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="schedules"):
        fsnr.compare_schedules(wan, ["cosine"])


# --------------------------------------------------------------------------- synthetic videos


def test_synthetic_videos_are_deterministic_and_move():
    videos = list(fsnr.synthetic_videos(3, 6, 24, 32, seed=5))
    assert all(v.shape == (6, 3, 24, 32) and v.dtype == torch.uint8 for v in videos)
    again = list(fsnr.synthetic_videos(2, 6, 24, 32, seed=5))
    assert all(a.equal(b) for a, b in zip(videos, again, strict=False))  # independent of count
    assert not videos[0].equal(videos[1])
    assert not videos[0].equal(next(fsnr.synthetic_videos(1, 6, 24, 32, seed=6)))
    assert all((v[1:].float() - v[:-1].float()).abs().mean() > 0.1 for v in videos)  # motion


def test_synthetic_set_puts_low_bands_above_high_bands(tiny_animatediff):
    pipe = tiny_animatediff
    videos = fsnr.synthetic_videos(4, 8, 32, 32, seed=0)
    # (T, 3, H, W) frames -> (1, 3, T, H, W): the FFT runs over (T, H, W).
    pixels = _spectrum(
        *(v.float().div(255).permute(1, 0, 2, 3)[None] for v in fsnr.synthetic_videos(4, 8, 32, 32))
    )
    latents = _spectrum(*fsnr.encode_videos(pipe.vae, videos, batch_size=2, progress=False))
    schedules, _ = fsnr.compare_schedules(pipe.scheduler, num_inference_steps=10)
    for spectrum in (pixels, latents):
        table = fsnr.snr_table(spectrum, schedules[:1], fsnr.default_timesteps(1000, 10), 8)
        grid = table[table.bins > 0].pivot(index="timestep", columns="band", values="snr_db")
        assert (grid[0] > grid[grid.columns[-1]] + 10).all()  # >10 dB apart at every t
        assert (grid[[0, 1]].mean(axis=1) > grid[grid.columns[-2:]].mean(axis=1)).all()


def test_encode_videos_batches_and_inputs_do_not_change_latents(tiny_animatediff):
    vae = tiny_animatediff.vae
    videos = list(fsnr.synthetic_videos(3, 4, 16, 16, seed=1))
    batched = list(fsnr.encode_videos(vae, videos, batch_size=2, chunk_size=3, progress=False))
    assert [z.shape for z in batched] == [(2, 4, 4, 4, 4), (1, 4, 4, 4, 4)]
    single = torch.cat(list(fsnr.encode_videos(vae, videos, batch_size=1, progress=False)))
    torch.testing.assert_close(torch.cat(batched), single, atol=1e-5, rtol=1e-5)
    floats = [v.float() / 255 for v in videos]
    from_float = torch.cat(list(fsnr.encode_videos(vae, floats, batch_size=3, progress=False)))
    torch.testing.assert_close(from_float, single, atol=1e-5, rtol=1e-5)
    expected = (
        vae.encode(videos[0].float() / 127.5 - 1).latent_dist.mean * vae.config.scaling_factor
    )
    torch.testing.assert_close(single[0], expected.permute(1, 0, 2, 3), atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="vae"):
        next(fsnr.encode_videos(torch.nn.Linear(2, 2), videos))


# --------------------------------------------------------------------------- correlation


def test_band_correlation_definition():
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(2, 4, 8, 16, 16, generator=gen)
    np.testing.assert_allclose(fsnr.band_correlation(x, 3 * x, 4).numpy(), 1.0)
    np.testing.assert_allclose(fsnr.band_correlation(x, -x, 4).numpy(), -1.0)
    independent = fsnr.band_correlation(x, torch.randn(x.shape, generator=gen), 4)
    assert independent[1:].abs().max() < 0.1  # chance level ~ 1/sqrt(bins * copies)
    # Mixing: y = x + noise of equal power in every band -> rho = 1/sqrt(2).
    mixed = fsnr.band_correlation(x, x + torch.randn(x.shape, generator=gen), 4)
    np.testing.assert_allclose(mixed[1:].numpy(), 1 / math.sqrt(2), atol=0.05)
    with pytest.raises(ValueError, match="shape"):
        fsnr.band_correlation(x, x[:1], 4)


def test_freeinit_band_correlation_pairs_each_pass_with_its_targets():
    gen = torch.Generator().manual_seed(4)
    z = [torch.randn(1, 4, 4, 8, 8, generator=gen) for _ in range(3)]
    # Pass 0 returns its input; pass 1 starts from pass 0's result; pass 2 returns its input.
    result = SimpleNamespace(latents=[z[0], z[1], z[2]], pass_inputs=[z[0], z[0], z[2]])
    frame = fsnr.freeinit_band_correlation(result, num_bands=4)
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
    reference = fsnr.freeinit_band_correlation(seeded, num_bands=4, seed=0)
    assert reference[reference["pass"] == -1].correlation.abs().max() < 0.9  # 1 if replayed
    np.testing.assert_allclose(rho.loc[(2, "own")].dropna(), 1.0)
    np.testing.assert_allclose(rho.loc[(2, "final")].dropna(), 1.0)
    assert set(frame[frame["pass"] == -1].input) == {"independent noise"}
    np.testing.assert_allclose(frame.chance, 1 / np.sqrt(frame.bins * 4))  # 1 video x 4 channels
    assert (frame.correlation.dropna().abs() <= 1 + 1e-12).all()
    assert np.isposinf(
        frame[(frame["pass"] == 1) & (frame.target == "previous")].implied_snr_db
    ).all()


# --------------------------------------------------------------------------- figures


def test_figures_mark_zero_db_and_survive_minus_inf(tmp_path):
    z0 = torch.randn(1, 4, 4, 8, 8, generator=torch.Generator().manual_seed(5)).cumsum(-1)
    schedules, _ = fsnr.compare_schedules(_scheduler("tiny_animatediff"), num_inference_steps=10)
    spectrum = _spectrum(z0)
    heat = fsnr.plot_snr_heatmap(fsnr.snr_table(spectrum, schedules, [0, 500, 999], 4))
    assert len(heat.axes) == len(schedules) + 1  # + colour bar
    line = fsnr.plot_first_step(fsnr.first_step_table(spectrum, schedules, 4))
    zero = [ln for ln in line.axes[0].lines if ln.get_linestyle() == "--"]
    assert len(zero) == 1 and set(zero[0].get_ydata()) == {0.0}
    line.savefig(tmp_path / "first.png")


def _tables():
    z0 = torch.randn(1, 4, 4, 8, 8, generator=torch.Generator().manual_seed(5)).cumsum(-1)
    # tiny_animatediff's own schedule is `linear`: model and linear give equal curves
    schedules, _ = fsnr.compare_schedules(_scheduler("tiny_animatediff"), num_inference_steps=10)
    spectrum = _spectrum(z0)
    snr = fsnr.snr_table(spectrum, schedules, [0, 500, 999], 4)
    return snr, fsnr.first_step_table(spectrum, schedules, 4)


def test_minus_inf_is_drawn_at_one_labelled_floor_in_both_figures():
    snr, first = _tables()
    assert np.isneginf(snr.snr_db).any() and np.isneginf(first.snr_db).any()
    floor = fsnr.snr_floor_db(snr, first)
    finite = np.concatenate([t.snr_db[np.isfinite(t.snr_db)] for t in (snr, first)])
    assert floor <= fsnr.DEFAULT_FLOOR_DB and floor <= finite.min() - 10
    # the defaults agree too: each table alone gives the same floor here
    assert fsnr.snr_floor_db(snr) == fsnr.snr_floor_db(first) == floor
    heat = fsnr.plot_snr_heatmap(snr, floor)
    bar = heat.axes[-1]
    labels = [t.get_text() for t in bar.get_yticklabels()]
    assert f"≤ {floor:.0f} dB (-inf: no signal)" in labels
    line = fsnr.plot_first_step(first, floor)
    ax = line.axes[0]
    minus_inf = [ln for ln in ax.lines if ln.get_linestyle() == ":"]
    assert minus_inf and all(set(ln.get_ydata()) == {floor} for ln in minus_inf)
    assert f"≤ {floor:.0f} dB (-inf: no signal)" in [t.get_text() for t in ax.get_yticklabels()]


def test_equal_schedules_are_named_together_not_hidden():
    _, first = _tables()
    groups = fsnr._same_curves(first)
    assert ["model", "linear"] in groups  # tiny_animatediff's schedule is linear
    labels = fsnr.plot_first_step(first).axes[0].get_legend_handles_labels()[1]
    assert any(lb.startswith("model (t=") and " = linear (t=" in lb for lb in labels)
    assert not any(lb.startswith("linear") for lb in labels)  # one line for both


def test_heatmap_explains_its_black_line():
    snr, _ = _tables()
    fig = fsnr.plot_snr_heatmap(snr)
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
    assert [t.get_text() for t in legends[0].get_texts()] == ["0 dB: signal = noise"]
    caption = " ".join(t.get_text() for t in fig.texts)
    assert "Black line: the 0 dB contour" in caption and "-inf" in caption


def test_correlation_figure_marks_band_0_and_shows_the_reference_everywhere():
    z = [torch.randn(2, 4, 4, 8, 8, generator=torch.Generator().manual_seed(i)) for i in range(3)]
    result = SimpleNamespace(latents=z, pass_inputs=[z[2], z[0], z[1]])
    corr = fsnr.freeinit_band_correlation(result, num_bands=8, seed=0)
    assert corr[corr.band == 0].bins.iloc[0] == 1  # DC alone
    fig = fsnr.plot_band_correlation(corr)
    panels = fig.axes
    assert len(panels) == 3
    reference = corr[corr["pass"] == -1].sort_values("band").correlation.to_numpy()
    for ax in panels:
        dashed = [ln for ln in ax.lines if ln.get_linestyle() == "--"]
        assert len(dashed) == 1  # the independent-noise reference, in every panel
        np.testing.assert_allclose(np.asarray(dashed[0].get_ydata(), float), reference)
    labels = panels[-1].get_legend().get_texts()
    assert any(t.get_text().startswith("band 0: DC alone (1 bin)") for t in labels)
    caption = " ".join(t.get_text() for t in fig.texts)
    assert "deterministic" in caption and "Band 0" in caption
