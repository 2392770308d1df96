"""experiments.snr_plots: the task=snr figures mark 0 dB, draw -inf at one labelled floor, name
equal schedules together and explain themselves."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import torch

from experiments import snr_plots as plots
from freqlab.models import get_model_spec
from freqlab.models.pretrained import build_scheduler
from freqlab.schedules import compare_schedules
from freqlab.spectrum import LatentSpectrum, first_step_table, freeinit_band_correlation, snr_table


def _scheduler(model: str):
    return build_scheduler(get_model_spec(model).scheduler, {})


def _spectrum(z0: torch.Tensor) -> LatentSpectrum:
    spectrum = LatentSpectrum()
    spectrum.update(z0)
    return spectrum


def test_figures_mark_zero_db_and_survive_minus_inf(tmp_path):
    z0 = torch.randn(1, 4, 4, 8, 8, generator=torch.Generator().manual_seed(5)).cumsum(-1)
    schedules, _ = compare_schedules(_scheduler("tiny_animatediff"), num_inference_steps=10)
    spectrum = _spectrum(z0)
    heat = plots.plot_snr_heatmap(snr_table(spectrum, schedules, [0, 500, 999], 4))
    assert len(heat.axes) == len(schedules) + 1  # + colour bar
    line = plots.plot_first_step(first_step_table(spectrum, schedules, 4))
    zero = [ln for ln in line.axes[0].lines if ln.get_linestyle() == "--"]
    assert len(zero) == 1 and set(zero[0].get_ydata()) == {0.0}
    line.savefig(tmp_path / "first.png")


def _tables():
    z0 = torch.randn(1, 4, 4, 8, 8, generator=torch.Generator().manual_seed(5)).cumsum(-1)
    # tiny_animatediff's own schedule is `linear`: model and linear give equal curves
    schedules, _ = compare_schedules(_scheduler("tiny_animatediff"), num_inference_steps=10)
    spectrum = _spectrum(z0)
    snr = snr_table(spectrum, schedules, [0, 500, 999], 4)
    return snr, first_step_table(spectrum, schedules, 4)


def test_minus_inf_is_drawn_at_one_labelled_floor_in_both_figures():
    snr, first = _tables()
    assert np.isneginf(snr.snr_db).any() and np.isneginf(first.snr_db).any()
    floor = plots.snr_floor_db(snr, first)
    finite = np.concatenate([t.snr_db[np.isfinite(t.snr_db)] for t in (snr, first)])
    assert floor <= plots.DEFAULT_FLOOR_DB and floor <= finite.min() - 10
    # the defaults agree too: each table alone gives the same floor here
    assert plots.snr_floor_db(snr) == plots.snr_floor_db(first) == floor
    heat = plots.plot_snr_heatmap(snr, floor)
    bar = heat.axes[-1]
    labels = [t.get_text() for t in bar.get_yticklabels()]
    assert f"≤ {floor:.0f} dB (-inf: no signal)" in labels
    line = plots.plot_first_step(first, floor)
    ax = line.axes[0]
    minus_inf = [ln for ln in ax.lines if ln.get_linestyle() == ":"]
    assert minus_inf and all(set(ln.get_ydata()) == {floor} for ln in minus_inf)
    assert f"≤ {floor:.0f} dB (-inf: no signal)" in [t.get_text() for t in ax.get_yticklabels()]


def test_equal_schedules_are_named_together_not_hidden():
    _, first = _tables()
    groups = plots._same_curves(first)
    assert ["model", "linear"] in groups  # tiny_animatediff's schedule is linear
    labels = plots.plot_first_step(first).axes[0].get_legend_handles_labels()[1]
    assert any(lb.startswith("model (t=") and " = linear (t=" in lb for lb in labels)
    assert not any(lb.startswith("linear") for lb in labels)  # one line for both


def test_heatmap_explains_its_black_line():
    snr, _ = _tables()
    fig = plots.plot_snr_heatmap(snr)
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
    assert [t.get_text() for t in legends[0].get_texts()] == ["0 dB: signal = noise"]
    caption = " ".join(t.get_text() for t in fig.texts)
    assert "Black line: the 0 dB contour" in caption and "-inf" in caption


def test_correlation_figure_marks_band_0_and_shows_the_reference_everywhere():
    z = [torch.randn(2, 4, 4, 8, 8, generator=torch.Generator().manual_seed(i)) for i in range(3)]
    result = SimpleNamespace(latents=z, pass_inputs=[z[2], z[0], z[1]])
    corr = freeinit_band_correlation(result, num_bands=8, seed=0)
    assert corr[corr.band == 0].bins.iloc[0] == 1  # DC alone
    fig = plots.plot_band_correlation(corr)
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
